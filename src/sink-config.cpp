// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "sink-config.h"

#include "naming.h"
#include "rate-limit.h"
#include "upload-service.h"

#include <curl/curl.h>
#include <glib.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>
#include <memory>

namespace gcsfs {

namespace {

bool has_control_chars(const std::string &v)
{
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f)
      return true;
  return false;
}

bool valid_header_name(const std::string &n)
{
  if (n.empty())
    return false;
  for (unsigned char c : n)
    if (!(g_ascii_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c))))
      return false;
  return true;
}

// C escapes for control characters, so that a message shows them.
std::string escaped(const std::string &v)
{
  static const std::string non_ascii = [] {  // kept as they are: UTF-8
    std::string s;
    for (int c = 0x80; c <= 0xff; c++)
      s += char(c);
    return s;
  }();
  gchar *e = g_strescape(v.c_str(), non_ascii.c_str());
  std::string out(e);
  g_free(e);
  return out;
}

}  // namespace

bool check_utf8(const char *name, const std::string &value, std::string *why)
{
  const gchar *end = nullptr;
  if (g_utf8_validate(value.data(), gssize(value.size()), &end))
    return true;
  *why = std::string(name) + " is not valid UTF-8 (an invalid byte at offset " +
         std::to_string(end - value.data()) + "); set it from UTF-8 text";
  return false;
}

bool check_extra_header(const std::string &name, const std::string &value, std::string *why, bool *owned)
{
  if (owned)
    *owned = false;
  if (!valid_header_name(name) || has_control_chars(value)) {
    *why = "extra-headers: \"" + name +
           "\" is not a valid HTTP header (name of token characters, value without control characters), "
           "for example extra-headers=\"h,x-goog-user-project=my-project\"";
    return false;
  }
  for (const char *header : {"Authorization", "Content-Length", "Content-Type", "Host", "Transfer-Encoding"}) {
    if (g_ascii_strcasecmp(name.c_str(), header) == 0) {
      if (owned)
        *owned = true;
      *why = "extra-headers: the element sets " + std::string(header) +
             " itself; remove it (for the stored object's type use content-type, for credentials use the "
             "credentials property)";
      return false;
    }
  }
  return true;
}

bool check_content_type(const std::string &value, std::string *why)
{
  if (!has_control_chars(value))
    return true;
  *why = "content-type \"" + value + "\" contains control characters; use a media type such as image/jpeg";
  return false;
}

bool check_ca_file(const std::string &path, std::string *why)
{
  const std::string fix = "; set it to a PEM bundle of the CAs that sign the endpoint's certificate";
  if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR)) {
    *why = "ca-file \"" + path + "\" is not a readable file" + fix;
    return false;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) {
    *why = "ca-file \"" + path + "\" cannot be read" + fix;
    ERR_clear_error();
    return false;
  }
  unsigned certs = 0;
  while (X509 *cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_free(cert);
    certs++;
  }
  ERR_clear_error();  // the read that ended the loop
  if (certs == 0) {
    *why = "ca-file \"" + path + "\" holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")" + fix;
    return false;
  }
  return true;
}

bool check_first_index(uint64_t index, std::string *why)
{
  if (index <= kMaxFirstIndex)
    return true;
  *why = "index " + std::to_string(index) + " would wrap around past 2^64; set it to at most " +
         std::to_string(kMaxFirstIndex);
  return false;
}

bool check_first_name(const NameTemplate &tmpl, const std::string &stream, uint64_t index, uint64_t batch,
                      const char *ext, std::string *why)
{
  NameFields f;
  f.index = index;
  f.batch = batch;
  f.stream = stream;
  f.pts_ns = 0;
  f.capture_unix_us = g_get_real_time();
  f.ext = ext;
  const std::string run = make_run_id(f.capture_unix_us, 0);
  f.run = run;
  std::string name = tmpl.expand(f), reason;
  if (validate_object_name(name, &reason))
    return true;
  *why = "object-name with stream-name \"" + escaped(stream) + "\" gives names that can never be stored (\"" +
         escaped(name.size() > 80 ? name.substr(0, 80) + "..." : name) + "\": " + reason +
         "); change object-name or stream-name";
  return false;
}


bool check_config(const SinkConfig &c, uint64_t first_batch, CheckedConfig *out, ConfigProblem *problem)
{
  std::string why;
  auto refuse = [&](ConfigError kind) {
    problem->kind = kind;
    problem->message = why;
    return false;
  };
  if (c.bucket.empty()) {
    why = "No bucket set: set the bucket property, for example bucket=my-frames";
    return refuse(ConfigError::NoBucket);
  }
  if (!validate_bucket_name(c.bucket, &why))
    return refuse(ConfigError::BadBucket);
  // Strings first, so that every later message quoting them is valid text.
  // The file paths (credentials, ca-file) are file names, which need not be
  // UTF-8.
  const std::pair<const char *, const std::string *> texts[] = {
      {"object-name", &c.object_name}, {"stream-name", &c.stream_name}, {"endpoint", &c.endpoint},
      {"content-type", &c.content_type}, {"manifest-name", &c.manifest_name}};
  for (const auto &t : texts)
    if (!check_utf8(t.first, *t.second, &why))
      return refuse(ConfigError::NotUtf8);
  for (const Fields *fields : {&c.metadata, &c.extra_headers})
    for (const auto &kv : *fields)
      if (!check_utf8(fields == &c.metadata ? "a metadata field" : "an extra-headers field", kv.first + kv.second,
                      &why))
        return refuse(ConfigError::NotUtf8);
  if (!out->object_name.parse(c.object_name, &why))
    return refuse(ConfigError::BadTemplate);
  if (!check_first_index(c.index, &why))
    return refuse(ConfigError::IndexWraps);
  if (!check_first_name(out->object_name, c.stream_name, c.index, first_batch, "jpg", &why))
    return refuse(ConfigError::NameNeverValid);
  if (!c.manifest_name.empty()) {
    if (!out->manifest_name.parse(c.manifest_name, &why)) {
      const size_t at = why.find("object-name template");
      if (at != std::string::npos)
        why.replace(at, strlen("object-name"), "manifest-name");
      else
        why = "manifest-name: " + why;
      return refuse(ConfigError::BadTemplate);
    }
    if (!check_first_name(out->manifest_name, c.stream_name, c.index, first_batch, "json", &why)) {
      why = "manifest-name: " + why;
      return refuse(ConfigError::NameNeverValid);
    }
  }
  if (!check_content_type(c.content_type, &why))
    return refuse(ConfigError::BadContentType);
  if (c.batch_size == 0 || c.max_concurrency == 0 || c.max_queued_frames == 0 || c.request_timeout_ms == 0) {
    why = "batch-size, max-concurrency, max-queued-frames and request-timeout must be at least 1";
    return refuse(ConfigError::ZeroBound);
  }
  if (!resolve_endpoint(c.endpoint, &out->endpoint, &out->emulator, &why))
    return refuse(ConfigError::BadEndpoint);
  for (const auto &kv : c.extra_headers) {
    bool owned = false;
    if (!check_extra_header(kv.first, kv.second, &why, &owned))
      return refuse(owned ? ConfigError::OwnedHeader : ConfigError::BadHeader);
  }
  if (!c.ca_file.empty() && !check_ca_file(c.ca_file, &why))
    return refuse(ConfigError::BadCaFile);
  unsigned max_threads = 0;
  if (!max_threads_from_environment(&max_threads, &why))
    return refuse(ConfigError::BadEnvironment);
  uint64_t max_rate = 0;
  if (!max_rate_from_environment(&max_rate, &why))
    return refuse(ConfigError::BadEnvironment);
  problem->kind = ConfigError::None;
  problem->message.clear();
  return true;
}

bool resolve_endpoint(const std::string &setting, std::string *base, bool *is_emulator, std::string *error)
{
  std::string value = setting;
  const char *source = "the endpoint property";
  *is_emulator = false;
  if (value.empty()) {
    for (const char *var : {"STORAGE_EMULATOR_HOST", "CLOUD_STORAGE_EMULATOR_ENDPOINT"}) {
      const char *env = g_getenv(var);
      if (env && *env) {
        value = env;
        source = var;
        *is_emulator = true;
        break;
      }
    }
  }
  if (value.empty()) {
    *base = kDefaultEndpoint;
    return true;
  }
  if (value.find("://") == std::string::npos)
    value = "http://" + value;
  GError *err = nullptr;
  GUri *uri = g_uri_parse(value.c_str(), G_URI_FLAGS_NONE, &err);
  auto fail = [&](const std::string &why) {
    *error = "invalid endpoint \"" + value + "\" (from " + source + "): " + why +
             "; use a URL such as https://storage.googleapis.com or http://127.0.0.1:9023";
    return false;
  };
  if (!uri) {
    std::string why = err ? err->message : "unparsable";
    g_clear_error(&err);
    return fail(why);
  }
  // What libcurl will be given must parse there too (GLib accepts a host
  // with spaces, for one).
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> cu(curl_url(), curl_url_cleanup);
  CURLUcode uc = cu ? curl_url_set(cu.get(), CURLUPART_URL, value.c_str(), 0) : CURLUE_OUT_OF_MEMORY;
  if (uc != CURLUE_OK) {
    g_uri_unref(uri);
    return fail(std::string("libcurl cannot parse it (") + curl_url_strerror(uc) + ")");
  }
  std::unique_ptr<GUri, decltype(&g_uri_unref)> guard(uri, g_uri_unref);
  const char *scheme = g_uri_get_scheme(uri);
  const char *host = g_uri_get_host(uri);
  if (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0)
    return fail(std::string("the scheme \"") + scheme + "\" is not http or https");
  if (!host || !*host)
    return fail("it has no host");
  if (g_uri_get_query(uri) || g_uri_get_fragment(uri) || g_uri_get_userinfo(uri))
    return fail("it must not carry a query, a fragment or user information");
  while (!value.empty() && value.back() == '/')
    value.pop_back();
  *base = value;
  return true;
}

}  // namespace gcsfs
