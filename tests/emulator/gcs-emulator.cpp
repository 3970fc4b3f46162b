// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Bundled GCS emulator for tests, demo and benchmarks: implementation.
//
// Threading: every libsoup/GLib object below lives on the server thread (its
// own GMainContext). Object storage is shared with test threads and guarded by
// Impl::mu; everything else (retry tests, resumable sessions, paused requests,
// connection tracking) is touched only by the server thread.
#include "gcs-emulator.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <isa-l/crc.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string_view>
#include <thread>

namespace gcsemu {
namespace {

// ---------------------------------------------------------------- helpers
struct GObjectUnref {
  void operator()(gpointer p) const { if (p) g_object_unref(p); }
};
template <typename T> using GObj = std::unique_ptr<T, GObjectUnref>;
struct JsonObjectUnref {
  void operator()(JsonObject* o) const { if (o) json_object_unref(o); }
};
using JObj = std::unique_ptr<JsonObject, JsonObjectUnref>;
using Bytes = std::shared_ptr<GBytes>;  // immutable, shared payload
using Query = std::map<std::string, std::string>;

Bytes take_bytes(GBytes* b) { return Bytes(b, g_bytes_unref); }
Bytes copy_bytes(std::string_view s) { return take_bytes(g_bytes_new(s.data(), s.size())); }
std::string_view view(const Bytes& b) {
  gsize n = 0;
  const char* d = b ? static_cast<const char*>(g_bytes_get_data(b.get(), &n)) : nullptr;
  return d ? std::string_view(d, n) : std::string_view();
}
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool eat(std::string_view& s, std::string_view p) {
  if (!starts_with(s, p)) return false;
  s.remove_prefix(p.size());
  return true;
}
std::string b64(const void* d, size_t n) {
  g_autofree char* s = g_base64_encode(static_cast<const guchar*>(d), n);
  return s;
}
std::string b64_decode(const std::string& s) {
  gsize n = 0;
  g_autofree guchar* d = g_base64_decode(s.c_str(), &n);
  return std::string(reinterpret_cast<char*>(d), n);
}
std::string crc32c_raw(std::string_view d) {
  uint32_t c = 0xFFFFFFFFu;  // crc32_iscsi takes/returns the un-inverted register
  for (size_t off = 0; off < d.size();) {
    int n = static_cast<int>(std::min<size_t>(d.size() - off, 1u << 30));
    c = crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(d.data() + off)), n, c);
    off += n;
  }
  c ^= 0xFFFFFFFFu;
  const char be[4] = {char(c >> 24), char(c >> 16), char(c >> 8), char(c)};
  return std::string(be, 4);
}
std::string md5_raw(std::string_view d) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(d.data(), d.size(), md, &len, EVP_md5(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}
std::string escape(const std::string& s) {
  g_autofree char* e = g_uri_escape_string(s.c_str(), nullptr, FALSE);
  return e;
}
bool unescape(std::string_view enc, std::string* out) {
  g_autofree char* d = g_uri_unescape_segment(enc.data(), enc.data() + enc.size(), nullptr);
  if (!d) return false;
  *out = d;
  return true;
}
std::string now_rfc3339() {
  GDateTime* t = g_date_time_new_now_utc();
  g_autofree char* s = g_date_time_format(t, "%Y-%m-%dT%H:%M:%S");
  char buf[96];
  g_snprintf(buf, sizeof buf, "%s.%03dZ", s, g_date_time_get_microsecond(t) / 1000);
  g_date_time_unref(t);
  return buf;
}
std::string random_id() {
  g_autofree char* u = g_uuid_string_random();
  std::string s(u);
  s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
  return s;
}
bool valid_bucket_name(const std::string& b) {
  if (b.size() < 3 || b.size() > 222 || !g_ascii_isalnum(b.front()) || !g_ascii_isalnum(b.back()))
    return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return g_ascii_islower(c) || g_ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
  });
}
bool has_control_chars(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}
bool parse_int64(const std::string& s, int64_t* v) {
  gint64 r = 0;
  if (!g_ascii_string_to_signed(s.c_str(), 10, 0, G_MAXINT64, &r, nullptr)) return false;
  *v = r;
  return true;
}

// JSON
std::string to_json(JsonObject* o) {
  JsonNode* n = json_node_alloc();
  json_node_init_object(n, o);
  g_autofree char* s = json_to_string(n, FALSE);
  json_node_unref(n);
  return s;
}
void set_str(JsonObject* o, const char* k, const std::string& v) {
  json_object_set_string_member(o, k, v.c_str());
}
JObj parse_json_object(std::string_view text, std::string* err) {
  if (text.empty()) {  // json-glib refuses a null pointer (an empty body may have one) without an error
    *err = "invalid JSON: the body is empty";
    return nullptr;
  }
  g_autoptr(JsonParser) p = json_parser_new();
  g_autoptr(GError) e = nullptr;
  if (!json_parser_load_from_data(p, text.data(), static_cast<gssize>(text.size()), &e)) {
    *err = std::string("invalid JSON: ") + (e ? e->message : "unparsable");
    return nullptr;
  }
  JsonNode* root = json_parser_get_root(p);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    *err = "invalid JSON: expected an object";
    return nullptr;
  }
  return JObj(json_object_ref(json_node_get_object(root)));
}
// String, number or boolean member as text; nullopt when absent, null or structured.
std::optional<std::string> get_scalar(JsonObject* o, const char* k) {
  JsonNode* n = o ? json_object_get_member(o, k) : nullptr;
  if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE) return std::nullopt;
  GType t = json_node_get_value_type(n);
  if (t == G_TYPE_STRING) return std::string(json_node_get_string(n));
  if (t == G_TYPE_BOOLEAN) return std::string(json_node_get_boolean(n) ? "true" : "false");
  if (t == G_TYPE_INT64) return std::to_string(json_node_get_int(n));
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  return std::string(g_ascii_dtostr(buf, sizeof buf, json_node_get_double(n)));
}

// ---------------------------------------------------------------- responses
struct Response {
  unsigned status = 200;
  std::string reason;  // empty = standard phrase
  std::string content_type = "application/json; charset=UTF-8";
  Bytes body;          // null = empty body
  std::vector<std::pair<std::string, std::string>> headers;
};
Response json_response(unsigned status, JsonObject* o) {
  Response r;
  r.status = status;
  r.body = copy_bytes(to_json(o));
  return r;
}
// The JSON API's partial responses: `fields=a,b,c` keeps only those top-level
// members of a JSON answer (nested selections such as items(name) are not
// supported and keep the whole member).
void select_fields(Response& r, const std::string& fields) {
  if (r.content_type.rfind("application/json", 0) != 0 || !r.body) return;
  JsonParser* parser = json_parser_new();
  std::string_view body = view(r.body);
  if (json_parser_load_from_data(parser, body.data(), gssize(body.size()), nullptr) &&
      JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    JsonObject* in = json_node_get_object(json_parser_get_root(parser));
    JsonObject* out = json_object_new();
    gchar** names = g_strsplit(fields.c_str(), ",", -1);
    for (gchar** n = names; *n; n++) {
      std::string name = *n;
      size_t paren = name.find('(');
      if (paren != std::string::npos) name.resize(paren);
      if (json_object_has_member(in, name.c_str()))
        json_object_set_member(out, name.c_str(), json_node_copy(json_object_get_member(in, name.c_str())));
    }
    g_strfreev(names);
    r.body = copy_bytes(to_json(out));
    json_object_unref(out);
  }
  g_object_unref(parser);
}

const char* reason_for(unsigned code) {
  switch (code) {
    case 400: return "invalid";
    case 401: return "required";
    case 403: return "forbidden";
    case 404: return "notFound";
    case 405: return "methodNotAllowed";
    case 408: return "requestTimeout";
    case 409: return "conflict";
    case 412: return "conditionNotMet";
    case 429: return "rateLimitExceeded";
    default: return code >= 500 ? "backendError" : "unknown";
  }
}
// Error body in the GCS JSON API form.
Response error_response(unsigned code, const std::string& message, const char* reason = nullptr,
                        bool auth_header = false) {
  JsonObject* item = json_object_new();
  set_str(item, "domain", "global");
  set_str(item, "reason", reason ? reason : reason_for(code));
  set_str(item, "message", message);
  if (auth_header) {
    set_str(item, "locationType", "header");
    set_str(item, "location", "Authorization");
  }
  JsonArray* errors = json_array_new();
  json_array_add_object_element(errors, item);
  JsonObject* err = json_object_new();
  json_object_set_int_member(err, "code", code);
  set_str(err, "message", message);
  json_object_set_array_member(err, "errors", errors);
  JObj top(json_object_new());
  json_object_set_object_member(top.get(), "error", err);
  return json_response(code, top.get());
}
const char* kNoBucket = "The specified bucket does not exist.";

// ---------------------------------------------------------------- authentication
// OAuth 2.0 token endpoint error ({"error": CODE, "error_description": ...}).
Response oauth_error(const char* code, const std::string& description) {
  JObj j(json_object_new());
  set_str(j.get(), "error", code);
  set_str(j.get(), "error_description", description);
  return json_response(400, j.get());
}
// base64url (RFC 4648 section 5), padding optional; false on other characters.
bool b64url_decode(std::string_view in, std::string* out) {
  std::string t(in);
  while (!t.empty() && t.back() == '=') t.pop_back();
  for (char& c : t) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!g_ascii_isalnum(c)) return false;
  }
  if (t.size() % 4 == 1) return false;
  t.append((4 - t.size() % 4) % 4, '=');
  *out = b64_decode(t);
  return true;
}
std::optional<int64_t> get_number(JsonObject* o, const char* k) {
  JsonNode* n = json_object_get_member(o, k);
  if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE) return std::nullopt;
  GType t = json_node_get_value_type(n);
  if (t == G_TYPE_INT64) return json_node_get_int(n);
  if (t == G_TYPE_DOUBLE) return static_cast<int64_t>(json_node_get_double(n));
  return std::nullopt;
}
// An RSA key from PEM text: "PUBLIC KEY", an X.509 certificate or a private key.
EVP_PKEY* load_rsa_key(const std::string& pem, std::string* err) {
  auto no_pass = [](char*, int, int, void*) { return 0; };  // never prompt
  EVP_PKEY* k = nullptr;
  for (int i = 0; i < 3 && !k; ++i) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (i == 0) k = PEM_read_bio_PUBKEY(b, nullptr, no_pass, nullptr);
    if (i == 1)
      if (X509* x = PEM_read_bio_X509(b, nullptr, no_pass, nullptr)) {
        k = X509_get_pubkey(x);
        X509_free(x);
      }
    if (i == 2) k = PEM_read_bio_PrivateKey(b, nullptr, no_pass, nullptr);
    BIO_free(b);
  }
  ERR_clear_error();
  if (k && EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
    EVP_PKEY_free(k);
    k = nullptr;
  }
  if (!k) *err = "OAuth public key: no RSA public key, certificate or private key found in the PEM text";
  return k;
}
const char* const kStorageScopes[] = {"https://www.googleapis.com/auth/devstorage.read_write",
                                      "https://www.googleapis.com/auth/devstorage.full_control",
                                      "https://www.googleapis.com/auth/cloud-platform"};
const char* const kJwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const char* const kMetadataSa = "/computeMetadata/v1/instance/service-accounts/default/";

// ---------------------------------------------------------------- routing
enum class Kind {
  None, RetryCreate, RetryList, RetryGet, RetryDelete,
  BucketInsert, BucketList, BucketGet, BucketDelete,
  ObjectList, ObjectGet, ObjectMedia, ObjectDelete, Upload, UploadPut, UploadCancel
};
struct Route {
  Kind kind = Kind::None;
  const char* op = nullptr;  // storage-testbench operation name (fault injection key)
  bool delayed = false;      // subject to the configured latency
  std::string bucket, object, id;
  unsigned error = 0;
  std::string error_msg;
};

// `path` is still percent-encoded (the server runs with raw-paths), so each
// bucket/object segment is decoded exactly once here; %2F stays inside a name.
Route route_request(const std::string& method, std::string_view p, const Query& q) {
  Route r;
  auto fail = [&r](unsigned code, const std::string& msg) {
    r.kind = Kind::None;
    r.error = code;
    r.error_msg = msg;
    return r;
  };
  auto set = [&r](Kind k, const char* op, bool delayed) {
    r.kind = k;
    r.op = op;
    r.delayed = delayed;
    return r;
  };
  const bool get = method == "GET" || method == "HEAD", post = method == "POST",
             put = method == "PUT", del = method == "DELETE";
  const std::string bad_method = "Method " + method + " not allowed here";
  if (p == "/retry_tests") return get ? set(Kind::RetryList, nullptr, false) : fail(405, bad_method);
  if (p == "/retry_test") return post ? set(Kind::RetryCreate, nullptr, false) : fail(405, bad_method);
  if (eat(p, "/retry_test/")) {
    r.id = std::string(p);
    if (get) return set(Kind::RetryGet, nullptr, false);
    return del ? set(Kind::RetryDelete, nullptr, false) : fail(405, bad_method);
  }
  const bool upload = eat(p, "/upload/storage/v1/b/");
  const bool download = !upload && eat(p, "/download/storage/v1/b/");
  if (!upload && !download) {
    if (p == "/storage/v1/b" || p == "/storage/v1/b/") {
      if (get) return set(Kind::BucketList, "storage.buckets.list", false);
      return post ? set(Kind::BucketInsert, "storage.buckets.insert", false) : fail(405, bad_method);
    }
    if (!eat(p, "/storage/v1/b/")) {  // public style: /BUCKET/OBJECT...
      eat(p, "/");
      size_t slash = p.find('/');
      if (slash == std::string_view::npos || slash + 1 == p.size()) return fail(404, "Not Found");
      if (!unescape(p.substr(0, slash), &r.bucket) || !unescape(p.substr(slash + 1), &r.object))
        return fail(400, "Invalid percent-encoding in path");
      return get ? set(Kind::ObjectMedia, "storage.objects.get", true) : fail(405, bad_method);
    }
  }
  size_t slash = p.find('/');
  std::string_view rest = slash == std::string_view::npos ? std::string_view() : p.substr(slash);
  if (!unescape(p.substr(0, slash == std::string_view::npos ? p.size() : slash), &r.bucket) ||
      r.bucket.empty())
    return fail(r.bucket.empty() ? 404 : 400, "Invalid bucket in path");
  const bool collection = rest == "/o" || rest == "/o/";
  if (upload) {
    if (!collection) return fail(404, "Not Found");
    bool session = q.count("upload_id") > 0;
    if (post && !session) return set(Kind::Upload, "storage.objects.insert", true);
    if (session && (put || post)) return set(Kind::UploadPut, "storage.objects.insert", true);
    return session && del ? set(Kind::UploadCancel, "storage.objects.insert", true)
                          : fail(405, bad_method);
  }
  if (!download && (rest.empty() || rest == "/")) {
    if (get) return set(Kind::BucketGet, "storage.buckets.get", false);
    return del ? set(Kind::BucketDelete, "storage.buckets.delete", false) : fail(405, bad_method);
  }
  if (!download && collection)
    return get ? set(Kind::ObjectList, "storage.objects.list", true) : fail(405, bad_method);
  if (!eat(rest, "/o/") || rest.empty()) return fail(404, "Not Found");
  if (!unescape(rest, &r.object)) return fail(400, "Invalid percent-encoding in object name");
  auto alt = q.find("alt");
  bool media = download || (alt != q.end() && alt->second == "media");
  if (get) return set(media ? Kind::ObjectMedia : Kind::ObjectGet, "storage.objects.get", true);
  return del && !download ? set(Kind::ObjectDelete, "storage.objects.delete", true)
                          : fail(405, bad_method);
}

// ---------------------------------------------------------------- faults
struct Fault {
  enum Type { None, Status, Reset, Broken, Stall } type = None;
  unsigned code = 0;     // Status
  unsigned stall_s = 0;  // Stall
};
// Instructions of the storage-testbench retry test API. Simplifications: the
// "-after-YK" offsets are ignored because handlers run once the whole request
// body has been received: return-X-after-YK answers X, stall-for-Ts-after-YK
// stalls T seconds before answering, return-broken-stream[-...] truncates the
// response body after storing the object.
bool parse_instruction(const std::string& s, Fault* f) {
  static const std::regex status_re("return-([0-9]{3})(-after-[0-9]+K)?");
  static const std::regex stall_re("stall-for-([0-9]{1,5})s-after-[0-9]+K");
  static const std::regex broken_re("return-broken-stream(-after-[0-9]+K|-final-chunk-after-[0-9]+B)?");
  std::smatch m;
  Fault r;
  if (s == "return-reset-connection") {
    r.type = Fault::Reset;
  } else if (std::regex_match(s, broken_re)) {
    r.type = Fault::Broken;
  } else if (std::regex_match(s, m, status_re)) {
    r.type = Fault::Status;
    r.code = static_cast<unsigned>(std::stoul(m[1].str()));
    if (r.code < 200 || r.code > 599) return false;
  } else if (std::regex_match(s, m, stall_re)) {
    r.type = Fault::Stall;
    r.stall_s = static_cast<unsigned>(std::stoul(m[1].str()));
  } else {
    return false;
  }
  if (f) *f = r;
  return true;
}

struct RetryTest {
  std::string id, transport;
  std::map<std::string, std::deque<std::string>> instructions;
  bool completed() const {
    return std::all_of(instructions.begin(), instructions.end(),
                       [](const auto& kv) { return kv.second.empty(); });
  }
};

// ---------------------------------------------------------------- storage
struct StoredObject {
  ObjectInfo info;
  std::string created;
  std::map<std::string, std::string> extra;  // cacheControl, contentEncoding, ...
  Bytes data;                                // in-memory mode
  std::string file;                          // root_dir mode: absolute path of the bytes
};
struct Bucket {
  std::string created;
  std::map<std::string, StoredObject> objects;
};
struct NewObject {
  std::string bucket, name, content_type, want_crc32c, want_md5;
  std::map<std::string, std::string> metadata, extra;
  std::optional<int64_t> if_generation_match, if_generation_not_match;
};
struct ResumableUpload {
  NewObject obj;
  std::string data;
  std::optional<uint64_t> total;
  bool done = false;
  Response result;
};
const char* const kExtraFields[] = {"cacheControl", "contentDisposition", "contentEncoding",
                                    "contentLanguage"};

JObj object_json(const StoredObject& o, const std::string& base) {
  const ObjectInfo& i = o.info;
  JObj j(json_object_new());
  const std::string gen = std::to_string(i.generation);
  set_str(j.get(), "kind", "storage#object");
  set_str(j.get(), "id", i.bucket + "/" + i.name + "/" + gen);
  if (!base.empty()) {
    const std::string path = "/storage/v1/b/" + escape(i.bucket) + "/o/" + escape(i.name);
    set_str(j.get(), "selfLink", base + path);
    set_str(j.get(), "mediaLink", base + "/download" + path + "?generation=" + gen + "&alt=media");
  }
  set_str(j.get(), "name", i.name);
  set_str(j.get(), "bucket", i.bucket);
  set_str(j.get(), "generation", gen);
  set_str(j.get(), "metageneration", "1");
  set_str(j.get(), "contentType", i.content_type);
  set_str(j.get(), "storageClass", "STANDARD");
  set_str(j.get(), "size", std::to_string(i.size));
  set_str(j.get(), "md5Hash", i.md5);
  set_str(j.get(), "crc32c", i.crc32c);
  set_str(j.get(), "etag", "CA" + gen);
  set_str(j.get(), "timeCreated", o.created);
  set_str(j.get(), "updated", o.created);
  for (const auto& [k, v] : o.extra) set_str(j.get(), k.c_str(), v);
  if (!i.metadata.empty()) {
    JsonObject* m = json_object_new();
    for (const auto& [k, v] : i.metadata) set_str(m, k.c_str(), v);
    json_object_set_object_member(j.get(), "metadata", m);
  }
  return j;
}

bool read_metadata_json(JsonObject* m, NewObject* n, std::string* err) {
  if (auto v = get_scalar(m, "name")) n->name = *v;
  if (auto v = get_scalar(m, "contentType")) n->content_type = *v;
  if (auto v = get_scalar(m, "crc32c")) n->want_crc32c = *v;
  if (auto v = get_scalar(m, "md5Hash")) n->want_md5 = *v;
  for (const char* k : kExtraFields)
    if (auto v = get_scalar(m, k)) n->extra[k] = *v;
  JsonNode* md = json_object_get_member(m, "metadata");
  if (md && JSON_NODE_HOLDS_OBJECT(md)) {
    JsonObject* mo = json_node_get_object(md);
    g_autoptr(GList) keys = json_object_get_members(mo);
    for (GList* l = keys; l; l = l->next) {
      const char* k = static_cast<const char*>(l->data);
      JsonNode* vn = json_object_get_member(mo, k);
      if (JSON_NODE_HOLDS_NULL(vn)) continue;
      auto v = get_scalar(mo, k);
      if (!v) {
        *err = std::string("metadata value for '") + k + "' must be a string";
        return false;
      }
      n->metadata[k] = *v;
    }
  } else if (md && !JSON_NODE_HOLDS_NULL(md)) {
    *err = "'metadata' must be an object";
    return false;
  }
  return true;
}

// Minimal multipart/related parser; binary-safe (std::string_view searches).
struct Part {
  std::string content_type;
  std::string_view body;
};
bool parse_multipart(SoupMessageHeaders* headers, std::string_view body, std::vector<Part>* parts,
                     std::string* err) {
  GHashTable* params = nullptr;
  const char* ct = soup_message_headers_get_content_type(headers, &params);
  std::string boundary;
  if (params) {
    if (auto* b = static_cast<const char*>(g_hash_table_lookup(params, "boundary"))) boundary = b;
    g_hash_table_destroy(params);
  }
  if (!ct || g_ascii_strncasecmp(ct, "multipart/", 10) != 0 || boundary.empty()) {
    *err = "multipart upload requires a multipart/related Content-Type with a boundary";
    return false;
  }
  const std::string delim = "--" + boundary, crlf_delim = "\r\n" + delim;
  size_t pos = 0;
  if (!starts_with(body, delim)) {
    pos = body.find(crlf_delim);
    if (pos == std::string_view::npos) {
      *err = "multipart body does not contain the boundary";
      return false;
    }
    pos += 2;
  }
  for (;;) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") return true;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") {
      *err = "malformed multipart boundary line";
      return false;
    }
    pos += 2;
    size_t next = body.find(crlf_delim, pos);
    if (next == std::string_view::npos) {
      *err = "multipart body lacks the closing boundary";
      return false;
    }
    std::string_view part = body.substr(pos, next - pos);
    Part p;
    size_t hend = starts_with(part, "\r\n") ? 0 : part.find("\r\n\r\n");
    if (hend == std::string_view::npos) {
      *err = "multipart part has no header terminator";
      return false;
    }
    p.body = part.substr(hend == 0 && starts_with(part, "\r\n") ? 2 : hend + 4);
    std::string_view hdrs = part.substr(0, hend);
    while (!hdrs.empty()) {
      size_t eol = hdrs.find("\r\n");
      std::string line(hdrs.substr(0, eol));
      hdrs = eol == std::string_view::npos ? std::string_view() : hdrs.substr(eol + 2);
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon), value = line.substr(colon + 1);
      g_strstrip(name.data());
      if (g_ascii_strcasecmp(name.c_str(), "content-type") == 0)
        p.content_type = g_strstrip(value.data());
    }
    parts->push_back(std::move(p));
    pos = next + 2;
  }
}

// Expected checksums from an "x-goog-hash: crc32c=...,md5=..." request header
// (metadata values take precedence).
void read_goog_hash(SoupServerMessage* msg, NewObject* n) {
  const char* h = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "x-goog-hash");
  g_auto(GStrv) items = h ? g_strsplit(h, ",", -1) : nullptr;
  for (char** i = items; i && *i; ++i) {
    std::string item = g_strstrip(*i);
    if (starts_with(item, "crc32c=") && n->want_crc32c.empty()) n->want_crc32c = item.substr(7);
    if (starts_with(item, "md5=") && n->want_md5.empty()) n->want_md5 = item.substr(4);
  }
}

Bytes request_body(SoupServerMessage* msg) {
  return take_bytes(soup_message_body_flatten(soup_server_message_get_request_body(msg)));
}
const char* req_header(SoupServerMessage* msg, const char* name) {
  return soup_message_headers_get_one(soup_server_message_get_request_headers(msg), name);
}

}  // namespace

// ---------------------------------------------------------------- Impl
struct Pending;
struct ConnWatch;

struct Emulator::Impl {
  explicit Impl(Options o)
      : opts(std::move(o)), latency_ms(opts.latency_ms), jitter_ms(opts.jitter_ms),
        answer_delay_ms(opts.answer_delay_ms), token_failures(opts.token_failures) {}
  ~Impl() { EVP_PKEY_free(oauth_key); }

  Options opts;
  std::atomic<unsigned> latency_ms, jitter_ms, port{0};
  std::atomic<unsigned> token_delay_ms{0};
  std::atomic<unsigned> answer_delay_ms;       // uploads: stored now, answered this much later
  std::atomic<uint64_t> answers_held{0};       // uploads answered late that way so far
  std::atomic<unsigned> token_failures{0};     // token requests still to answer 503
  std::atomic<uint64_t> token_unavailable{0};  // 503s answered so far
  std::atomic<uint64_t> requests{0}, accepted{0}, open{0}, peak{0};

  mutable std::mutex mu;  // guards buckets and last_generation
  std::map<std::string, Bucket> buckets;
  int64_t last_generation = 0;

  mutable std::mutex auth_mu;            // guards tokens
  std::map<std::string, int64_t> tokens;  // issued token -> expiry (monotonic us)
  std::atomic<uint64_t> issued{0}, auth_fails{0};
  EVP_PKEY* oauth_key = nullptr;          // set by setup(), used by the server thread

  // Server thread only.
  std::thread thread;
  GMainContext* ctx = nullptr;
  // Set by stop() from another thread, which then only wakes the context up:
  // it never attaches a source to a context that runs on this thread.
  std::atomic<bool> quit{false};
  SoupServer* server = nullptr;
  std::map<GSocket*, std::unique_ptr<ConnWatch>> conns;  // open client connections
  std::map<Pending*, std::unique_ptr<Pending>> pending;
  std::map<std::string, RetryTest> retry_tests;
  std::map<std::string, ResumableUpload> uploads;

  std::string endpoint() const;
  bool tls() const { return !opts.tls_cert_file.empty(); }
  Response issue_token();
  std::optional<Response> check_auth(SoupServerMessage* msg);
  std::string check_assertion(const std::string& jwt) const;
  Response token_api(SoupServerMessage* msg, const std::string& method);
  Response metadata_api(SoupServerMessage* msg, const std::string& method, const std::string& path);

  void thread_main(std::promise<std::string>* ready);
  std::string setup();
  void teardown();
  bool load_root(std::string* err);

  void on_request(SoupServerMessage* msg, GHashTable* query);
  void complete(SoupServerMessage* msg, const Route& r, const Query& q, const Fault& f, bool paused);
  void defer(SoupServerMessage* msg, std::unique_ptr<Pending> p, int64_t delay);
  Response dispatch(SoupServerMessage* msg, const Route& r, const Query& q);
  Response retry_api(SoupServerMessage* msg, const Route& r);
  Response bucket_api(SoupServerMessage* msg, const Route& r, const std::string& base);
  Response object_api(const Route& r, const Query& q, const std::string& base);
  Response upload(SoupServerMessage* msg, const Route& r, const Query& q, const std::string& base);
  Response upload_put(SoupServerMessage* msg, const std::string& id, const std::string& base);
  Response insert_object(const NewObject& n, const Bytes& data, const std::string& base);
  bool write_object_files(const std::string& bucket, StoredObject& o, std::string_view data,
                          const StoredObject* old, std::string* err);
  void remove_object_files(const StoredObject& o);
  std::string sidecar_path(const std::string& bucket, const std::string& name) const;
  bool read_data(const StoredObject& o, Bytes* out) const;
  int64_t next_generation();
  void watch_connection(ConnWatch* w);
  void pause_ended(GSocket* s);
};

// One per open client connection, see on_request_started().
struct ConnWatch {
  Emulator::Impl* impl = nullptr;
  GSocket* sock = nullptr;  // owned reference
  GSource* watch = nullptr;
  unsigned paused = 0;      // requests of this connection paused by us
  ~ConnWatch() {
    if (watch) {
      g_source_destroy(watch);
      g_source_unref(watch);
    }
    g_object_unref(sock);
  }
};

struct Pending {
  Emulator::Impl* impl = nullptr;
  SoupServerMessage* msg = nullptr;
  Route route;
  Query query;
  Fault fault;
  bool answered = false;    // `answer` is ready: send it as it is (a delayed token answer)
  Response answer;
  GSource* timer = nullptr;
  GSocket* sock = nullptr;  // owned reference, for ConnWatch::paused
  gulong disconnect_id = 0;
  bool disconnected = false;
  ~Pending() {
    if (sock) {
      impl->pause_ended(sock);
      g_object_unref(sock);
    }
    if (timer) {
      g_source_destroy(timer);
      g_source_unref(timer);
    }
    if (disconnect_id) g_signal_handler_disconnect(msg, disconnect_id);
    if (msg) g_object_unref(msg);
  }
};

namespace {

void apply(SoupServerMessage* msg, const Response& r) {
  soup_server_message_set_status(msg, r.status, r.reason.empty() ? nullptr : r.reason.c_str());
  SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
  for (const auto& [k, v] : r.headers) soup_message_headers_replace(h, k.c_str(), v.c_str());
  if (r.body) {
    soup_message_headers_replace(h, "Content-Type", r.content_type.c_str());
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), r.body.get());
  }
}

// return-reset-connection: abortive close (SO_LINGER {1,0} makes close() send RST).
void reset_connection(SoupServerMessage* msg) {
  GSocket* s = soup_server_message_get_socket(msg);
  GObj<GSocket> sock(s ? G_SOCKET(g_object_ref(s)) : nullptr);
  GObj<GIOStream> stream(soup_server_message_steal_connection(msg));
  if (sock) {
    struct linger lg = {1, 0};
    setsockopt(g_socket_get_fd(sock.get()), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  if (stream) g_io_stream_close(stream.get(), nullptr, nullptr);
  else if (sock) g_socket_close(sock.get(), nullptr);
}

// return-broken-stream: headers announce the full length, half the body is
// sent, then the connection is closed.
void break_stream(SoupServerMessage* msg, const Response& r, bool tls) {
  GSocket* s = soup_server_message_get_socket(msg);
  GObj<GSocket> sock(s ? G_SOCKET(g_object_ref(s)) : nullptr);
  GObj<GIOStream> stream(soup_server_message_steal_connection(msg));
  if (!sock || !stream) return;
  std::string_view body = view(r.body);
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " +
                    soup_status_get_phrase(r.status) + "\r\nContent-Type: " + r.content_type +
                    "\r\nContent-Length: " + std::to_string(std::max<size_t>(body.size(), 1)) +
                    "\r\nConnection: close\r\n\r\n";
  out.append(body.substr(0, body.size() / 2));
  if (tls) {  // the bytes must go through the TLS layer
    g_output_stream_write_all(g_io_stream_get_output_stream(stream.get()), out.data(), out.size(),
                              nullptr, nullptr, nullptr);
    g_io_stream_close(stream.get(), nullptr, nullptr);
    return;
  }
  for (size_t off = 0; off < out.size();) {
    gssize n = g_socket_send_with_blocking(sock.get(), out.data() + off, out.size() - off, TRUE,
                                           nullptr, nullptr);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  g_socket_shutdown(sock.get(), FALSE, TRUE, nullptr);
  g_io_stream_close(stream.get(), nullptr, nullptr);
}

gboolean on_timer(gpointer data) {
  auto* p = static_cast<Pending*>(data);
  auto it = p->impl->pending.find(p);
  std::unique_ptr<Pending> own = std::move(it->second);
  p->impl->pending.erase(it);
  g_source_unref(p->timer);  // being dispatched: GLib destroys it when we return
  p->timer = nullptr;
  if (p->disconnect_id) g_signal_handler_disconnect(p->msg, p->disconnect_id);
  p->disconnect_id = 0;
  if (p->disconnected) return G_SOURCE_REMOVE;
  if (p->answered) {
    apply(p->msg, p->answer);
    soup_server_message_unpause(p->msg);
  } else {
    p->impl->complete(p->msg, p->route, p->query, p->fault, true);
  }
  return G_SOURCE_REMOVE;
}

void connection_gone(ConnWatch* w) {
  w->impl->open--;
  w->impl->conns.erase(w->sock);  // destroys w
}

// Watch on a client socket, next to libsoup's own sources. A closed socket
// means libsoup closed the connection. EOF from the peer with no unread bytes
// is a connection closed by the client: libsoup 3.2 never closes an idle
// keep-alive connection in that case (its idle message has no completion
// handler; fixed in later libsoup), so close it here. Unread bytes are
// libsoup's to read, except while we keep one of its requests paused: then
// the watch is off until the pause ends (else it would fire in a loop).
gboolean on_socket_event(GSocket* s, GIOCondition, gpointer data) {
  auto* w = static_cast<ConnWatch*>(data);
  if (!g_socket_is_closed(s)) {
    char b;
    ssize_t n = recv(g_socket_get_fd(s), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return G_SOURCE_CONTINUE;
    if (n > 0 && !w->paused) return G_SOURCE_CONTINUE;
    if (n > 0) {
      g_source_unref(w->watch);  // removed by returning G_SOURCE_REMOVE
      w->watch = nullptr;
      return G_SOURCE_REMOVE;
    }
    g_socket_close(s, nullptr);
  }
  connection_gone(w);
  return G_SOURCE_REMOVE;
}

// Connection accounting: libsoup emits request-started for the first message
// of a connection as soon as it is accepted, and again for each keep-alive
// request; a GSocket not being tracked is a new connection.
void on_request_started(SoupServer*, SoupServerMessage* msg, gpointer data) {
  auto* self = static_cast<Emulator::Impl*>(data);
  GSocket* s = soup_server_message_get_socket(msg);
  if (!s || self->conns.count(s)) return;
  auto w = std::make_unique<ConnWatch>();
  w->impl = self;
  w->sock = G_SOCKET(g_object_ref(s));
  self->watch_connection(w.get());
  self->conns.emplace(s, std::move(w));
  self->accepted++;
  uint64_t now = ++self->open;
  if (now > self->peak) self->peak = now;
}

void on_server_request(SoupServer*, SoupServerMessage* msg, const char*, GHashTable* query,
                       gpointer data) {
  static_cast<Emulator::Impl*>(data)->on_request(msg, query);
}

}  // namespace

void Emulator::Impl::watch_connection(ConnWatch* w) {
  w->watch = g_socket_create_source(w->sock, GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr);
  g_source_set_callback(w->watch, G_SOURCE_FUNC(on_socket_event), w, nullptr);
  g_source_attach(w->watch, ctx);
}

void Emulator::Impl::pause_ended(GSocket* s) {
  auto it = conns.find(s);
  if (it == conns.end()) return;
  ConnWatch* w = it->second.get();
  if (w->paused && --w->paused == 0 && !w->watch) watch_connection(w);
}

// ---------------------------------------------------------------- request flow
void Emulator::Impl::on_request(SoupServerMessage* msg, GHashTable* qh) {
  requests++;
  GUri* uri = soup_server_message_get_uri(msg);
  const std::string method = soup_server_message_get_method(msg);
  const std::string path = g_uri_get_path(uri);
  Query q;
  if (qh) {
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, qh);
    while (g_hash_table_iter_next(&it, &k, &v))
      q[static_cast<const char*>(k)] = v ? static_cast<const char*>(v) : "";
  }
  if (opts.verbose) {
    const char* qs = g_uri_get_query(uri);
    fprintf(stderr, "gcs-emulator: %s %s%s%s\n", method.c_str(), path.c_str(), qs ? "?" : "",
            qs ? qs : "");
  }
  if (path == "/token") {
    unsigned delay = token_delay_ms;
    if (delay == 0) return apply(msg, token_api(msg, method));
    auto p = std::make_unique<Pending>();
    p->answered = true;
    p->answer = token_api(msg, method);
    return defer(msg, std::move(p), delay);
  }
  if (starts_with(path, "/computeMetadata/")) return apply(msg, metadata_api(msg, method, path));
  if (opts.require_auth && !starts_with(path, "/retry_test"))
    if (auto denied = check_auth(msg)) return apply(msg, *denied);
  Route r = route_request(method, path, q);
  if (r.error) return apply(msg, error_response(r.error, r.error_msg));

  Fault f;
  const char* test_id = req_header(msg, "x-retry-test-id");
  if (r.op && test_id) {
    auto t = retry_tests.find(test_id);
    if (t == retry_tests.end())
      return apply(msg, error_response(400, std::string("Unknown x-retry-test-id ") + test_id));
    auto ins = t->second.instructions.find(r.op);
    if (t->second.transport == "HTTP" && ins != t->second.instructions.end() && !ins->second.empty()) {
      parse_instruction(ins->second.front(), &f);  // validated when the test was created
      if (opts.verbose)
        fprintf(stderr, "gcs-emulator:   retry test %s: %s %s\n", test_id, r.op,
                ins->second.front().c_str());
      ins->second.pop_front();
    }
  }
  const unsigned answer_delay = answer_delay_ms;
  if (answer_delay > 0 && f.type == Fault::None && r.op && std::string_view(r.op) == "storage.objects.insert") {
    auto p = std::make_unique<Pending>();
    p->answered = true;
    p->answer = dispatch(msg, r, q);  // stored now; the client hears of it later, or never
    answers_held++;
    auto fields = q.find("fields");
    if (fields != q.end() && p->answer.status == 200) select_fields(p->answer, fields->second);
    return defer(msg, std::move(p), answer_delay);
  }
  int64_t delay = 0;
  if (r.delayed) {
    int64_t lat = latency_ms, jit = jitter_ms;
    delay = std::max<int64_t>(0, lat + (jit ? g_random_int_range(-static_cast<gint32>(jit),
                                                                 static_cast<gint32>(jit) + 1)
                                            : 0));
  }
  if (f.type == Fault::Stall) {
    delay += int64_t(f.stall_s) * 1000;
    f.type = Fault::None;
  }
  if (delay == 0 && (f.type == Fault::None || f.type == Fault::Status))
    return complete(msg, r, q, f, false);

  auto p = std::make_unique<Pending>();
  p->route = std::move(r);
  p->query = std::move(q);
  p->fault = f;
  defer(msg, std::move(p), delay);
}

// Answers later without blocking the server thread: pauses the message and
// resumes it from a timer on the server's own context.
void Emulator::Impl::defer(SoupServerMessage* msg, std::unique_ptr<Pending> p, int64_t delay) {
  soup_server_message_pause(msg);
  p->impl = this;
  p->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  if (GSocket* s = soup_server_message_get_socket(msg)) {
    p->sock = G_SOCKET(g_object_ref(s));
    auto w = conns.find(s);
    if (w != conns.end()) w->second->paused++;
  }
  p->disconnect_id = g_signal_connect(
      msg, "disconnected",
      G_CALLBACK(+[](SoupServerMessage*, gpointer d) { static_cast<Pending*>(d)->disconnected = true; }),
      p.get());
  p->timer = g_timeout_source_new(static_cast<guint>(std::min<int64_t>(delay, G_MAXUINT)));
  g_source_set_callback(p->timer, on_timer, p.get(), nullptr);
  g_source_attach(p->timer, ctx);
  pending.emplace(p.get(), std::move(p));
}

void Emulator::Impl::complete(SoupServerMessage* msg, const Route& r, const Query& q,
                              const Fault& f, bool paused) {
  if (f.type == Fault::Reset) return reset_connection(msg);
  Response resp = f.type == Fault::Status
                      ? error_response(f.code, "Retry test: injected HTTP " + std::to_string(f.code))
                      : dispatch(msg, r, q);
  auto fields = q.find("fields");
  if (fields != q.end() && resp.status == 200) select_fields(resp, fields->second);
  if (f.type == Fault::Broken) return break_stream(msg, resp, tls());
  apply(msg, resp);
  if (paused) soup_server_message_unpause(msg);
}

Response Emulator::Impl::dispatch(SoupServerMessage* msg, const Route& r, const Query& q) {
  const char* host = req_header(msg, "Host");
  const std::string base = host ? (tls() ? "https://" : "http://") + std::string(host) : endpoint();
  switch (r.kind) {
    case Kind::RetryCreate: case Kind::RetryList: case Kind::RetryGet: case Kind::RetryDelete:
      return retry_api(msg, r);
    case Kind::BucketInsert: case Kind::BucketList: case Kind::BucketGet: case Kind::BucketDelete:
      return bucket_api(msg, r, base);
    case Kind::Upload: case Kind::UploadCancel:
      return upload(msg, r, q, base);
    case Kind::UploadPut:
      return upload_put(msg, q.at("upload_id"), base);
    default:
      return object_api(r, q, base);
  }
}

// ---------------------------------------------------------------- authentication
std::string Emulator::Impl::endpoint() const {
  const std::string& h = opts.host;
  return (tls() ? "https://" : "http://") + (h.find(':') != std::string::npos ? "[" + h + "]" : h) +
         ":" + std::to_string(port.load());
}

Response Emulator::Impl::issue_token() {
  for (unsigned left = token_failures; left > 0;)
    if (token_failures.compare_exchange_weak(left, left - 1)) {
      token_unavailable++;
      Response r = error_response(503, "The token service is temporarily unavailable (emulated outage).");
      r.headers = {{"Cache-Control", "no-store"}};
      return r;
    }
  const std::string token = "ya29.emulator-" + random_id() + random_id();
  const int64_t now = g_get_monotonic_time();
  {
    std::lock_guard<std::mutex> lk(auth_mu);
    for (auto it = tokens.begin(); it != tokens.end();) it = it->second <= now ? tokens.erase(it) : std::next(it);
    tokens[token] = now + int64_t(opts.token_lifetime_s) * G_USEC_PER_SEC;
  }
  issued++;
  JObj j(json_object_new());
  set_str(j.get(), "access_token", token);
  json_object_set_int_member(j.get(), "expires_in", opts.token_lifetime_s);
  set_str(j.get(), "token_type", "Bearer");
  Response r = json_response(200, j.get());
  r.headers = {{"Cache-Control", "no-store"}};
  return r;
}

// nullopt when the request carries a valid token issued here, else the 401.
std::optional<Response> Emulator::Impl::check_auth(SoupServerMessage* msg) {
  const char* h = req_header(msg, "Authorization");
  if (h && g_ascii_strncasecmp(h, "Bearer ", 7) == 0) {
    std::string token = h + 7;
    g_strstrip(token.data());
    token.resize(strlen(token.c_str()));
    std::lock_guard<std::mutex> lk(auth_mu);
    auto it = tokens.find(token);
    if (it != tokens.end() && g_get_monotonic_time() < it->second) return std::nullopt;
  }
  auth_fails++;
  if (opts.verbose) fprintf(stderr, "gcs-emulator:   401: %s\n", h ? "invalid or expired token" : "no Authorization");
  Response r = h ? error_response(401, "Invalid Credentials", "authError", true)
                 : error_response(401, "Anonymous caller does not have access to the Google Cloud Storage "
                                       "resource: an Authorization header is required.", "required", true);
  r.headers = {{"WWW-Authenticate", std::string("Bearer realm=\"https://accounts.google.com/\"") +
                                        (h ? ", error=\"invalid_token\"" : "")}};
  return r;
}

// "" when the JWT-bearer assertion is acceptable, else the error_description.
std::string Emulator::Impl::check_assertion(const std::string& jwt) const {
  if (!oauth_key) return "The JWT-bearer grant is not enabled on this emulator (no OAuth public key).";
  const size_t d1 = jwt.find('.'), d2 = d1 == std::string::npos ? d1 : jwt.find('.', d1 + 1);
  if (d2 == std::string::npos || jwt.find('.', d2 + 1) != std::string::npos)
    return "Invalid JWT: expected three dot-separated segments (header.claims.signature).";
  std::string header, claims, sig, err;
  if (!b64url_decode(std::string_view(jwt).substr(0, d1), &header) ||
      !b64url_decode(std::string_view(jwt).substr(d1 + 1, d2 - d1 - 1), &claims) ||
      !b64url_decode(std::string_view(jwt).substr(d2 + 1), &sig))
    return "Invalid JWT: a segment is not base64url encoded.";
  JObj h = parse_json_object(header, &err), c = h ? parse_json_object(claims, &err) : nullptr;
  if (!h || !c) return "Invalid JWT: the header and the claim set must be JSON objects (" + err + ").";
  const std::string alg = get_scalar(h.get(), "alg").value_or("");
  if (alg != "RS256") return "Invalid JWT: unsupported signing algorithm \"" + alg + "\"; only RS256 is accepted.";
  EVP_MD_CTX* md = EVP_MD_CTX_new();  // RSA keys verify with PKCS#1 v1.5 padding by default
  const bool good = md && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, oauth_key) == 1 &&
                    EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                     reinterpret_cast<const unsigned char*>(jwt.data()), d2) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  if (!good) return "Invalid JWT Signature.";
  if (get_scalar(c.get(), "iss").value_or("").empty()) return "Invalid JWT: No issuer (\"iss\") claim.";
  const std::string aud = get_scalar(c.get(), "aud").value_or("");
  if (aud != endpoint() + "/token" && !(opts.accept_google_audience && aud == "https://oauth2.googleapis.com/token"))
    return "Invalid JWT: Failed audience check. The right audience is " + endpoint() + "/token (got \"" + aud + "\").";
  g_auto(GStrv) scopes = g_strsplit(get_scalar(c.get(), "scope").value_or("").c_str(), " ", -1);
  bool scope_ok = false;
  for (char** sc = scopes; *sc && !scope_ok; ++sc)
    for (const char* want : kStorageScopes) scope_ok = scope_ok || strcmp(*sc, want) == 0;
  if (!scope_ok)
    return std::string("Invalid OAuth scope: the \"scope\" claim must include one of ") + kStorageScopes[0] +
           ", " + kStorageScopes[1] + " or " + kStorageScopes[2] + ".";
  const std::string timing = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                             "timeframe. Check your iat and exp values in the JWT claim. (";
  const auto iat = get_number(c.get(), "iat"), exp = get_number(c.get(), "exp");
  const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  if (!iat || !exp) return timing + "iat and exp must be numbers of seconds since the epoch)";
  if (*iat > now + 60) return timing + "iat is in the future)";
  if (*exp <= now) return timing + "the assertion has expired)";
  if (*exp - *iat > 3600) return timing + "exp - iat exceeds 3600 seconds)";
  return "";
}

// POST /token, form-urlencoded: the JWT-bearer and refresh-token grants.
Response Emulator::Impl::token_api(SoupServerMessage* msg, const std::string& method) {
  if (method != "POST") return error_response(405, "Method " + method + " not allowed here");
  Bytes body = request_body(msg);
  const std::string text(view(body));
  std::unique_ptr<GHashTable, void (*)(GHashTable*)> form(soup_form_decode(text.c_str()), g_hash_table_unref);
  auto fv = [&form](const char* k) {
    const char* v = static_cast<const char*>(g_hash_table_lookup(form.get(), k));
    return std::string(v ? v : "");
  };
  const std::string grant = fv("grant_type");
  std::string bad;
  if (grant == kJwtBearer) {
    if (fv("assertion").empty()) return oauth_error("invalid_request", "Missing required parameter: assertion");
    bad = check_assertion(fv("assertion"));
  } else if (grant == "refresh_token") {
    if (opts.oauth_client_id.empty() || opts.oauth_client_secret.empty() || opts.oauth_refresh_token.empty())
      bad = "The refresh-token grant is not enabled on this emulator.";
    else if (fv("client_id") != opts.oauth_client_id)
      return oauth_error("invalid_client", "The OAuth client was not found.");
    else if (fv("client_secret") != opts.oauth_client_secret)
      return oauth_error("invalid_client", "Unauthorized");
    else if (fv("refresh_token") != opts.oauth_refresh_token)
      bad = "Token has been expired or revoked.";
  } else {
    return grant.empty() ? oauth_error("invalid_request", "Missing required parameter: grant_type")
                         : oauth_error("unsupported_grant_type", "Invalid grant_type: " + grant);
  }
  if (opts.verbose)
    fprintf(stderr, "gcs-emulator:   token (%s): %s\n", grant.c_str(), bad.empty() ? "issued" : bad.c_str());
  return bad.empty() ? issue_token() : oauth_error("invalid_grant", bad);
}

// GCE metadata server: the default service account's token and e-mail.
Response Emulator::Impl::metadata_api(SoupServerMessage* msg, const std::string& method, const std::string& path) {
  Response r;
  r.content_type = "application/text";
  r.headers = {{"Metadata-Flavor", "Google"}};
  auto text = [&r](unsigned status, const std::string& body) {
    r.status = status;
    r.body = copy_bytes(body);
    return r;
  };
  if (!opts.metadata_server) return error_response(404, "Not Found");
  if (method != "GET" && method != "HEAD") return text(405, "Method not allowed\n");
  const char* flavor = req_header(msg, "Metadata-Flavor");
  if (!flavor || strcmp(flavor, "Google") != 0)
    return text(403, "Missing required header \"Metadata-Flavor\": \"Google\"\n");
  const std::string sa = kMetadataSa;
  if (path == sa + "token") {
    Response t = issue_token();
    t.headers.emplace_back("Metadata-Flavor", "Google");
    return t;
  }
  if (path == sa + "email") return text(200, "default@emulator.iam.gserviceaccount.com");
  if (path == "/computeMetadata/v1/project/project-id") return text(200, "emulator-project");
  return text(404, "Not Found\n");
}

// ---------------------------------------------------------------- retry test API
Response Emulator::Impl::retry_api(SoupServerMessage* msg, const Route& r) {
  auto to_json_obj = [](const RetryTest& t) {
    JObj j(json_object_new());
    set_str(j.get(), "id", t.id);
    JsonObject* ins = json_object_new();
    for (const auto& [op, list] : t.instructions) {
      JsonArray* a = json_array_new();
      for (const auto& s : list) json_array_add_string_element(a, s.c_str());
      json_object_set_array_member(ins, op.c_str(), a);
    }
    json_object_set_object_member(j.get(), "instructions", ins);
    json_object_set_boolean_member(j.get(), "completed", t.completed());
    set_str(j.get(), "transport", t.transport);
    return j;
  };
  if (r.kind == Kind::RetryList) {
    JObj j(json_object_new());
    JsonArray* a = json_array_new();
    for (const auto& [id, t] : retry_tests) json_array_add_object_element(a, to_json_obj(t).release());
    json_object_set_array_member(j.get(), "retry_test", a);
    return json_response(200, j.get());
  }
  if (r.kind == Kind::RetryCreate) {
    std::string err;
    Bytes body = request_body(msg);
    JObj root = parse_json_object(view(body), &err);
    if (!root) return error_response(400, err);
    JsonNode* ins = json_object_get_member(root.get(), "instructions");
    if (!ins || !JSON_NODE_HOLDS_OBJECT(ins))
      return error_response(400, "'instructions' must be an object mapping operations to lists");
    RetryTest t;
    t.id = random_id();
    // As the testbench: HTTP (the default) or GRPC, any case, stored upper
    // case; GRPC instructions never apply to this server's HTTP requests.
    t.transport = get_scalar(root.get(), "transport").value_or("HTTP");
    for (char& c : t.transport) c = g_ascii_toupper(c);
    if (t.transport != "HTTP" && t.transport != "GRPC")
      return error_response(400, "The requested transport <" + get_scalar(root.get(), "transport").value_or("") +
                                     "> is not supported in the testbench (use HTTP or GRPC)");
    JsonObject* io = json_node_get_object(ins);
    g_autoptr(GList) ops = json_object_get_members(io);
    for (GList* l = ops; l; l = l->next) {
      const char* op = static_cast<const char*>(l->data);
      JsonNode* an = json_object_get_member(io, op);
      if (!JSON_NODE_HOLDS_ARRAY(an)) return error_response(400, std::string("instructions for ") + op + " must be a list");
      auto& list = t.instructions[op];
      JsonArray* a = json_node_get_array(an);
      for (guint i = 0; i < json_array_get_length(a); ++i) {
        JsonNode* e = json_array_get_element(a, i);
        const char* s = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                            ? json_node_get_string(e) : nullptr;
        if (!s || !parse_instruction(s, nullptr))
          return error_response(400, std::string("unsupported instruction for ") + op + ": " + (s ? s : "(not a string)"));
        list.emplace_back(s);
      }
    }
    auto it = retry_tests.emplace(t.id, std::move(t)).first;
    return json_response(200, to_json_obj(it->second).get());
  }
  auto it = retry_tests.find(r.id);
  if (it == retry_tests.end()) return error_response(404, "Retry test " + r.id + " not found");
  Response resp = json_response(200, to_json_obj(it->second).get());
  if (r.kind == Kind::RetryDelete) retry_tests.erase(it);
  return resp;
}

// ---------------------------------------------------------------- buckets
namespace {
JObj bucket_json(const std::string& name, const Bucket& b, const std::string& base) {
  JObj j(json_object_new());
  set_str(j.get(), "kind", "storage#bucket");
  set_str(j.get(), "id", name);
  set_str(j.get(), "name", name);
  set_str(j.get(), "selfLink", base + "/storage/v1/b/" + name);
  set_str(j.get(), "projectNumber", "0");
  set_str(j.get(), "metageneration", "1");
  set_str(j.get(), "location", "US");
  set_str(j.get(), "storageClass", "STANDARD");
  set_str(j.get(), "etag", "CAE=");
  set_str(j.get(), "timeCreated", b.created);
  set_str(j.get(), "updated", b.created);
  return j;
}
}  // namespace

Response Emulator::Impl::bucket_api(SoupServerMessage* msg, const Route& r, const std::string& base) {
  std::lock_guard<std::mutex> lk(mu);
  if (r.kind == Kind::BucketList) {
    JObj j(json_object_new());
    set_str(j.get(), "kind", "storage#buckets");
    JsonArray* a = json_array_new();
    for (const auto& [name, b] : buckets) json_array_add_object_element(a, bucket_json(name, b, base).release());
    json_object_set_array_member(j.get(), "items", a);
    return json_response(200, j.get());
  }
  if (r.kind == Kind::BucketInsert) {
    std::string err;
    Bytes body = request_body(msg);
    JObj root = parse_json_object(view(body), &err);
    if (!root) return error_response(400, err);
    std::string name = get_scalar(root.get(), "name").value_or("");
    if (!valid_bucket_name(name)) return error_response(400, "Invalid bucket name: '" + name + "'");
    if (buckets.count(name))
      return error_response(409, "Your previous request to create the named bucket succeeded and you already own it.");
    if (!opts.root_dir.empty() &&
        g_mkdir_with_parents((opts.root_dir + "/" + name).c_str(), 0755) != 0)
      return error_response(500, "cannot create bucket directory: " + std::string(g_strerror(errno)));
    Bucket& b = buckets[name];
    b.created = now_rfc3339();
    return json_response(200, bucket_json(name, b, base).get());
  }
  auto it = buckets.find(r.bucket);
  if (it == buckets.end()) return error_response(404, kNoBucket);
  if (r.kind == Kind::BucketGet) return json_response(200, bucket_json(it->first, it->second, base).get());
  if (!it->second.objects.empty()) return error_response(409, "The bucket you tried to delete is not empty.");
  if (!opts.root_dir.empty()) {
    g_rmdir((opts.root_dir + "/" + r.bucket).c_str());
    g_rmdir((opts.root_dir + "/.gcsemu/" + r.bucket).c_str());
  }
  buckets.erase(it);
  Response resp;
  resp.status = 204;
  return resp;
}

// ---------------------------------------------------------------- objects
Response Emulator::Impl::object_api(const Route& r, const Query& q, const std::string& base) {
  std::lock_guard<std::mutex> lk(mu);
  auto b = buckets.find(r.bucket);
  if (b == buckets.end()) return error_response(404, kNoBucket);
  auto& objects = b->second.objects;
  if (r.kind == Kind::ObjectList) {
    auto qv = [&q](const char* k) { auto it = q.find(k); return it == q.end() ? std::string() : it->second; };
    const std::string prefix = qv("prefix"), delim = qv("delimiter"), token = b64_decode(qv("pageToken"));
    int64_t max = G_MAXINT64;
    if (!qv("maxResults").empty() && (!parse_int64(qv("maxResults"), &max) || max <= 0))
      return error_response(400, "Invalid maxResults");
    JObj j(json_object_new());
    set_str(j.get(), "kind", "storage#objects");
    JsonArray* items = json_array_new();
    std::set<std::string> prefixes;
    int64_t count = 0;
    for (auto it = objects.lower_bound(std::max(prefix, token)); it != objects.end(); ++it) {
      const std::string& name = it->first;
      if (!starts_with(name, prefix)) break;
      if (!token.empty() && name <= token) continue;
      if (count == max) {
        auto prev = std::prev(it);
        set_str(j.get(), "nextPageToken", b64(prev->first.data(), prev->first.size()));
        break;
      }
      size_t d = delim.empty() ? std::string::npos : name.find(delim, prefix.size());
      if (d != std::string::npos) {
        prefixes.insert(name.substr(0, d + delim.size()));
        continue;
      }
      json_array_add_object_element(items, object_json(it->second, base).release());
      ++count;
    }
    json_object_set_array_member(j.get(), "items", items);
    if (!prefixes.empty()) {
      JsonArray* pa = json_array_new();
      for (const auto& p : prefixes) json_array_add_string_element(pa, p.c_str());
      json_object_set_array_member(j.get(), "prefixes", pa);
    }
    return json_response(200, j.get());
  }
  auto o = objects.find(r.object);
  auto gen = q.find("generation");
  if (o == objects.end() ||
      (gen != q.end() && gen->second != std::to_string(o->second.info.generation)))
    return error_response(404, "No such object: " + r.bucket + "/" + r.object);
  if (r.kind == Kind::ObjectGet) return json_response(200, object_json(o->second, base).get());
  if (r.kind == Kind::ObjectDelete) {
    remove_object_files(o->second);
    objects.erase(o);
    Response resp;
    resp.status = 204;
    return resp;
  }
  Response resp;  // ObjectMedia
  const ObjectInfo& i = o->second.info;
  if (!read_data(o->second, &resp.body)) return error_response(500, "cannot read object data");
  resp.content_type = i.content_type;
  resp.headers = {{"x-goog-generation", std::to_string(i.generation)},
                  {"x-goog-metageneration", "1"},
                  {"x-goog-stored-content-length", std::to_string(i.size)},
                  {"x-goog-hash", "crc32c=" + i.crc32c + ",md5=" + i.md5},
                  {"ETag", "\"CA" + std::to_string(i.generation) + "\""}};
  for (const auto& [k, v] : i.metadata)  // only what is a valid HTTP header
    if (!k.empty() && !has_control_chars(v) &&
        std::all_of(k.begin(), k.end(), [](char c) { return g_ascii_isalnum(c) || c == '-' || c == '_'; }))
      resp.headers.emplace_back("x-goog-meta-" + k, v);
  return resp;
}

int64_t Emulator::Impl::next_generation() {  // caller holds mu
  last_generation = std::max(last_generation + 1, static_cast<int64_t>(g_get_real_time()));
  return last_generation;
}

Response Emulator::Impl::insert_object(const NewObject& n, const Bytes& data, const std::string& base) {
  if (n.name.empty()) return error_response(400, "Required: object name", "required");
  if (n.name.size() > 1024 || !g_utf8_validate(n.name.c_str(), static_cast<gssize>(n.name.size()), nullptr))
    return error_response(400, "Invalid object name: must be 1-1024 bytes of UTF-8");
  if (has_control_chars(n.content_type)) return error_response(400, "Invalid contentType");
  std::string_view d = view(data);
  const std::string crc = crc32c_raw(d), md5 = md5_raw(d);
  StoredObject o;
  o.info.crc32c = b64(crc.data(), crc.size());
  o.info.md5 = b64(md5.data(), md5.size());
  if (!n.want_crc32c.empty()) {
    std::string want = b64_decode(n.want_crc32c);
    if (want.size() != 4) return error_response(400, "Invalid crc32c value \"" + n.want_crc32c + "\": expected base64 of 4 bytes");
    if (want != crc)
      return error_response(400, "Provided CRC32C \"" + n.want_crc32c + "\" doesn't match calculated CRC32C \"" + o.info.crc32c + "\".");
  }
  if (!n.want_md5.empty()) {
    std::string want = b64_decode(n.want_md5);
    if (want.size() != 16) return error_response(400, "Invalid md5Hash value \"" + n.want_md5 + "\": expected base64 of 16 bytes");
    if (want != md5)
      return error_response(400, "Provided MD5 hash \"" + n.want_md5 + "\" doesn't match calculated MD5 hash \"" + o.info.md5 + "\".");
  }
  std::lock_guard<std::mutex> lk(mu);
  auto b = buckets.find(n.bucket);
  if (b == buckets.end()) return error_response(404, kNoBucket);
  auto old = b->second.objects.find(n.name);
  const int64_t cur = old == b->second.objects.end() ? 0 : old->second.info.generation;
  if ((n.if_generation_match && *n.if_generation_match != cur) ||
      (n.if_generation_not_match && *n.if_generation_not_match == cur))
    return error_response(412, "At least one of the pre-conditions you specified did not hold.");
  o.info.bucket = n.bucket;
  o.info.name = n.name;
  o.info.content_type = n.content_type.empty() ? "application/octet-stream" : n.content_type;
  o.info.size = d.size();
  o.info.metadata = n.metadata;
  o.info.generation = next_generation();
  o.created = now_rfc3339();
  o.extra = n.extra;
  if (opts.root_dir.empty()) {
    o.data = data;
  } else {
    std::string err;
    if (!write_object_files(n.bucket, o, d, old == b->second.objects.end() ? nullptr : &old->second, &err))
      return error_response(500, "cannot store object: " + err);
  }
  StoredObject& stored = b->second.objects[n.name] = std::move(o);
  return json_response(200, object_json(stored, base).get());
}

// ---------------------------------------------------------------- uploads
Response Emulator::Impl::upload(SoupServerMessage* msg, const Route& r, const Query& q,
                                const std::string& base) {
  if (r.kind == Kind::UploadCancel) {
    if (!uploads.erase(q.at("upload_id"))) return error_response(404, "No such upload session");
    Response resp;
    resp.status = 499;
    resp.reason = "Client Closed Request";
    return resp;
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    if (!buckets.count(r.bucket)) return error_response(404, kNoBucket);
  }
  auto qv = [&q](const char* k) { auto it = q.find(k); return it == q.end() ? std::string() : it->second; };
  const std::string type = qv("uploadType");
  NewObject n;
  n.bucket = r.bucket;
  std::string err;
  for (const char* k : {"ifGenerationMatch", "ifGenerationNotMatch"}) {
    if (!q.count(k)) continue;
    int64_t v = 0;
    if (!parse_int64(qv(k), &v)) return error_response(400, std::string("Invalid ") + k + " value");
    (strcmp(k, "ifGenerationMatch") == 0 ? n.if_generation_match : n.if_generation_not_match) = v;
  }
  Bytes body = request_body(msg), data;
  SoupMessageHeaders* hdrs = soup_server_message_get_request_headers(msg);
  if (type == "media") {
    data = body;
    const char* ct = soup_message_headers_get_one(hdrs, "Content-Type");
    n.content_type = ct ? ct : "";
  } else if (type == "multipart") {
    std::vector<Part> parts;
    if (!parse_multipart(hdrs, view(body), &parts, &err)) return error_response(400, err);
    if (parts.size() != 2)
      return error_response(400, "multipart upload needs exactly 2 parts (metadata, media), got " + std::to_string(parts.size()));
    JObj meta = parse_json_object(parts[0].body, &err);
    if (!meta || !read_metadata_json(meta.get(), &n, &err)) return error_response(400, "metadata part: " + err);
    if (n.content_type.empty()) n.content_type = parts[1].content_type;
    const char* base_ptr = view(body).data();
    data = take_bytes(g_bytes_new_from_bytes(body.get(), parts[1].body.data() - base_ptr, parts[1].body.size()));
  } else if (type == "resumable") {
    if (!view(body).empty()) {
      JObj meta = parse_json_object(view(body), &err);
      if (!meta || !read_metadata_json(meta.get(), &n, &err)) return error_response(400, err);
    }
    if (n.content_type.empty()) {
      const char* ct = soup_message_headers_get_one(hdrs, "X-Upload-Content-Type");
      n.content_type = ct ? ct : "";
    }
  } else {
    return error_response(400, "Unsupported uploadType '" + type + "' (media, multipart or resumable)");
  }
  if (n.name.empty()) n.name = qv("name");
  if (n.name.empty()) return error_response(400, "Required: object name", "required");
  if (type == "resumable") {
    const std::string id = random_id();
    uploads[id].obj = std::move(n);
    Response resp;
    resp.headers = {{"Location", base + "/upload/storage/v1/b/" + escape(r.bucket) +
                                     "/o?uploadType=resumable&upload_id=" + id},
                    {"X-GUploader-UploadID", id}};
    return resp;
  }
  read_goog_hash(msg, &n);
  return insert_object(n, data, base);
}

// Resumable PUT: whole body without Content-Range, or chunks with
// "bytes a-b/total", "bytes a-b/*", "bytes */total", "bytes */*".
Response Emulator::Impl::upload_put(SoupServerMessage* msg, const std::string& id, const std::string& base) {
  auto it = uploads.find(id);
  if (it == uploads.end()) return error_response(404, "No such upload session: " + id);
  ResumableUpload& u = it->second;
  if (u.done) return u.result;
  Bytes body = request_body(msg);
  std::string_view chunk = view(body);
  const char* cr = req_header(msg, "Content-Range");
  if (!cr) {
    u.data.assign(chunk);
    u.total = u.data.size();
  } else {
    std::string_view s = cr;
    const Response bad = error_response(400, std::string("Invalid Content-Range: ") + cr);
    if (!eat(s, "bytes ") && !eat(s, "bytes=")) return bad;
    size_t slash = s.find('/');
    if (slash == std::string_view::npos) return bad;
    std::string range(s.substr(0, slash)), total(s.substr(slash + 1));
    if (total != "*") {
      int64_t t = 0;
      if (!parse_int64(total, &t) || (u.total && *u.total != uint64_t(t))) return bad;
      u.total = uint64_t(t);
    }
    if (range == "*") {
      if (!chunk.empty()) return bad;
    } else {
      size_t dash = range.find('-');
      int64_t a = 0, b = 0;
      if (dash == std::string::npos || !parse_int64(range.substr(0, dash), &a) ||
          !parse_int64(range.substr(dash + 1), &b) || b < a || uint64_t(b - a + 1) != chunk.size())
        return bad;
      if (uint64_t(a) > u.data.size())
        return error_response(400, "Non-contiguous chunk: expected offset " + std::to_string(u.data.size()));
      if (uint64_t(b) + 1 > u.data.size()) u.data.append(chunk.substr(u.data.size() - uint64_t(a)));
    }
    if (u.total && u.data.size() > *u.total) return error_response(400, "Upload exceeds the declared total size");
  }
  if (u.total && u.data.size() == *u.total) {
    NewObject n = u.obj;
    read_goog_hash(msg, &n);  // checksums may come with the final request
    u.result = insert_object(n, copy_bytes(u.data), base);
    u.done = true;
    std::string().swap(u.data);
    return u.result;
  }
  Response resp;
  resp.status = 308;
  resp.reason = "Resume Incomplete";
  if (!u.data.empty()) resp.headers.emplace_back("Range", "bytes=0-" + std::to_string(u.data.size() - 1));
  return resp;
}

// ---------------------------------------------------------------- root_dir storage
// Layout: bytes at ROOT/<bucket>/<name> when the name is a safe relative path
// (else, or on a file/directory clash, at ROOT/.gcsemu/<bucket>/<md5(name)>.data);
// metadata sidecar at ROOT/.gcsemu/<bucket>/<md5(name)>.json.
namespace {
bool safe_relative_path(const std::string& name) {
  g_auto(GStrv) segs = g_strsplit(name.c_str(), "/", -1);
  for (char** s = segs; *s; ++s)
    if (!**s || !strcmp(*s, ".") || !strcmp(*s, "..") || strlen(*s) > 200) return false;
  return true;
}
bool write_file(const std::string& path, std::string_view data, std::string* err) {
  g_autofree char* dir = g_path_get_dirname(path.c_str());
  g_autoptr(GError) e = nullptr;
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    *err = std::string(dir) + ": " + g_strerror(errno);
    return false;
  }
  if (!g_file_set_contents(path.c_str(), data.data(), static_cast<gssize>(data.size()), &e)) {
    *err = e->message;
    return false;
  }
  return true;
}
}  // namespace

std::string Emulator::Impl::sidecar_path(const std::string& bucket, const std::string& name) const {
  g_autofree char* hex = g_compute_checksum_for_string(G_CHECKSUM_MD5, name.c_str(), static_cast<gssize>(name.size()));
  return opts.root_dir + "/.gcsemu/" + bucket + "/" + hex + ".json";
}

bool Emulator::Impl::write_object_files(const std::string& bucket, StoredObject& o, std::string_view data,
                                        const StoredObject* old, std::string* err) {
  const std::string side = sidecar_path(bucket, o.info.name);
  std::string path, ignored;
  if (safe_relative_path(o.info.name)) {
    path = opts.root_dir + "/" + bucket + "/" + o.info.name;
    if (!write_file(path, data, &ignored)) path.clear();
  }
  if (path.empty()) {
    path = side.substr(0, side.size() - 5) + ".data";
    if (!write_file(path, data, err)) return false;
  }
  o.file = path;
  JObj j = object_json(o, "");
  set_str(j.get(), "dataFile", path.substr(opts.root_dir.size() + 1));
  if (!write_file(side, to_json(j.get()), err)) return false;
  if (old && old->file != path) g_unlink(old->file.c_str());
  return true;
}

void Emulator::Impl::remove_object_files(const StoredObject& o) {
  if (opts.root_dir.empty()) return;
  g_unlink(o.file.c_str());
  g_unlink(sidecar_path(o.info.bucket, o.info.name).c_str());
}

bool Emulator::Impl::read_data(const StoredObject& o, Bytes* out) const {
  if (opts.root_dir.empty()) {
    *out = o.data;
    return true;
  }
  gchar* contents = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(o.file.c_str(), &contents, &len, nullptr)) return false;
  *out = take_bytes(g_bytes_new_take(contents, len));
  return true;
}

bool Emulator::Impl::load_root(std::string* err) {
  if (g_mkdir_with_parents(opts.root_dir.c_str(), 0755) != 0) {
    *err = opts.root_dir + ": " + g_strerror(errno);
    return false;
  }
  GDir* dir = g_dir_open(opts.root_dir.c_str(), 0, nullptr);
  for (const char* e; dir && (e = g_dir_read_name(dir));) {
    const std::string full = opts.root_dir + "/" + e;
    if (valid_bucket_name(e) && g_file_test(full.c_str(), G_FILE_TEST_IS_DIR)) buckets[e].created = now_rfc3339();
  }
  if (dir) g_dir_close(dir);
  for (auto& [bname, bucket] : buckets) {
    const std::string mdir = opts.root_dir + "/.gcsemu/" + bname;
    GDir* md = g_dir_open(mdir.c_str(), 0, nullptr);
    for (const char* e; md && (e = g_dir_read_name(md));) {
      if (!g_str_has_suffix(e, ".json")) continue;
      gchar* text = nullptr;
      gsize len = 0;
      if (!g_file_get_contents((mdir + "/" + e).c_str(), &text, &len, nullptr)) continue;
      std::string perr, txt(text, len);
      g_free(text);
      JObj j = parse_json_object(txt, &perr);
      NewObject n;
      if (!j || !read_metadata_json(j.get(), &n, &perr) || n.name.empty()) continue;
      StoredObject o;
      o.info.bucket = bname;
      o.info.name = n.name;
      o.info.content_type = n.content_type;
      o.info.crc32c = n.want_crc32c;
      o.info.md5 = n.want_md5;
      o.info.metadata = n.metadata;
      o.extra = n.extra;
      int64_t v = 0;
      if (parse_int64(get_scalar(j.get(), "generation").value_or(""), &v)) o.info.generation = v;
      if (parse_int64(get_scalar(j.get(), "size").value_or(""), &v)) o.info.size = uint64_t(v);
      o.created = get_scalar(j.get(), "timeCreated").value_or(now_rfc3339());
      o.file = opts.root_dir + "/" + get_scalar(j.get(), "dataFile").value_or("");
      if (!g_file_test(o.file.c_str(), G_FILE_TEST_IS_REGULAR)) continue;
      last_generation = std::max(last_generation, o.info.generation);
      bucket.objects[n.name] = std::move(o);
    }
    if (md) g_dir_close(md);
  }
  return true;
}

// ---------------------------------------------------------------- server thread
std::string Emulator::Impl::setup() {
  std::string err;
  {
    std::lock_guard<std::mutex> lk(mu);
    if (!opts.root_dir.empty() && buckets.empty() && !load_root(&err)) return err;
    for (const auto& b : opts.buckets) {
      if (!valid_bucket_name(b)) return "invalid bucket name: " + b;
      if (!opts.root_dir.empty() && g_mkdir_with_parents((opts.root_dir + "/" + b).c_str(), 0755) != 0)
        return opts.root_dir + "/" + b + ": " + g_strerror(errno);
      if (!buckets.count(b)) buckets[b].created = now_rfc3339();
    }
  }
  EVP_PKEY_free(oauth_key);  // (re)loaded on each start
  oauth_key = nullptr;
  if (!opts.oauth_public_key_pem.empty() && !(oauth_key = load_rsa_key(opts.oauth_public_key_pem, &err)))
    return err;
  GObj<GTlsCertificate> cert;
  if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
    g_autoptr(GError) te = nullptr;
    if (opts.tls_cert_file.empty() || opts.tls_key_file.empty()) return "TLS needs both a certificate and a key file";
    cert.reset(g_tls_certificate_new_from_files(opts.tls_cert_file.c_str(), opts.tls_key_file.c_str(), &te));
    if (!cert) return "cannot load the TLS certificate/key: " + std::string(te->message);
  }
  server = SOUP_SERVER(soup_server_new("server-header", "gcs-emulator", "raw-paths", TRUE,
                                       "tls-certificate", cert.get(), nullptr));
  soup_server_add_handler(server, nullptr, on_server_request, this, nullptr);
  g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), this);

  GObj<GInetAddress> ia(g_inet_address_new_from_string(opts.host.c_str()));
  if (!ia) {  // a host name: resolve, preferring IPv4
    GObj<GResolver> res(g_resolver_get_default());
    g_autoptr(GError) e = nullptr;
    GList* list = g_resolver_lookup_by_name(res.get(), opts.host.c_str(), nullptr, &e);
    if (!list) return "cannot resolve " + opts.host + ": " + (e ? e->message : "no address");
    GInetAddress* pick = static_cast<GInetAddress*>(list->data);
    for (GList* l = list; l; l = l->next)
      if (g_inet_address_get_family(G_INET_ADDRESS(l->data)) == G_SOCKET_FAMILY_IPV4) {
        pick = G_INET_ADDRESS(l->data);
        break;
      }
    ia.reset(G_INET_ADDRESS(g_object_ref(pick)));
    g_resolver_free_addresses(list);
  }
  // Own listening socket: libsoup's default backlog (10) drops SYNs when many
  // clients connect at once.
  GObj<GSocketAddress> addr(g_inet_socket_address_new(ia.get(), static_cast<guint16>(opts.port)));
  g_autoptr(GError) e = nullptr;
  GObj<GSocket> ls(g_socket_new(g_inet_address_get_family(ia.get()), G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_DEFAULT, &e));
  if (ls) g_socket_set_listen_backlog(ls.get(), 1024);
  if (!ls || !g_socket_bind(ls.get(), addr.get(), TRUE, &e) || !g_socket_listen(ls.get(), &e) ||
      !soup_server_listen_socket(server, ls.get(), tls() ? SOUP_SERVER_LISTEN_HTTPS : SoupServerListenOptions(0), &e))
    return "cannot listen on " + opts.host + ":" + std::to_string(opts.port) + ": " + e->message;
  GObj<GSocketAddress> local(g_socket_get_local_address(ls.get(), nullptr));
  if (local) port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local.get()));
  return port ? "" : "cannot determine the listening port";
}

void Emulator::Impl::teardown() {
  conns.clear();
  pending.clear();  // cancels latency/stall timers, drops paused messages
  if (server) {
    soup_server_disconnect(server);  // closes listeners and client connections
    g_object_unref(server);
    server = nullptr;
  }
  for (int i = 0; i < 100 && g_main_context_iteration(ctx, FALSE); ++i) {
  }
  conns.clear();
  open = 0;
  uploads.clear();
}

void Emulator::Impl::thread_main(std::promise<std::string>* ready) {
  ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  std::string err = setup();
  ready->set_value(err);  // `ready` must not be touched after this
  if (err.empty())
    while (!quit.load()) g_main_context_iteration(ctx, TRUE);
  teardown();
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  ctx = nullptr;
}

// ---------------------------------------------------------------- public API
Emulator::Emulator(Options opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
Emulator::~Emulator() { stop(); }

bool Emulator::start(std::string* error) {
  if (impl_->thread.joinable()) return true;
  if (impl_->port) impl_->opts.port = impl_->port;  // started again after stop(): the same port
  std::promise<std::string> ready;
  auto fut = ready.get_future();
  impl_->thread = std::thread([this, &ready] { impl_->thread_main(&ready); });
  std::string err = fut.get();
  if (err.empty()) return true;
  impl_->thread.join();
  if (error) *error = err;
  return false;
}

void Emulator::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->quit = true;
  g_main_context_wakeup(impl_->ctx);
  impl_->thread.join();
  impl_->quit = false;
}

unsigned Emulator::port() const { return impl_->port; }
std::string Emulator::endpoint() const { return impl_->endpoint(); }
std::string Emulator::token_url() const { return impl_->endpoint() + "/token"; }
void Emulator::set_token_delay(unsigned delay_ms) { impl_->token_delay_ms = delay_ms; }
void Emulator::fail_token_requests(unsigned count) { impl_->token_failures = count; }
uint64_t Emulator::token_requests_failed() const { return impl_->token_unavailable; }
void Emulator::set_answer_delay(unsigned delay_ms) { impl_->answer_delay_ms = delay_ms; }
uint64_t Emulator::answers_held() const { return impl_->answers_held; }

void Emulator::set_latency(unsigned latency_ms, unsigned jitter_ms) {
  impl_->latency_ms = latency_ms;
  impl_->jitter_ms = jitter_ms;
}

bool Emulator::get_object(const std::string& bucket, const std::string& name, std::string* data,
                          ObjectInfo* info) const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto b = impl_->buckets.find(bucket);
  if (b == impl_->buckets.end()) return false;
  auto o = b->second.objects.find(name);
  if (o == b->second.objects.end()) return false;
  if (data) {
    Bytes bytes;
    if (!impl_->read_data(o->second, &bytes)) return false;
    data->assign(view(bytes));
  }
  if (info) *info = o->second.info;
  return true;
}

std::vector<ObjectInfo> Emulator::list_objects(const std::string& bucket, const std::string& prefix) const {
  std::vector<ObjectInfo> out;
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto b = impl_->buckets.find(bucket);
  if (b == impl_->buckets.end()) return out;
  for (auto it = b->second.objects.lower_bound(prefix);
       it != b->second.objects.end() && starts_with(it->first, prefix); ++it)
    out.push_back(it->second.info);
  return out;
}

size_t Emulator::object_count(const std::string& bucket) const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto b = impl_->buckets.find(bucket);
  return b == impl_->buckets.end() ? 0 : b->second.objects.size();
}
uint64_t Emulator::requests_served() const { return impl_->requests; }
uint64_t Emulator::max_connections_seen() const { return impl_->peak; }
uint64_t Emulator::connections_accepted() const { return impl_->accepted; }
uint64_t Emulator::open_connections() const { return impl_->open; }
void Emulator::revoke_all_tokens() {
  std::lock_guard<std::mutex> lk(impl_->auth_mu);
  impl_->tokens.clear();
}
uint64_t Emulator::tokens_issued() const { return impl_->issued; }
uint64_t Emulator::auth_failures() const { return impl_->auth_fails; }

int parse_request(const std::string& method, const std::string& target, const std::string& content_type,
                  std::string_view body) {
  // The target as the server sees it: a raw path, and a query decoded into pairs.
  const size_t qmark = target.find('?');
  const std::string path = target.substr(0, qmark);
  Query q;
  if (qmark != std::string::npos) {
    std::unique_ptr<GHashTable, void (*)(GHashTable*)> form(soup_form_decode(target.c_str() + qmark + 1),
                                                            g_hash_table_unref);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, form.get());
    while (g_hash_table_iter_next(&it, &k, &v))
      q[static_cast<const char*>(k)] = v ? static_cast<const char*>(v) : "";
  }
  Route r = route_request(method, path, q);
  int parts_found = -1;
  // An upload's multipart body and its metadata part.
  std::unique_ptr<SoupMessageHeaders, void (*)(SoupMessageHeaders*)> hdrs(
      soup_message_headers_new(SOUP_MESSAGE_HEADERS_REQUEST), soup_message_headers_unref);
  soup_message_headers_replace(hdrs.get(), "Content-Type", content_type.c_str());
  std::vector<Part> parts;
  std::string err;
  if (parse_multipart(hdrs.get(), body, &parts, &err)) {
    parts_found = static_cast<int>(parts.size());
    for (const Part& p : parts) {
      NewObject n;
      if (JObj meta = parse_json_object(p.body, &err)) read_metadata_json(meta.get(), &n, &err);
    }
  }
  // A resumable upload's or a bucket's JSON, a retry test's instructions.
  if (JObj j = parse_json_object(body, &err)) {
    NewObject n;
    read_metadata_json(j.get(), &n, &err);
    get_number(j.get(), "iat");
  }
  parse_instruction(std::string(body), nullptr);
  // A JWT-bearer assertion's segments.
  std::string seg;
  for (size_t at = 0; at <= body.size();) {
    size_t dot = body.find('.', at);
    std::string_view piece = body.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at);
    if (b64url_decode(piece, &seg)) parse_json_object(seg, &err);
    if (dot == std::string_view::npos) break;
    at = dot + 1;
  }
  return r.error ? -static_cast<int>(r.error) : parts_found;
}

}  // namespace gcsemu
