// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// The upload pool and ordered settling.
//
// Frames are accepted on the producer's thread (submit), named, grouped into
// batches and queued as jobs of the uploader's stream in an UploadService
// (the process's shared upload threads, or one given), which runs at most
// `max_concurrency` of them at once and calls the uploader back when a
// batch's timeout comes. Results are delivered to
// a Listener strictly in frame order, and a batch is delivered once all its
// frames are and it is closed (full, timed out, or drained), so batches come
// out in order too.
#pragma once

#include "encoder.h"
#include "frame.h"
#include "naming.h"
#include "percentiles.h"
#include "results.h"
#include "store.h"
#include "upload-service.h"

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

struct UploaderConfig {
  std::string bucket;
  std::string stream;
  std::string run;                    // {run}
  uint64_t first_index = 0;
  uint64_t first_batch = 0;           // number of the first batch (a later run goes on from the last)
  unsigned batch_size = 10;
  unsigned batch_timeout_ms = 1000;   // 0 = batches close on size only
  unsigned max_concurrency = 16;      // this stream's jobs running at once, at most
  UploadService *service = nullptr;   // whose threads upload; null = the process's shared one
  unsigned max_queued_frames = 200;   // frames accepted but not yet settled
  uint64_t max_queued_bytes = 256ull << 20;
  Leaky leaky = Leaky::None;          // at the bound: wait, or drop (settled as Dropped, kind QueueFull)
  EncodeOptions encode;               // how raw frames are encoded, on the worker that uploads them
  // Hooks for the spool. before_upload: on the producer's thread once the
  // frame is named and accepted, before any upload (write-ahead), without
  // the uploader's lock. after_upload: on the thread that ends the frame's
  // upload, before it settles; it may change the result (a failure kept for
  // later becomes Spooled). The frame's bytes are still there for both.
  std::function<void(Frame &frame)> before_upload;
  std::function<void(const Frame &frame, UploadResult &result)> after_upload;
};

class Uploader : private StreamOwner {
 public:
  using Submit = SubmitResult;

  // `tmpl` must be parsed; `tmpl`, `store` and `listener` must outlive the Uploader.
  Uploader(UploaderConfig cfg, const NameTemplate &tmpl, ObjectStore &store, Listener &listener);
  ~Uploader() override;  // shutdown()
  Uploader(const Uploader &) = delete;
  Uploader &operator=(const Uploader &) = delete;

  bool start(std::string *error);

  // Accepts a frame: names it, assigns its index and batch, queues its upload.
  // Waits only while the queue bound is reached; returns Flushing when
  // set_flushing(true) interrupts that wait. After a fatal error it returns
  // Fatal, once the listener has had on_fatal() (so a caller that stops at
  // the error stops after every batch message). The frame is moved from only
  // when accepted (Ok), so it can be offered again.
  // `waited`, if given, is set when the call waited at the queue bound.
  Submit submit(Frame &&frame, bool *waited = nullptr);

  // Makes submit() and drain() return instead of waiting (unlock), or re-arms them.
  void set_flushing(bool flushing);

  // Closes the open batch and waits until every accepted frame has been
  // delivered. Returns false when interrupted by set_flushing(true).
  bool drain();
  // The same, waiting at most until `deadline_us` (monotonic; 0 = no bound).
  DrainEnd drain_until(gint64 deadline_us);

  // Gives up on every frame not yet settled, without stopping the pool:
  // queued frames settle as dropped, transfers in flight are aborted
  // (dropped, or unconfirmed when the server has the whole request), and
  // after_upload sees each (the spool keeps them). `why` starts their
  // message. Returns once every frame is delivered; later submits upload
  // as usual.
  void abandon(const std::string &why);

  // Aborts transfers in flight, settles every remaining frame as dropped,
  // delivers them, and stops the threads. Idempotent.
  void shutdown();

  Stats stats() const;

 private:
  struct Job;
  struct Batch {
    uint64_t number = 0;
    std::deque<SettledFrame> slots;  // a deque: appending never moves earlier slots
    std::vector<bool> settled;
    size_t delivered = 0;
    bool closed = false;
    gint64 started_us = 0;   // monotonic
    gint64 deadline_us = 0;  // monotonic; 0 = none
  };

  void run(std::unique_ptr<ServiceJob> job) override;  // on a service thread
  gint64 on_deadline(gint64 now_us) override;         // on the service's timer thread
  void run_job(std::unique_ptr<Job> job);
  void run_aborted(std::unique_ptr<Job> job);
  void run_dropped(std::unique_ptr<Job> job, ErrorKind kind, const std::string &why);
  void settle(const Job &job, Frame frame, UploadResult result);
  Batch *find_batch_unlocked(uint64_t number);
  void close_open_batch_unlocked();
  void deliver();
  void set_fatal_unlocked(const UploadResult &r, const std::string &uri, uint64_t index);
  bool over_bound_unlocked(size_t size) const;
  bool may_resume_unlocked(size_t size) const;

  UploaderConfig cfg_;
  const NameTemplate &tmpl_;
  ObjectStore &store_;
  Listener &listener_;
  UploadService &service_;
  UploadService::Stream *stream_ = nullptr;  // attached by start(), detached by shutdown()
  bool started_ = false;

  // Lock order: deliver_mutex_, then mutex_, then the service's mutex, then the store's own locks.
  // deliver_mutex_ serialises delivery so listener calls come one at a time, in order.
  std::mutex deliver_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable cond_;        // queue space, delivery progress
  std::deque<Batch> batches_;      // undelivered batches, oldest first; back() may be open
  uint64_t next_batch_ = 0;
  uint64_t next_index_ = 0;
  uint64_t queued_frames_ = 0;     // accepted, not yet delivered: what the bound counts
  uint64_t undelivered_frames_ = 0;  // of those, settled (bytes released) and waiting for an earlier frame
  uint64_t queued_bytes_ = 0;      // bytes of frames accepted, not yet settled
  unsigned submit_waiters_ = 0;    // submit() calls waiting on cond_ at the queue bound
  size_t submit_wait_size_ = 0;    // the size of the frame the latest of them offers
  unsigned drain_waiters_ = 0;     // drain() calls waiting on cond_
  bool flushing_ = false;
  bool stopping_ = false;
  bool has_fatal_ = false;
  std::string abandon_why_;        // set while abandon() runs: starts the message of each frame it aborts
  bool fatal_reported_ = false;    // on_fatal() was called (guarded by deliver_mutex_)
  bool fatal_delivered_ = false;   // on_fatal() has returned
  UploadResult fatal_;
  Stats stats_;
  SampleWindow latencies_us_;  // accepted -> settled, of uploaded frames
};

}  // namespace gcsfs
