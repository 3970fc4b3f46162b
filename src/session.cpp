// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "session.h"

#include "auth.h"
#include "bucket-manifest.h"
#include "gcs-client.h"
#include "manifest.h"
#include "percentiles.h"
#include "retry.h"
#include "uploader.h"

#include <glib/gstdio.h>

#include <chrono>
#include <functional>
#include <set>
#include <condition_variable>

#include <atomic>
#include <mutex>

namespace gcsfs {

namespace {

// Repeated warnings (empty buffers, leaky drops) are posted at the 1st,
// 10th, 100th... occurrence.
bool is_power_of_ten(uint64_t n)
{
  uint64_t p = 1;
  while (p < n && p <= UINT64_MAX / 10)
    p *= 10;
  return p == n;
}

// A frame the spool keeps and tries again: its retries were spent on a
// failure a later attempt may cure, or its request went out with no answer
// (a later attempt finds out whether it was stored).
bool worth_keeping(const UploadResult &r)
{
  return is_retryable(r) || (r.status == FrameStatus::Unconfirmed && !r.aborted);
}

// Whether a count going from `before` to `after` reached a power of ten.
bool crosses_power_of_ten(uint64_t before, uint64_t after)
{
  for (uint64_t n = before + 1; n <= after; n++)
    if (is_power_of_ten(n))
      return true;
  return false;
}

// The first power of ten above `n`.
uint64_t next_power_of_ten(uint64_t n)
{
  uint64_t p = 1;
  while (p <= n && p <= UINT64_MAX / 10)
    p *= 10;
  return p;
}

}  // namespace

// Passes the uploader's results on, marking which failures to warn about,
// and counts what the per-frame warnings leave out. Its counters are only
// touched by delivery (one call at a time) and by take_summary() once the
// uploader is drained or closed.
class Session::Relay : public Listener {
 public:
  explicit Relay(SessionListener &to) : to_(to) {}

  void on_frame(const SettledFrame &f) override
  {
    const UploadResult &r = f.result;
    bool warn = false;
    if (r.kind == ErrorKind::QueueFull) {
      // leaky: warned about at the 1st, 10th, 100th... frame dropped (or,
      // with a spool, written to it) at the bound
      uint64_t n = ++leaked_;
      const bool kept = r.status == FrameStatus::Spooled;
      if (is_power_of_ten(n))
        to_.on_notice(kept ? Notice::QueueFullSpooled : Notice::QueueFullDrops,
                      std::to_string(n) + (n == 1 ? " frame" : " frames") +
                          (kept ? " written to the spool" : " dropped") + " at the queue bound so far (" + r.message +
                          "); the next warning comes at " + std::to_string(n * 10) +
                          "; raise max-queued-frames or max-queued-bytes, or max-concurrency, to keep more" +
                          (kept ? " in memory" : ""));
    } else if (r.status == FrameStatus::Dropped) {
      dropped_++;
    } else if (r.status == FrameStatus::Unconfirmed && r.aborted) {
      unconfirmed_at_stop_++;  // said once, by the stop's summary
    } else if (r.status == FrameStatus::Spooled && r.aborted) {
      spooled_at_stop_++;
    } else if (r.status == FrameStatus::Unconfirmed ||
               (r.status == FrameStatus::Failed && !r.fatal && !r.stopped_by_fatal)) {
      // A fatal error is said once by on_fatal(); the frames it stopped with it.
      warn = ++failed_ <= kWarnedFailures;
    }
    track_link(r);
    to_.on_frame(f, warn);
  }

  // The endpoint's state, as the frames (in order) tell it: down at the first
  // frame that ends on a failure a later attempt may cure (unreachable,
  // timeouts, 408/429/5xx, no token: also when spooled), up again at the next
  // one stored. Each change is said once.
  void track_link(const UploadResult &r)
  {
    bool failure = (r.status == FrameStatus::Failed || r.status == FrameStatus::Spooled ||
                    r.status == FrameStatus::Unconfirmed) &&
                   !r.aborted && is_retryable_kind(r.kind, r.http_status);
    bool stored = r.status == FrameStatus::Uploaded;
    if (!failure && !stored)
      return;
    std::string reason;
    {
      std::lock_guard<std::mutex> lk(link_mutex_);
      if (failure) {
        link_failures_++;
        if (!link_up_)
          return;
      } else if (link_up_) {
        return;
      }
      link_up_ = stored;
      link_since_us_ = g_get_real_time();
      reason = stored ? "uploads succeed again after " + std::to_string(link_failures_) + " frames failed or spooled"
                      : r.message;
      if (stored)
        link_failures_ = 0;
    }
    to_.on_link(stored, reason);
    if (stored && on_link_up_)
      on_link_up_();
  }
  // Called (on the delivering thread) when uploads succeed again after
  // failing. Set before any upload.
  void set_on_link_up(std::function<void()> f) { on_link_up_ = std::move(f); }
  void link_state(bool *up, int64_t *since_us)
  {
    std::lock_guard<std::mutex> lk(link_mutex_);
    *up = link_up_;
    *since_us = link_since_us_;
  }
  void on_batch(const SettledBatch &b) override
  {
    if (manifest_)
      record(manifest_->batch_line(b, run_), "batch " + std::to_string(b.batch));
    to_.on_batch(b);
    if (manifests_)
      manifests_->submit(b);  // after the batch message: the object follows what the bus said
  }
  // manifest-name: set before any upload.
  void set_bucket_manifests(BucketManifests *m) { manifests_ = m; }
  // A manifest object could not be stored: the first kWarnedFailures are
  // noticed, the rest counted (stats: manifests-failed).
  void manifest_failed(const std::string &name, uint64_t batch, const std::string &why)
  {
    const uint64_t n = ++manifest_upload_failures_;
    if (n <= kWarnedFailures)
      to_.on_notice(Notice::ManifestUploadFailed,
                    "the manifest object " + name + " of batch " + std::to_string(batch) + " was not stored: " + why +
                        (n == kWarnedFailures ? " (later failures are only counted: stats manifests-failed)" : ""));
  }
  void on_fatal(const UploadResult &error) override { to_.on_fatal(error); }
  void notice(Notice n, const std::string &message) { to_.on_notice(n, message); }
  void replayed(const SpoolRecord &r, const std::string &uri, const std::string &url)
  {
    if (manifest_)
      record(manifest_->spool_line(r, uri, url), "spooled frame " + std::to_string(r.index));
    to_.on_replayed(r, uri, url);
  }
  // Lines go to `m` (owned by the session, which outlives the uploads), for
  // run `run`. Set before any upload.
  void set_manifest(Manifest *m, const std::string &run)
  {
    manifest_ = m;
    run_ = run;
  }

  Summary take()
  {
    Summary s;
    s.dropped = dropped_;
    s.unconfirmed_at_stop = unconfirmed_at_stop_;
    s.spooled_at_stop = spooled_at_stop_;
    s.failed = failed_;
    s.unwarned = failed_ > kWarnedFailures ? failed_ - kWarnedFailures : 0;
    dropped_ = failed_ = unconfirmed_at_stop_ = spooled_at_stop_ = 0;
    return s;
  }

  uint64_t count_empty() { return ++empty_; }
  uint64_t count_empty_peek() const { return empty_.load(); }

 private:
  SessionListener &to_;
  uint64_t dropped_ = 0, failed_ = 0, leaked_ = 0, unconfirmed_at_stop_ = 0, spooled_at_stop_ = 0;
  std::mutex link_mutex_;  // a leaf lock: the link state, read by stats() anywhere
  bool link_up_ = true;
  int64_t link_since_us_ = g_get_real_time();
  uint64_t link_failures_ = 0;
  std::atomic<uint64_t> empty_{0};  // the producer's thread only; read by stats() anywhere
  std::function<void()> on_link_up_;
  Manifest *manifest_ = nullptr;
  BucketManifests *manifests_ = nullptr;
  std::atomic<uint64_t> manifest_upload_failures_{0};
  std::string run_;
  std::atomic<uint64_t> manifest_failures_{0};  // in a row; the first of them is noticed

  // Appends a line; the first failure after a success is noticed, the rest logged.
  void record(const std::string &line, const std::string &what)
  {
    std::string why;
    if (manifest_->append(line, &why)) {
      manifest_failures_ = 0;
      return;
    }
    if (manifest_failures_++ == 0)
      to_.on_notice(Notice::ManifestWriteFailed,
                    what + " is not in the manifest " + manifest_->path() + ": " + why +
                        "; each later line is tried again (a warning comes again after one succeeds); the batch "
                        "messages on the bus are complete");
  }
};

namespace {

// A run id no earlier run of this process had (two runs starting in the same
// second differ in their random part); across processes the 16 random bits
// keep a collision at 1 in 65536 for runs of one stream started in one second.
std::string new_run_id()
{
  static std::mutex mutex;
  static std::string last;
  std::lock_guard<std::mutex> lk(mutex);
  std::string id;
  do
    id = make_run_id(g_get_real_time(), g_random_int());
  while (id == last);
  last = id;
  return id;
}

}  // namespace

// Uploads spooled frames, oldest first, on a thread of its own with one
// connection (so live frames keep the other max-concurrency), and removes
// each once its upload is confirmed. The uploads use if-exists=skip
// semantics: a frame an in-doubt attempt stored already counts as stored.
// When the endpoint fails, it waits (1 s doubling to 30 s) before trying
// the oldest frame again; new spooled frames wake it.
class Session::Replayer {
 public:
  // `busy` says whether a spool file belongs to a frame the live uploader
  // still has (spool-mode=always): those are not replayed. With `sync`, the
  // files written without fsync are flushed to disk about every 200 ms.
  Replayer(Spool &spool, GcsClient &client, Relay &relay, std::string bucket, std::function<bool(uint64_t)> busy,
           bool sync)
      : spool_(spool), client_(client), relay_(relay), bucket_(std::move(bucket)), busy_(std::move(busy)),
        sync_(sync)
  {
    thread_ = g_thread_try_new("gcsfs-replay", &Replayer::run, this, nullptr);
  }
  ~Replayer() { stop(); }
  bool started() const { return thread_ != nullptr; }
  // New frames in the spool: tried at once, unless the endpoint is failing
  // (then at the end of the backoff, or at wake()).
  void kick()
  {
    std::lock_guard<std::mutex> lk(mutex_);
    if (backing_off_)
      return;
    kicked_ = true;
    cond_.notify_all();
  }
  // The endpoint answers again (a live upload succeeded after failing): try
  // at once, backoff or not.
  void wake()
  {
    std::lock_guard<std::mutex> lk(mutex_);
    kicked_ = true;
    cond_.notify_all();
  }
  void stop()
  {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stopping_ = true;
      cond_.notify_all();
    }
    client_.abort_all();
    if (thread_)
      g_thread_join(thread_);
    thread_ = nullptr;
  }
  uint64_t replayed() const { return replayed_.load(); }

 private:
  static gpointer run(gpointer self)
  {
    static_cast<Replayer *>(self)->loop();
    return nullptr;
  }
  // Waits `ms` or until kicked (or woken, during a backoff) or stopping;
  // false when stopping.
  bool wait(unsigned ms, bool backoff)
  {
    std::unique_lock<std::mutex> lk(mutex_);
    backing_off_ = backoff;
    cond_.wait_for(lk, std::chrono::milliseconds(ms), [&] { return stopping_ || kicked_; });
    kicked_ = false;
    backing_off_ = false;
    return !stopping_;
  }
  bool stopping()
  {
    std::lock_guard<std::mutex> lk(mutex_);
    return stopping_;
  }
  void loop()
  {
    unsigned backoff_ms = 0;
    while (!stopping()) {
      bool failed = false;
      spool_.sync();  // files written without fsync (write-ahead, spilled at the queue bound)
      for (const SpoolEntry &e : spool_.list()) {
        if (stopping())
          break;
        if (busy_ && busy_(e.seq))
          continue;  // its live upload is under way
        SpoolRecord r;
        std::string why;
        if (!spool_.read(e, &r, &why)) {
          relay_.notice(Notice::SpoolCorrupt, why);
          continue;
        }
        UploadResult res = client_.insert(r.object_name, r.content_type,
                                          reinterpret_cast<const uint8_t *>(r.bytes.data()), r.bytes.size());
        if (res.status == FrameStatus::Uploaded) {
          spool_.remove(e);
          r.bytes.clear();
          relay_.replayed(r, "gs://" + bucket_ + "/" + r.object_name, client_.object_url(r.object_name));
          replayed_++;  // after the message: the counter never runs ahead of what was posted
          backoff_ms = 0;
        } else if (res.aborted) {
          break;
        } else if (worth_keeping(res)) {
          failed = true;  // the endpoint is still down: wait, then start over from the oldest
          break;
        } else {
          // No later attempt can store it: keep it aside, say so.
          std::string aside = spool_.dir() + "/failed";
          g_mkdir_with_parents(aside.c_str(), 0700);
          std::string dest = aside + e.path.substr(e.path.rfind('/'));
          std::string moved = g_rename(e.path.c_str(), dest.c_str()) == 0 ? dest : e.path;
          spool_.forget(e);
          relay_.notice(Notice::ReplayFailed, "spooled frame " + std::to_string(r.index) + " (" + r.object_name +
                                                  ") cannot be stored: " + res.message + "; it is kept in " + moved);
        }
      }
      if (failed)
        backoff_ms = std::min(kBackoffMaxMs, backoff_ms ? backoff_ms * 2 : kBackoffInitialMs);
      if (!wait(failed ? backoff_ms : sync_ ? kSyncIntervalMs : kIdlePollMs, failed))
        break;
    }
  }

  static constexpr unsigned kBackoffInitialMs = 1000;  // after a failure, doubling
  static constexpr unsigned kBackoffMaxMs = 30000;
  static constexpr unsigned kSyncIntervalMs = 200;     // spool-mode=always: syncfs this often
  static constexpr unsigned kIdlePollMs = 1000;        // a look at the folder without a kick

  Spool &spool_;
  GcsClient &client_;
  Relay &relay_;
  std::string bucket_;
  std::function<bool(uint64_t)> busy_;
  bool sync_;
  GThread *thread_ = nullptr;
  std::mutex mutex_;  // a leaf lock
  std::condition_variable cond_;
  bool stopping_ = false, kicked_ = false;
  bool backing_off_ = false;  // waiting after a failure: kick() does not end the wait, wake() does
  std::atomic<uint64_t> replayed_{0};
};

// Calls on_stats() every `interval_ms` until stopped.
class Session::Ticker {
 public:
  Ticker(Session &session, SessionListener &listener, unsigned interval_ms)
      : session_(session), listener_(listener), interval_ms_(interval_ms)
  {
    thread_ = g_thread_try_new("gcsfs-stats", &Ticker::run, this, nullptr);
  }
  ~Ticker() { stop(); }
  bool started() const { return thread_ != nullptr; }
  void stop()
  {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stopping_ = true;
      cond_.notify_all();
    }
    if (thread_)
      g_thread_join(thread_);
    thread_ = nullptr;
  }

 private:
  static gpointer run(gpointer self)
  {
    auto *t = static_cast<Ticker *>(self);
    std::unique_lock<std::mutex> lk(t->mutex_);
    while (!t->cond_.wait_for(lk, std::chrono::milliseconds(t->interval_ms_), [t] { return t->stopping_; })) {
      lk.unlock();
      t->listener_.on_stats(t->session_.stats());
      lk.lock();
    }
    return nullptr;
  }

  Session &session_;
  SessionListener &listener_;
  unsigned interval_ms_;
  GThread *thread_ = nullptr;
  std::mutex mutex_;  // a leaf lock
  std::condition_variable cond_;
  bool stopping_ = false;
};

Session::Session() = default;

Session::~Session()
{
  close();
}

std::unique_ptr<Session> Session::open(const SinkConfig &cfg, uint64_t first_batch, SessionListener &listener,
                                       OpenProblem *problem)
{
  auto refuse = [&](OpenError kind, std::string message) -> std::unique_ptr<Session> {
    problem->kind = kind;
    problem->message = std::move(message);
    return nullptr;
  };
  CheckedConfig checked;
  ConfigProblem bad;
  if (!check_config(cfg, first_batch, &checked, &bad)) {
    problem->setting = bad.kind;
    return refuse(OpenError::Settings, bad.message);
  }
  std::unique_ptr<Session> s(new Session());  // the constructor is private: make_unique cannot reach it
  s->relay_ = std::make_unique<Relay>(listener);
  s->endpoint_ = checked.endpoint;
  s->tmpl_ = std::move(checked.object_name);
  s->first_index_ = cfg.index;
  s->first_batch_ = first_batch;
  s->spool_max_ = cfg.spool_max_bytes;
  s->drain_timeout_ms_ = cfg.drain_timeout_ms;
  s->run_id_ = new_run_id();

  ClientConfig cc;
  cc.endpoint = checked.endpoint;
  cc.bucket = cfg.bucket;
  cc.metadata.insert(cfg.metadata.begin(), cfg.metadata.end());
  for (const auto &kv : cfg.extra_headers)
    cc.extra_headers.push_back(kv.first + ": " + kv.second);
  cc.checksum = cfg.checksum;
  cc.if_exists = cfg.if_exists;
  cc.request_timeout_ms = cfg.request_timeout_ms;
  cc.retry.max_retries = cfg.max_retries;
  cc.retry.retry_timeout_ms = cfg.retry_timeout_ms;
  cc.ca_file = cfg.ca_file;
  // The process's upload threads, shared by its sinks (an upload thread that
  // ends when idle closes the shared connections idle as long), or, with
  // share-uploads=false, threads and connections of the run's own.
  if (cfg.share_uploads) {
    s->service_ = &UploadService::shared([] {
      GcsClient::close_idle_shared(ServiceLimits::kDefaultIdleUs);
      GcsClient::release_thread_state();
    });
  } else {
    ServiceLimits own;
    own.max_threads = cfg.max_concurrency;
    own.at_thread_end = &GcsClient::release_thread_state;
    s->own_service_ = std::make_unique<UploadService>(std::move(own));
    s->service_ = s->own_service_.get();
  }
  cc.share_connections = cfg.share_uploads;  // with every client of the process to this endpoint
  cc.max_idle = s->service_->limits().max_threads;
  cc.idle_close_us = s->service_->limits().idle_us;
  cc.rate_limit = RateLimit::process();  // every upload of the process, shared or not

  CredentialsSettings creds;
  creds.path = cfg.credentials;
  creds.emulator = checked.emulator;
  creds.plain_http = checked.endpoint.compare(0, 7, "http://") == 0;
  AuthHttp auth_http;
  auth_http.ca_file = cfg.ca_file;
  auth_http.timeout_ms = cfg.request_timeout_ms;
  auth_http.abort = std::make_shared<AbortSignal>();  // a stop cuts token fetches short
  std::unique_ptr<TokenSource> source;
  std::string why;
  if (!resolve_credentials(creds, auth_http, &source, &why))
    return refuse(OpenError::NoCredentials, why);
  if (source) {
    cc.tokens = std::make_shared<TokenCache>(std::move(source), auth_http.abort);
    if (cfg.share_uploads)  // one token for the process's sinks with these credentials
      cc.tokens->share_tokens();
    s->identity_ = cc.tokens->describe();
    // A first token now: bad or refused credentials stop the start, with the
    // file, the reason and the fix, rather than failing every frame. A token
    // server that is down now may answer later: the uploads ask again.
    std::string token;
    TokenResult got = cc.tokens->get(&token, &why);
    if (got == TokenResult::Refused)
      return refuse(OpenError::CredentialsRefused, s->identity_ + ": " + why);
    if (got == TokenResult::Unavailable)
      s->relay_->notice(Notice::TokenUnavailable,
                        s->identity_ + ": " + why + "; uploads ask again with backoff within retry-timeout");
    Relay *relay = s->relay_.get();
    cc.tokens->set_on_refresh_failure([relay](const std::string &cause, int64_t valid_for_ms) {
      relay->notice(Notice::TokenRefreshFailed,
                    cause + "; it stays valid for " + std::to_string(valid_for_ms / 1000) +
                        " s more and the refresh is tried again with backoff until then");
    });
  } else {
    s->identity_ = "anonymous";
  }
  if (!cfg.spool_location.empty()) {
    s->spool_ = Spool::open(cfg.spool_location, cfg.spool_max_bytes, &why);
    if (!s->spool_)
      return refuse(OpenError::Spool, why);
    ClientConfig rc = cc;  // one connection of its own; a name taken by the same bytes is stored
    if (rc.if_exists == IfExists::Fail)
      rc.if_exists = IfExists::Skip;
    rc.retry.max_retries = 0;  // the replayer waits and tries again itself
    s->replay_client_ = std::make_unique<GcsClient>(std::move(rc));
  }
  if (!cfg.manifest_name.empty())  // its own connections: a manifest never waits for a frame's
    s->manifest_client_ = std::make_unique<GcsClient>(ClientConfig(cc));
  if (!cfg.manifest_location.empty()) {
    s->manifest_ = Manifest::open(cfg.manifest_location, cfg.manifest_max_bytes, cfg.stream_name, &why);
    if (!s->manifest_)
      return refuse(OpenError::Manifest, why);
    s->relay_->set_manifest(s->manifest_.get(), s->run_id_);
  }
  s->client_ = std::make_unique<GcsClient>(std::move(cc));

  UploaderConfig uc;
  uc.bucket = cfg.bucket;
  uc.stream = cfg.stream_name;
  uc.run = s->run_id_;
  uc.first_index = cfg.index;
  uc.first_batch = first_batch;
  uc.batch_size = cfg.batch_size;
  uc.batch_timeout_ms = cfg.batch_timeout_ms;
  uc.max_concurrency = cfg.max_concurrency;
  uc.service = s->service_;
  uc.max_queued_frames = cfg.max_queued_frames;
  uc.max_queued_bytes = cfg.max_queued_bytes;
  uc.leaky = cfg.leaky;
  uc.encode.format = cfg.image_format;
  uc.encode.quality = cfg.quality;
  s->encode_ = uc.encode;
  if (s->spool_) {
    Session *self = s.get();
    s->spool_always_ = cfg.spool_mode == SpoolMode::Always;
    if (s->spool_always_)
      uc.before_upload = [self](Frame &f) { self->write_ahead(f); };
    uc.after_upload = [self](const Frame &f, UploadResult &r) { self->after_upload(f, r); };
  }
  if (s->spool_) {  // frames an earlier run spooled go up now; the uploads' results wake it
    Session *self = s.get();
    s->replayer_ = std::make_unique<Replayer>(
        *s->spool_, *s->replay_client_, *s->relay_, cfg.bucket,
        [self](uint64_t seq) {
          std::lock_guard<std::mutex> lk(self->live_mutex_);
          return self->live_.count(seq) > 0;
        },
        s->spool_always_);
    if (!s->replayer_->started())
      return refuse(OpenError::Pool, "cannot start the spool's replay thread");
    Replayer *replayer = s->replayer_.get();
    s->relay_->set_on_link_up([replayer] { replayer->wake(); });
  }
  if (s->manifest_client_) {
    Relay *relay = s->relay_.get();
    s->manifests_ = std::make_unique<BucketManifests>(
        *s->manifest_client_, std::move(checked.manifest_name), cfg.bucket, cfg.stream_name, s->run_id_,
        [relay](const std::string &name, uint64_t batch, const std::string &why) {
          relay->manifest_failed(name, batch, why);
        });
    if (!s->manifests_->started())
      return refuse(OpenError::Pool, "cannot start the manifest upload threads");
    s->relay_->set_bucket_manifests(s->manifests_.get());
  }
  s->uploader_ = std::make_unique<Uploader>(uc, s->tmpl_, *s->client_, *s->relay_);
  if (!s->uploader_->start(&why))
    return refuse(OpenError::Pool, why);
  s->handover_us_ = std::make_unique<SampleWindow>();
  if (cfg.stats_interval_ms > 0) {
    s->ticker_ = std::make_unique<Ticker>(*s, listener, cfg.stats_interval_ms);
    if (!s->ticker_->started())
      return refuse(OpenError::Pool, "cannot start the stats thread");
  }
  return s;
}

SubmitResult Session::submit(Frame &&frame, bool *waited)
{
  drain_deadline_us_ = 0;  // frames again (after a flush): a later drain has its own bound
  if (!frame.bytes || frame.bytes->size == 0) {
    uint64_t n = relay_->count_empty();
    if (is_power_of_ten(n))
      relay_->notice(Notice::EmptyBuffers,
                     std::to_string(n) + (n == 1 ? " empty buffer" : " empty buffers") +
                         " skipped so far (stats: frames-empty); the next warning comes at " +
                         std::to_string(n * 10) + "; check the element upstream");
    return SubmitResult::Ok;
  }
  return uploader_->submit(std::move(frame), waited);
}

void Session::record_handover_us(int64_t us)
{
  handover_us_->add(us);
}

void Session::set_flushing(bool flushing)
{
  uploader_->set_flushing(flushing);
  if (manifests_)
    manifests_->set_flushing(flushing);
}

DrainEnd Session::drain()
{
  if (drain_timeout_ms_ > 0 && drain_deadline_us_ == 0)
    drain_deadline_us_ = g_get_monotonic_time() + int64_t(drain_timeout_ms_) * 1000;
  DrainEnd end = uploader_->drain_until(drain_deadline_us_);
  if (end == DrainEnd::TimedOut)
    uploader_->abandon("not settled within drain-timeout=" + std::to_string(drain_timeout_ms_) + " ms at EOS");
  // Then the manifest objects of those batches, against the same deadline
  // (past it they go on uploading in the background until the stop).
  if (end == DrainEnd::Done && manifests_)
    end = manifests_->drain_until(drain_deadline_us_);
  if (end != DrainEnd::Interrupted)
    drain_deadline_us_ = 0;
  return end;
}

void Session::close()
{
  if (ticker_)
    ticker_->stop();
  if (replayer_)
    replayer_->stop();
  if (uploader_)
    uploader_->shutdown();
  if (manifests_)  // after the uploader: its last batches' manifests are queued by then
    manifests_->stop();
}

void Session::write_ahead(Frame &f)
{
  uint64_t seq = 0;
  std::string why;
  // The image must be on disk before the frame is accepted: a raw frame is
  // encoded here, on the producer's thread, and the worker uploads the image
  // (if encoding fails, the worker fails it: encode-failed).
  if (f.raw.width > 0)
    encode_frame(f, encode_, &why);
  // Held while the file appears, so that the replay thread never takes it
  // for an earlier run's before it is marked live.
  std::lock_guard<std::mutex> lk(live_mutex_);
  if (!spool_frame(f, false, &seq, &why)) {
    relay_->notice(Notice::SpoolWriteFailed, "frame " + std::to_string(f.index) + " (" + f.object_name +
                                                 ") could not be written to the spool before its upload, so a "
                                                 "crash would lose it: " + why);
    return;
  }
  f.spool_seq = seq;
  live_.insert(seq);
}

void Session::after_upload(const Frame &f, UploadResult &r)
{
  if (f.spool_seq != kTimeNone) {
    std::lock_guard<std::mutex> lk(live_mutex_);
    live_.erase(f.spool_seq);
  }
  // (A full spool may have removed its file meanwhile: then it is not kept.)
  const bool on_disk = f.spool_seq != kTimeNone && spool_->has(f.spool_seq);
  if (r.status == FrameStatus::Uploaded) {
    if (on_disk)
      spool_->remove_seq(f.spool_seq);
    return;
  }
  // Kept for the replay thread (durable: fsynced), reported spooled.
  auto keep = [&](bool durable, const std::string &how) {
    std::string why;
    if (!on_disk && !spool_frame(f, durable, nullptr, &why)) {
      relay_->notice(Notice::SpoolWriteFailed, "frame " + std::to_string(f.index) + " could not be spooled: " + why);
      return;
    }
    r.status = FrameStatus::Spooled;
    r.message = "kept in the spool (" + spool_->dir() + ")" + how + r.message;
    replayer_->kick();
  };
  if (worth_keeping(r) || r.status == FrameStatus::Unconfirmed) {
    // Retries spent, or sent with no answer: the replay thread goes on trying
    // (an object an earlier attempt stored is read back and counted once).
    keep(true, " after: ");
  } else if (r.status == FrameStatus::Dropped && r.kind == ErrorKind::QueueFull) {
    // leaky: at the queue bound the frame goes to the spool instead of being
    // dropped. On the producer's thread: written without fsync (the replay
    // thread syncs the folder when it wakes, at once).
    keep(false, " instead of being ");
  } else if (r.status == FrameStatus::Dropped && r.kind == ErrorKind::Aborted) {
    // A stop or a drain-timeout cut it short: kept, uploaded from the spool
    // (at the next start, after a stop).
    keep(true, ": ");
  } else if (on_disk) {  // failed for good: nothing to keep it for
    spool_->remove_seq(f.spool_seq);
  }
}

bool Session::spool_frame(const Frame &f, bool durable, uint64_t *seq, std::string *why)
{
  SpoolRecord r;
  r.object_name = f.object_name;
  r.content_type = std::string(f.content_type);
  r.run = run_id_;
  r.index = f.index;
  r.batch = f.batch;
  r.pts = f.pts;
  r.duration = f.duration;
  r.running_time = f.running_time;
  r.stream_time = f.stream_time;
  r.offset = f.offset;
  r.offset_end = f.offset_end;
  r.capture_unix_us = f.capture_unix_us;
  std::vector<SpoolRecord> evicted;
  if (!f.bytes)
    return false;
  const uint8_t *data = f.bytes->data;
  size_t size = f.bytes->size;
  std::vector<uint8_t> image;
  if (f.raw.width > 0) {  // a raw frame no worker encoded yet (dropped at the bound, or cut short by a stop)
    if (!encode_raw(f.raw, encode_, &image, why))
      return false;
    data = image.data();
    size = image.size();
  }
  if (!spool_->put(r, data, size, &evicted, why, durable, seq))
    return false;
  if (!evicted.empty()) {
    const uint64_t before = evicted_.fetch_add(evicted.size());
    const uint64_t total = before + evicted.size();
    std::string names;
    for (const SpoolRecord &e : evicted)
      names += (names.empty() ? "" : ", ") + e.object_name;
    relay_->notice(Notice::SpoolEvictedEach, std::to_string(evicted.size()) +
                                                 " spooled frames removed unstored to make room: " + names);
    if (crosses_power_of_ten(before, total))
      relay_->notice(Notice::SpoolEvicted,
                     std::to_string(total) + " spooled frames removed unstored so far to make room (spool-max-size=" +
                         std::to_string(spool_max_) + "; stats: frames-evicted), the latest: " + names +
                         "; the next warning comes at the " + std::to_string(next_power_of_ten(total)) +
                         "th; raise spool-max-size to keep more (GST_DEBUG=gcsframesink:2 names every one)");
  }
  return true;
}

Stats Session::stats() const
{
  Stats st = uploader_ ? uploader_->stats() : Stats();
  st.frames_empty = relay_ ? relay_->count_empty_peek() : 0;
  if (spool_) {
    st.spool_bytes = spool_->bytes_used();
    st.frames_evicted = evicted_.load();
  }
  if (replayer_)
    st.frames_replayed = replayer_->replayed();
  if (manifests_) {
    st.manifests_uploaded = manifests_->uploaded();
    st.manifests_failed = manifests_->failed();
  }
  if (relay_)
    relay_->link_state(&st.endpoint_reachable, &st.endpoint_since_unix_us);
  if (handover_us_) {
    SampleWindow::Summary r = handover_us_->summary();
    st.render_p50_us = r.p50;
    st.render_p99_us = r.p99;
  }
  return st;
}

Summary Session::take_summary()
{
  return relay_->take();
}

uint64_t Session::next_index() const
{
  return first_index_ + (uploader_ ? uploader_->stats().frames_received : 0);
}

uint64_t Session::next_batch() const
{
  return first_batch_ + (uploader_ ? uploader_->stats().batches_posted : 0);
}

}  // namespace gcsfs
