// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Bundled GCS emulator for tests, demo and benchmarks.
//
// A real HTTP/1.1 server (libsoup 3) speaking the subset of the Google Cloud
// Storage JSON API that gcsframesink uses: bucket get/insert, object
// insert (media, multipart, resumable), get, list and delete, plus the fault
// injection ("retry test") API of Google's storage-testbench so the same
// tests can run against either server.
//
// Optionally it also plays Google's side of authentication: an OAuth 2.0
// token endpoint (POST /token: JWT-bearer and refresh-token grants), the GCE
// metadata server's token endpoint, bearer-token checks on every storage
// request, and HTTPS.
//
// The server runs on its own thread with its own GMainContext; the inspection
// methods below are thread-safe and may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gcsemu {

struct Options {
  std::string host = "127.0.0.1";
  unsigned port = 0;                 // 0 = pick a free port
  unsigned latency_ms = 0;           // added before each storage response
  unsigned jitter_ms = 0;            // uniform +- jitter around latency (clamped at 0)
  // Object uploads are stored at once and their answer is held this long
  // (a server that stores and then stalls: the client cannot know). 0 = off.
  unsigned answer_delay_ms = 0;
  std::string root_dir;              // empty = in-memory; else files under root_dir/<bucket>/<name>
  std::vector<std::string> buckets;  // pre-created buckets
  bool verbose = false;              // log each request to stderr

  // --- authentication (all off by default)
  // PEM text (not a path) of the public key ("PUBLIC KEY"; an X.509
  // "CERTIFICATE" or a "PRIVATE KEY" also works) that verifies RS256-signed
  // JWT-bearer assertions sent to POST /token. Empty = grant disabled.
  std::string oauth_public_key_pem;
  // The assertion's "aud" must be token_url(); with this also Google's own
  // https://oauth2.googleapis.com/token is accepted.
  bool accept_google_audience = false;
  // Refresh-token grant: POST /token issues a token when all three match.
  std::string oauth_client_id, oauth_client_secret, oauth_refresh_token;
  unsigned token_lifetime_s = 3600;  // expires_in of issued tokens
  unsigned token_failures = 0;       // the first N token requests answer 503 (see fail_token_requests)
  // Serve GET /computeMetadata/v1/instance/service-accounts/default/{token,email}
  // (clients: GCE_METADATA_HOST=HOST:PORT).
  bool metadata_server = false;
  // Storage requests need "Authorization: Bearer TOKEN" with an unexpired,
  // unrevoked token issued by this server; else 401. /token,
  // /computeMetadata/... and /retry_test... are exempt.
  bool require_auth = false;
  // PEM certificate (chain) and private key files: serve HTTPS instead of HTTP.
  std::string tls_cert_file, tls_key_file;
};

struct ObjectInfo {
  std::string bucket, name, content_type;
  std::string crc32c;  // base64 of the big-endian CRC32C
  std::string md5;     // base64 of the MD5 digest
  int64_t generation = 0;
  uint64_t size = 0;
  std::map<std::string, std::string> metadata;
};

class Emulator {
 public:
  explicit Emulator(Options opts);
  ~Emulator();  // stops if running
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // Starts the server thread; returns once listening (or false + *error).
  // After stop(), starts it again on the same port with the same buckets
  // and objects (an outage and its end).
  bool start(std::string* error);
  // Closes listeners and connections, cancels paused requests, joins the
  // thread. Idempotent. Must not be called from the server thread.
  void stop();

  unsigned port() const;
  std::string endpoint() const;   // "http://HOST:PORT" ("https://..." with TLS)
  std::string token_url() const;  // endpoint() + "/token"
  void set_latency(unsigned latency_ms, unsigned jitter_ms);
  // From now on, object uploads are stored at once and answered after
  // `delay_ms` (see Options::answer_delay_ms).
  void set_answer_delay(unsigned delay_ms);
  uint64_t answers_held() const;  // uploads stored and answered late that way so far
  // Answers of the token endpoint (POST /token) wait this long from now on (0 = none).
  void set_token_delay(unsigned delay_ms);
  // The next `count` token requests that would be granted (POST /token and
  // the metadata server's token) answer 503 instead: a token server outage.
  void fail_token_requests(unsigned count);
  uint64_t token_requests_failed() const;  // 503s answered that way so far

  bool get_object(const std::string& bucket, const std::string& name, std::string* data,
                  ObjectInfo* info) const;
  std::vector<ObjectInfo> list_objects(const std::string& bucket,
                                       const std::string& prefix = "") const;
  size_t object_count(const std::string& bucket) const;
  uint64_t requests_served() const;
  uint64_t max_connections_seen() const;
  uint64_t connections_accepted() const;
  uint64_t open_connections() const;  // currently open client connections

  // Invalidates every token issued so far (clients must fetch a new one).
  void revoke_all_tokens();
  uint64_t tokens_issued() const;  // by /token and the metadata server
  uint64_t auth_failures() const;  // 401s answered to storage requests

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The parsing the server does on a request's outside input, without a
// socket (for the fuzz target): routing `method` and `target` (raw path and
// query), the multipart body of an upload sent with `content_type`, object
// metadata JSON, retry-test instructions and JWT-bearer assertion segments
// in `body`. Returns the routing error as a negative HTTP status, else the
// number of multipart parts found (-1 when the body is not multipart).
int parse_request(const std::string& method, const std::string& target, const std::string& content_type,
                  std::string_view body);

}  // namespace gcsemu
