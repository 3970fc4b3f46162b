// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "auth.h"

#include "checksum.h"
#include "codec.h"
#include "transfer.h"

#include <curl/curl.h>
#include <glib.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

namespace gcsfs {

namespace {

constexpr const char *kScope = "https://www.googleapis.com/auth/devstorage.read_write";
constexpr const char *kGoogleTokenUri = "https://oauth2.googleapis.com/token";
constexpr const char *kDefaultMetadataHost = "metadata.google.internal";

struct JsonDoc {
  nlohmann::json root;
  bool load(const std::string &text)
  {
    root = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    return root.is_object();
  }
  // A string member, or an integer one as text; empty when absent.
  std::string str(const char *name) const
  {
    if (!root.is_object())
      return {};
    auto it = root.find(name);
    if (it == root.end())
      return {};
    if (it->is_string())
      return it->get<std::string>();
    if (it->is_number_integer())
      return std::to_string(it->get<int64_t>());
    return {};
  }
};

size_t append_cb(char *p, size_t size, size_t n, void *ud)
{
  auto *s = static_cast<std::string *>(ud);
  if (s->size() + size * n > (1u << 20))
    return 0;
  s->append(p, size * n);
  return size * n;
}

// One blocking HTTP request to a token endpoint, cut short by http.abort.
// Bodies may hold secrets: they are never logged.
bool http_request(const AuthHttp &http, const std::string &url, const std::string *form_body,
                  const char *header, long *status, std::string *response, std::string *error)
{
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi(curl_multi_init(), curl_multi_cleanup);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      header ? curl_slist_append(nullptr, header) : nullptr, curl_slist_free_all);
  if (!c || !multi) {
    *error = "cannot reach " + url + ": libcurl could not allocate a request";
    return false;
  }
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, long(http.timeout_ms));
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, long(std::min(http.timeout_ms, 5000u)));
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, response);
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
  if (!http.ca_file.empty())
    curl_easy_setopt(c.get(), CURLOPT_CAINFO, http.ca_file.c_str());
  if (form_body) {
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, form_body->c_str());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE, long(form_body->size()));
  }
  const std::string cancelled = "the request to " + url + " was cancelled: the element is stopping";
  static const std::atomic<bool> never{false};
  if (http.abort && !http.abort->enter(multi.get())) {
    *error = cancelled;
    return false;
  }
  CURLcode code = CURLE_OK;
  std::string why;
  TransferEnd end = run_transfer(multi.get(), c.get(), http.abort ? http.abort->flag() : never, &code, &why);
  if (http.abort)
    http.abort->leave(multi.get());
  if (end == TransferEnd::Aborted) {
    *error = cancelled;
    return false;
  }
  if (end == TransferEnd::Failed) {
    *error = "cannot reach " + url + ": " + why;
    return false;
  }
  if (code != CURLE_OK) {
    *error = "cannot reach " + url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(code));
    return false;
  }
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, status);
  return true;
}

bool transient_status(long status)
{
  return status == 408 || status == 429 || status >= 500;
}

// POSTs a form to a token endpoint and reads the token; on refusal appends
// `fix` to the error.
TokenResult token_grant(const AuthHttp &http, const std::string &token_uri, const std::string &form,
                        const std::string &fix, std::string *token, int64_t *expires_in, std::string *error)
{
  long status = 0;
  std::string response;
  if (!http_request(http, token_uri, &form, "Content-Type: application/x-www-form-urlencoded", &status, &response,
                    error))
    return TokenResult::Unavailable;
  TokenResult r = parse_token_answer(token_uri, status, response, token, expires_in, error);
  if (r == TokenResult::Refused)
    *error += "; " + fix;
  return r;
}

std::string form_escape(const std::string &v)
{
  gchar *e = g_uri_escape_string(v.c_str(), nullptr, FALSE);
  std::string out(e);
  g_free(e);
  return out;
}

std::string base64url(const std::string &data)
{
  std::string b = base64_encode(data.data(), data.size());
  for (char &ch : b) {
    if (ch == '+')
      ch = '-';
    else if (ch == '/')
      ch = '_';
  }
  while (!b.empty() && b.back() == '=')
    b.pop_back();
  return b;
}

std::string openssl_error()
{
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return e ? buf : "unknown OpenSSL error";
}

// service_account: an RS256-signed JWT exchanged at the key's token_uri.
class ServiceAccount : public TokenSource {
 public:
  ServiceAccount(std::string origin, std::string email, std::string key_id, std::string token_uri,
                 EVP_PKEY *key, AuthHttp http)
      : origin_(std::move(origin)), email_(std::move(email)), key_id_(std::move(key_id)),
        token_uri_(std::move(token_uri)), key_(key, EVP_PKEY_free), http_(std::move(http))
  {
  }

  TokenResult fetch(std::string *token, int64_t *expires_in, std::string *error) override
  {
    std::string assertion;
    if (!sign_jwt(&assertion, error))
      return TokenResult::Refused;
    std::string body = "grant_type=" + form_escape("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                       "&assertion=" + assertion;
    return token_grant(http_, token_uri_, body,
                       "check that the key of service account " + email_ + " (" + origin_ +
                           ") is still valid and not deleted, or create a new key",
                       token, expires_in, error);
  }

  std::string describe() const override { return "service account " + email_ + " (" + origin_ + ")"; }

 private:
  bool sign_jwt(std::string *jwt, std::string *error)
  {
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    std::string header = "{\"alg\":\"RS256\",\"typ\":\"JWT\"" +
                         (key_id_.empty() ? std::string() : ",\"kid\":" + json_quote(key_id_)) + "}";
    std::string claims = "{\"iss\":" + json_quote(email_) + ",\"scope\":\"" + kScope +
                         "\",\"aud\":" + json_quote(token_uri_) + ",\"iat\":" + std::to_string(now) +
                         ",\"exp\":" + std::to_string(now + 3600) + "}";
    std::string input = base64url(header) + "." + base64url(claims);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t len = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char *>(input.data()),
                       input.size()) != 1) {
      *error = "cannot sign with the private key of " + origin_ + ": " + openssl_error();
      return false;
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char *>(&sig[0]), &len,
                       reinterpret_cast<const unsigned char *>(input.data()), input.size()) != 1) {
      *error = "cannot sign with the private key of " + origin_ + ": " + openssl_error();
      return false;
    }
    sig.resize(len);
    *jwt = input + "." + base64url(sig);
    return true;
  }

  std::string origin_, email_, key_id_, token_uri_;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_;
  AuthHttp http_;
};

// authorized_user: the refresh-token grant (gcloud auth application-default login).
class AuthorizedUser : public TokenSource {
 public:
  AuthorizedUser(std::string origin, std::string client_id, std::string client_secret, std::string refresh_token,
                 std::string token_uri, AuthHttp http)
      : origin_(std::move(origin)), client_id_(std::move(client_id)), client_secret_(std::move(client_secret)),
        refresh_token_(std::move(refresh_token)), token_uri_(std::move(token_uri)), http_(std::move(http))
  {
  }

  TokenResult fetch(std::string *token, int64_t *expires_in, std::string *error) override
  {
    std::string body = "grant_type=refresh_token&client_id=" + form_escape(client_id_) +
                       "&client_secret=" + form_escape(client_secret_) +
                       "&refresh_token=" + form_escape(refresh_token_);
    return token_grant(http_, token_uri_, body,
                       "the user credentials in " + origin_ +
                           " were refused: run `gcloud auth application-default login` again",
                       token, expires_in, error);
  }

  std::string describe() const override { return "user credentials (" + origin_ + ")"; }
  std::string share_key() const override
  {
    gchar *digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, (client_id_ + '\n' + refresh_token_).c_str(), -1);
    std::string key = describe() + ' ' + digest;  // another file at the same path shares nothing
    g_free(digest);
    return key;
  }

 private:
  std::string origin_, client_id_, client_secret_, refresh_token_, token_uri_;
  AuthHttp http_;
};

// The GCE/GKE metadata server's token for the attached service account.
class MetadataServer : public TokenSource {
 public:
  MetadataServer(std::string root, AuthHttp http) : root_(std::move(root)), http_(std::move(http)) {}

  TokenResult fetch(std::string *token, int64_t *expires_in, std::string *error) override
  {
    std::string url = root_ + "/instance/service-accounts/default/token";
    long status = 0;
    std::string response;
    if (!http_request(http_, url, nullptr, "Metadata-Flavor: Google", &status, &response, error))
      return TokenResult::Unavailable;
    return parse_token_answer(url, status, response, token, expires_in, error);
  }

  std::string describe() const override { return "the metadata server's service account (" + root_ + ")"; }

 private:
  std::string root_;
  AuthHttp http_;
};

std::string metadata_root()
{
  if (const char *root = g_getenv("GCE_METADATA_ROOT"))
    if (*root)
      return std::string(strstr(root, "://") ? "" : "http://") + root;
  const char *host = g_getenv("GCE_METADATA_HOST");
  return std::string("http://") + (host && *host ? host : kDefaultMetadataHost) + "/computeMetadata/v1";
}

bool load_file(const std::string &path, const std::string &origin, const AuthHttp &http,
               std::unique_ptr<TokenSource> *source, std::string *error)
{
  gchar *text = nullptr;
  gsize len = 0;
  GError *err = nullptr;
  if (!g_file_get_contents(path.c_str(), &text, &len, &err)) {
    *error = "cannot read the credentials file " + path + " (" + origin + "): " + err->message +
             "; point it at a service-account key or run `gcloud auth application-default login`";
    g_error_free(err);
    return false;
  }
  std::string json(text, len);
  memset(text, 0, len);  // the file holds secrets
  g_free(text);
  *source = token_source_from_json(json, path + " (" + origin + ")", http, error);
  return *source != nullptr;
}

}  // namespace

TokenResult parse_token_answer(const std::string &url, long status, const std::string &body, std::string *token,
                               int64_t *expires_in, std::string *error)
{
  JsonDoc doc;
  bool json = doc.load(body);
  std::string why = json ? doc.str("error") : "";
  std::string desc = json ? doc.str("error_description") : "";
  std::string detail = "HTTP " + std::to_string(status) + (why.empty() ? "" : ", " + why) +
                       (desc.empty() ? "" : ": " + desc);
  if (transient_status(status)) {
    *error = url + " is unavailable (" + detail + ")";
    return TokenResult::Unavailable;
  }
  if (status != 200) {
    *error = url + " refused the credentials (" + detail + ")";
    return TokenResult::Refused;
  }
  *token = json ? doc.str("access_token") : "";
  if (token->empty()) {
    *error = url + " answered HTTP 200 without an access_token (" +
             (json ? std::string("JSON without that member") : "not JSON") +
             "): it may not be a token server (a proxy, a captive portal, a wrong token_uri)";
    return TokenResult::Refused;
  }
  // A lifetime the server got wrong is kept within 1 s .. kMaxTokenLifeS.
  std::string exp = doc.str("expires_in");
  *expires_in = exp.empty() ? 3600 : std::clamp<int64_t>(g_ascii_strtoll(exp.c_str(), nullptr, 10), 1, kMaxTokenLifeS);
  return TokenResult::Ok;
}

std::unique_ptr<TokenSource> token_source_from_json(const std::string &json, const std::string &origin,
                                                    const AuthHttp &http, std::string *error)
{
  JsonDoc doc;
  if (!doc.load(json)) {
    *error = "the credentials file " + origin + " is not valid JSON; download the key again";
    return nullptr;
  }
  std::string type = doc.str("type");
  if (type == "service_account") {
    std::string email = doc.str("client_email"), pem = doc.str("private_key");
    std::string token_uri = doc.str("token_uri");
    if (token_uri.empty())
      token_uri = kGoogleTokenUri;
    if (email.empty() || pem.empty()) {
      *error = "the service-account key " + origin + " lacks client_email or private_key; download the key again";
      return nullptr;
    }
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())), BIO_free);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    OPENSSL_cleanse(&pem[0], pem.size());
    if (!key) {
      *error = "the private_key of " + origin + " cannot be read (" + openssl_error() +
               "); download the key again";
      return nullptr;
    }
    return std::make_unique<ServiceAccount>(origin, email, doc.str("private_key_id"), token_uri, key, http);
  }
  if (type == "authorized_user") {
    std::string id = doc.str("client_id"), secret = doc.str("client_secret"), refresh = doc.str("refresh_token");
    if (id.empty() || secret.empty() || refresh.empty()) {
      *error = "the user credentials " + origin +
               " lack client_id, client_secret or refresh_token; run `gcloud auth application-default login`";
      return nullptr;
    }
    std::string token_uri = doc.str("token_uri");
    return std::make_unique<AuthorizedUser>(origin, id, secret, refresh,
                                            token_uri.empty() ? kGoogleTokenUri : token_uri, http);
  }
  *error = "the credentials file " + origin + " has type \"" + type +
           "\"; supported: service_account and authorized_user";
  return nullptr;
}

bool resolve_credentials(const CredentialsSettings &s, const AuthHttp &http, std::unique_ptr<TokenSource> *source,
                         std::string *error)
{
  source->reset();
  if (s.path == "anonymous")
    return true;
  if (!s.path.empty())
    return load_file(s.path, "the credentials property", http, source, error);
  if (s.emulator || s.plain_http)
    return true;
  if (const char *env = g_getenv("GOOGLE_APPLICATION_CREDENTIALS"))
    if (*env)
      return load_file(env, "GOOGLE_APPLICATION_CREDENTIALS", http, source, error);
  gchar *adc = g_build_filename(g_get_user_config_dir(), "gcloud", "application_default_credentials.json", nullptr);
  std::string adc_path(adc);
  g_free(adc);
  if (g_file_test(adc_path.c_str(), G_FILE_TEST_EXISTS))
    return load_file(adc_path, "the gcloud application default credentials", http, source, error);
  // Last, the metadata server: only where one answers.
  std::string root = metadata_root();
  AuthHttp probe = http;
  probe.timeout_ms = std::min(http.timeout_ms, 3000u);
  long status = 0;
  std::string response, why;
  if (!http_request(probe, root + "/instance/service-accounts/default/email", nullptr, "Metadata-Flavor: Google",
                    &status, &response, &why) ||
      status != 200) {
    *error = "no credentials found: set the credentials property or GOOGLE_APPLICATION_CREDENTIALS to a "
             "service-account key file, run `gcloud auth application-default login`, run on GCE/GKE with a "
             "service account, or for an emulator set STORAGE_EMULATOR_HOST (the metadata server at " +
             root + " did not answer: " + (why.empty() ? "HTTP " + std::to_string(status) : why) + ")";
    return false;
  }
  *source = std::make_unique<MetadataServer>(root, http);
  return true;
}

void AbortSignal::abort()
{
  std::lock_guard<std::mutex> lk(mutex_);
  aborted_ = true;
  for (void *m : running_)
    curl_multi_wakeup(static_cast<CURLM *>(m));
}

void AbortSignal::reset()
{
  aborted_ = false;
}

bool AbortSignal::enter(void *multi)
{
  std::lock_guard<std::mutex> lk(mutex_);
  if (aborted_)
    return false;
  running_.insert(multi);
  return true;
}

void AbortSignal::leave(void *multi)
{
  std::lock_guard<std::mutex> lk(mutex_);
  running_.erase(multi);
}

namespace {

// The tokens the process's caches share, by TokenSource::share_key().
struct SharedToken {
  std::string token;
  int64_t expires_us = 0, refresh_at_us = 0;  // monotonic
};
// Made once and never destroyed, like the threads that use it.
struct SharedTokens {
  std::mutex mutex;  // a leaf, taken under a TokenCache's mutex_
  std::map<std::string, SharedToken> by_key;
};
SharedTokens &shared_tokens()
{
  static SharedTokens &table = *std::make_unique<SharedTokens>().release();
  return table;
}

// A shared token valid past `now` and not yet due for a refresh.
bool take_shared_token(const std::string &key, int64_t now, SharedToken *out)
{
  SharedTokens &shared = shared_tokens();
  std::lock_guard<std::mutex> lk(shared.mutex);
  auto it = shared.by_key.find(key);
  if (it == shared.by_key.end() || it->second.refresh_at_us <= now || it->second.expires_us <= now)
    return false;
  *out = it->second;
  return true;
}

void offer_shared_token(const std::string &key, const SharedToken &t)
{
  SharedTokens &shared = shared_tokens();
  std::lock_guard<std::mutex> lk(shared.mutex);
  SharedToken &held = shared.by_key[key];
  if (t.expires_us > held.expires_us)
    held = t;
}

void withdraw_shared_token(const std::string &key, const std::string &token)
{
  SharedTokens &shared = shared_tokens();
  std::lock_guard<std::mutex> lk(shared.mutex);
  auto it = shared.by_key.find(key);
  if (it != shared.by_key.end() && it->second.token == token)
    shared.by_key.erase(it);
}

}  // namespace

void TokenCache::share_tokens()
{
  std::lock_guard<std::mutex> lk(mutex_);
  share_key_ = source_->share_key();
}

TokenCache::TokenCache(std::unique_ptr<TokenSource> source, std::shared_ptr<AbortSignal> abort)
    : source_(std::move(source)), abort_(std::move(abort))
{
}

void TokenCache::abort_all()
{
  if (abort_)
    abort_->abort();
}

void TokenCache::resume()
{
  if (abort_)
    abort_->reset();
}

TokenResult TokenCache::get(std::string *token, std::string *error)
{
  std::unique_lock<std::mutex> lk(mutex_);
  for (;;) {
    gint64 now = g_get_monotonic_time();
    bool valid = !token_.empty() && now < expires_us_;
    if (valid && (now < refresh_at_us_ || now < retry_at_us_ || refreshing_)) {
      *token = token_;
      return TokenResult::Ok;
    }
    if (!refreshing_ && now < retry_at_us_) {  // no valid token, the server is backing off
      *error = last_error_ + " (asking again in " + std::to_string((retry_at_us_ - now) / 1000) + " ms)";
      return TokenResult::Unavailable;
    }
    if (!refreshing_)
      break;
    cond_.wait(lk);  // no valid token: wait for the refresh under way
  }
  SharedToken shared;
  if (!share_key_.empty() && take_shared_token(share_key_, g_get_monotonic_time(), &shared) &&
      shared.token != token_) {  // another cache of the same credentials fetched one
    token_ = std::move(shared.token);
    expires_us_ = shared.expires_us;
    refresh_at_us_ = shared.refresh_at_us;
    failures_ = 0;
    retry_at_us_ = 0;
    *token = token_;
    return TokenResult::Ok;
  }
  refreshing_ = true;
  lk.unlock();
  std::string fresh_token;
  int64_t expires_in = 0;
  TokenResult r = source_->fetch(&fresh_token, &expires_in, error);
  lk.lock();
  refreshing_ = false;
  gint64 now = g_get_monotonic_time();
  bool valid = !token_.empty() && now < expires_us_;
  std::function<void(const std::string &, int64_t)> report;
  int64_t valid_for_ms = 0;
  if (r == TokenResult::Ok) {
    token_ = std::move(fresh_token);
    // Refreshed kRefreshMarginS before it expires, or at half its life when
    // it lives shorter than twice that; considered expired 1 s early.
    int64_t life_us = std::max<int64_t>(expires_in, 1) * G_USEC_PER_SEC;
    expires_us_ = now + std::max<int64_t>(life_us - G_USEC_PER_SEC, life_us / 2);
    refresh_at_us_ = now + std::max<int64_t>(life_us - kRefreshMarginS * G_USEC_PER_SEC, life_us / 2);
    refreshes_++;
    failures_ = 0;
    retry_at_us_ = 0;
    *token = token_;
    if (!share_key_.empty())
      offer_shared_token(share_key_, {token_, expires_us_, refresh_at_us_});
  } else if (r == TokenResult::Unavailable && !(abort_ && abort_->flag())) {
    int64_t wait_ms = std::min<int64_t>(kRetryMaxMs, kRetryInitialMs << std::min(failures_, 5u));
    if (valid)  // retried at least twice more before the token runs out
      wait_ms = std::max<int64_t>(kRetryMinMs, std::min<int64_t>(wait_ms, (expires_us_ - now) / 2000));
    retry_at_us_ = now + wait_ms * 1000;
    failed_total_++;
    last_error_ = *error;
    if (valid) {
      if (failures_ == 0 && on_refresh_failure_) {
        report = on_refresh_failure_;
        valid_for_ms = (expires_us_ - now) / 1000;
      }
      *token = token_;
      r = TokenResult::Ok;
    }
    failures_++;
  }
  cond_.notify_all();
  lk.unlock();
  if (report)
    report(*error, valid_for_ms);
  return r;
}

void TokenCache::set_on_refresh_failure(std::function<void(const std::string &, int64_t)> cb)
{
  std::lock_guard<std::mutex> lk(mutex_);
  on_refresh_failure_ = std::move(cb);
}

uint64_t TokenCache::failed_refreshes() const
{
  std::lock_guard<std::mutex> lk(mutex_);
  return failed_total_;
}

void TokenCache::invalidate(const std::string &token)
{
  std::lock_guard<std::mutex> lk(mutex_);
  if (!share_key_.empty())
    withdraw_shared_token(share_key_, token);
  if (token == token_) {
    token_.clear();
    expires_us_ = refresh_at_us_ = 0;
  }
}

uint64_t TokenCache::refreshes() const
{
  std::lock_guard<std::mutex> lk(mutex_);
  return refreshes_;
}

}  // namespace gcsfs
