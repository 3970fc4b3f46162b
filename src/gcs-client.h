// A small client for the GCS JSON API over libcurl: object inserts with a
// multipart body streamed from the frame's own bytes, on reused connections.
#pragma once

#include "auth.h"
#include "retry.h"

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

enum class ChecksumMode { Crc32c, Md5, Both, None };

enum class FrameStatus { Uploaded, Failed, Dropped, Spooled };
const char *frame_status_name(FrameStatus s);

// The outcome of one object insert.
struct UploadResult {
  FrameStatus status = FrameStatus::Failed;
  long http_status = 0;      // 0 when no HTTP answer came (connection error, abort)
  std::string reason;        // GCS error reason ("notFound", "forbidden", ...) or the transport error
  std::string message;       // human-readable cause, from the server or libcurl
  std::string bucket, name;  // of the object resource answered, as the server names it
  int64_t generation = 0;
  uint64_t size = 0;
  std::string crc32c;        // as stored (base64, big-endian)
  std::string md5;           // as stored (base64), when the server reports it
  unsigned attempts = 0;
  unsigned retry_after_ms = 0;  // the server's Retry-After, if any
  bool aborted = false;      // the transfer was cut short by abort_all()
  bool fatal = false;        // an error no later frame can avoid (credentials, permission, bucket)
  bool stopped_by_fatal = false;  // not uploaded because an earlier frame's fatal error stopped the run
};

// Fills `r` from the text of a GCS JSON answer: bucket, name, generation,
// size and checksums of an object resource, or the message and reason of an
// error document. Anything else leaves `r` as it is.
void parse_answer(const std::string &body, UploadResult &r);

// Resolves the API endpoint: the `endpoint` setting when set, else the
// emulator variables STORAGE_EMULATOR_HOST / CLOUD_STORAGE_EMULATOR_ENDPOINT
// (scheme optional, http assumed), else https://storage.googleapis.com.
// Returns false with the cause and the fix in `error` when malformed.
bool resolve_endpoint(const std::string &setting, std::string *base, bool *is_emulator, std::string *error);

struct ClientConfig {
  std::string endpoint;                  // resolved base URL, no trailing slash
  std::string bucket;
  ChecksumMode checksum = ChecksumMode::Crc32c;
  std::map<std::string, std::string> metadata;      // custom object metadata
  std::vector<std::string> extra_headers;           // "Name: value"
  std::shared_ptr<TokenCache> tokens;    // null = anonymous
  std::string ca_file;                   // extra CA bundle (PEM) to verify the endpoint with
  unsigned request_timeout_ms = 30000;
  unsigned connect_timeout_ms = 10000;
  RetryPolicy retry;
};

// Where the uploader stores objects. GcsClient is the real one; tests may
// supply another to exercise ordering and failure paths.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Stores one object, blocking the calling thread; called from many threads at once.
  virtual UploadResult insert(const std::string &object_name, std::string_view content_type, const uint8_t *data,
                              size_t size) = 0;
  // Cuts every call in flight short (they return aborted) until resume().
  virtual void abort_all() = 0;
  virtual void resume() = 0;
  // Public URL of an object.
  virtual std::string object_url(const std::string &object_name) const = 0;
  // TCP connections opened so far, where the store knows.
  virtual uint64_t connections_opened() const { return 0; }
  // Called by an upload thread as it ends: frees what the libraries the store
  // uses keep per thread, before the thread reports itself gone.
  virtual void end_thread() {}
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
  void end_thread() override;

  // The multipart/related body of an insert is preamble + the frame's bytes +
  // epilogue(); the boundary is in content_type_header().
  std::string preamble(const std::string &object_name, std::string_view content_type, const std::string &crc32c,
                       const std::string &md5) const;
  const std::string &epilogue() const { return epilogue_; }
  std::string content_type_header() const;

  struct Connection;

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
  std::vector<std::unique_ptr<Connection>> idle_;
  std::set<Connection *> busy_;
  ::curl_slist *headers_ = nullptr;
};

}  // namespace gcsfs
