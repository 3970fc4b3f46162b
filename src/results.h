// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// What the upload pool reports: settled frames and batches, in order, to a
// Listener; counters; and the answer to handing a frame over.
#pragma once

#include "frame.h"
#include "status.h"

#include <cstdint>
#include <deque>
#include <string>

namespace gcsfs {

struct SettledFrame {
  Frame frame;          // bytes already released
  UploadResult result;
  std::string uri;      // gs://bucket/object
  std::string url;      // <endpoint>/<bucket>/<percent-encoded object>
};

struct SettledBatch {
  uint64_t batch = 0;
  uint64_t first_index = 0;
  std::deque<SettledFrame> frames;   // in frame order
  unsigned uploaded = 0;
  unsigned failed = 0;
  uint64_t upload_time_ns = 0;       // first frame accepted -> batch settled
};

// Receives results on an uploader thread (a worker or the batch timer), one
// call at a time, in order. It must not call back into the Uploader except
// stats().
class Listener {
 public:
  virtual ~Listener() = default;
  virtual void on_frame(const SettledFrame &f) = 0;
  virtual void on_batch(const SettledBatch &b) = 0;
  // The run's first fatal error, once, after the batch message of every frame
  // accepted before it (the frames it stopped are settled as failed first).
  virtual void on_fatal(const UploadResult &error) = 0;
};

struct Stats {
  uint64_t frames_received = 0;
  uint64_t frames_uploaded = 0;
  uint64_t frames_failed = 0;
  uint64_t frames_dropped = 0;
  uint64_t frames_spooled = 0;
  uint64_t frames_unconfirmed = 0;   // sent in full, no answer: the object may exist
  uint64_t frames_replayed = 0;      // spooled frames (of this run or an earlier one) stored since
  uint64_t frames_evicted = 0;       // spooled frames removed unstored to make room (spool-max-size)
  uint64_t spool_bytes = 0;          // on disk in the spool now
  uint64_t frames_empty = 0;         // zero-byte buffers skipped (not frames: no index, no object)
  bool endpoint_reachable = true;    // false from the first frame failing on an outage to the next one stored
  int64_t endpoint_since_unix_us = 0;  // when that state began (the run's start, if it never changed)
  uint64_t frames_in_flight = 0;     // accepted, not yet settled
  uint64_t frames_undelivered = 0;   // settled, waiting for an earlier frame before they are reported
  uint64_t bytes_uploaded = 0;
  uint64_t bytes_queued = 0;
  uint64_t retries = 0;
  uint64_t batches_posted = 0;
  uint64_t connections_opened = 0;
  uint64_t connections_open = 0;     // open now in the connection cache this sink uses (shared by the process's sinks to its endpoint)
  uint64_t upload_threads = 0;       // the process's upload threads now (shared by its sinks)
  uint64_t upload_threads_peak = 0;  // the most of them at once
  uint64_t backpressure_waits = 0;   // times submit() waited at the queue bound
  uint64_t drain_waits = 0;          // times drain() waited for frames to settle
  uint64_t manifests_uploaded = 0;   // manifest objects stored (manifest-name)
  uint64_t manifests_failed = 0;     // manifest objects that could not be stored
  double latency_mean_ms = 0, latency_p50_ms = 0, latency_p99_ms = 0;  // accepted -> settled
  double render_p50_us = 0, render_p99_us = 0;  // time the producer's thread spent handing a frame over
};

// How a wait for every frame to settle ended: all settled, interrupted (a
// flush or a stop), or its time bound passed.
enum class DrainEnd { Done, Interrupted, TimedOut };

// How handing a frame over ended: accepted, interrupted by a flush (offer it
// again once playing), or refused after the run's fatal error.
enum class SubmitResult { Ok, Flushing, Fatal };

}  // namespace gcsfs
