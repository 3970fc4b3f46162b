// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "gcs-client.h"

#include "transfer.h"

#include "checksum.h"
#include "codec.h"

#include <curl/curl.h>
#include <gio/gio.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>

namespace gcsfs {

namespace {

// The string member `name` of a JSON object, or nullptr.
const std::string *member_string(const nlohmann::json &o, const char *name)
{
  auto it = o.find(name);
  return it != o.end() && it->is_string() ? it->get_ptr<const std::string *>() : nullptr;
}

// What the user should do about an HTTP error from an insert.
std::string fix_for(long status, const std::string &bucket)
{
  switch (status) {
    case 400: return "the server refused the request as malformed (for a checksum mismatch the frame's bytes changed in transit)";
    case 401: return "the credentials were refused: check the credentials property or GOOGLE_APPLICATION_CREDENTIALS";
    case 403: return "permission denied: grant the account roles/storage.objectCreator on bucket \"" + bucket + "\"";
    case 404: return "bucket \"" + bucket + "\" does not exist: create it or set the bucket property to an existing one";
    case 429: return "the server is rate limiting: lower the frame rate or spread names with {hash}";
    default: return status >= 500 ? "the server failed" : "";
  }
}

// GCS's reason for a failed precondition (ifGenerationMatch=0 on an
// existing name); other servers answer 412 for other causes too.
bool precondition_failed(const UploadResult &r)
{
  return r.reason == "conditionNotMet" || r.message.find("precondition") != std::string::npos ||
         r.message.find("pre-condition") != std::string::npos;
}

std::once_flag curl_once;

// Partial responses: only what a result keeps, so answers are small and
// quick to parse (the full object resource costs several times more).
constexpr const char *kResultFields = "bucket,name,generation,size,crc32c,md5Hash";

// Bytes of an unexpected answer quoted in an error message.
constexpr size_t kAnswerExcerptBytes = 120;

// The first bytes of an answer, printable, for an error message.
std::string answer_excerpt(const std::string &body)
{
  if (body.empty())
    return "an empty body";
  std::string out = "\"";
  for (size_t i = 0; i < body.size() && i < kAnswerExcerptBytes; i++) {
    unsigned char ch = static_cast<unsigned char>(body[i]);
    out += ch >= 0x20 && ch < 0x7f ? char(ch) : ' ';
  }
  return out + (body.size() > kAnswerExcerptBytes ? "...\"" : "\"");
}

// The kind of a transport failure.
ErrorKind transport_error(CURLcode code)
{
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return ErrorKind::DnsFailure;
    case CURLE_COULDNT_CONNECT: return ErrorKind::ConnectionRefused;
    case CURLE_OPERATION_TIMEDOUT: return ErrorKind::Timeout;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return ErrorKind::ConnectionReset;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION: return ErrorKind::TlsFailure;
    case CURLE_WRITE_ERROR: return ErrorKind::ResponseTooLarge;
    default: return ErrorKind::TransportError;
  }
}

}  // namespace

void parse_answer(const std::string &body, UploadResult &r)
{
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object())
    return;
  auto err = doc.find("error");
  if (err != doc.end() && err->is_object()) {
    if (const std::string *m = member_string(*err, "message"))
      r.message = *m;
    auto errors = err->find("errors");
    if (errors != err->end() && errors->is_array() && !errors->empty() && errors->front().is_object())
      if (const std::string *reason = member_string(errors->front(), "reason"))
        r.reason = *reason;
    return;
  }
  if (const std::string *b = member_string(doc, "bucket"))
    r.bucket = *b;
  if (const std::string *n = member_string(doc, "name"))
    r.name = *n;
  if (const std::string *g = member_string(doc, "generation"))
    r.generation = g_ascii_strtoll(g->c_str(), nullptr, 10);
  if (const std::string *sz = member_string(doc, "size"))
    r.size = g_ascii_strtoull(sz->c_str(), nullptr, 10);
  if (const std::string *c = member_string(doc, "crc32c"))
    r.crc32c = *c;
  if (const std::string *m = member_string(doc, "md5Hash"))
    r.md5 = *m;
}

struct GcsClient::Connection {
  CURL *easy = curl_easy_init();
  CURLM *multi = curl_multi_init();
  std::string head;       // multipart preamble and JSON metadata
  const char *seg[3] = {};
  size_t seglen[3] = {};
  int segi = 0;
  size_t off = 0;
  std::string response;
  char errbuf[CURL_ERROR_SIZE] = {};
  uint64_t client_id = 0;              // the client its options were last set for
  std::string token;                   // the bearer token `headers` carries
  struct curl_slist *headers = nullptr;  // the client's headers plus Authorization

  // Larger answers are refused: a GCS object resource or error is a few KB.
  static constexpr size_t kMaxResponse = 1 << 20;

  ~Connection()
  {
    curl_slist_free_all(headers);
    if (easy)
      curl_easy_cleanup(easy);
    if (multi)
      curl_multi_cleanup(multi);
  }

  static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
  {
    auto *c = static_cast<Connection *>(ud);
    size_t cap = size * nitems, n = 0;
    while (n < cap && c->segi < 3) {
      size_t left = c->seglen[c->segi] - c->off;
      if (left == 0) {
        c->segi++;
        c->off = 0;
        continue;
      }
      size_t k = std::min(left, cap - n);
      memcpy(buf + n, c->seg[c->segi] + c->off, k);
      n += k;
      c->off += k;
    }
    return n;
  }

  // libcurl rewinds the body when it resends a request on a new connection.
  static int seek_cb(void *ud, curl_off_t offset, int origin)
  {
    auto *c = static_cast<Connection *>(ud);
    if (origin != SEEK_SET || offset < 0)
      return CURL_SEEKFUNC_CANTSEEK;
    size_t pos = static_cast<size_t>(offset);
    for (int i = 0; i < 3; i++) {
      if (pos <= c->seglen[i]) {
        c->segi = i;
        c->off = pos;
        return CURL_SEEKFUNC_OK;
      }
      pos -= c->seglen[i];
    }
    return CURL_SEEKFUNC_FAIL;
  }

  static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
  {
    auto *c = static_cast<Connection *>(ud);
    if (c->response.size() + size * nmemb > kMaxResponse)
      return 0;  // CURLE_WRITE_ERROR
    c->response.append(ptr, size * nmemb);
    return size * nmemb;
  }
};

// Idle connections to one endpoint, kept for reuse: a client's own, or
// shared by the clients of the process that name the same endpoint and
// ca-file. `open` counts them with those borrowed.
struct GcsClient::Cache {
  struct Idle {
    std::unique_ptr<Connection> c;
    gint64 since_us;
  };
  std::mutex mutex;  // a leaf
  std::vector<Idle> idle;  // oldest first
  unsigned open = 0;

  // Takes the idle connections idle since before `before_us` out (the
  // caller destroys them without the lock).
  std::vector<std::unique_ptr<Connection>> take_stale_unlocked(gint64 before_us)
  {
    std::vector<std::unique_ptr<Connection>> stale;
    size_t n = 0;
    while (n < idle.size() && idle[n].since_us < before_us)
      stale.push_back(std::move(idle[n++].c));
    idle.erase(idle.begin(), idle.begin() + long(n));
    open -= unsigned(n);
    return stale;
  }
};

namespace {

// The registry of shared caches, made once and never destroyed: an idle
// upload thread may end (and close idle connections) while the process exits.
struct SharedCaches {
  std::mutex mutex;  // taken before a Cache's mutex, never under it
  std::map<std::string, std::weak_ptr<GcsClient::Cache>> by_key;
};
SharedCaches &shared_caches()
{
  static SharedCaches &registry = *std::make_unique<SharedCaches>().release();
  return registry;
}
std::atomic<uint64_t> next_client_id{1};

std::shared_ptr<GcsClient::Cache> cache_for(const ClientConfig &cfg)
{
  if (!cfg.share_connections)
    return std::make_shared<GcsClient::Cache>();
  const std::string key = cfg.endpoint + '\n' + cfg.ca_file;
  SharedCaches &shared = shared_caches();
  std::lock_guard<std::mutex> lk(shared.mutex);
  std::shared_ptr<GcsClient::Cache> cache = shared.by_key[key].lock();
  if (!cache) {
    cache = std::make_shared<GcsClient::Cache>();
    shared.by_key[key] = cache;
  }
  for (auto it = shared.by_key.begin(); it != shared.by_key.end();)
    it = it->second.expired() ? shared.by_key.erase(it) : std::next(it);
  return cache;
}

}  // namespace

void GcsClient::close_idle_shared(int64_t idle_us)
{
  std::vector<std::shared_ptr<Cache>> caches;
  {
    SharedCaches &shared = shared_caches();
    std::lock_guard<std::mutex> lk(shared.mutex);
    for (auto &kv : shared.by_key)
      if (auto c = kv.second.lock())
        caches.push_back(std::move(c));
  }
  const gint64 before = g_get_monotonic_time() - idle_us;
  for (auto &cache : caches) {
    std::vector<std::unique_ptr<Connection>> stale;
    {
      std::lock_guard<std::mutex> lk(cache->mutex);
      stale = cache->take_stale_unlocked(before + 1);
    }
  }  // closed here, without the locks
}

unsigned GcsClient::connections_open() const
{
  std::lock_guard<std::mutex> lk(cache_->mutex);
  return cache_->open;
}

namespace {

// Whether the whole request body went out on a transfer that got no answer:
// the server may then have stored the object (it cannot from a part of it).
bool sent_in_full(const GcsClient::Connection &c, size_t body_size)
{
  curl_off_t sent = 0;
  return curl_easy_getinfo(c.easy, CURLINFO_SIZE_UPLOAD_T, &sent) == CURLE_OK && sent >= curl_off_t(body_size);
}

}  // namespace

GcsClient::GcsClient(ClientConfig cfg) : cfg_(std::move(cfg)), cache_(cache_for(cfg_)), id_(next_client_id++)
{
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  rng_.seed((uint64_t(g_random_int()) << 32) | g_random_int());

  gchar *uuid = g_uuid_string_random();
  boundary_ = std::string("gcsframesink-") + uuid;
  g_free(uuid);

  // ifGenerationMatch=0: the insert only creates (a retry after a lost
  // answer cannot store twice); if-exists=overwrite replaces instead.
  url_ = cfg_.endpoint + "/upload/storage/v1/b/" + percent_encode(cfg_.bucket) + "/o?uploadType=multipart" +
         (cfg_.if_exists == IfExists::Overwrite ? "" : "&ifGenerationMatch=0") + "&fields=" + kResultFields;
  url_prefix_ = cfg_.endpoint + "/" + percent_encode(cfg_.bucket) + "/";

  // The constant part of every object's JSON metadata.
  nlohmann::json meta = nlohmann::json::object();
  if (!cfg_.metadata.empty()) {
    nlohmann::json &m = meta["metadata"];
    for (const auto &kv : cfg_.metadata)
      m[kv.first] = kv.second;
  }
  metadata_suffix_ = meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).substr(1);  // drop the leading '{'

  epilogue_ = "\r\n--" + boundary_ + "--\r\n";
  headers_ = curl_slist_append(headers_, ("Content-Type: " + content_type_header()).c_str());
  headers_ = curl_slist_append(headers_, "Expect:");
  headers_ = curl_slist_append(headers_, "User-Agent: gcsframesink/" GCSFS_VERSION);
  for (const auto &h : cfg_.extra_headers)
    headers_ = curl_slist_append(headers_, h.c_str());
}

GcsClient::~GcsClient()
{
  // Connections shared stay in their cache; they point at nothing of this
  // client once the next client sets them up (client_id).
  curl_slist_free_all(headers_);
}

std::string GcsClient::preamble(const std::string &object_name, std::string_view content_type,
                                const std::string &crc32c, const std::string &md5) const
{
  std::string h;
  h.reserve(256 + object_name.size() + metadata_suffix_.size());
  h += "--" + boundary_ + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\":";
  h += json_quote(object_name);
  h += ",\"contentType\":";
  h += json_quote(std::string(content_type));
  if (!crc32c.empty())
    h += ",\"crc32c\":\"" + crc32c + "\"";
  if (!md5.empty())
    h += ",\"md5Hash\":\"" + md5 + "\"";
  if (metadata_suffix_ != "}")
    h += ',';
  h += metadata_suffix_;
  h += "\r\n--" + boundary_ + "\r\nContent-Type: ";
  h += content_type;
  h += "\r\n\r\n";
  return h;
}

std::string GcsClient::content_type_header() const
{
  return "multipart/related; boundary=" + boundary_;
}

std::string GcsClient::object_url(const std::string &object_name) const
{
  return url_prefix_ + percent_encode(object_name, true);
}

void GcsClient::abort_all()
{
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aborting_ = true;
    abort_cond_.notify_all();
    for (Connection *c : busy_)
      curl_multi_wakeup(c->multi);
  }
  if (cfg_.tokens)
    cfg_.tokens->abort_all();  // a token fetch under way, too
}

void GcsClient::resume()
{
  aborting_ = false;
  if (cfg_.tokens)
    cfg_.tokens->resume();
}

std::unique_ptr<GcsClient::Connection> GcsClient::take_connection()
{
  std::unique_ptr<Connection> c;
  std::vector<std::unique_ptr<Connection>> stale;
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cfg_.idle_close_us > 0)
      stale = cache_->take_stale_unlocked(g_get_monotonic_time() - cfg_.idle_close_us);
    if (!cache_->idle.empty()) {
      c = std::move(cache_->idle.back().c);
      cache_->idle.pop_back();
    } else {
      cache_->open++;
    }
  }
  stale.clear();  // closed without the lock
  if (!c) {
    c = std::make_unique<Connection>();
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &Connection::read_cb);
    curl_easy_setopt(e, CURLOPT_READDATA, c.get());
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &Connection::seek_cb);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, c.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Connection::write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c.get());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    // Larger upload chunks: fewer read callbacks and send() calls per frame.
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    // HTTP/1.1, one connection per worker. libcurl would otherwise negotiate
    // HTTP/2 by ALPN over TLS, which measured slower in both throughput and CPU
    // per frame, with one stream per connection and with streams multiplexed on
    // one (tests/bench/run.sh; figures in docs/performance.md).
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_1_1));
    if (!cfg_.ca_file.empty())  // part of a shared cache's key: the same for every client using it
      curl_easy_setopt(e, CURLOPT_CAINFO, cfg_.ca_file.c_str());
  }
  if (c->client_id != id_) {  // new, or last set up by another client sharing the cache
    CURL *e = c->easy;
    curl_slist_free_all(c->headers);
    c->headers = nullptr;
    c->token.clear();
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.request_timeout_ms));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min(cfg_.connect_timeout_ms, cfg_.request_timeout_ms)));
    c->client_id = id_;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  busy_.insert(c.get());
  return c;
}

void GcsClient::release_thread_state()
{
  OPENSSL_thread_stop();
}

void GcsClient::give_back(std::unique_ptr<Connection> c)
{
  {
    std::lock_guard<std::mutex> lock(mutex_);
    busy_.erase(c.get());
  }
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cfg_.max_idle > 0 && cache_->idle.size() >= cfg_.max_idle) {
    cache_->open--;
    return;  // one too many: closed (by c's destructor, after the lock is released)
  }
  cache_->idle.push_back({std::move(c), g_get_monotonic_time()});
}

UploadResult GcsClient::insert(const std::string &object_name, std::string_view content_type, const uint8_t *data,
                              size_t size)
{
  auto aborted = [](const char *when) {
    UploadResult r;
    r.set_failure(ErrorKind::Aborted, when);
    return r;
  };
  if (aborting_)
    return aborted("the upload was cancelled before it started");

  std::string crc, md5;
  if (cfg_.checksum == ChecksumMode::Crc32c || cfg_.checksum == ChecksumMode::Both)
    crc = crc32c_to_base64(crc32c(data, size));
  if (cfg_.checksum == ChecksumMode::Md5 || cfg_.checksum == ChecksumMode::Both)
    md5 = md5_base64(data, size);

  const gint64 deadline = g_get_monotonic_time() + gint64(cfg_.retry.retry_timeout_ms) * 1000;
  std::unique_ptr<Connection> c = take_connection();
  UploadResult r;
  bool refreshed = false;
  bool out_of_time = false, server_wait = false;  // the next retry would start past the deadline (Retry-After's fault)
  // An attempt whose request went out in full with no answer may have stored
  // the object, until a later answer says what is there (the object itself,
  // a 412 read back, or its absence).
  bool in_doubt = false;
  for (unsigned n = 1;; n++) {
    if (cfg_.rate_limit && !wait_for_turn(size)) {  // each attempt waits for its turn at the process's rate
      r = aborted("the upload was cancelled while waiting for its turn at GCSFRAMESINK_MAX_UPLOAD_RATE");
      r.attempts = n - 1;
      break;
    }
    r = attempt(*c, object_name, content_type, data, size, crc, md5);
    in_doubt = in_doubt || r.maybe_stored;
    // A 401 with credentials: the token may have been revoked or expired
    // early. Drop it and try once more at once with a fresh one.
    if (r.http_status == 401 && cfg_.tokens && !refreshed && n <= cfg_.retry.max_retries) {
      refreshed = true;
      cfg_.tokens->invalidate(c->token);
      continue;
    }
    // ifGenerationMatch=0 makes a retry safe: a 412 then usually means an
    // earlier attempt landed (its answer was lost). Same bytes: uploaded, once.
    // With if-exists=skip the same holds for a first attempt: the name was
    // taken before (a rerun), and the same bytes count as uploaded.
    if (r.http_status == 412 && (n > 1 || (cfg_.if_exists == IfExists::Skip && precondition_failed(r)))) {
      r = check_existing(*c, object_name, crc, md5, size);
      if (r.kind == ErrorKind::AbsentAfter412 || (r.kind == ErrorKind::Http && r.http_status == 412))
        in_doubt = false;  // read back: absent, or another object has the name
    }
    if (r.status == FrameStatus::Uploaded)
      in_doubt = false;
    r.attempts = n;
    if (!is_retryable(r) || n > cfg_.retry.max_retries)
      break;
    unsigned wait;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      wait = backoff_ms(cfg_.retry, n, r.retry_after_ms, rng_);
    }
    gint64 now = g_get_monotonic_time();
    if (now + gint64(wait) * 1000 > deadline) {
      out_of_time = true;
      server_wait = now + gint64(r.retry_after_ms) * 1000 > deadline;
      break;
    }
    if (!wait_unless_aborted(wait)) {
      r = aborted("the upload was cancelled while waiting to retry");
      r.attempts = n;
      break;
    }
  }
  if (r.status == FrameStatus::Failed && !r.aborted)
    r.message += gave_up(r, out_of_time, server_wait);
  if (in_doubt && r.status != FrameStatus::Uploaded) {
    r.status = FrameStatus::Unconfirmed;
    r.message += "; a request for it was sent in full but no answer came, so the object may be stored: "
                 "unconfirmed (set spool-location to have it checked and completed later)";
  }
  give_back(std::move(c));
  return r;
}

// Why a failed upload ends here, for its message: the attempts made, and
// for a failure that a retry might have cured, which bound ended them.
std::string GcsClient::gave_up(const UploadResult &r, bool out_of_time, bool server_wait) const
{
  const std::string attempts = std::to_string(r.attempts) + (r.attempts == 1 ? " attempt" : " attempts");
  if (!is_retryable(r))
    return r.attempts > 1 ? " (after " + attempts + ")" : "";
  if (!out_of_time)
    return " (given up after " + attempts + ": max-retries=" + std::to_string(cfg_.retry.max_retries) + ")";
  const std::string budget = "retry-timeout=" + std::to_string(cfg_.retry.retry_timeout_ms) + " ms";
  if (server_wait)
    return " (given up after " + attempts + ": the server asked to retry after " +
           std::to_string(r.retry_after_ms / 1000) + " s (Retry-After), past " + budget + ")";
  return " (given up after " + attempts + ": the next retry would start past " + budget + ")";
}

bool GcsClient::wait_for_turn(size_t bytes)
{
  const gint64 now = g_get_monotonic_time(), at = cfg_.rate_limit->reserve(bytes, now);
  for (gint64 left_ms = (at - now + 999) / 1000; left_ms > 0;) {
    const unsigned ms = unsigned(std::min<gint64>(left_ms, G_MAXINT32));
    if (!wait_unless_aborted(ms)) {
      cfg_.rate_limit->release(at, bytes, g_get_monotonic_time());
      return false;
    }
    left_ms -= ms;
  }
  return true;
}

bool GcsClient::wait_unless_aborted(unsigned ms)
{
  std::unique_lock<std::mutex> lock(mutex_);
  return !abort_cond_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return aborting_.load(); });
}

bool GcsClient::authorize(Connection &c, UploadResult *failure)
{
  if (!cfg_.tokens)
    return true;
  std::string token, error;
  TokenResult got = cfg_.tokens->get(&token, &error);
  if (got != TokenResult::Ok) {
    if (aborting_) {  // the fetch was cut short by abort_all()
      failure->set_failure(ErrorKind::Aborted, "the upload was cancelled while waiting for an access token");
      return false;
    }
    // Unavailable is retried like a 503 of the storage API; Refused is fatal.
    failure->set_failure(got == TokenResult::Unavailable ? ErrorKind::TokenUnavailable : ErrorKind::Credentials,
                  "no access token for " + cfg_.tokens->describe() + ": " + error);
    failure->fatal = got == TokenResult::Refused;
    return false;
  }
  if (token != c.token || !c.headers) {
    curl_slist_free_all(c.headers);
    c.headers = nullptr;
    for (curl_slist *h = headers_; h; h = h->next)
      c.headers = curl_slist_append(c.headers, h->data);
    c.headers = curl_slist_append(c.headers, ("Authorization: Bearer " + token).c_str());
    c.token = std::move(token);
    curl_easy_setopt(c.easy, CURLOPT_HTTPHEADER, c.headers);
  }
  return true;
}

UploadResult GcsClient::attempt(Connection &c, const std::string &object_name, std::string_view content_type,
                                const uint8_t *data, size_t size, const std::string &crc, const std::string &md5)
{
  UploadResult denied;
  if (!authorize(c, &denied))
    return denied;
  std::string &h = c.head;
  h = preamble(object_name, content_type, crc, md5);
  const std::string &tail = epilogue_;
  c.seg[0] = h.data();
  c.seglen[0] = h.size();
  c.seg[1] = reinterpret_cast<const char *>(data);
  c.seglen[1] = size;
  c.seg[2] = tail.data();
  c.seglen[2] = tail.size();
  c.segi = 0;
  c.off = 0;
  curl_easy_setopt(c.easy, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(c.easy, CURLOPT_POST, 1L);
  curl_easy_setopt(c.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(h.size() + size + tail.size()));

  UploadResult r = perform(c);
  if (r.status != FrameStatus::Uploaded) {
    r.maybe_stored = r.http_status == 0 && sent_in_full(c, h.size() + size + tail.size());
    return r;
  }
  std::string why = not_the_object(r, object_name);
  if (why.empty() && r.size != size)
    why = "it reports " + std::to_string(r.size) + " bytes, the frame has " + std::to_string(size);
  else if (why.empty() && !crc.empty() && r.crc32c.empty())
    why = "it reports crc32c \"\", the frame has " + crc;
  else if (why.empty() && !md5.empty() && r.md5 != md5)
    why = "it reports md5Hash \"" + r.md5 + "\", the frame has " + md5;
  if (!why.empty()) {
    reject_answer(c, why, r);
  } else if (!crc.empty() && r.crc32c != crc) {
    r.set_failure(ErrorKind::ChecksumMismatch, "the server stored crc32c " + r.crc32c + " but the frame has " + crc);
  }
  return r;
}

// A 2xx is an upload only when its answer is the object resource of this
// bucket and name, with a generation (then attempt() checks the frame's size
// and the checksums sent). Anything else (a proxy's or captive portal's page,
// an empty body, another server) stored nothing we know of. Empty when it is.
std::string GcsClient::not_the_object(const UploadResult &r, const std::string &object_name) const
{
  if (r.generation <= 0)
    return "no object generation";
  if (r.bucket != cfg_.bucket || r.name != object_name)
    return "it names object \"" + r.name + "\" in bucket \"" + r.bucket + "\"";
  return {};
}

void GcsClient::reject_answer(const Connection &c, const std::string &why, UploadResult &r) const
{
  r.set_failure(ErrorKind::UnexpectedAnswer,
         "HTTP " + std::to_string(r.http_status) + " from " + cfg_.endpoint +
             " but the answer is not the stored object (" + why + "): " + answer_excerpt(c.response) +
             "; the endpoint may not be a Cloud Storage server (a proxy, a captive portal, a wrong host): "
             "check the endpoint setting");
  r.generation = 0;
}

UploadResult GcsClient::check_existing(Connection &c, const std::string &object_name, const std::string &crc,
                                       const std::string &md5, size_t size)
{
  std::string url = cfg_.endpoint + "/storage/v1/b/" + percent_encode(cfg_.bucket) + "/o/" +
                    percent_encode(object_name) + "?fields=" + kResultFields;
  UploadResult denied;
  if (!authorize(c, &denied))
    return denied;
  curl_easy_setopt(c.easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.easy, CURLOPT_HTTPGET, 1L);
  UploadResult r = perform(c);
  if (r.status != FrameStatus::Uploaded && r.http_status == 404) {
    // The object is not there after all (the 412 came from elsewhere, or it
    // was deleted since): insert it again, within the retry budget. A missing
    // bucket answers the next insert with a 404 of its own.
    r.fatal = false;
    r.http_status = 0;
    r.set_failure(ErrorKind::AbsentAfter412, "the server refused the retry (HTTP 412) but has no object \"" +
                                          object_name + "\" when read back; inserting it again");
    return r;
  }
  if (r.status != FrameStatus::Uploaded) {
    r.message = "an earlier attempt may have stored the object, but reading it back failed: " + r.message;
    return r;
  }
  std::string why = not_the_object(r, object_name);
  if (!why.empty()) {
    reject_answer(c, why, r);
    return r;
  }
  bool same = r.size == size && (crc.empty() || r.crc32c == crc) && (md5.empty() || r.md5 == md5);
  if (!same) {
    r.status = FrameStatus::Failed;
    r.kind = ErrorKind::Http;
    r.http_status = 412;
    r.reason = "conditionNotMet";
    r.message = "a different object named \"" + object_name + "\" already exists (" + std::to_string(r.size) +
                " bytes, crc32c " + r.crc32c + "); change object-name, stream-name or index so names do not repeat, or set "
                "if-exists=overwrite to replace it";
    return r;
  }
  return r;  // uploaded: by an earlier attempt whose answer was lost
}

UploadResult GcsClient::perform(Connection &c)
{
  UploadResult r;
  c.response.clear();
  c.errbuf[0] = '\0';
  CURLcode code = CURLE_OK;
  std::string error;
  TransferEnd end = run_transfer(c.multi, c.easy, aborting_, &code, &error);
  long conns = 0;
  curl_easy_getinfo(c.easy, CURLINFO_NUM_CONNECTS, &conns);
  connections_opened_ += static_cast<uint64_t>(conns);
  if (end == TransferEnd::Failed) {
    r.set_failure(ErrorKind::ClientError, error);
    return r;
  }
  if (end == TransferEnd::Aborted) {
    r.set_failure(ErrorKind::Aborted, "the upload was cancelled while in flight");
    return r;
  }
  if (code == CURLE_WRITE_ERROR) {  // only write_cb fails that way: the answer is too large
    curl_easy_getinfo(c.easy, CURLINFO_RESPONSE_CODE, &r.http_status);
    r.set_failure(ErrorKind::ResponseTooLarge, "");
    r.message = "HTTP " + std::to_string(r.http_status) + " from " + cfg_.endpoint + " with an answer larger than " +
                std::to_string(Connection::kMaxResponse / 1024) + " KiB, which no Cloud Storage answer to an "
                "upload is: " + answer_excerpt(c.response) +
                "; the endpoint may not be a Cloud Storage server: check the endpoint setting";
    return r;
  }
  if (code != CURLE_OK) {
    r.set_failure(transport_error(code), "");
    r.message = std::string("no answer from ") + cfg_.endpoint + ": " +
                (c.errbuf[0] ? c.errbuf : curl_easy_strerror(code)) + " (" + r.reason + ")";
    if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE) {
      // A certificate that does not verify will not verify on a retry either.
      r.fatal = true;
      r.message += "; the endpoint's TLS certificate is not trusted: set ca-file to the PEM of the CA that signed it";
    }
    return r;
  }
  curl_easy_getinfo(c.easy, CURLINFO_RESPONSE_CODE, &r.http_status);
  curl_off_t retry_after = 0;
  if (curl_easy_getinfo(c.easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
    r.retry_after_ms = unsigned(std::min<curl_off_t>(retry_after, 3600) * 1000);
  parse_answer(c.response, r);
  if (r.http_status >= 200 && r.http_status < 300) {
    r.status = FrameStatus::Uploaded;
    return r;
  }
  r.status = FrameStatus::Failed;
  r.kind = ErrorKind::Http;
  r.fatal = r.http_status == 401 || r.http_status == 403 || r.http_status == 404;
  if (r.reason.empty())
    r.reason = "http-" + std::to_string(r.http_status);
  std::string fix = fix_for(r.http_status, cfg_.bucket);
  if (r.http_status == 412)
    fix = precondition_failed(r) ? "an object with this name already exists: change object-name, stream-name or "
                                   "index so names do not repeat (or set if-exists=overwrite or skip)"
                                 : "the server refused a precondition for the reason it gives";
  if (r.http_status >= 300 && r.http_status < 400) {
    char *location = nullptr;
    curl_easy_getinfo(c.easy, CURLINFO_REDIRECT_URL, &location);
    r.kind = ErrorKind::Redirect;
    r.reason = error_kind_name(r.kind);
    fix = std::string("the endpoint redirects") + (location ? " to " + std::string(location) : std::string()) +
          ", which the element does not follow: set the endpoint setting to the Cloud Storage server itself (" +
          cfg_.endpoint + " is not one)";
    r.message.clear();
  }
  r.message = "HTTP " + std::to_string(r.http_status) + " (" + r.reason + ")" +
              (r.message.empty() ? "" : ": " + r.message) + (fix.empty() ? "" : "; " + fix);
  return r;
}

}  // namespace gcsfs
