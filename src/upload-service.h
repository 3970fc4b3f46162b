// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// The upload threads of a process, shared by its sinks.
//
// Each sink's uploader attaches a stream: its own queue of jobs and at most
// `max_in_flight` of them running at once (its max-concurrency). A thread
// free for work takes the oldest job of the ready stream that has had the
// least thread time so far (fair queuing on thread time, a stream idle
// meanwhile starting level with the others), so a stream that produces
// more, or whose uploads take longer, cannot crowd the others out: it holds
// at most its own max_in_flight threads, and gets no more thread time than
// any other stream that has work. Upload threads start when work comes and
// no thread is idle, up to `max_threads` for the whole process, and end
// after `idle_us` without work, or when the last stream detaches. One
// service thread, running while streams are attached, starts them (so that
// a producer's thread never waits for a thread to be created) and calls
// each stream back at the deadline it sets (a batch's batch-timeout).
#pragma once

#include <glib.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gcsfs {

// One unit of work of a stream; its owner knows its real type.
struct ServiceJob {
  virtual ~ServiceJob() = default;
};

// What attaches a stream (an Uploader).
class StreamOwner {
 public:
  virtual ~StreamOwner() = default;
  // Runs one of the stream's jobs on a service thread, which holds no lock.
  virtual void run(std::unique_ptr<ServiceJob> job) = 0;
  // The deadline the stream set has come (on the timer thread, which holds
  // no lock). Returns the stream's next deadline (monotonic µs), or 0.
  virtual gint64 on_deadline(gint64 now_us) = 0;
};

struct ServiceLimits {
  // Upload threads of the process at most (GCSFRAMESINK_MAX_CONNECTIONS).
  static constexpr unsigned kDefaultMaxThreads = 64;
  static constexpr unsigned kMaxMaxThreads = 4096;
  // How long a thread without work waits before it ends.
  static constexpr gint64 kDefaultIdleUs = 10 * G_USEC_PER_SEC;

  unsigned max_threads = kDefaultMaxThreads;
  gint64 idle_us = kDefaultIdleUs;
  std::function<void()> at_thread_end;  // run by each thread as it ends (libraries' per-thread state)
};

// Reads GCSFRAMESINK_MAX_CONNECTIONS (unset: the default). False, with the
// cause and the fix, when it is set to something else than a number from 1
// to kMaxMaxThreads.
bool max_threads_from_environment(unsigned *max_threads, std::string *problem);

struct ServiceCounters {
  unsigned threads = 0;          // upload threads running (busy or idle)
  unsigned busy = 0;             // of those, running a job
  unsigned peak_threads = 0;     // the most upload threads at once
  uint64_t threads_started = 0;  // in all
  bool timer = false;            // the service thread (deadlines, starting upload threads) runs
  unsigned streams = 0;          // attached
};

class UploadService {
 public:
  class Stream;

  explicit UploadService(ServiceLimits limits);
  // Every stream must be detached first. Stops and joins the threads.
  ~UploadService();
  UploadService(const UploadService &) = delete;
  UploadService &operator=(const UploadService &) = delete;

  // The process's service, made on first use with GCSFRAMESINK_MAX_CONNECTIONS
  // (already checked with max_threads_from_environment) and `at_thread_end`
  // of that first call. It is never destroyed: its threads end when idle.
  static UploadService &shared(const std::function<void()> &at_thread_end);

  const ServiceLimits &limits() const { return limits_; }

  Stream *attach(StreamOwner &owner, unsigned max_in_flight);
  // Stops serving the stream: waits until none of its jobs runs and no
  // deadline call for it is under way, and returns its jobs not started,
  // oldest first. Nothing of the stream is called after it. When it was the
  // last stream, the threads end and are joined before it returns.
  std::deque<std::unique_ptr<ServiceJob>> detach(Stream *s);
  // Makes sure the service thread and an upload thread run (started when
  // they do not), so that a stream can count on them; false, with why, when
  // one cannot start.
  bool ensure_thread(std::string *error);

  // Queues a job of the stream, handing it to an idle thread (or a new one).
  // Null once queued; the job itself, with why in `error`, when no upload
  // thread runs and none can start (nothing would ever run it).
  std::unique_ptr<ServiceJob> push(Stream *s, std::unique_ptr<ServiceJob> job, std::string *error);
  // The stream's oldest job not started, or null.
  std::unique_ptr<ServiceJob> take_oldest(Stream *s);
  // All the stream's jobs not started, oldest first.
  std::deque<std::unique_ptr<ServiceJob>> take_all(Stream *s);
  // Calls the stream's on_deadline() at `deadline_us` (monotonic), or at an
  // earlier deadline it already set.
  void arm(Stream *s, gint64 deadline_us);

  ServiceCounters counters() const;

 private:
  struct Thread;
  static gpointer worker_func(gpointer data);
  static gpointer timer_func(gpointer data);
  void worker_loop(Thread &t);
  void timer_loop(Thread &self);
  Thread *add_thread_unlocked(bool timer);
  bool launch_unlocked(Thread *t, std::string *error);
  Thread *start_thread_unlocked(bool timer, std::string *error);
  void finish_thread_unlocked(Thread *t);
  void claim_unlocked(Thread &t);
  void account_unlocked(Stream *s, gint64 ran_us, gint64 charged_us);
  void make_ready_unlocked(Stream *s);
  void unready_unlocked(Stream *s);
  void wake_workers_unlocked(bool may_start, std::string *error);
  void join_finished_unlocked(std::unique_lock<std::mutex> &lk);

  const ServiceLimits limits_;
  // Lock order: an Uploader's mutex_, then mutex_ (a leaf otherwise: jobs
  // and deadline calls run without it).
  mutable std::mutex mutex_;
  std::condition_variable changed_;     // a stream's job or deadline call ended, a thread ended
  std::condition_variable timer_cond_;  // a deadline was set, or stopping
  std::list<std::unique_ptr<Stream>> streams_;
  std::deque<Stream *> ready_;          // streams with a job and room to run it, in turn order
  gint64 clock_us_ = 0;                 // thread time of the stream served last (virtual clock)
  gint64 job_us_ = 10000;               // typical job run time of all streams (moving average)
  std::list<std::unique_ptr<Thread>> threads_;   // running
  std::vector<Thread *> idle_;                    // waiting for work, most recently idle last
  std::vector<std::unique_ptr<Thread>> finished_;  // ended, to be joined
  unsigned workers_ = 0;   // upload threads in threads_
  unsigned busy_ = 0;
  unsigned peak_ = 0;
  uint64_t started_ = 0;
  bool timer_running_ = false;  // the service thread: deadlines, and starting upload threads
  std::vector<Thread *> unlaunched_;  // counted and handed a job by push(); the service thread starts them
  bool stopping_ = false;
};

}  // namespace gcsfs
