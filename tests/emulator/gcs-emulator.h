// Bundled GCS emulator for tests, demo and benchmarks.
//
// A real HTTP/1.1 server (libsoup 3) speaking the subset of the Google Cloud
// Storage JSON API that gcsframesink uses: bucket get/insert, object
// insert (media, multipart, resumable), get, list and delete, plus the fault
// injection ("retry test") API of Google's storage-testbench so the same
// tests can run against either server.
//
// The server runs on its own thread with its own GMainContext; the inspection
// methods below are thread-safe and may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gcsemu {

struct Options {
  std::string host = "127.0.0.1";
  unsigned port = 0;                 // 0 = pick a free port
  unsigned latency_ms = 0;           // added before each storage response
  unsigned jitter_ms = 0;            // uniform +- jitter around latency (clamped at 0)
  std::string root_dir;              // empty = in-memory; else files under root_dir/<bucket>/<name>
  std::vector<std::string> buckets;  // pre-created buckets
  bool verbose = false;              // log each request to stderr
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
  bool start(std::string* error);
  // Closes listeners and connections, cancels paused requests, joins the
  // thread. Idempotent. Must not be called from the server thread.
  void stop();

  unsigned port() const;
  std::string endpoint() const;  // "http://HOST:PORT"
  void set_latency(unsigned latency_ms, unsigned jitter_ms);

  bool get_object(const std::string& bucket, const std::string& name, std::string* data,
                  ObjectInfo* info) const;
  std::vector<ObjectInfo> list_objects(const std::string& bucket,
                                       const std::string& prefix = "") const;
  size_t object_count(const std::string& bucket) const;
  uint64_t requests_served() const;
  uint64_t max_connections_seen() const;
  uint64_t connections_accepted() const;
  uint64_t open_connections() const;  // currently open client connections

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gcsemu
