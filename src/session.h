// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// One run of a sink, from start to stop: what it needs is opened from a
// SinkConfig (credentials and a first token, the storage client, the upload
// pool) and closed in the right order. The adapter holds one per run and
// hands it frames; results come back through a SessionListener.
#pragma once

#include "results.h"
#include "sink-config.h"
#include "spool.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace gcsfs {

class GcsClient;
class Manifest;
class BucketManifests;
class SampleWindow;
class TokenCache;
class Uploader;
class UploadService;

// Why a run could not open.
enum class OpenError {
  None,
  Settings,             // a setting that can never work (ConfigProblem says which)
  NoCredentials,        // no usable credentials (missing, unreadable, malformed)
  CredentialsRefused,   // the token server refused them
  Pool,                 // the upload threads could not start
  Spool,                // the spool folder cannot be made or written
  Manifest,             // the manifest file cannot be opened for appending
};

struct OpenProblem {
  OpenError kind = OpenError::None;
  ConfigError setting = ConfigError::None;  // for Settings
  std::string message;                      // the cause and the fix
};

// What a run has to say besides its results, each once per occasion.
enum class Notice {
  TokenUnavailable,    // at start: no first token, the token server is unavailable (uploads ask again)
  TokenRefreshFailed,  // a refresh failed while the current token is valid (once per outage)
  EmptyBuffers,        // zero-byte buffers were skipped (at the 1st, 10th, 100th...)
  QueueFullDrops,      // leaky: frames were dropped at the queue bound (at the 1st, 10th, 100th...)
  QueueFullSpooled,    // leaky with a spool: frames went to the spool at the queue bound (same counts)
  SpoolEvicted,        // the spool was full: its oldest frames were removed unstored (when the count
                       // reaches the 1st, 10th, 100th...; every removal is also SpoolEvictedEach)
  SpoolEvictedEach,    // which frames one removal took (for the debug log)
  SpoolWriteFailed,    // a frame could not be written to the spool (it is uploaded, or fails, without it)
  SpoolCorrupt,        // a spool file was not whole: moved aside
  ReplayFailed,        // a spooled frame cannot be stored (e.g. a different object has its name): kept aside
  ManifestWriteFailed, // a line could not be added to the manifest (the first of a run of failures)
  ManifestUploadFailed,  // a manifest object (manifest-name) could not be stored (the first kWarnedFailures)
};

// Receives a run's results, in order, on the upload threads (see Listener),
// and its notices (TokenUnavailable on the thread that opens the run,
// EmptyBuffers on the thread that submits, TokenRefreshFailed on a worker).
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  // `warn`: a failure to tell the user about (the run's first
  // kWarnedFailures failures that are not fatal, unconfirmed frames
  // included; the rest go in the summary).
  virtual void on_frame(const SettledFrame &f, bool warn) = 0;
  virtual void on_batch(const SettledBatch &b) = 0;
  virtual void on_fatal(const UploadResult &error) = 0;
  virtual void on_notice(Notice notice, const std::string &message) = 0;
  // A spooled frame (of this run or an earlier one) is stored now, on the
  // replay thread.
  virtual void on_replayed(const SpoolRecord &frame, const std::string &uri, const std::string &url) = 0;
  // Every stats-interval, on a thread of the session's own.
  virtual void on_stats(const Stats &stats) = 0;
  // Uploads started failing (`up` false: the first frame whose failure a
  // later attempt may cure, with its cause) or succeed again (`up` true);
  // once per change, in frame order, on the delivering thread.
  virtual void on_link(bool up, const std::string &reason) = 0;
};

// What per-frame warnings left out, since the last summary.
struct Summary {
  uint64_t dropped = 0;   // frames dropped by a stop (or a drain-timeout)
  uint64_t unconfirmed_at_stop = 0;  // frames whose requests a stop cut short after they were sent in full
  uint64_t spooled_at_stop = 0;      // frames a stop cut short that the spool kept
  uint64_t failed = 0;    // failures that are not fatal, in all
  uint64_t unwarned = 0;  // of those, past the first kWarnedFailures
};

class Session {
 public:
  static constexpr uint64_t kWarnedFailures = 10;

  // Opens a run whose first batch is `first_batch` (numbering goes on from
  // the previous run; `cfg.index` is the first frame's index). Null, with
  // the problem, when it cannot open. `listener` must outlive the Session.
  static std::unique_ptr<Session> open(const SinkConfig &cfg, uint64_t first_batch, SessionListener &listener,
                                       OpenProblem *problem);
  ~Session();  // close()
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  // Hands a frame over (see Uploader::submit). A zero-byte frame is not
  // stored: it is counted (frames-empty), noticed at the 1st, 10th,
  // 100th..., and Ok is returned.
  SubmitResult submit(Frame &&frame, bool *waited = nullptr);
  // How long the producer's thread spent handing one frame over (render-p50-us, render-p99-us).
  void record_handover_us(int64_t us);
  void set_flushing(bool flushing);
  // Closes the open batch and waits for every frame to be reported.
  // Interrupted when set_flushing(true) interrupts it (a later call goes on
  // waiting, against the same deadline). With drain_timeout_ms, a drain
  // still waiting that long after its first call gives up on the frames not
  // settled (Uploader::abandon: dropped or unconfirmed, or spooled with a
  // spool), reports them, and returns TimedOut.
  DrainEnd drain();
  // Aborts what is in flight, reports every frame (as dropped), stops the
  // threads and closes the client. Idempotent.
  void close();

  Stats stats() const;
  Summary take_summary();
  // Where the next run starts: the index after the last frame accepted, and
  // the batch after the last one reported.
  uint64_t next_index() const;
  uint64_t next_batch() const;
  const std::string &endpoint() const { return endpoint_; }
  // Who uploads: "anonymous" or what the credentials are (never a secret).
  const std::string &identity() const { return identity_; }
  // This run's id ({run} in object names).
  const std::string &run_id() const { return run_id_; }

 private:
  class Relay;
  Session();
  bool spool_frame(const Frame &f, bool durable, uint64_t *seq, std::string *why);
  void write_ahead(Frame &f);
  void after_upload(const Frame &f, UploadResult &r);

  std::string endpoint_, identity_, run_id_;
  uint64_t first_index_ = 0, first_batch_ = 0, spool_max_ = 0;
  unsigned drain_timeout_ms_ = 0;
  EncodeOptions encode_;  // for raw frames spooled before a worker encoded them
  int64_t drain_deadline_us_ = 0;  // monotonic, of the drain under way (producer's thread only); 0 = none
  std::atomic<uint64_t> evicted_{0};
  NameTemplate tmpl_;
  UploadService *service_ = nullptr;  // the process's upload threads (never destroyed)
  // Destroyed in reverse: the uploader (its threads) before the client and the relay.
  std::unique_ptr<Manifest> manifest_;  // manifest-location; null = none. Used by relay_
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<GcsClient> client_;
  std::unique_ptr<UploadService> own_service_;  // share-uploads=false; outlives the uploader
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<SampleWindow> handover_us_;
  // The spool and its replay thread (null without spool-location).
  class Replayer;
  class Ticker;
  std::unique_ptr<Ticker> ticker_;  // stats-interval; stopped first by close()
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<GcsClient> replay_client_;
  // manifest-name: its own client (connections) and upload threads; null = none.
  std::unique_ptr<GcsClient> manifest_client_;
  std::unique_ptr<BucketManifests> manifests_;
  std::unique_ptr<Replayer> replayer_;
  bool spool_always_ = false;
  std::mutex live_mutex_;       // a leaf lock: guards live_
  std::set<uint64_t> live_;     // spool files of frames the uploader still has (spool-mode=always)
};

}  // namespace gcsfs
