// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// A small client for the GCS JSON API over libcurl: object inserts with a
// multipart body streamed from the frame's own bytes, on reused connections.
#pragma once

#include "auth.h"
#include "rate-limit.h"
#include "retry.h"
#include "status.h"
#include "store.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

struct curl_slist;

namespace gcsfs {

// Fills `r` from the text of a GCS JSON answer: bucket, name, generation,
// size and checksums of an object resource, or the message and reason of an
// error document. Anything else leaves `r` as it is.
void parse_answer(const std::string &body, UploadResult &r);

struct ClientConfig {
  std::string endpoint;                  // resolved base URL, no trailing slash
  std::string bucket;
  ChecksumMode checksum = ChecksumMode::Crc32c;
  IfExists if_exists = IfExists::Fail;
  std::map<std::string, std::string> metadata;      // custom object metadata
  std::vector<std::string> extra_headers;           // "Name: value"
  std::shared_ptr<TokenCache> tokens;    // null = anonymous
  std::string ca_file;                   // extra CA bundle (PEM) to verify the endpoint with
  unsigned request_timeout_ms = 30000;
  unsigned connect_timeout_ms = 10000;
  RetryPolicy retry;
  // Keep idle connections in the process's cache for this endpoint and
  // ca-file, which every client sharing it borrows from, rather than in a
  // cache of this client's own.
  bool share_connections = false;
  unsigned max_idle = 0;        // idle connections kept at most (0 = no bound)
  int64_t idle_close_us = 0;    // idle connections older than this are closed (0 = never)
  RateLimit *rate_limit = nullptr;  // the process's upload pace; null = none
};

class GcsClient : public ObjectStore {
 public:
  explicit GcsClient(ClientConfig cfg);
  ~GcsClient() override;
  GcsClient(const GcsClient &) = delete;
  GcsClient &operator=(const GcsClient &) = delete;

  // Inserts one object (uploadType=multipart, ifGenerationMatch=0), blocking
  // the calling thread. Thread-safe: each call borrows an idle connection.
  UploadResult insert(const std::string &object_name, std::string_view content_type, const uint8_t *data,
                      size_t size) override;

  // Cuts every transfer in flight short and makes later calls return at once
  // (aborted), until resume(). Safe from any thread.
  void abort_all() override;
  void resume() override;

  const ClientConfig &config() const { return cfg_; }
  // Public URL of an object: <endpoint>/<bucket>/<percent-encoded object>.
  std::string object_url(const std::string &object_name) const override;
  uint64_t connections_opened() const override { return connections_opened_.load(); }
  // OpenSSL's per-thread state (the thread's random generator, made when it
  // signs a token; error queues), freed now rather than by a thread-exit
  // handler that may run after the process has moved on.
  void end_thread() override { release_thread_state(); }
  static void release_thread_state();

  // The multipart/related body of an insert is preamble + the frame's bytes +
  // epilogue(); the boundary is in content_type_header().
  std::string preamble(const std::string &object_name, std::string_view content_type, const std::string &crc32c,
                       const std::string &md5) const;
  const std::string &epilogue() const { return epilogue_; }
  std::string content_type_header() const;

  struct Connection;
  struct Cache;

  // Closes the idle connections of the process's shared caches that have
  // been idle `idle_us` or longer (called as an idle upload thread ends).
  static void close_idle_shared(int64_t idle_us);
  // Connections open in the cache this client uses (idle and borrowed).
  unsigned connections_open() const override;

 private:
  std::unique_ptr<Connection> take_connection();
  void give_back(std::unique_ptr<Connection> c);
  UploadResult attempt(Connection &c, const std::string &object_name, std::string_view content_type,
                       const uint8_t *data, size_t size, const std::string &crc, const std::string &md5);
  UploadResult perform(Connection &c);
  bool authorize(Connection &c, UploadResult *failure);
  std::string gave_up(const UploadResult &r, bool out_of_time, bool server_wait) const;
  UploadResult check_existing(Connection &c, const std::string &object_name, const std::string &crc,
                              const std::string &md5, size_t size);
  bool wait_unless_aborted(unsigned ms);
  // Waits for an attempt's turn at cfg_.rate_limit; false when aborted meanwhile.
  bool wait_for_turn(size_t bytes);
  std::string not_the_object(const UploadResult &r, const std::string &object_name) const;
  void reject_answer(const Connection &c, const std::string &why, UploadResult &r) const;

  ClientConfig cfg_;
  std::string boundary_;
  std::string url_;              // the insert URL, same for every object
  std::string metadata_suffix_;  // constant tail of the JSON metadata part
  std::string url_prefix_;       // object_url() prefix
  std::string epilogue_;
  std::atomic<bool> aborting_{false};
  std::atomic<uint64_t> connections_opened_{0};
  // Lock order: mutex_ is a leaf lock; nothing else is taken while holding it.
  std::mutex mutex_;
  std::condition_variable abort_cond_;  // wakes backoff waits on abort_all()
  std::mt19937_64 rng_;                 // backoff jitter, under mutex_
  std::shared_ptr<Cache> cache_;  // idle connections: this client's, or shared
  const uint64_t id_;             // which client a connection was last set up for
  std::set<Connection *> busy_;
  ::curl_slist *headers_ = nullptr;
};

}  // namespace gcsfs
