// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "upload-service.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

namespace gcsfs {

class UploadService::Stream {
 public:
  StreamOwner *owner = nullptr;
  unsigned max_in_flight = 1;
  std::deque<std::unique_ptr<ServiceJob>> pending;
  unsigned running = 0;
  bool ready = false;          // in ready_
  bool detaching = false;
  bool in_deadline_call = false;
  gint64 deadline_us = 0;      // 0 = none
  // Thread time the stream has had (µs, on the service's virtual clock):
  // charged an estimate when a job is handed over, corrected when it ends.
  gint64 used_us = 0;
  gint64 job_us = 0;           // its jobs' typical run time (moving average); 0 = none ended yet
};

// A thread of the service: an upload thread, or the timer. An upload thread
// waits on `cond` (with the service's mutex) while idle.
struct UploadService::Thread {
  UploadService *service = nullptr;
  GThread *thread = nullptr;  // joined once it is in finished_
  bool timer = false;
  bool woken = false;
  std::unique_ptr<ServiceJob> job;  // handed over to run next (counted in its stream's running)
  Stream *stream = nullptr;         // whose job it is
  gint64 charged_us = 0;            // what its stream was charged for it
  std::condition_variable cond;
};

bool max_threads_from_environment(unsigned *max_threads, std::string *problem)
{
  *max_threads = ServiceLimits::kDefaultMaxThreads;
  const char *env = g_getenv("GCSFRAMESINK_MAX_CONNECTIONS");
  if (!env)
    return true;
  char *end = nullptr;
  errno = 0;
  unsigned long long v = g_ascii_strtoull(env, &end, 10);
  if (errno != 0 || end == env || *end != '\0' || v < 1 || v > ServiceLimits::kMaxMaxThreads) {
    *problem = "GCSFRAMESINK_MAX_CONNECTIONS=\"" + std::string(env) +
               "\" is not a number of upload connections from 1 to " +
               std::to_string(ServiceLimits::kMaxMaxThreads) + ": unset it (default " +
               std::to_string(ServiceLimits::kDefaultMaxThreads) + ") or set a number in that range";
    return false;
  }
  *max_threads = unsigned(v);
  return true;
}

UploadService::UploadService(ServiceLimits limits) : limits_(std::move(limits)) {}

UploadService::~UploadService()
{
  std::unique_lock<std::mutex> lk(mutex_);
  stopping_ = true;
  for (Thread *t : idle_) {
    t->woken = true;
    t->cond.notify_one();
  }
  idle_.clear();
  timer_cond_.notify_all();
  changed_.wait(lk, [&] { return threads_.empty(); });
  join_finished_unlocked(lk);
}

UploadService &UploadService::shared(const std::function<void()> &at_thread_end)
{
  // Made once and never destroyed: a process may exit while sinks still
  // run, and the threads of an idle service end by themselves.
  static UploadService *service = [&] {
    ServiceLimits limits;
    std::string ignored;  // the sessions refuse to open with a bad value
    max_threads_from_environment(&limits.max_threads, &ignored);
    limits.at_thread_end = at_thread_end;
    return std::make_unique<UploadService>(std::move(limits)).release();
  }();
  return *service;
}

UploadService::Stream *UploadService::attach(StreamOwner &owner, unsigned max_in_flight)
{
  auto s = std::make_unique<Stream>();
  s->owner = &owner;
  s->max_in_flight = std::max(1u, max_in_flight);
  std::lock_guard<std::mutex> lk(mutex_);
  streams_.push_back(std::move(s));
  return streams_.back().get();
}

std::deque<std::unique_ptr<ServiceJob>> UploadService::detach(Stream *s)
{
  std::unique_lock<std::mutex> lk(mutex_);
  s->detaching = true;
  s->deadline_us = 0;
  unready_unlocked(s);
  changed_.wait(lk, [&] { return s->running == 0 && !s->in_deadline_call; });
  std::deque<std::unique_ptr<ServiceJob>> left;
  left.swap(s->pending);
  streams_.remove_if([&](const std::unique_ptr<Stream> &p) { return p.get() == s; });
  timer_cond_.notify_one();  // it may be waiting for this stream's deadline
  if (streams_.empty()) {
    // The last sink stopped: no work can come, so the threads end now and
    // are joined here; none outlives the sinks (a process exiting after
    // its pipelines stopped has none left).
    for (Thread *t : idle_) {
      t->woken = true;
      t->cond.notify_one();
    }
    idle_.clear();
    changed_.wait(lk, [&] { return threads_.empty() || !streams_.empty(); });
    join_finished_unlocked(lk);
  }
  return left;
}

bool UploadService::ensure_thread(std::string *error)
{
  std::unique_lock<std::mutex> lk(mutex_);
  join_finished_unlocked(lk);
  if (!timer_running_ && !start_thread_unlocked(true, error))
    return false;
  return workers_ > 0 || start_thread_unlocked(false, error) != nullptr;
}

// A stream is ready while it has a job and may run one more.
void UploadService::make_ready_unlocked(Stream *s)
{
  if (!s->ready && !s->detaching && !s->pending.empty() && s->running < s->max_in_flight) {
    s->ready = true;
    // A stream that had no work builds no credit meanwhile: it starts level
    // with the stream served last, not ahead of every stream that worked.
    s->used_us = std::max(s->used_us, clock_us_);
    ready_.push_back(s);
  }
}

void UploadService::unready_unlocked(Stream *s)
{
  if (s->ready) {
    ready_.erase(std::find(ready_.begin(), ready_.end(), s));
    s->ready = false;
  }
}

// Hands a job to `t` (which runs it next): the oldest job of the ready
// stream that has had the least thread time (the first of them in turn
// order on a tie). Fairness is in thread time, not in jobs: a stream whose
// uploads take 100 ms gets a turn as often as one whose uploads take 5 ms
// gets twenty, so slow uploads cannot crowd out quick ones.
void UploadService::claim_unlocked(Thread &t)
{
  auto it = std::min_element(ready_.begin(), ready_.end(),
                             [](const Stream *a, const Stream *b) { return a->used_us < b->used_us; });
  Stream *s = *it;
  ready_.erase(it);
  s->ready = false;
  clock_us_ = std::max(clock_us_, s->used_us);
  t.job = std::move(s->pending.front());
  t.stream = s;
  t.charged_us = s->job_us > 0 ? s->job_us : job_us_;
  s->used_us += t.charged_us;
  s->pending.pop_front();
  s->running++;
  busy_++;
  make_ready_unlocked(s);
}

// A job of `s` that ran `ran_us` ended, charged `charged_us` when handed over.
void UploadService::account_unlocked(Stream *s, gint64 ran_us, gint64 charged_us)
{
  s->used_us += ran_us - charged_us;
  constexpr gint64 kWeight = 8;  // moving averages over about the last 8 jobs
  s->job_us = s->job_us > 0 ? s->job_us + (ran_us - s->job_us) / kWeight : std::max<gint64>(ran_us, 1);
  job_us_ = job_us_ + (ran_us - job_us_) / kWeight;
}

// Each job that can run now is handed to an idle thread, woken for it. With
// none idle and fewer than max_threads running, more are started: here when
// `may_start` (the service thread, or no upload thread at all), else by the
// service thread, woken for it, so that a producer's thread never waits for
// a thread to be created. The rest wait for a thread to finish.
void UploadService::wake_workers_unlocked(bool may_start, std::string *error)
{
  while (!ready_.empty()) {
    Thread *t = nullptr;
    if (!idle_.empty()) {
      t = idle_.back();
      idle_.pop_back();
    } else if (workers_ >= limits_.max_threads) {
      return;
    } else if (!may_start && timer_running_) {
      // Claimed now (so it counts as uploading, as with a thread at hand),
      // its thread started by the service thread.
      t = add_thread_unlocked(false);
      unlaunched_.push_back(t);
      timer_cond_.notify_one();
    } else {
      t = start_thread_unlocked(false, error);  // none started: the job waits for a thread that runs
      if (!t)
        return;
    }
    claim_unlocked(*t);
    t->woken = true;
    t->cond.notify_one();
  }
}

std::unique_ptr<ServiceJob> UploadService::push(Stream *s, std::unique_ptr<ServiceJob> job, std::string *error)
{
  std::lock_guard<std::mutex> lk(mutex_);
  s->pending.push_back(std::move(job));
  make_ready_unlocked(s);
  wake_workers_unlocked(workers_ == 0, error);
  if (workers_ > 0)
    return nullptr;
  // No thread runs and none could start: nothing would ever take the job.
  job = std::move(s->pending.back());
  s->pending.pop_back();
  if (s->pending.empty())
    unready_unlocked(s);
  return job;
}

std::unique_ptr<ServiceJob> UploadService::take_oldest(Stream *s)
{
  std::lock_guard<std::mutex> lk(mutex_);
  if (s->pending.empty())
    return nullptr;
  std::unique_ptr<ServiceJob> job = std::move(s->pending.front());
  s->pending.pop_front();
  if (s->pending.empty())
    unready_unlocked(s);
  return job;
}

std::deque<std::unique_ptr<ServiceJob>> UploadService::take_all(Stream *s)
{
  std::lock_guard<std::mutex> lk(mutex_);
  std::deque<std::unique_ptr<ServiceJob>> all;
  all.swap(s->pending);
  unready_unlocked(s);
  return all;
}

void UploadService::arm(Stream *s, gint64 deadline_us)
{
  std::lock_guard<std::mutex> lk(mutex_);
  if (s->detaching)
    return;
  if (s->deadline_us == 0 || deadline_us < s->deadline_us)
    s->deadline_us = deadline_us;
  if (!timer_running_) {
    std::string ignored;  // none: batches close on size, at EOS, or when a later deadline starts one
    start_thread_unlocked(true, &ignored);
  } else {
    timer_cond_.notify_one();
  }
}

ServiceCounters UploadService::counters() const
{
  std::lock_guard<std::mutex> lk(mutex_);
  ServiceCounters c;
  c.threads = workers_;
  c.busy = busy_;
  c.peak_threads = peak_;
  c.threads_started = started_;
  c.timer = timer_running_;
  c.streams = unsigned(streams_.size());
  return c;
}

// A thread's record, counted at once (its job, if any, is claimed by it);
// launch_unlocked() starts the thread itself.
UploadService::Thread *UploadService::add_thread_unlocked(bool timer)
{
  auto t = std::make_unique<Thread>();
  t->service = this;
  t->timer = timer;
  if (timer) {
    timer_running_ = true;
  } else {
    workers_++;
    started_++;
    peak_ = std::max(peak_, workers_);
  }
  threads_.push_back(std::move(t));
  return threads_.back().get();
}

bool UploadService::launch_unlocked(Thread *t, std::string *error)
{
  GError *err = nullptr;
  t->thread = g_thread_try_new(t->timer ? "gcsfs-service" : "gcsfs-upload", t->timer ? &timer_func : &worker_func, t,
                               &err);  // it waits for mutex_ before it looks at t
  if (t->thread)
    return true;
  *error = std::string("cannot start ") + (t->timer ? "the upload service's thread" : "an upload thread") + ": " +
           (err ? err->message : "unknown error");
  g_clear_error(&err);
  if (t->job) {  // its job goes back to the front of its stream's queue
    Stream *s = t->stream;
    s->pending.push_front(std::move(t->job));
    s->running--;
    busy_--;
    make_ready_unlocked(s);
  }
  if (t->timer) {
    timer_running_ = false;
  } else {
    workers_--;
    started_--;
  }
  threads_.remove_if([&](const std::unique_ptr<Thread> &p) { return p.get() == t; });
  return false;
}

UploadService::Thread *UploadService::start_thread_unlocked(bool timer, std::string *error)
{
  Thread *t = add_thread_unlocked(timer);
  return launch_unlocked(t, error) ? t : nullptr;
}

// Called by a thread about to end, under mutex_: another thread joins it
// (one going idle, the last detach(), the destructor), so that an ended
// thread's stack is freed while the process runs on.
void UploadService::finish_thread_unlocked(Thread *t)
{
  if (t->timer)
    timer_running_ = false;
  else
    workers_--;
  auto it = std::find_if(threads_.begin(), threads_.end(), [&](const std::unique_ptr<Thread> &p) { return p.get() == t; });
  finished_.push_back(std::move(*it));
  threads_.erase(it);
  changed_.notify_all();
}

void UploadService::join_finished_unlocked(std::unique_lock<std::mutex> &lk)
{
  if (finished_.empty())
    return;
  std::vector<std::unique_ptr<Thread>> done;
  done.swap(finished_);
  lk.unlock();  // a thread in finished_ only returns: joining it never waits for the lock
  for (auto &t : done)
    g_thread_join(t->thread);
  lk.lock();
}

gpointer UploadService::worker_func(gpointer data)
{
  auto *t = static_cast<Thread *>(data);
  UploadService *self = t->service;
  self->worker_loop(*t);  // the service and t stay until this thread is joined
  if (self->limits_.at_thread_end)
    self->limits_.at_thread_end();
  return nullptr;
}

void UploadService::worker_loop(Thread &t)
{
#ifdef __linux__
  // Uploads are throughput work: under SCHED_BATCH a thread that push()
  // wakes does not preempt the producer's (streaming) thread; it runs on a
  // free core or at the next tick. Nice level and fairness are unchanged.
  // The thread is the service's own and ends when idle, policy and all.
  struct sched_param sp = {};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
#endif
  std::unique_lock<std::mutex> lk(mutex_);
  for (;;) {
    if (!t.job && !ready_.empty())
      claim_unlocked(t);
    if (t.job) {
      Stream *s = t.stream;
      std::unique_ptr<ServiceJob> job = std::move(t.job);
      const gint64 charged = t.charged_us, started = g_get_monotonic_time();
      lk.unlock();
      s->owner->run(std::move(job));
      lk.lock();
      account_unlocked(s, g_get_monotonic_time() - started, charged);
      s->running--;
      busy_--;
      make_ready_unlocked(s);
      if (s->detaching)
        changed_.notify_all();
      continue;
    }
    if (stopping_ || streams_.empty())
      break;  // stopping, or the last sink stopped
    if (!finished_.empty()) {  // threads that ended: joined before this one waits
      join_finished_unlocked(lk);
      continue;
    }
    t.woken = false;
    idle_.push_back(&t);
    const bool woken = t.cond.wait_for(lk, std::chrono::microseconds(limits_.idle_us), [&] { return t.woken; });
    if (!woken) {  // idle for idle_us: this thread ends
      idle_.erase(std::find(idle_.begin(), idle_.end(), &t));
      break;
    }
  }
  finish_thread_unlocked(&t);
}

gpointer UploadService::timer_func(gpointer data)
{
  auto *t = static_cast<Thread *>(data);
  t->service->timer_loop(*t);
  return nullptr;
}

void UploadService::timer_loop(Thread &self)
{
  std::unique_lock<std::mutex> lk(mutex_);
  while (!stopping_ && !streams_.empty()) {
    if (!finished_.empty()) {  // threads that ended: joined before this one waits
      join_finished_unlocked(lk);
      continue;
    }
    if (!unlaunched_.empty()) {  // threads push() counted and handed jobs: started here
      std::vector<Thread *> todo;
      todo.swap(unlaunched_);
      std::string ignored;  // one not started: its job waits for a thread that frees up
      for (Thread *t : todo)
        launch_unlocked(t, &ignored);
      continue;
    }
    Stream *next = nullptr;
    for (auto &s : streams_)
      if (s->deadline_us != 0 && !s->detaching && !s->in_deadline_call &&
          (!next || s->deadline_us < next->deadline_us))
        next = s.get();
    const gint64 now = g_get_monotonic_time();
    if (!next) {
      timer_cond_.wait(lk);
      continue;
    }
    if (now < next->deadline_us) {
      timer_cond_.wait_for(lk, std::chrono::microseconds(next->deadline_us - now));
      continue;
    }
    next->deadline_us = 0;
    next->in_deadline_call = true;
    lk.unlock();
    const gint64 again = next->owner->on_deadline(now);
    lk.lock();
    next->in_deadline_call = false;
    if (again != 0 && !next->detaching && (next->deadline_us == 0 || again < next->deadline_us))
      next->deadline_us = again;
    if (next->detaching)
      changed_.notify_all();
  }
  finish_thread_unlocked(&self);
}

}  // namespace gcsfs
