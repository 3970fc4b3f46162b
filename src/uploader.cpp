// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "uploader.h"

#include <algorithm>
#include <chrono>

namespace gcsfs {

struct Uploader::Job : ServiceJob {
  uint64_t batch = 0;
  size_t pos = 0;
  Frame frame;
  std::string name_error;  // set when the expanded name is not a valid object name
  gint64 accepted_us = 0;
  uint64_t accounted = 0;  // bytes counted against max-queued-bytes (a raw frame's, even once encoded)
};

Uploader::Uploader(UploaderConfig cfg, const NameTemplate &tmpl, ObjectStore &store, Listener &listener)
    : cfg_(std::move(cfg)),
      tmpl_(tmpl),
      store_(store),
      listener_(listener),
      service_(cfg_.service ? *cfg_.service : UploadService::shared({}))
{
  cfg_.batch_size = std::max(1u, cfg_.batch_size);
  cfg_.max_concurrency = std::max(1u, cfg_.max_concurrency);
  cfg_.max_queued_frames = std::max(1u, cfg_.max_queued_frames);
}

Uploader::~Uploader()
{
  shutdown();
}

// The uploader's jobs run on the service's threads, which start with work
// and end when idle; start() makes sure one runs.
bool Uploader::start(std::string *error)
{
  UploadService::Stream *stream = service_.attach(*this, cfg_.max_concurrency);
  if (!service_.ensure_thread(error)) {
    service_.detach(stream);
    return false;
  }
  std::lock_guard<std::mutex> lk(mutex_);
  stream_ = stream;
  started_ = true;
  return true;
}

bool Uploader::over_bound_unlocked(size_t size) const
{
  return queued_frames_ > 0 &&
         (queued_frames_ >= cfg_.max_queued_frames || queued_bytes_ + size > cfg_.max_queued_bytes);
}

// Part of the queue bound that must drain before a producer waiting at it goes on.
constexpr unsigned kResumeDivisor = 4;  // a quarter

// A producer that had to wait at the bound resumes once a quarter of the bound
// has drained rather than at the first free slot, so that under sustained
// overload it is woken once per many frames instead of once per frame (each
// wake-up is a futex call and two context switches). It resumes at the first
// free slot when that many frames or fewer are queued than there are workers,
// so the workers never run dry because of this.
bool Uploader::may_resume_unlocked(size_t size) const
{
  if (over_bound_unlocked(size))
    return false;
  if (queued_frames_ <= cfg_.max_concurrency)
    return true;
  const uint64_t slack_frames = cfg_.max_queued_frames / kResumeDivisor;
  const uint64_t slack_bytes = cfg_.max_queued_bytes / kResumeDivisor;
  return queued_frames_ + slack_frames <= cfg_.max_queued_frames &&
         queued_bytes_ + size + slack_bytes <= cfg_.max_queued_bytes;
}

Uploader::Submit Uploader::submit(Frame &&frame, bool *waited)
{
  const size_t size = frame.bytes ? frame.bytes->size : 0;
  std::unique_lock<std::mutex> lk(mutex_);
  bool drop_incoming = false;
  std::unique_ptr<Job> victim;  // leaky=downstream: the oldest frame not yet uploading
  if (!has_fatal_ && !flushing_ && !stopping_ && over_bound_unlocked(size) && cfg_.leaky != Leaky::None) {
    if (cfg_.leaky == Leaky::Downstream)
      victim.reset(static_cast<Job *>(service_.take_oldest(stream_).release()));
    if (!victim)
      drop_incoming = true;  // upstream, or downstream with every frame already uploading
  } else if (!has_fatal_ && !flushing_ && !stopping_ && over_bound_unlocked(size)) {
    stats_.backpressure_waits++;
    if (waited)
      *waited = true;
    submit_waiters_++;
    submit_wait_size_ = size;
    cond_.wait(lk, [&] { return has_fatal_ || flushing_ || stopping_ || may_resume_unlocked(size); });
    submit_waiters_--;
  }
  if (has_fatal_) {
    // Fatal only once the error is out, after every batch message.
    cond_.wait(lk, [&] { return fatal_delivered_ || flushing_ || stopping_; });
    return fatal_delivered_ ? Submit::Fatal : Submit::Flushing;
  }
  if (flushing_ || stopping_ || !started_)
    return Submit::Flushing;

  const gint64 now = g_get_monotonic_time();
  if (batches_.empty() || batches_.back().closed) {
    Batch b;
    b.number = cfg_.first_batch + next_batch_++;
    b.started_us = now;
    b.deadline_us = cfg_.batch_timeout_ms ? now + gint64(cfg_.batch_timeout_ms) * 1000 : 0;
    if (b.deadline_us)
      service_.arm(stream_, b.deadline_us);
    batches_.push_back(std::move(b));
  }
  Batch &b = batches_.back();

  auto job = std::make_unique<Job>();
  job->batch = b.number;
  job->pos = b.slots.size();
  job->accepted_us = now;
  job->accounted = size;
  frame.index = cfg_.first_index + next_index_++;
  frame.batch = b.number;
  frame.size = size;
  NameFields nf;
  nf.index = frame.index;
  nf.batch = frame.batch;
  nf.stream = cfg_.stream;
  nf.run = cfg_.run;
  nf.pts_ns = frame.pts;
  nf.capture_unix_us = frame.capture_unix_us;
  nf.ext = frame.ext;
  if (frame.stream_id)
    nf.stream_id = *frame.stream_id;
  frame.object_name = tmpl_.expand(nf);
  validate_object_name(frame.object_name, &job->name_error);
  job->frame = std::move(frame);

  b.slots.emplace_back();
  b.settled.push_back(false);
  if (b.slots.size() >= cfg_.batch_size)
    b.closed = true;
  queued_frames_++;
  queued_bytes_ += size;
  stats_.frames_received++;
  if (victim || drop_incoming) {
    // Settled (as dropped) outside the lock; the incoming frame takes the
    // victim's place, or is itself the one dropped.
    lk.unlock();
    if (victim)
      run_dropped(std::move(victim), ErrorKind::QueueFull,
                  "dropped at the queue bound (leaky=downstream): it had not started uploading when a newer "
                  "frame came");
    if (drop_incoming) {
      run_dropped(std::move(job), ErrorKind::QueueFull,
                  "dropped at the queue bound (leaky=upstream): max-queued-frames or max-queued-bytes was reached");
      return Submit::Ok;
    }
    lk.lock();
    if (stopping_) {
      lk.unlock();
      run_aborted(std::move(job));
      return Submit::Ok;
    }
  }
  if (cfg_.before_upload) {
    // Named and in its batch: the hook (the write-ahead spool) runs without
    // the lock, then the job is handed over. Its slot waits unsettled
    // meanwhile, so drain() and delivery wait for it.
    lk.unlock();
    cfg_.before_upload(job->frame);
    lk.lock();
    if (stopping_) {  // only when shutdown() races a producer: settle it as dropped
      lk.unlock();
      run_aborted(std::move(job));
      return Submit::Ok;
    }
  }
  // Queued under mutex_, so that shutdown(), which sets stopping_ under it
  // first, finds every job either queued or running when it detaches.
  std::string why;
  std::unique_ptr<ServiceJob> refused = service_.push(stream_, std::move(job), &why);
  if (refused) {  // no upload thread runs and none can start
    lk.unlock();
    run_dropped(std::unique_ptr<Job>(static_cast<Job *>(refused.release())), ErrorKind::ClientError,
                "not uploaded: " + why + " (the process is out of threads or memory)");
  }
  return Submit::Ok;
}

void Uploader::run(std::unique_ptr<ServiceJob> job)
{
  run_job(std::unique_ptr<Job>(static_cast<Job *>(job.release())));
}

void Uploader::run_aborted(std::unique_ptr<Job> job)
{
  run_dropped(std::move(job), ErrorKind::Aborted, "the upload was cancelled before it started");
}

void Uploader::run_dropped(std::unique_ptr<Job> job, ErrorKind kind, const std::string &why)
{
  UploadResult r;
  r.set_failure(kind, why);
  Frame &f = job->frame;
  if (cfg_.after_upload)
    cfg_.after_upload(f, r);
  f.bytes.reset();
  settle(*job, std::move(f), std::move(r));
}

void Uploader::run_job(std::unique_ptr<Job> job)
{
  UploadResult r;
  Frame &f = job->frame;
  std::string why;
  if (!job->name_error.empty()) {
    r.set_failure(ErrorKind::InvalidName, job->name_error + " (from object-name; fix the template)");
  } else if (f.raw.width > 0 && !encode_frame(f, cfg_.encode, &why)) {
    r.set_failure(ErrorKind::EncodeFailed, "cannot encode the raw frame as " +
                                               std::string(image_extension(cfg_.encode.format)) + ": " + why +
                                               "; try another image-format, or encode before the sink (... ! "
                                               "videoconvert ! jpegenc ! gcsframesink)");
  } else {
    r = store_.insert(f.object_name, f.content_type, f.bytes ? f.bytes->data : nullptr, f.bytes ? f.bytes->size : 0);
  }
  if (cfg_.after_upload)
    cfg_.after_upload(f, r);
  f.bytes.reset();  // the bytes are no longer needed: give the buffer back now
  settle(*job, std::move(f), std::move(r));
}

void Uploader::set_fatal_unlocked(const UploadResult &r, const std::string &uri, uint64_t index)
{
  has_fatal_ = true;
  fatal_ = r;
  fatal_.message = "frame " + std::to_string(index) + " (" + uri + "): " + r.message;
  // No later frame can succeed: close the open batch so that it can be
  // reported, and stop what is queued or in flight (settled as failed).
  close_open_batch_unlocked();
}

void Uploader::settle(const Job &job, Frame frame, UploadResult result)
{
  const gint64 latency_us = g_get_monotonic_time() - job.accepted_us;
  SettledFrame s;
  bool wake = false, stop_uploads = false;
  s.uri = "gs://" + cfg_.bucket + "/" + frame.object_name;
  s.url = store_.object_url(frame.object_name);
  s.frame = std::move(frame);
  s.result = std::move(result);
  {
    std::lock_guard<std::mutex> lk(mutex_);
    Batch *b = find_batch_unlocked(job.batch);
    queued_bytes_ -= job.accounted;
    undelivered_frames_++;
    if (s.result.aborted && !abandon_why_.empty())
      s.result.message = abandon_why_ + ": " + s.result.message;
    if (has_fatal_ && s.result.aborted && s.result.status == FrameStatus::Dropped) {
      s.result.set_failure(ErrorKind::Stopped,
                    "not uploaded: uploads stopped at the run's fatal error (" + fatal_.message + ")");
      s.result.stopped_by_fatal = true;
    }
    switch (s.result.status) {
      case FrameStatus::Uploaded:
        stats_.frames_uploaded++;
        stats_.bytes_uploaded += s.frame.size;
        latencies_us_.add(latency_us);
        break;
      case FrameStatus::Failed: stats_.frames_failed++; break;
      case FrameStatus::Dropped: stats_.frames_dropped++; break;
      case FrameStatus::Spooled: stats_.frames_spooled++; break;
      case FrameStatus::Unconfirmed: stats_.frames_unconfirmed++; break;
    }
    if (s.result.attempts > 1)
      stats_.retries += s.result.attempts - 1;
    if (s.result.fatal && !has_fatal_) {
      set_fatal_unlocked(s.result, s.uri, s.frame.index);
      stop_uploads = true;
    }
    b->slots[job.pos] = std::move(s);
    b->settled[job.pos] = true;
    // A wake-up costs a futex call: only when a waiting producer can go on.
    // Notified after unlocking, so that it does not wake into a held mutex.
    wake = submit_waiters_ > 0 && (has_fatal_ || may_resume_unlocked(submit_wait_size_));
  }
  if (stop_uploads)
    store_.abort_all();  // until shutdown() resumes it
  if (wake)
    cond_.notify_all();
  deliver();
}

Uploader::Batch *Uploader::find_batch_unlocked(uint64_t number)
{
  return &batches_[number - batches_.front().number];
}

void Uploader::close_open_batch_unlocked()
{
  if (!batches_.empty())
    batches_.back().closed = true;
}

// Everything read from batches_ is read under mutex_: submit() appends to the
// open batch meanwhile. Settled slots are then used outside the lock through
// pointers (appending to a deque never moves its elements), or, once the batch
// is complete, moved out of it.
void Uploader::deliver()
{
  std::lock_guard<std::mutex> dl(deliver_mutex_);
  std::vector<const SettledFrame *> frames;
  for (;;) {
    SettledBatch sb;
    bool complete, wake;
    frames.clear();
    std::unique_lock<std::mutex> lk(mutex_);
    if (batches_.empty()) {
      // The error of a run goes out after the batch message of every frame
      // accepted before it.
      if (!has_fatal_ || fatal_reported_)
        return;
      fatal_reported_ = true;
      UploadResult fatal = fatal_;
      lk.unlock();
      listener_.on_fatal(fatal);
      lk.lock();
      fatal_delivered_ = true;
      lk.unlock();
      cond_.notify_all();
      return;
    }
    Batch &b = batches_.front();
    const size_t from = b.delivered;
    size_t to = from;
    while (to < b.slots.size() && b.settled[to])
      to++;
    complete = b.closed && to == b.slots.size();
    if (from == to && !complete)
      return;
    b.delivered = to;
    queued_frames_ -= to - from;
    undelivered_frames_ -= to - from;
    if (complete) {
      sb.batch = b.number;
      sb.frames = std::move(b.slots);
      sb.upload_time_ns = uint64_t(g_get_monotonic_time() - b.started_us) * 1000;
      for (size_t i = from; i < to; i++)
        frames.push_back(&sb.frames[i]);
    } else {
      for (size_t i = from; i < to; i++)
        frames.push_back(&b.slots[i]);
    }
    wake = submit_waiters_ > 0 && may_resume_unlocked(submit_wait_size_);
    lk.unlock();
    if (wake)
      cond_.notify_all();

    for (const SettledFrame *f : frames)
      listener_.on_frame(*f);
    if (!complete)
      return;
    sb.first_index = sb.frames.front().frame.index;
    for (const SettledFrame &f : sb.frames) {
      sb.uploaded += f.result.status == FrameStatus::Uploaded;
      sb.failed += f.result.status == FrameStatus::Failed;
    }
    listener_.on_batch(sb);
    lk.lock();
    batches_.pop_front();  // the husk left by moving its slots out
    stats_.batches_posted++;
    wake = drain_waiters_ > 0 && batches_.empty();
    lk.unlock();
    if (wake)
      cond_.notify_all();
  }
}

gint64 Uploader::on_deadline(gint64 now_us)
{
  std::unique_lock<std::mutex> lk(mutex_);
  if (stopping_ || batches_.empty() || batches_.back().closed || batches_.back().deadline_us == 0)
    return 0;
  if (now_us < batches_.back().deadline_us)
    return batches_.back().deadline_us;  // a later batch than the one the deadline was set for
  batches_.back().closed = true;
  lk.unlock();
  deliver();
  return 0;
}

void Uploader::set_flushing(bool flushing)
{
  std::lock_guard<std::mutex> lk(mutex_);
  flushing_ = flushing;
  cond_.notify_all();
}

bool Uploader::drain()
{
  return drain_until(0) == DrainEnd::Done;
}

DrainEnd Uploader::drain_until(gint64 deadline_us)
{
  {
    std::lock_guard<std::mutex> lk(mutex_);
    close_open_batch_unlocked();
  }
  deliver();
  // Done once every batch message (and a fatal error) is out.
  auto done = [&] { return batches_.empty() && (!has_fatal_ || fatal_delivered_); };
  auto woken = [&] { return done() || flushing_ || stopping_; };
  std::unique_lock<std::mutex> lk(mutex_);
  if (!done())
    stats_.drain_waits++;
  drain_waiters_++;
  bool in_time = true;
  if (deadline_us > 0)
    in_time = cond_.wait_for(lk, std::chrono::microseconds(std::max<gint64>(0, deadline_us - g_get_monotonic_time())),
                             woken);
  else
    cond_.wait(lk, woken);
  drain_waiters_--;
  return done() ? DrainEnd::Done : in_time ? DrainEnd::Interrupted : DrainEnd::TimedOut;
}

void Uploader::abandon(const std::string &why)
{
  std::deque<std::unique_ptr<Job>> queued;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    if (stopping_)
      return;
    close_open_batch_unlocked();
    for (auto &j : service_.take_all(stream_))
      queued.emplace_back(static_cast<Job *>(j.release()));
    abandon_why_ = why;
  }
  store_.abort_all();  // transfers and backoff waits end at once, as aborted
  for (auto &job : queued)
    run_dropped(std::move(job), ErrorKind::Aborted, "the upload had not started");
  {
    std::unique_lock<std::mutex> lk(mutex_);
    drain_waiters_++;
    cond_.wait(lk, [&] { return batches_.empty() || stopping_; });
    drain_waiters_--;
    abandon_why_.clear();
  }
  store_.resume();
}

void Uploader::shutdown()
{
  {
    std::lock_guard<std::mutex> lk(mutex_);
    if (stopping_)
      return;
    stopping_ = true;
    close_open_batch_unlocked();
    cond_.notify_all();
  }
  store_.abort_all();
  // The jobs running end at once (aborted); the ones not started settle
  // here, as dropped: every frame settles.
  UploadService::Stream *stream = nullptr;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    std::swap(stream, stream_);
  }
  if (stream) {
    for (auto &j : service_.detach(stream))
      run_aborted(std::unique_ptr<Job>(static_cast<Job *>(j.release())));
  }
  deliver();
  store_.resume();
}

Stats Uploader::stats() const
{
  Stats s;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    s = stats_;
    s.frames_in_flight = queued_frames_ - undelivered_frames_;
    s.frames_undelivered = undelivered_frames_;
    s.bytes_queued = queued_bytes_;
  }
  s.connections_opened = store_.connections_opened();
  s.connections_open = store_.connections_open();
  const ServiceCounters c = service_.counters();
  s.upload_threads = c.threads;
  s.upload_threads_peak = c.peak_threads;
  SampleWindow::Summary lat = latencies_us_.summary();
  s.latency_mean_ms = lat.mean / 1000.0;
  s.latency_p50_ms = lat.p50 / 1000.0;
  s.latency_p99_ms = lat.p99 / 1000.0;
  return s;
}

}  // namespace gcsfs
