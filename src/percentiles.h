// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// A window of the most recent samples (microseconds) and their mean and
// percentiles, for latency figures in the stats. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace gcsfs {

class SampleWindow {
 public:
  explicit SampleWindow(size_t capacity = 4096) : capacity_(capacity) { samples_.reserve(capacity); }

  void add(int64_t us)
  {
    std::lock_guard<std::mutex> lk(mutex_);
    if (samples_.size() < capacity_)
      samples_.push_back(us);
    else
      samples_[next_++ % capacity_] = us;
  }

  struct Summary {
    double mean = 0, p50 = 0, p99 = 0;  // in the samples' unit
    size_t count = 0;
  };
  Summary summary() const;

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;  // a leaf lock
  std::vector<int64_t> samples_;
  size_t next_ = 0;
};

}  // namespace gcsfs
