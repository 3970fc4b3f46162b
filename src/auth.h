// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Credentials, resolved the way Google's client libraries resolve Application
// Default Credentials, and one access token shared by every upload worker.
//
// No token, private key or refresh token is ever written to a log or an
// error message by this code.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace gcsfs {

// Cuts blocking token requests short from another thread (a stopping
// element must not wait out a token server's timeout).
class AbortSignal {
 public:
  // Ends the requests running now at once, and makes later ones end before
  // they start, until reset().
  void abort();
  void reset();
  const std::atomic<bool> &flag() const { return aborted_; }
  // A request registers its libcurl multi handle while it runs, so that
  // abort() can wake it; enter() is false when already aborted.
  bool enter(void *multi);
  void leave(void *multi);

 private:
  std::mutex mutex_;  // a leaf lock
  std::set<void *> running_;
  std::atomic<bool> aborted_{false};
};

// HTTP settings for talking to token endpoints.
struct AuthHttp {
  std::string ca_file;           // extra CA bundle (PEM), empty = the system's
  unsigned timeout_ms = 30000;
  std::shared_ptr<AbortSignal> abort;  // may be null: not abortable
};

// How a token request ended. Unavailable: the token server could not be
// reached or answered 408, 429 or 5xx (a later request may succeed).
// Refused: it refused the credentials or answered something that is not a
// token (no later request will do better).
enum class TokenResult { Ok, Unavailable, Refused };

// Fetches a fresh access token from somewhere (a token endpoint, the metadata
// server). Blocking; called by one thread at a time.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // On success sets the token and its lifetime in seconds; else the cause in `error`.
  virtual TokenResult fetch(std::string *token, int64_t *expires_in_s, std::string *error) = 0;
  // What these credentials are, for logs and errors (never a secret).
  virtual std::string describe() const = 0;
  // Which credentials these are, for sharing their tokens between the
  // process's caches (TokenCache::share_tokens): equal keys, same tokens.
  // Never a secret in clear.
  virtual std::string share_key() const { return describe(); }
};

// Where the credentials come from.
struct CredentialsSettings {
  std::string path;          // the `credentials` property: a key file, or "anonymous"; empty = ADC
  bool emulator = false;     // the endpoint came from an emulator variable: anonymous
  bool plain_http = false;   // the endpoint is http://: anonymous unless `path` is set
};

// Resolves the credentials: `path` if set, else anonymous for emulators and
// plain-http endpoints, else GOOGLE_APPLICATION_CREDENTIALS, else the gcloud
// ADC file (~/.config/gcloud/application_default_credentials.json), else the
// GCE/GKE metadata server (GCE_METADATA_HOST / GCE_METADATA_ROOT override its
// address). Sets `*source` to null for anonymous access. On failure returns
// false with the file, the reason and the fix in `error`.
bool resolve_credentials(const CredentialsSettings &settings, const AuthHttp &http,
                         std::unique_ptr<TokenSource> *source, std::string *error);

// Reads a token endpoint's answer: {"access_token", "expires_in"} with 200,
// else Google's {"error", "error_description"}; `url` names it in `error`.
// The longest token lifetime believed (Google's are 3600 s).
constexpr int64_t kMaxTokenLifeS = 86400;

TokenResult parse_token_answer(const std::string &url, long status, const std::string &body, std::string *token,
                               int64_t *expires_in, std::string *error);

// Builds a token source from the text of a credentials JSON file
// (service_account or authorized_user). `origin` names it in errors.
std::unique_ptr<TokenSource> token_source_from_json(const std::string &json, const std::string &origin,
                                                    const AuthHttp &http, std::string *error);

// One access token shared by all workers. A token is refreshed once less
// than kRefreshMarginS of its life is left (half its life if it is short), by
// one thread, while the others keep using it; only when no valid token exists
// do they wait. A refresh the token server could not answer (Unavailable) is
// tried again after a backoff (kRetryInitialMs doubling to kRetryMaxMs, never
// later than halfway to the token's expiry) while the current token is still
// used; until then, with no valid token, get() answers Unavailable at once
// without asking the server again.
class TokenCache {
 public:
  // `abort` is the signal the source's requests were built with, if any.
  explicit TokenCache(std::unique_ptr<TokenSource> source, std::shared_ptr<AbortSignal> abort = nullptr);

  // A valid token, fetching one if needed; else the cause in `error`.
  TokenResult get(std::string *token, std::string *error);
  // After a 401 with `token`: drops it so that the next get() fetches anew
  // (once, however many workers report the same token).
  void invalidate(const std::string &token);
  std::string describe() const { return source_->describe(); }
  // Shares tokens with the process's other caches of the same credentials
  // (TokenSource::share_key()): a cache that needs a token first takes one
  // another cache fetched, if it is valid and not due for a refresh, and a
  // token it fetches is offered to the others; a token dropped after a 401
  // is withdrawn. So the sinks of a process fetch a token about once per
  // token lifetime, not once each. Call before the first get().
  void share_tokens();
  // Cuts a fetch under way short (get() fails at once) until resume().
  void abort_all();
  void resume();
  uint64_t refreshes() const;
  uint64_t failed_refreshes() const;  // Unavailable answers, in all
  // Called (without the lock) when a refresh fails while the current token
  // is still valid, with the cause and how long the token stays valid; once
  // per outage (again only after a successful refresh).
  void set_on_refresh_failure(std::function<void(const std::string &why, int64_t valid_for_ms)> cb);

  static constexpr int64_t kRefreshMarginS = 300;
  static constexpr int64_t kRetryInitialMs = 1000;
  static constexpr int64_t kRetryMaxMs = 32000;
  static constexpr int64_t kRetryMinMs = 100;

 private:
  std::unique_ptr<TokenSource> source_;
  std::shared_ptr<AbortSignal> abort_;
  mutable std::mutex mutex_;  // a leaf lock, never held while fetching
  std::condition_variable cond_;
  std::string token_;
  int64_t expires_us_ = 0;    // monotonic: no longer valid from here
  int64_t refresh_at_us_ = 0; // monotonic: the next get() from here refreshes it
  bool refreshing_ = false;
  uint64_t refreshes_ = 0;
  unsigned failures_ = 0;       // Unavailable answers since the last token
  uint64_t failed_total_ = 0;
  int64_t retry_at_us_ = 0;     // monotonic: no new request before this
  std::string last_error_;      // of the last Unavailable answer
  std::function<void(const std::string &, int64_t)> on_refresh_failure_;
  std::string share_key_;       // empty: tokens not shared
};

}  // namespace gcsfs
