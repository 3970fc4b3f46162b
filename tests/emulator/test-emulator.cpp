// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Self-test of the bundled GCS emulator: starts it in-process and talks to it
// over HTTP(S) with libcurl.
#include <curl/curl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <isa-l/crc.h>
#include <json-glib/json-glib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gcs-emulator.h"
#include "testkit.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GCSEMU_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(GCSEMU_TSAN)
// The HTTPS test's TLS handshakes run on GLib worker threads inside
// uninstrumented glib-networking/GnuTLS, handed over with GLib primitives
// ThreadSanitizer cannot see: check only accesses made by instrumented code.
extern "C" const char* __tsan_default_options() { return "ignore_noninstrumented_modules=1"; }
#endif

namespace {

int passed = 0, failed = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (cond) {                                                       \
      ++passed;                                                       \
    } else {                                                          \
      ++failed;                                                       \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                 \
  } while (0)

struct Http {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

size_t on_body(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}
size_t on_header(char* p, size_t s, size_t n, void* ud) {
  std::string line(p, s * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = line.substr(0, colon), v = line.substr(colon + 1);
    for (auto& c : k) c = g_ascii_tolower(c);
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of("\r\n ") + 1);
    (*static_cast<std::map<std::string, std::string>*>(ud))[k] = v;
  }
  return s * n;
}

// Prepares `h` for a request; `out` and `slist` must outlive the transfer.
curl_slist* prepare(CURL* h, Http* out, const std::string& method, const std::string& url,
                    const std::string& body, const std::vector<std::string>& headers) {
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(h, CURLOPT_NOBODY, method == "HEAD" ? 1L : 0L);
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_slist* sl = curl_slist_append(nullptr, "Expect:");
  for (const auto& hd : headers) sl = curl_slist_append(sl, hd.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);
  return sl;
}

Http request(const std::string& method, const std::string& url, const std::string& body = "",
             const std::vector<std::string>& headers = {}, CURL* reuse = nullptr) {
  Http out;
  CURL* h = reuse ? reuse : curl_easy_init();
  curl_slist* sl = prepare(h, &out, method, url, body, headers);
  out.rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(sl);
  if (!reuse) curl_easy_cleanup(h);
  return out;
}

std::string esc(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  std::string r(e);
  curl_free(e);
  return r;
}
std::string b64(const std::string& raw) {
  gchar* s = g_base64_encode(reinterpret_cast<const guchar*>(raw.data()), raw.size());
  std::string r(s);
  g_free(s);
  return r;
}
std::string crc32c_b64(const std::string& d) {
  uint32_t c = crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(d.data())),
                           static_cast<int>(d.size()), 0xFFFFFFFFu) ^ 0xFFFFFFFFu;
  const char be[4] = {char(c >> 24), char(c >> 16), char(c >> 8), char(c)};
  return b64(std::string(be, 4));
}
std::string md5_b64(const std::string& d) {
  GChecksum* ck = g_checksum_new(G_CHECKSUM_MD5);
  g_checksum_update(ck, reinterpret_cast<const guchar*>(d.data()), d.size());
  guint8 dig[16];
  gsize len = sizeof dig;
  g_checksum_get_digest(ck, dig, &len);
  g_checksum_free(ck);
  return b64(std::string(reinterpret_cast<char*>(dig), len));
}
// Member `key` of the JSON object in `text` (strings only), "" if absent.
std::string json_get(const std::string& text, const char* key) {
  JsonParser* p = json_parser_new();
  std::string r;
  if (json_parser_load_from_data(p, text.data(), static_cast<gssize>(text.size()), nullptr)) {
    JsonNode* root = json_parser_get_root(p);
    if (root && JSON_NODE_HOLDS_OBJECT(root)) {
      JsonObject* o = json_node_get_object(root);
      if (json_object_has_member(o, key) && JSON_NODE_HOLDS_VALUE(json_object_get_member(o, key)))
        r = json_object_get_string_member(o, key);
    }
  }
  g_object_unref(p);
  return r;
}
std::vector<std::string> item_names(const std::string& text) {
  std::vector<std::string> names;
  JsonParser* p = json_parser_new();
  if (json_parser_load_from_data(p, text.data(), static_cast<gssize>(text.size()), nullptr)) {
    JsonObject* o = json_node_get_object(json_parser_get_root(p));
    JsonArray* a = json_object_get_array_member(o, "items");
    for (guint i = 0; a && i < json_array_get_length(a); ++i)
      names.push_back(json_object_get_string_member(json_array_get_object_element(a, i), "name"));
  }
  g_object_unref(p);
  return names;
}

const char* kBoundary = "gcsemu_b0undary";
std::string multipart_body(const std::string& meta, const std::string& data) {
  return std::string("--") + kBoundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" +
         meta + "\r\n--" + kBoundary + "\r\nContent-Type: image/jpeg\r\n\r\n" + data + "\r\n--" +
         kBoundary + "--\r\n";
}
const std::string kMultipartCt = std::string("Content-Type: multipart/related; boundary=") + kBoundary;

std::string binary_blob() {
  std::string d;
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 256; ++i) d.push_back(char(i));
  d += "\r\n--gcsemu_b0und\r\n--\r\n\r\n";  // near-boundary noise
  d.push_back('\0');
  return d;
}

void test_buckets(gcsemu::Emulator& emu) {
  const std::string ep = emu.endpoint();
  Http r = request("POST", ep + "/storage/v1/b?project=p", "{\"name\": \"new-bucket\"}");
  CHECK(r.status == 200 && json_get(r.body, "kind") == "storage#bucket");
  CHECK(request("POST", ep + "/storage/v1/b?project=p", "{\"name\": \"new-bucket\"}").status == 409);
  CHECK(request("POST", ep + "/storage/v1/b?project=p", "{not json").status == 400);
  CHECK(request("POST", ep + "/storage/v1/b?project=p", "{\"name\": \"Bad Name\"}").status == 400);
  r = request("GET", ep + "/storage/v1/b/new-bucket");
  CHECK(r.status == 200 && json_get(r.body, "name") == "new-bucket" && json_get(r.body, "id") == "new-bucket");
  r = request("GET", ep + "/storage/v1/b/missing-bucket");
  CHECK(r.status == 404 && r.body.find("The specified bucket does not exist.") != std::string::npos);
  CHECK(r.body.find("\"notFound\"") != std::string::npos);
}

void test_multipart(gcsemu::Emulator& emu) {
  const std::string url = emu.endpoint() + "/upload/storage/v1/b/test-bucket/o?uploadType=multipart";
  const std::string data = binary_blob();
  std::string meta = "{\"name\":\"cam/0001.jpg\",\"contentType\":\"image/jpeg\",\"crc32c\":\"" +
                     crc32c_b64(data) + "\",\"md5Hash\":\"" + md5_b64(data) +
                     "\",\"metadata\":{\"k\":\"v\",\"n\":7}}";
  Http r = request("POST", url, multipart_body(meta, data), {kMultipartCt});
  CHECK(r.status == 200);
  CHECK(json_get(r.body, "kind") == "storage#object" && json_get(r.body, "name") == "cam/0001.jpg");
  CHECK(json_get(r.body, "size") == std::to_string(data.size()));
  CHECK(json_get(r.body, "crc32c") == crc32c_b64(data) && json_get(r.body, "md5Hash") == md5_b64(data));
  CHECK(g_ascii_strtoll(json_get(r.body, "generation").c_str(), nullptr, 10) > 0);
  CHECK(json_get(r.body, "id") == "test-bucket/cam/0001.jpg/" + json_get(r.body, "generation"));
  std::string got;
  gcsemu::ObjectInfo info;
  CHECK(emu.get_object("test-bucket", "cam/0001.jpg", &got, &info));
  CHECK(got == data && info.content_type == "image/jpeg" && info.size == data.size());
  CHECK(info.metadata["k"] == "v" && info.metadata["n"] == "7" && info.crc32c == crc32c_b64(data));

  const size_t before = emu.object_count("test-bucket");
  std::string bad = "{\"name\":\"bad-crc\",\"crc32c\":\"" + crc32c_b64("other") + "\"}";
  r = request("POST", url, multipart_body(bad, data), {kMultipartCt});
  CHECK(r.status == 400 && r.body.find("CRC32C") != std::string::npos);
  bad = "{\"name\":\"bad-md5\",\"md5Hash\":\"" + md5_b64("other") + "\"}";
  r = request("POST", url, multipart_body(bad, data), {kMultipartCt});
  CHECK(r.status == 400 && r.body.find("MD5") != std::string::npos);
  CHECK(emu.object_count("test-bucket") == before);

  const std::string pre = url + "&ifGenerationMatch=0";
  CHECK(request("POST", pre, multipart_body("{\"name\":\"once\"}", "1"), {kMultipartCt}).status == 200);
  r = request("POST", pre, multipart_body("{\"name\":\"once\"}", "2"), {kMultipartCt});
  CHECK(r.status == 412 && r.body.find("conditionNotMet") != std::string::npos);
  CHECK(emu.get_object("test-bucket", "once", &got, nullptr) && got == "1");

  // name from the query, content type from the media part
  r = request("POST", url + "&name=q-name", multipart_body("{}", "x"), {kMultipartCt});
  CHECK(r.status == 200 && json_get(r.body, "name") == "q-name" && json_get(r.body, "contentType") == "image/jpeg");

  r = request("POST", emu.endpoint() + "/upload/storage/v1/b/no-such-bucket/o?uploadType=multipart",
              multipart_body("{\"name\":\"x\"}", "x"), {kMultipartCt});
  CHECK(r.status == 404 && r.body.find("The specified bucket does not exist.") != std::string::npos);
  // malformed input
  std::string truncated = multipart_body("{\"name\":\"t\"}", data);
  truncated.resize(truncated.size() - 24);
  CHECK(request("POST", url, truncated, {kMultipartCt}).status == 400);
  CHECK(request("POST", url, multipart_body("{\"name\":\"t\"}", "x"), {"Content-Type: multipart/related"}).status == 400);
  CHECK(request("POST", url, multipart_body("{oops", "x"), {kMultipartCt}).status == 400);
  CHECK(request("POST", url, "garbage", {kMultipartCt}).status == 400);
  CHECK(request("POST", url, multipart_body("{\"name\":\"t\",\"contentType\":\"a\\r\\nX: y\"}", "x"), {kMultipartCt}).status == 400);
  r = request("POST", url, multipart_body("{\"name\":\"odd-meta\",\"metadata\":{\"a b:\":\"1\",\"ok\":\"x\\ny\",\"fine\":\"v\"}}", "x"), {kMultipartCt});
  CHECK(r.status == 200);
  r = request("GET", emu.endpoint() + "/test-bucket/odd-meta");
  CHECK(r.status == 200 && r.headers["x-goog-meta-fine"] == "v" && r.headers.count("x-goog-meta-ok") == 0);
  CHECK(request("POST", emu.endpoint() + "/upload/storage/v1/b/test-bucket/o?uploadType=bogus&name=x", "x").status == 400);
  CHECK(emu.object_count("test-bucket") == before + 3);
}

void test_names(gcsemu::Emulator& emu) {
  const std::string ep = emu.endpoint();
  const std::vector<std::string> names = {"dir/sub dir/a#b?c%d+e &=.jpg", "x%2Fy", "ünïcödé/文件.bin",
                                          "trailing/", "a/../b"};
  for (const auto& name : names) {
    const std::string data = "payload of " + name;
    Http r = request("POST", ep + "/upload/storage/v1/b/test-bucket/o?uploadType=media&name=" + esc(name),
                     data, {"Content-Type: text/plain"});
    CHECK(r.status == 200 && json_get(r.body, "name") == name);
    std::string got;
    CHECK(emu.get_object("test-bucket", name, &got, nullptr) && got == data);
    r = request("GET", ep + "/storage/v1/b/test-bucket/o/" + esc(name) + "?alt=media");
    CHECK(r.status == 200 && r.body == data && r.headers["content-type"] == "text/plain");
    r = request("GET", ep + "/storage/v1/b/test-bucket/o/" + esc(name));
    CHECK(r.status == 200 && json_get(r.body, "name") == name && json_get(r.body, "contentType") == "text/plain");
    r = request("GET", ep + "/download/storage/v1/b/test-bucket/o/" + esc(name) + "?alt=media");
    CHECK(r.status == 200 && r.body == data);
    std::string pub;  // public URL: keep '/' literal, escape each segment
    gchar** segs = g_strsplit(name.c_str(), "/", -1);
    for (gchar** s = segs; *s; ++s) pub += (s == segs ? "" : "/") + esc(*s);
    g_strfreev(segs);
    if (name.find("..") == std::string::npos) {
      r = request("GET", ep + "/test-bucket/" + pub);
      CHECK(r.status == 200 && r.body == data);
    }
  }
  CHECK(request("GET", ep + "/storage/v1/b/test-bucket/o/nope").status == 404);
  CHECK(request("GET", ep + "/test-bucket/nope").status == 404);
}

void test_list_delete(gcsemu::Emulator& emu) {
  const std::string ep = emu.endpoint();
  CHECK(request("POST", ep + "/storage/v1/b", "{\"name\":\"list-bucket\"}").status == 200);
  for (const char* n : {"b/1", "a/2", "a/1", "a/sub/3", "c"})
    CHECK(request("POST", ep + "/upload/storage/v1/b/list-bucket/o?uploadType=media&name=" + esc(n), n).status == 200);
  Http r = request("GET", ep + "/storage/v1/b/list-bucket/o?prefix=a/");
  CHECK(r.status == 200 && json_get(r.body, "kind") == "storage#objects");
  CHECK((item_names(r.body) == std::vector<std::string>{"a/1", "a/2", "a/sub/3"}));
  CHECK(item_names(request("GET", ep + "/storage/v1/b/list-bucket/o").body).size() == 5);
  r = request("GET", ep + "/storage/v1/b/list-bucket/o?prefix=a/&delimiter=/");
  CHECK((item_names(r.body) == std::vector<std::string>{"a/1", "a/2"}) && r.body.find("a/sub/") != std::string::npos);
  r = request("GET", ep + "/storage/v1/b/list-bucket/o?maxResults=2");
  std::string token = json_get(r.body, "nextPageToken");
  CHECK(item_names(r.body).size() == 2 && !token.empty());
  r = request("GET", ep + "/storage/v1/b/list-bucket/o?maxResults=10&pageToken=" + esc(token));
  CHECK((item_names(r.body) == std::vector<std::string>{"a/sub/3", "b/1", "c"}));
  CHECK(emu.list_objects("list-bucket", "a/").size() == 3);
  r = request("DELETE", ep + "/storage/v1/b/list-bucket/o/" + esc("a/1"));
  CHECK(r.status == 204);
  CHECK(request("GET", ep + "/storage/v1/b/list-bucket/o/" + esc("a/1")).status == 404);
  CHECK(request("DELETE", ep + "/storage/v1/b/list-bucket/o/" + esc("a/1")).status == 404);
  CHECK(emu.object_count("list-bucket") == 4);
  CHECK(request("GET", ep + "/storage/v1/b/list-bucket/o?maxResults=zero").status == 400);
}

void test_resumable(gcsemu::Emulator& emu) {
  const std::string ep = emu.endpoint();
  std::string data(300000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char((i * 7919) >> 3);
  Http r = request("POST", ep + "/upload/storage/v1/b/test-bucket/o?uploadType=resumable&name=big.bin",
                   "{\"contentType\":\"application/x-test\",\"crc32c\":\"" + crc32c_b64(data) + "\"}",
                   {"Content-Type: application/json"});
  const std::string loc = r.headers["location"];
  CHECK(r.status == 200 && loc.find("upload_id=") != std::string::npos);
  r = request("PUT", loc, "", {"Content-Range: bytes */*"});
  CHECK(r.status == 308 && r.headers.count("range") == 0);
  r = request("PUT", loc, data.substr(0, 262144), {"Content-Range: bytes 0-262143/*"});
  CHECK(r.status == 308 && r.headers["range"] == "bytes=0-262143");
  CHECK(request("PUT", loc, "abc", {"Content-Range: bytes x-y/z"}).status == 400);
  CHECK(request("PUT", loc, "abc", {"Content-Range: bytes 0-9/*"}).status == 400);
  r = request("PUT", loc, data.substr(262144), {"Content-Range: bytes 262144-299999/300000"});
  CHECK(r.status == 200 && json_get(r.body, "name") == "big.bin" && json_get(r.body, "size") == "300000");
  std::string got;
  gcsemu::ObjectInfo info;
  CHECK(emu.get_object("test-bucket", "big.bin", &got, &info) && got == data && info.content_type == "application/x-test");
  // single PUT with the whole body, name in metadata
  r = request("POST", ep + "/upload/storage/v1/b/test-bucket/o?uploadType=resumable", "{\"name\":\"one-shot\"}");
  r = request("PUT", r.headers["location"], "whole", {"Content-Type: text/plain"});
  CHECK(r.status == 200 && emu.get_object("test-bucket", "one-shot", &got, nullptr) && got == "whole");
  CHECK(request("PUT", ep + "/upload/storage/v1/b/test-bucket/o?uploadType=resumable&upload_id=nope", "x").status == 404);
}

void test_faults(gcsemu::Emulator& emu) {
  const std::string ep = emu.endpoint();
  // The transport is HTTP or GRPC (any case), as in the testbench; anything else is refused.
  Http bad = request("POST", ep + "/retry_test",
                     "{\"instructions\":{\"storage.objects.insert\":[\"return-503\"]},\"transport\":\"JSON\"}");
  CHECK(bad.status == 400 && bad.body.find("transport <JSON> is not supported") != std::string::npos);
  Http grpc = request("POST", ep + "/retry_test",
                      "{\"instructions\":{\"storage.objects.insert\":[\"return-503\"]},\"transport\":\"grpc\"}");
  CHECK(grpc.status == 200 && json_get(grpc.body, "transport") == "GRPC");
  {  // GRPC instructions do not apply to HTTP requests
    const std::string body = multipart_body("{\"name\":\"grpc-only.bin\"}", "x");
    Http g = request("POST", ep + "/upload/storage/v1/b/test-bucket/o?uploadType=multipart", body,
                     {kMultipartCt, "x-retry-test-id: " + json_get(grpc.body, "id")});
    CHECK(g.status == 200);
  }
  Http r = request("POST", ep + "/retry_test",
                   "{\"instructions\":{\"storage.objects.insert\":[\"return-503\",\"return-reset-connection\","
                   "\"return-broken-stream\",\"return-429\"]},\"transport\":\"HTTP\"}");
  const std::string id = json_get(r.body, "id");
  CHECK(r.status == 200 && !id.empty() && r.body.find("\"completed\":false") != std::string::npos);
  const std::string url = ep + "/upload/storage/v1/b/test-bucket/o?uploadType=multipart";
  const std::string body = multipart_body("{\"name\":\"fault.bin\"}", "fault data");
  const std::vector<std::string> hdrs = {kMultipartCt, "x-retry-test-id: " + id};
  r = request("POST", url, body, hdrs);
  CHECK(r.status == 503 && r.body.find("\"error\"") != std::string::npos);
  CHECK(!emu.get_object("test-bucket", "fault.bin", nullptr, nullptr));
  r = request("POST", url, body, hdrs);
  CHECK(r.rc == CURLE_RECV_ERROR || r.rc == CURLE_GOT_NOTHING || r.rc == CURLE_SEND_ERROR);
  CHECK(!emu.get_object("test-bucket", "fault.bin", nullptr, nullptr));
  r = request("POST", url, body, hdrs);
  CHECK(r.rc == CURLE_PARTIAL_FILE && r.status == 200);
  CHECK(emu.get_object("test-bucket", "fault.bin", nullptr, nullptr));
  CHECK(request("POST", url, body, hdrs).status == 429);
  r = request("GET", ep + "/retry_test/" + id);
  CHECK(r.status == 200 && r.body.find("\"completed\":true") != std::string::npos);
  CHECK(request("POST", url, body, hdrs).status == 200);
  CHECK(request("GET", ep + "/retry_tests").body.find(id) != std::string::npos);
  CHECK(request("DELETE", ep + "/retry_test/" + id).status == 200);
  CHECK(request("GET", ep + "/retry_test/" + id).status == 404);
  CHECK(request("POST", url, body, hdrs).status == 400);  // unknown id
  CHECK(request("POST", ep + "/retry_test", "{\"instructions\":{\"x\":[\"explode\"]}}").status == 400);
  CHECK(request("POST", ep + "/retry_test", "[1,2").status == 400);

  r = request("POST", ep + "/retry_test", "{\"instructions\":{\"storage.objects.get\":[\"stall-for-1s-after-0K\"]}}");
  auto t0 = std::chrono::steady_clock::now();
  r = request("GET", ep + "/storage/v1/b/test-bucket/o/fault.bin", "", {"x-retry-test-id: " + json_get(r.body, "id")});
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.status == 200 && s >= 0.9);
}

void test_latency_and_connections(gcsemu::Emulator& emu) {
  const std::string ep = emu.endpoint();
  // keep-alive: one handle, sequential requests, one connection
  CURL* h = curl_easy_init();
  const uint64_t accepted = emu.connections_accepted();
  for (int i = 0; i < 10; ++i) CHECK(request("GET", ep + "/storage/v1/b/test-bucket/o", "", {}, h).status == 200);
  CHECK(emu.connections_accepted() == accepted + 1);
  curl_easy_cleanup(h);

  // 64 concurrent uploads with 300 +- 100 ms latency finish in about one
  // latency, and the jitter makes them complete out of order
  emu.set_latency(300, 100);
  const int n = 64;
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> handles(n);
  std::vector<Http> results(n);
  std::vector<curl_slist*> lists(n);
  std::vector<std::string> bodies(n);
  for (int i = 0; i < n; ++i) {
    handles[i] = curl_easy_init();
    bodies[i] = "concurrent " + std::to_string(i);
    lists[i] = prepare(handles[i], &results[i], "POST",
                       ep + "/upload/storage/v1/b/test-bucket/o?uploadType=media&name=conc/" + std::to_string(i),
                       bodies[i], {});
    curl_multi_add_handle(multi, handles[i]);
  }
  auto t0 = std::chrono::steady_clock::now();
  int running = 1, left = 0;
  std::vector<int> order;
  while (running) {
    curl_multi_perform(multi, &running);
    while (CURLMsg* m = curl_multi_info_read(multi, &left))
      if (m->msg == CURLMSG_DONE)
        order.push_back(int(std::find(handles.begin(), handles.end(), m->easy_handle) - handles.begin()));
    if (running) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    long st = 0;
    curl_easy_getinfo(handles[i], CURLINFO_RESPONSE_CODE, &st);
    ok += st == 200;
    curl_multi_remove_handle(multi, handles[i]);
    curl_easy_cleanup(handles[i]);
    curl_slist_free_all(lists[i]);
  }
  curl_multi_cleanup(multi);
  CHECK(ok == n);
  CHECK(order.size() == size_t(n) && !std::is_sorted(order.begin(), order.end()));
  CHECK(s >= 0.19 && s < 2.5);
  CHECK(emu.max_connections_seen() >= n);
  CHECK(emu.list_objects("test-bucket", "conc/").size() == size_t(n));
  emu.set_latency(0, 0);
  for (int i = 0; i < 50 && emu.open_connections() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(emu.open_connections() == 0);
  CHECK(emu.requests_served() > 50);
}

void remove_tree(const std::string& path) {
  if (g_file_test(path.c_str(), G_FILE_TEST_IS_DIR)) {
    if (GDir* d = g_dir_open(path.c_str(), 0, nullptr)) {
      while (const char* e = g_dir_read_name(d)) remove_tree(path + "/" + e);
      g_dir_close(d);
    }
    g_rmdir(path.c_str());
  } else {
    g_unlink(path.c_str());
  }
}

void test_root_dir() {
  gchar* tmp = g_dir_make_tmp("gcsemu-XXXXXX", nullptr);
  const std::string root = tmp;
  g_free(tmp);
  const std::vector<std::string> names = {"x/y.jpg", "a", "a/b", "../evil", "sp ace"};
  {
    gcsemu::Options o;
    o.root_dir = root;
    o.buckets = {"disk-bucket"};
    gcsemu::Emulator emu(o);
    std::string err;
    CHECK(emu.start(&err));
    for (const auto& n : names)
      CHECK(request("POST", emu.endpoint() + "/upload/storage/v1/b/disk-bucket/o?uploadType=media&name=" + esc(n),
                    "data:" + n).status == 200);
    gchar* contents = nullptr;
    CHECK(g_file_get_contents((root + "/disk-bucket/x/y.jpg").c_str(), &contents, nullptr, nullptr) &&
          std::string(contents) == "data:x/y.jpg");
    g_free(contents);
    CHECK(!g_file_test((root + "/evil").c_str(), G_FILE_TEST_EXISTS));
  }
  {
    gcsemu::Options o;
    o.root_dir = root;
    gcsemu::Emulator emu(o);
    std::string err, got;
    CHECK(emu.start(&err));
    CHECK(emu.object_count("disk-bucket") == names.size());
    for (const auto& n : names) CHECK(emu.get_object("disk-bucket", n, &got, nullptr) && got == "data:" + n);
    Http r = request("GET", emu.endpoint() + "/disk-bucket/x/y.jpg");
    CHECK(r.status == 200 && r.body == "data:x/y.jpg");
    CHECK(request("DELETE", emu.endpoint() + "/storage/v1/b/disk-bucket/o/" + esc("x/y.jpg")).status == 204);
    CHECK(!g_file_test((root + "/disk-bucket/x/y.jpg").c_str(), G_FILE_TEST_EXISTS));
  }
  remove_tree(root);
}

// Sequential clients that each open and close their own connection never
// overlap much; a closed keep-alive connection is noticed promptly.
void test_connection_accounting() {
  gcsemu::Options o;
  o.buckets = {"peak-bucket"};
  gcsemu::Emulator emu(o);
  std::string err;
  CHECK(emu.start(&err));
  for (int i = 0; i < 20; ++i) CHECK(request("GET", emu.endpoint() + "/storage/v1/b/peak-bucket/o").status == 200);
  CHECK(emu.connections_accepted() == 20);
  CHECK(emu.max_connections_seen() <= 3);
}

void test_prompt_stop() {
  gcsemu::Options o;
  o.buckets = {"slow-bucket"};
  o.latency_ms = 10000;
  gcsemu::Emulator emu(o);
  std::string err;
  CHECK(emu.start(&err));
  const std::string ep = emu.endpoint();
  Http r;
  std::thread client([&] { r = request("GET", ep + "/storage/v1/b/slow-bucket/o"); });
  for (int i = 0; i < 100 && emu.requests_served() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto t0 = std::chrono::steady_clock::now();
  emu.stop();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  client.join();
  CHECK(s < 1.0);
  CHECK(r.rc != CURLE_OK);
  emu.stop();  // idempotent
}

// ---------------------------------------------------------------- authentication
// Throwaway keys, certificates and JWTs made with OpenSSL at test time.
const char* kRwScope = "https://www.googleapis.com/auth/devstorage.read_write";
const char* kJwtGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer";

std::string b64url(const std::string& raw) {
  std::string s = b64(raw);
  s.erase(s.find_last_not_of('=') + 1);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}
std::string bio_text(BIO* b) {
  char* d = nullptr;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, size_t(n));
  BIO_free(b);
  return s;
}
std::string public_pem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  return bio_text(b);
}
std::string sign_jwt(EVP_PKEY* k, const std::string& header, const std::string& claims) {
  const std::string input = b64url(header) + "." + b64url(claims);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t n = 0;
  std::string sig;
  if (EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, k) == 1 &&
      EVP_DigestSign(md, nullptr, &n, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1) {
    sig.resize(n);
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(&sig[0]), &n,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(n);
  }
  EVP_MD_CTX_free(md);
  return input + "." + b64url(sig);
}
const std::string kRs256 = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
std::string claims(const std::string& aud, const std::string& scope, int64_t iat, int64_t exp,
                   const std::string& iss = "sa@project.iam.gserviceaccount.com") {
  return "{\"iss\":\"" + iss + "\",\"aud\":\"" + aud + "\",\"scope\":\"" + scope +
         "\",\"iat\":" + std::to_string(iat) + ",\"exp\":" + std::to_string(exp) + "}";
}
int64_t now_s() { return g_get_real_time() / G_USEC_PER_SEC; }
int64_t json_int(const std::string& text, const char* key) {
  JsonParser* p = json_parser_new();
  int64_t r = -1;
  if (json_parser_load_from_data(p, text.data(), static_cast<gssize>(text.size()), nullptr)) {
    JsonNode* root = json_parser_get_root(p);
    if (root && JSON_NODE_HOLDS_OBJECT(root) && json_object_has_member(json_node_get_object(root), key))
      r = json_object_get_int_member(json_node_get_object(root), key);
  }
  g_object_unref(p);
  return r;
}
const std::string kForm = "Content-Type: application/x-www-form-urlencoded";
Http jwt_grant(const std::string& token_url, const std::string& jwt) {
  return request("POST", token_url, "grant_type=" + esc(kJwtGrant) + "&assertion=" + jwt, {kForm});
}
// 400 {"error": "invalid_grant", "error_description": "...<what>..."}
bool rejected(const Http& r, const char* what, const char* error = "invalid_grant") {
  bool ok = r.status == 400 && json_get(r.body, "error") == error &&
            json_get(r.body, "error_description").find(what) != std::string::npos;
  if (!ok) fprintf(stderr, "  unexpected token answer %ld: %s\n", r.status, r.body.c_str());
  return ok;
}

void test_auth(EVP_PKEY* key) {
  gcsemu::Options o;
  o.buckets = {"auth-bucket"};
  o.oauth_public_key_pem = public_pem(key);
  o.oauth_client_id = "client-1";
  o.oauth_client_secret = "s3cret";
  o.oauth_refresh_token = "1//refresh";
  o.metadata_server = true;
  o.require_auth = true;
  o.token_lifetime_s = 1800;
  gcsemu::Emulator emu(o);
  std::string err;
  CHECK(emu.start(&err));
  const std::string ep = emu.endpoint(), aud = emu.token_url();
  CHECK(aud == ep + "/token");
  const int64_t now = now_s();

  // JWT-bearer grant, then the token opens the storage API
  Http r = jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, kRwScope, now, now + 3600)));
  const std::string token = json_get(r.body, "access_token");
  CHECK(r.status == 200 && !token.empty() && json_get(r.body, "token_type") == "Bearer");
  CHECK(json_int(r.body, "expires_in") == 1800 && emu.tokens_issued() == 1);
  const std::string auth = "Authorization: Bearer " + token;
  const std::string up = ep + "/upload/storage/v1/b/auth-bucket/o?uploadType=media&name=";
  CHECK(request("POST", up + "a.txt", "hello", {auth}).status == 200);
  CHECK(request("GET", ep + "/auth-bucket/a.txt", "", {auth}).body == "hello");
  CHECK(request("GET", ep + "/storage/v1/b/auth-bucket/o", "", {"authorization: bearer " + token}).status == 200);

  // no token, unknown token
  r = request("POST", up + "b.txt", "x");
  CHECK(r.status == 401 && r.body.find("\"required\"") != std::string::npos);
  CHECK(r.headers["www-authenticate"].rfind("Bearer realm=", 0) == 0);
  CHECK(request("GET", ep + "/auth-bucket/a.txt").status == 401);
  CHECK(request("GET", ep + "/download/storage/v1/b/auth-bucket/o/a.txt?alt=media").status == 401);
  CHECK(request("GET", ep + "/storage/v1/b").status == 401);
  r = request("GET", ep + "/storage/v1/b/auth-bucket/o", "", {"Authorization: Bearer ya29.forged"});
  CHECK(r.status == 401 && r.body.find("\"authError\"") != std::string::npos &&
        r.body.find("Invalid Credentials") != std::string::npos);
  CHECK(r.headers["www-authenticate"].find("invalid_token") != std::string::npos);
  CHECK(request("GET", ep + "/storage/v1/b/auth-bucket/o", "", {"Authorization: Basic Zm9vOmJhcg=="}).status == 401);
  CHECK(emu.auth_failures() == 6 && !emu.get_object("auth-bucket", "b.txt", nullptr, nullptr));
  CHECK(request("POST", ep + "/retry_test", "{\"instructions\":{}}").status == 200);  // exempt

  // revocation forces a new token
  emu.revoke_all_tokens();
  r = request("POST", up + "c.txt", "x", {auth});
  CHECK(r.status == 401 && r.body.find("Invalid Credentials") != std::string::npos);

  // rejected assertions: 400 invalid_grant with the reason
  EVP_PKEY* other = EVP_RSA_gen(2048);
  const std::string good_claims = claims(aud, kRwScope, now, now + 3600);
  CHECK(rejected(jwt_grant(aud, sign_jwt(other, kRs256, good_claims)), "Invalid JWT Signature"));
  EVP_PKEY_free(other);
  std::string jwt = sign_jwt(key, kRs256, good_claims);  // claims swapped after signing
  const size_t d1 = jwt.find('.'), d2 = jwt.rfind('.');
  jwt = jwt.substr(0, d1 + 1) + b64url(claims(aud, kRwScope, now, now + 3000)) + jwt.substr(d2);
  CHECK(rejected(jwt_grant(aud, jwt), "Invalid JWT Signature"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims(ep + "/other", kRwScope, now, now + 3600))), "audience"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims("https://oauth2.googleapis.com/token", kRwScope, now, now + 3600))), "audience"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, "", now, now + 3600))), "scope"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, "https://www.googleapis.com/auth/devstorage.read_only", now, now + 3600))), "scope"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, kRwScope, now - 7200, now - 3600))), "expired"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, kRwScope, now, now + 7200))), "3600"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, kRwScope, now + 600, now + 1200))), "future"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, kRwScope, now, now + 3600, ""))), "iss"));
  CHECK(rejected(jwt_grant(aud, sign_jwt(key, "{\"alg\":\"HS256\"}", good_claims)), "RS256"));
  CHECK(rejected(jwt_grant(aud, "not-a-jwt"), "three"));
  CHECK(rejected(jwt_grant(aud, "a.b!.c"), "base64url"));
  CHECK(rejected(request("POST", aud, "grant_type=" + esc(kJwtGrant), {kForm}), "assertion", "invalid_request"));
  CHECK(emu.tokens_issued() == 1);
  // scope list with one usable scope; iat slightly ahead (clock skew)
  r = jwt_grant(aud, sign_jwt(key, kRs256, claims(aud, std::string("openid ") + "https://www.googleapis.com/auth/cloud-platform", now + 30, now + 3000)));
  CHECK(r.status == 200 && request("POST", up + "c.txt", "x", {"Authorization: Bearer " + json_get(r.body, "access_token")}).status == 200);

  // refresh-token grant
  auto refresh = [&](const std::string& id, const std::string& secret, const std::string& rt) {
    return request("POST", aud, "grant_type=refresh_token&client_id=" + esc(id) + "&client_secret=" + esc(secret) +
                   "&refresh_token=" + esc(rt), {kForm});
  };
  r = refresh("client-1", "s3cret", "1//refresh");
  CHECK(r.status == 200 && json_int(r.body, "expires_in") == 1800);
  CHECK(request("GET", ep + "/auth-bucket/c.txt", "", {"Authorization: Bearer " + json_get(r.body, "access_token")}).status == 200);
  CHECK(rejected(refresh("client-1", "s3cret", "1//other"), "revoked"));
  CHECK(rejected(refresh("client-1", "wrong", "1//refresh"), "", "invalid_client"));
  CHECK(rejected(refresh("client-2", "s3cret", "1//refresh"), "", "invalid_client"));
  CHECK(rejected(request("POST", aud, "grant_type=password&username=u", {kForm}), "password", "unsupported_grant_type"));
  CHECK(request("GET", aud).status == 405);

  // metadata server
  const std::string md = ep + "/computeMetadata/v1/instance/service-accounts/default/";
  r = request("GET", md + "token");
  CHECK(r.status == 403 && r.body.find("Metadata-Flavor") != std::string::npos);
  CHECK(request("GET", md + "token", "", {"Metadata-Flavor: Other"}).status == 403);
  r = request("GET", md + "token", "", {"Metadata-Flavor: Google"});
  CHECK(r.status == 200 && json_get(r.body, "token_type") == "Bearer" && json_int(r.body, "expires_in") == 1800);
  CHECK(r.headers["metadata-flavor"] == "Google");
  CHECK(request("GET", ep + "/auth-bucket/c.txt", "", {"Authorization: Bearer " + json_get(r.body, "access_token")}).status == 200);
  CHECK(request("GET", md + "email", "", {"Metadata-Flavor: Google"}).body == "default@emulator.iam.gserviceaccount.com");
  CHECK(emu.tokens_issued() == 4);
}

// Expiry, the Google audience option, refresh grant not configured, and the
// defaults (no auth) of an emulator without these options.
void test_auth_options(EVP_PKEY* key) {
  gcsemu::Options o;
  o.buckets = {"exp-bucket"};
  o.oauth_public_key_pem = public_pem(key);
  o.accept_google_audience = true;
  o.token_lifetime_s = 1;
  o.require_auth = true;
  gcsemu::Emulator emu(o);
  std::string err;
  CHECK(emu.start(&err));
  const int64_t now = now_s();
  Http r = jwt_grant(emu.token_url(), sign_jwt(key, kRs256, claims("https://oauth2.googleapis.com/token", kRwScope, now, now + 600)));
  CHECK(r.status == 200 && json_int(r.body, "expires_in") == 1);
  const std::string auth = "Authorization: Bearer " + json_get(r.body, "access_token");
  CHECK(request("GET", emu.endpoint() + "/storage/v1/b/exp-bucket/o", "", {auth}).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r = request("GET", emu.endpoint() + "/storage/v1/b/exp-bucket/o", "", {auth});
  CHECK(r.status == 401 && r.body.find("authError") != std::string::npos && emu.auth_failures() == 1);
  CHECK(rejected(request("POST", emu.token_url(), "grant_type=refresh_token&client_id=a&client_secret=b&refresh_token=c", {kForm}), "not enabled"));
  CHECK(request("GET", emu.endpoint() + "/computeMetadata/v1/instance/service-accounts/default/token", "", {"Metadata-Flavor: Google"}).status == 404);

  gcsemu::Options bad;
  bad.oauth_public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  gcsemu::Emulator broken(bad);
  CHECK(!broken.start(&err) && err.find("OAuth public key") != std::string::npos);

  gcsemu::Options plain;  // JWT grant off, no auth needed
  plain.buckets = {"open-bucket"};
  gcsemu::Emulator open(plain);
  CHECK(open.start(&err));
  CHECK(rejected(jwt_grant(open.token_url(), sign_jwt(key, kRs256, claims(open.token_url(), kRwScope, now, now + 600))), "not enabled"));
  CHECK(request("GET", open.endpoint() + "/storage/v1/b/open-bucket/o").status == 200);
}

void test_tls() {
  gcsemu::TestTls tls;
  CHECK(gcsemu::make_test_tls(&tls));
  const std::string dir = tls.dir;
  gcsemu::Options o;
  o.buckets = {"tls-bucket"};
  o.tls_cert_file = dir + "/server.pem";
  o.tls_key_file = dir + "/server.key";
  o.metadata_server = true;
  o.require_auth = true;
  {
    gcsemu::Emulator emu(o);
    std::string err;
    CHECK(emu.start(&err));
    if (!err.empty()) fprintf(stderr, "  TLS emulator: %s\n", err.c_str());
    const std::string ep = emu.endpoint();
    CHECK(ep == "https://127.0.0.1:" + std::to_string(emu.port()));
    CURL* h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_CAINFO, (dir + "/ca.pem").c_str());
    Http r = request("GET", ep + "/computeMetadata/v1/instance/service-accounts/default/token", "",
                     {"Metadata-Flavor: Google"}, h);
    CHECK(r.rc == CURLE_OK && r.status == 200);
    const std::string auth = "Authorization: Bearer " + json_get(r.body, "access_token");
    r = request("POST", ep + "/upload/storage/v1/b/tls-bucket/o?uploadType=resumable&name=t.bin", "", {auth}, h);
    CHECK(r.status == 200 && r.headers["location"].rfind(ep + "/upload/", 0) == 0);
    r = request("PUT", r.headers["location"], "over tls", {auth}, h);
    CHECK(r.status == 200 && json_get(r.body, "selfLink").rfind("https://", 0) == 0);
    CHECK(request("GET", ep + "/tls-bucket/t.bin", "", {auth}, h).body == "over tls");
    // fault injection through TLS
    r = request("POST", ep + "/retry_test", "{\"instructions\":{\"storage.objects.get\":[\"return-broken-stream\",\"return-reset-connection\"]}}", {}, h);
    const std::string rt = "x-retry-test-id: " + json_get(r.body, "id");
    r = request("GET", ep + "/tls-bucket/t.bin", "", {auth, rt}, h);
    CHECK(r.rc == CURLE_PARTIAL_FILE || r.rc == CURLE_RECV_ERROR);
    CHECK(r.rc != CURLE_OK && r.status == 200);
    r = request("GET", ep + "/tls-bucket/t.bin", "", {auth, rt}, h);
    CHECK(r.rc != CURLE_OK && r.rc != CURLE_PEER_FAILED_VERIFICATION);
    CHECK(request("GET", ep + "/tls-bucket/t.bin", "", {auth, rt}, h).status == 200);
    curl_easy_cleanup(h);

    r = request("GET", ep + "/storage/v1/b/tls-bucket/o");  // system CAs only
    CHECK(r.rc == CURLE_PEER_FAILED_VERIFICATION || r.rc == CURLE_SSL_CACERT_BADFILE);
    h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_CAINFO, (dir + "/other.pem").c_str());
    r = request("GET", ep + "/storage/v1/b/tls-bucket/o", "", {}, h);
    CHECK(r.rc == CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(h);
    CHECK(request("GET", "http://127.0.0.1:" + std::to_string(emu.port()) + "/storage/v1/b/tls-bucket/o").status != 200);
  }
  o.tls_key_file = dir + "/missing.key";
  gcsemu::Emulator bad(o);
  std::string err;
  CHECK(!bad.start(&err) && err.find("TLS") != std::string::npos);
  remove_tree(dir);
}

}  // namespace

int main() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  {
    gcsemu::Options o;
    o.buckets = {"test-bucket"};
    gcsemu::Emulator emu(o);
    std::string err;
    if (!emu.start(&err)) {
      fprintf(stderr, "cannot start emulator: %s\n", err.c_str());
      return 1;
    }
    CHECK(emu.port() > 0 && emu.endpoint() == "http://127.0.0.1:" + std::to_string(emu.port()));
    test_buckets(emu);
    test_multipart(emu);
    test_names(emu);
    test_list_delete(emu);
    test_resumable(emu);
    test_faults(emu);
    test_latency_and_connections(emu);
    emu.stop();
    CHECK(emu.object_count("test-bucket") > 0);  // storage survives stop()
  }
  test_root_dir();
  test_connection_accounting();
  test_prompt_stop();
  EVP_PKEY* key = EVP_RSA_gen(2048);
  test_auth(key);
  test_auth_options(key);
  EVP_PKEY_free(key);
  test_tls();
  curl_global_cleanup();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
