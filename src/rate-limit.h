// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// A pace for the bytes the process uploads (GCSFRAMESINK_MAX_UPLOAD_RATE):
// each upload attempt reserves its bytes and starts when the reservations
// before it have had their time at the rate, so the process's uploads
// together never send faster than the rate on average.
#pragma once

#include <glib.h>

#include <cstdint>
#include <mutex>
#include <string>

namespace gcsfs {

class RateLimit {
 public:
  explicit RateLimit(uint64_t bytes_per_second);
  // Reserves `bytes`; returns when (monotonic µs) they may start: `now_us`,
  // or when the bytes reserved before them have had their time.
  gint64 reserve(uint64_t bytes, gint64 now_us);
  // Gives back a reservation made for `start_us` that will not be used (its
  // upload was cancelled while waiting), when it has not begun by `now_us`.
  void release(gint64 start_us, uint64_t bytes, gint64 now_us);
  uint64_t bytes_per_second() const { return rate_; }

  // The process's, from GCSFRAMESINK_MAX_UPLOAD_RATE; null when it is unset
  // or 0 (or malformed: the sessions refuse to open then). Made on first use.
  static RateLimit *process();

 private:
  const uint64_t rate_;
  std::mutex mutex_;  // a leaf
  gint64 next_free_us_ = 0;
};

// Reads GCSFRAMESINK_MAX_UPLOAD_RATE: bytes per second, with an optional
// suffix k, M or G (x1000), 0 or unset = no limit. False, with the cause
// and the fix, when it is something else.
bool max_rate_from_environment(uint64_t *bytes_per_second, std::string *problem);

}  // namespace gcsfs
