// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Manifest objects in the bucket (manifest-name): one JSON object per
// settled batch, written after every frame of its batch is settled, so that
// consumers on other machines can start from the bucket's object
// notifications or a listing and read the batches in order (by number).
#pragma once

#include "manifest.h"
#include "naming.h"
#include "results.h"
#include "store.h"

#include <glib.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gcsfs {

class BucketManifests {
 public:
  static constexpr unsigned kThreads = 4;       // manifest uploads at once
  static constexpr size_t kMaxQueued = 1000;    // manifests waiting; past it a new one fails at once
  // `on_failure(name, batch, why)`: a manifest could not be stored (called
  // on an upload thread, or on the caller's for one refused at the bound).
  using FailureFn = std::function<void(const std::string &, uint64_t, const std::string &)>;

  // Starts the upload threads; `store` must outlive this. `started()` says
  // whether they all started.
  BucketManifests(ObjectStore &store, NameTemplate tmpl, std::string bucket, std::string stream, std::string run,
                  FailureFn on_failure);
  ~BucketManifests();  // stop()
  BucketManifests(const BucketManifests &) = delete;
  BucketManifests &operator=(const BucketManifests &) = delete;
  bool started() const { return started_; }

  // Queues the manifest of a settled batch (names it, builds its JSON).
  void submit(const SettledBatch &b);
  // Waits until every manifest submitted is stored or failed; Interrupted by
  // set_flushing(true), TimedOut at `deadline_us` (monotonic; 0 = none).
  DrainEnd drain_until(int64_t deadline_us);
  void set_flushing(bool flushing);
  // Gives up what is queued or in flight (each counted failed and reported),
  // then joins the threads. Idempotent.
  void stop();

  uint64_t uploaded() const { return uploaded_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  struct Item {
    std::string name, json;
    uint64_t batch = 0;
  };
  static gpointer run_thread(gpointer self);
  void work();

  ObjectStore &store_;
  const NameTemplate tmpl_;
  const std::string bucket_, stream_, run_;
  const FailureFn on_failure_;
  std::vector<GThread *> threads_;
  bool started_ = false;
  std::mutex mutex_;  // a leaf lock: queue_, busy_, stopping_, flushing_
  std::condition_variable work_cond_, idle_cond_;
  std::deque<Item> queue_;
  unsigned busy_ = 0;
  bool stopping_ = false, flushing_ = false;
  std::atomic<uint64_t> uploaded_{0}, failed_{0};
};

}  // namespace gcsfs
