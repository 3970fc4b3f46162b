// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Unit tests of the GStreamer-independent core: checksums, naming, the
// multipart body, and ordered settling with completions in random order.
#include "auth.h"
#include "checksum.h"
#include "codec.h"
#include "encoder.h"
#include "gcs-emulator.h"
#include "gcs-client.h"
#include "manifest.h"
#include "naming.h"
#include "retry.h"
#include "sink-config.h"
#include "spool.h"
#include "rate-limit.h"
#include "upload-service.h"
#include "uploader.h"

// OpenCV before check.h, whose fail() macro breaks the standard streams.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <nlohmann/json.hpp>

#include <check.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <csignal>
#include <sys/resource.h>
#include <unistd.h>

#include "../check-strings.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <atomic>
#include <functional>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace gcsfs;

// ---------------------------------------------------------------- checksums

START_TEST(test_crc32c_rfc3720_vectors)
{
  // RFC 3720, appendix B.4.
  unsigned char buf[48];
  memset(buf, 0, 32);
  ck_assert_uint_eq(crc32c(buf, 32), 0x8A9136AAu);
  memset(buf, 0xff, 32);
  ck_assert_uint_eq(crc32c(buf, 32), 0x62A8AB43u);
  for (int i = 0; i < 32; i++)
    buf[i] = (unsigned char)i;
  ck_assert_uint_eq(crc32c(buf, 32), 0x46DD794Eu);
  for (int i = 0; i < 32; i++)
    buf[i] = (unsigned char)(31 - i);
  ck_assert_uint_eq(crc32c(buf, 32), 0x113FDB5Cu);
  static const unsigned char pdu[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
      0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  ck_assert_uint_eq(crc32c(pdu, 48), 0xD9963A56u);
  ck_assert_uint_eq(crc32c("123456789", 9), 0xE3069283u);
  ck_assert_uint_eq(crc32c("", 0), 0u);
}
END_TEST

START_TEST(test_crc32c_chaining_and_base64)
{
  const char *s = "The quick brown fox jumps over the lazy dog";
  size_t n = strlen(s);
  uint32_t whole = crc32c(s, n);
  for (size_t cut = 0; cut <= n; cut++)
    ck_assert_uint_eq(crc32c(s + cut, n - cut, crc32c(s, cut)), whole);
  // Big-endian bytes E3 06 92 83.
  STR_EQ(crc32c_to_base64(0xE3069283u).c_str(), "4waSgw==");
  STR_EQ(crc32c_to_base64(0).c_str(), "AAAAAA==");
  STR_EQ(md5_base64("", 0).c_str(), "1B2M2Y8AsgTpgAmY7PhCfg==");
  STR_EQ(md5_base64("abc", 3).c_str(), "kAFQmDzST7DWlj99KOF/cg==");
}
END_TEST

// ---------------------------------------------------------------- naming

static std::string expand(const char *tmpl, const NameFields &f)
{
  NameTemplate t;
  std::string err;
  ck_assert_msg(t.parse(tmpl, &err), "parse failed: %s", err.c_str());
  return t.expand(f);
}

static NameFields sample_fields()
{
  NameFields f;
  f.index = 42;
  f.batch = 4;
  f.stream = "cam1";
  f.pts_ns = 1234567890123ull;
  f.capture_unix_us = 1700000000123456ll;  // 2023-11-14 22:13:20 UTC
  f.ext = "jpg";
  return f;
}

START_TEST(test_template_placeholders)
{
  NameFields f = sample_fields();
  STR_EQ(expand("{stream}/{date}/{index:08}.{ext}", f).c_str(), "cam1/2023-11-14/00000042.jpg");
  STR_EQ(expand("{batch:3}-{index}", f).c_str(), "  4-42");
  STR_EQ(expand("{pts}/{pts-ms}", f).c_str(), "1234567890123/1234567");
  STR_EQ(expand("{utc:%Y/%m/%d/%H%M%S}", f).c_str(), "2023/11/14/221320");
  STR_EQ(expand("frame-%05d.jpg", f).c_str(), "frame-00042.jpg");
  STR_EQ(expand("frame-%d-100%%", f).c_str(), "frame-42-100%");
  STR_EQ(expand("{{literal}}-{index}", f).c_str(), "{literal}-42");
  STR_EQ(expand("50% off", f).c_str(), "50% off");
  STR_EQ(expand("100%/x%", f).c_str(), "100%/x%");  // a '%' that starts no conversion is literal
  f.pts_ns = kTimeNone;
  STR_EQ(expand("{pts}", f).c_str(), "0");
  // {stream-id}: the upstream stream-id; the stream name while none is known.
  STR_EQ(expand("{stream-id}/{index}", f).c_str(), "cam1/42");
  f.stream_id = "d9a1/video_0";
  STR_EQ(expand("{stream-id}/{index}", f).c_str(), "d9a1/video_0/42");
}
END_TEST

// {run}: the run's start time and 16 random bits, sortable by start time.
START_TEST(test_run_ids)
{
  std::string a = make_run_id(1764587165123456, 0x3fa9);  // 2025-12-01 11:06:05.123456 UTC
  STR_EQ(a, "20251201T110605Z-3fa9");
  ck_assert_uint_eq(a.size(), kRunIdLength);
  ck_assert(make_run_id(1764587165123456, 0x13fa9) == a);  // 16 bits only
  ck_assert(make_run_id(1764587166000000, 0) > make_run_id(1764587165000000, 0xffff));
  NameFields f = sample_fields();
  f.run = a;
  STR_EQ(expand("{stream}/{run}/{index:04}.{ext}", f).c_str(), "cam1/20251201T110605Z-3fa9/0042.jpg");
}
END_TEST

START_TEST(test_template_hash)
{
  NameFields f = sample_fields();
  std::string a = expand("{hash}/{stream}/{index}", f);
  ck_assert_uint_eq(a.size(), 6 + strlen("/cam1/42"));
  for (int i = 0; i < 6; i++)
    ck_assert(g_ascii_isxdigit(a[i]));
  STR_EQ(a.c_str() + 6, "/cam1/42");
  // Deterministic, and different names spread over different prefixes.
  STR_EQ(expand("{hash}/{stream}/{index}", f).c_str(), a.c_str());
  std::set<std::string> prefixes;
  for (uint64_t i = 0; i < 64; i++) {
    f.index = i;
    prefixes.insert(expand("{hash}/{stream}/{index}", f).substr(0, 6));
  }
  ck_assert_uint_ge(prefixes.size(), 60);
}
END_TEST

START_TEST(test_template_errors)
{
  const char *bad[] = {"{nope}", "{index", "a}b", "{utc}", "{stream:08}", "{index:abc}", "", "%5xd{index:0x}",
                       "%s/%d", "frame-%05x", "%-5d", "%lu.jpg", "%.3d", "trailing %i"};
  for (const char *t : bad) {
    NameTemplate tmpl;
    std::string err;
    ck_assert_msg(!tmpl.parse(t, &err), "template \"%s\" accepted", t);
    ck_assert_msg(!err.empty(), "no error text for \"%s\"", t);
  }
  NameTemplate tmpl;
  std::string err;
  ck_assert(!tmpl.parse("{stream}/{frame}", &err));
  ck_assert_msg(err.find("{frame}") != std::string::npos && err.find("{index}") != std::string::npos,
                "error should name the bad placeholder and list the known ones: %s", err.c_str());
}
END_TEST

START_TEST(test_bucket_names)
{
  std::string why;
  for (const char *ok : {"my-frames", "abc", "a_b.c-d", "frames.example.com", "b123"})
    ck_assert_msg(validate_bucket_name(ok, &why), "%s: %s", ok, why.c_str());
  for (const char *bad : {"", "ab", "My-Frames", "-abc", "abc-", "goog-frames", "192.168.1.1", "a..b", "ab c",
                          "a/b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    why.clear();
    ck_assert_msg(!validate_bucket_name(bad, &why), "\"%s\" accepted", bad);
    ck_assert(why.find("bucket") != std::string::npos);
  }
}
END_TEST

START_TEST(test_object_names_and_percent_encoding)
{
  std::string why;
  ck_assert(validate_object_name("cam1/2024-01-01/000001.jpg", &why));
  ck_assert(validate_object_name("caméra/東京/кадр #1?.jpg", &why));
  ck_assert(!validate_object_name("", &why));
  ck_assert(!validate_object_name("a\nb", &why));
  ck_assert(!validate_object_name("\xff\xfe", &why));
  ck_assert(!validate_object_name(std::string(1025, 'a'), &why));
  ck_assert(!validate_object_name("..", &why));
  ck_assert(!validate_object_name("a\rb", &why));
  ck_assert(!validate_object_name("tab\there", &why));
  STR_CONTAINS(why, "control character (byte 9)");
  ck_assert(!validate_object_name(std::string("nul\0x", 5), &why));
  ck_assert(!validate_object_name("del\x7f", &why));

  STR_EQ(percent_encode("a b/c").c_str(), "a%20b%2Fc");
  STR_EQ(percent_encode("a b/c", true).c_str(), "a%20b/c");
  STR_EQ(percent_encode("A-z_0.9~").c_str(), "A-z_0.9~");
  STR_EQ(percent_encode("é#?%+&=").c_str(), "%C3%A9%23%3F%25%2B%26%3D");
  // Every odd UTF-8 name round-trips through percent-decoding.
  for (const char *name : {"caméra/東京/кадр #1?.jpg", "100% &=+;,@$!'()*[]", "emoji 😀/x", "tab\there"}) {
    std::string enc = percent_encode(name);
    for (unsigned char c : enc)
      ck_assert(g_ascii_isalnum(c) || strchr("-._~%", c));
    gchar *dec = g_uri_unescape_string(enc.c_str(), nullptr);
    STR_EQ(dec, name);
    g_free(dec);
  }
}
END_TEST

START_TEST(test_resolve_endpoint)
{
  std::string base, err;
  bool emu = true;
  g_unsetenv("STORAGE_EMULATOR_HOST");
  g_unsetenv("CLOUD_STORAGE_EMULATOR_ENDPOINT");
  ck_assert(resolve_endpoint("", &base, &emu, &err));
  STR_EQ(base.c_str(), "https://storage.googleapis.com");
  ck_assert(!emu);
  ck_assert(resolve_endpoint("http://127.0.0.1:9023/", &base, &emu, &err));
  STR_EQ(base.c_str(), "http://127.0.0.1:9023");
  g_setenv("STORAGE_EMULATOR_HOST", "localhost:9000", TRUE);
  ck_assert(resolve_endpoint("", &base, &emu, &err));
  STR_EQ(base.c_str(), "http://localhost:9000");
  ck_assert(emu);
  g_unsetenv("STORAGE_EMULATOR_HOST");
  g_setenv("CLOUD_STORAGE_EMULATOR_ENDPOINT", "https://emu.internal:8443", TRUE);
  ck_assert(resolve_endpoint("", &base, &emu, &err));
  STR_EQ(base.c_str(), "https://emu.internal:8443");
  g_unsetenv("CLOUD_STORAGE_EMULATOR_ENDPOINT");
  for (const char *bad : {"ftp://host", "http://", "http://host/?q=1", "http://user@host", "http://[bad", "not a url",
                          "http://exa mple.com"}) {
    err.clear();
    ck_assert_msg(!resolve_endpoint(bad, &base, &emu, &err), "%s accepted", bad);
    ck_assert(err.find("endpoint") != std::string::npos);
  }
}
END_TEST

// What the element refuses at start: each refusal names the setting and the fix.
START_TEST(test_settings_that_can_never_work)
{
  using namespace gcsfs;
  std::string why;
  ck_assert(check_utf8("stream-name", "caméra 東京", &why));
  ck_assert(!check_utf8("stream-name", "cam\xff", &why));
  STR_CONTAINS(why, "stream-name is not valid UTF-8 (an invalid byte at offset 3)");
  ck_assert(check_extra_header("x-goog-user-project", "p", &why));
  for (const char *owned : {"Authorization", "content-length", "CONTENT-TYPE", "Host", "transfer-encoding"}) {
    ck_assert_msg(!check_extra_header(owned, "x", &why), "%s accepted", owned);
    STR_CONTAINS(why, "the element sets");
  }
  ck_assert(!check_extra_header("bad name", "x", &why));
  ck_assert(!check_extra_header("x-ok", "a\r\nInjected: 1", &why));
  ck_assert(check_content_type("image/jpeg", &why));
  ck_assert(!check_content_type("image/jpeg\n", &why));
  ck_assert(check_first_index(kMaxFirstIndex, &why));
  ck_assert(!check_first_index(kMaxFirstIndex + 1, &why));
  STR_CONTAINS(why, "9223372036854775807");
  // ca-file: missing, and a file with no certificate in it.
  ck_assert(!check_ca_file("/nonexistent/ca.pem", &why));
  STR_CONTAINS(why, "not a readable file");
  gchar *path = nullptr;
  gint fd = g_file_open_tmp("ca-XXXXXX.pem", &path, nullptr);
  ck_assert_int_ge(fd, 0);
  const char text[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  ck_assert_int_eq(write(fd, text, sizeof text - 1), sizeof text - 1);
  close(fd);
  ck_assert(!check_ca_file(path, &why));
  STR_CONTAINS(why, "holds no PEM certificate");
  g_unlink(path);
  g_free(path);
  // The first frame's name.
  NameTemplate tmpl;
  ck_assert(tmpl.parse("{stream}/{index:08}.{ext}", &why));
  ck_assert(check_first_name(tmpl, "cam1", 0, 0, "jpg", &why));
  ck_assert(!check_first_name(tmpl, "cam\r1", 0, 0, "jpg", &why));
  STR_CONTAINS(why, "cam\\r1");
  STR_CONTAINS(why, "carriage return");
  ck_assert(!check_first_name(tmpl, std::string(1020, 'c'), 0, 0, "jpg", &why));
  STR_CONTAINS(why, "more than 1024");
  ck_assert(tmpl.parse("{stream}", &why));
  ck_assert(!check_first_name(tmpl, "..", 0, 0, "jpg", &why));
}
END_TEST

// check_config: every refusal, by kind, each naming the setting and the fix;
// and what a good configuration resolves to.
START_TEST(test_sink_config_refusals)
{
  using namespace gcsfs;
  g_unsetenv("STORAGE_EMULATOR_HOST");
  g_unsetenv("CLOUD_STORAGE_EMULATOR_ENDPOINT");
  SinkConfig good;
  good.bucket = "frames";
  good.stream_name = "cam1";
  good.endpoint = "http://127.0.0.1:9";
  CheckedConfig out;
  ConfigProblem p;
  ck_assert_msg(check_config(good, 0, &out, &p), "%s", p.message.c_str());
  ck_assert(p.kind == ConfigError::None);
  STR_EQ(out.endpoint, "http://127.0.0.1:9");
  ck_assert(!out.emulator);
  NameFields f;
  f.stream = "cam1";
  f.index = 7;
  f.ext = "jpg";
  f.capture_unix_us = 0;
  f.run = "20261201T110605Z-3fa9";
  STR_EQ(out.object_name.expand(f), "cam1/1970-01-01/20261201T110605Z-3fa9/00000007.jpg");

  gchar *not_pem = nullptr;
  gint fd = g_file_open_tmp("ca-XXXXXX.pem", &not_pem, nullptr);
  close(fd);
  struct Case {
    std::function<void(SinkConfig &)> change;
    ConfigError kind;
    const char *says;
  } cases[] = {
      {[](SinkConfig &c) { c.bucket.clear(); }, ConfigError::NoBucket, "set the bucket property"},
      {[](SinkConfig &c) { c.bucket = "Bad_Bucket!"; }, ConfigError::BadBucket, "invalid bucket name"},
      {[](SinkConfig &c) { c.stream_name = "cam\xff"; }, ConfigError::NotUtf8, "stream-name is not valid UTF-8"},
      {[](SinkConfig &c) { c.object_name = "a\xc3"; }, ConfigError::NotUtf8, "object-name is not valid UTF-8"},
      {[](SinkConfig &c) { c.metadata = {{"camera", "\xfe"}}; }, ConfigError::NotUtf8, "a metadata field"},
      {[](SinkConfig &c) { c.object_name = "{frame}"; }, ConfigError::BadTemplate, "unknown placeholder {frame}"},
      {[](SinkConfig &c) { c.object_name = "%s/%d"; }, ConfigError::BadTemplate, "only %d"},
      {[](SinkConfig &c) { c.index = kMaxFirstIndex + 1; }, ConfigError::IndexWraps, "would wrap around"},
      {[](SinkConfig &c) { c.stream_name = "cam\r1"; }, ConfigError::NameNeverValid, "change object-name or stream-name"},
      {[](SinkConfig &c) { c.object_name = std::string(1100, 'x'); }, ConfigError::NameNeverValid, "more than 1024"},
      {[](SinkConfig &c) { c.content_type = "image/jpeg\n"; }, ConfigError::BadContentType, "content-type"},
      {[](SinkConfig &c) { c.batch_size = 0; }, ConfigError::ZeroBound, "at least 1"},
      {[](SinkConfig &c) { c.max_concurrency = 0; }, ConfigError::ZeroBound, "at least 1"},
      {[](SinkConfig &c) { c.max_queued_frames = 0; }, ConfigError::ZeroBound, "at least 1"},
      {[](SinkConfig &c) { c.request_timeout_ms = 0; }, ConfigError::ZeroBound, "at least 1"},
      {[](SinkConfig &c) { c.endpoint = "not a url"; }, ConfigError::BadEndpoint, "libcurl cannot parse it"},
      {[](SinkConfig &c) { c.endpoint = "ftp://host"; }, ConfigError::BadEndpoint, "not http or https"},
      {[](SinkConfig &c) { c.extra_headers = {{"bad name", "1"}}; }, ConfigError::BadHeader, "not a valid HTTP header"},
      {[](SinkConfig &c) { c.extra_headers = {{"x-ok", "a\r\nInjected: 1"}}; }, ConfigError::BadHeader, "x-ok"},
      {[](SinkConfig &c) { c.extra_headers = {{"Authorization", "Bearer x"}}; }, ConfigError::OwnedHeader,
       "the element sets Authorization"},
      {[](SinkConfig &c) { c.ca_file = "/nonexistent/ca.pem"; }, ConfigError::BadCaFile, "not a readable file"},
      {[&](SinkConfig &c) { c.ca_file = not_pem; }, ConfigError::BadCaFile, "holds no PEM certificate"},
  };
  for (const Case &k : cases) {
    SinkConfig c = good;
    k.change(c);
    ConfigProblem bad;
    CheckedConfig ignored;
    ck_assert_msg(!check_config(c, 0, &ignored, &bad), "accepted, expected: %s", k.says);
    ck_assert_msg(bad.kind == k.kind, "kind %d for \"%s\", expected %d", int(bad.kind), bad.message.c_str(),
                  int(k.kind));
    STR_CONTAINS(bad.message, k.says);
  }
  g_unlink(not_pem);
  g_free(not_pem);
  // An emulator variable is read when the endpoint is unset, and checked too.
  SinkConfig env = good;
  env.endpoint.clear();
  g_setenv("STORAGE_EMULATOR_HOST", "localhost:9000", TRUE);
  ck_assert(check_config(env, 0, &out, &p));
  STR_EQ(out.endpoint, "http://localhost:9000");
  ck_assert(out.emulator);
  g_setenv("STORAGE_EMULATOR_HOST", "ftp://nowhere", TRUE);
  ck_assert(!check_config(env, 0, &out, &p));
  ck_assert(p.kind == ConfigError::BadEndpoint);
  STR_CONTAINS(p.message, "STORAGE_EMULATOR_HOST");
  g_unsetenv("STORAGE_EMULATOR_HOST");
  // The process's bound on upload threads: a number from 1 to 4096.
  for (const char *v : {"0", "abc", "4097", "12x", ""}) {
    g_setenv("GCSFRAMESINK_MAX_CONNECTIONS", v, TRUE);
    ck_assert_msg(!check_config(good, 0, &out, &p), "GCSFRAMESINK_MAX_CONNECTIONS=%s accepted", v);
    ck_assert(p.kind == ConfigError::BadEnvironment);
    STR_CONTAINS(p.message, "GCSFRAMESINK_MAX_CONNECTIONS=\"" + std::string(v) + "\" is not a number");
  }
  unsigned n = 0;
  std::string why;
  g_setenv("GCSFRAMESINK_MAX_CONNECTIONS", "8", TRUE);
  ck_assert(check_config(good, 0, &out, &p));
  ck_assert(max_threads_from_environment(&n, &why) && n == 8);
  g_unsetenv("GCSFRAMESINK_MAX_CONNECTIONS");
  ck_assert(max_threads_from_environment(&n, &why) && n == ServiceLimits::kDefaultMaxThreads);
}
END_TEST

// ---------------------------------------------------------------- spool

static std::string spool_dir()
{
  gchar *d = g_dir_make_tmp("spool-XXXXXX", nullptr);
  std::string s(d);
  g_free(d);
  return s + "/frames";  // not there yet: open() creates it
}

static SpoolRecord spool_meta(uint64_t index)
{
  SpoolRecord r;
  r.object_name = "cam1/run/" + std::to_string(index) + ".jpg";
  r.content_type = "image/jpeg";
  r.run = "20261201T110605Z-3fa9";
  r.index = index;
  r.batch = index / 10;
  r.pts = index * 33333333;
  r.capture_unix_us = 1764587165000000 + int64_t(index);
  return r;
}

static bool spool_put(Spool &s, uint64_t index, const std::string &bytes, std::vector<SpoolRecord> *evicted)
{
  std::string err;
  bool ok = s.put(spool_meta(index), reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), evicted, &err);
  ck_assert_msg(ok || !err.empty(), "a refusal says why");
  return ok;
}

// Frames written, listed oldest first, read back whole with every field; the
// sequence goes on after reopening; a temporary file a crash left is removed.
START_TEST(test_spool_round_trip)
{
  std::string dir = spool_dir(), err;
  std::unique_ptr<Spool> s = Spool::open(dir, 1 << 20, &err);
  ck_assert_msg(s != nullptr, "%s", err.c_str());
  std::vector<SpoolRecord> evicted;
  for (uint64_t i = 0; i < 3; i++)
    ck_assert(spool_put(*s, i, "jpeg bytes " + std::to_string(i) + std::string(1, '\0') + "\xff", &evicted));
  ck_assert(evicted.empty());
  std::vector<SpoolEntry> list = s->list();
  ck_assert_uint_eq(list.size(), 3);
  for (uint64_t i = 0; i < 3; i++) {
    SpoolRecord r;
    ck_assert_msg(s->read(list[i], &r, &err), "%s", err.c_str());
    SpoolRecord want = spool_meta(i);
    STR_EQ(r.object_name, want.object_name);
    STR_EQ(r.content_type, want.content_type);
    STR_EQ(r.run, want.run);
    ck_assert_uint_eq(r.index, i);
    ck_assert_uint_eq(r.batch, want.batch);
    ck_assert_uint_eq(r.pts, want.pts);
    ck_assert_uint_eq(r.duration, kTimeNone);
    ck_assert_int_eq(r.capture_unix_us, want.capture_unix_us);
    ck_assert(r.bytes == "jpeg bytes " + std::to_string(i) + std::string(1, '\0') + "\xff");
  }
  uint64_t used = s->bytes_used();
  ck_assert_uint_gt(used, 0);
  s->remove(list[0]);
  ck_assert_uint_lt(s->bytes_used(), used);
  // A crash mid-write leaves a temporary file: never listed, removed at open.
  ck_assert(g_file_set_contents((dir + "/.tmp-00000000000000000009.frame").c_str(), "half", -1, nullptr));
  s = Spool::open(dir, 1 << 20, &err);
  ck_assert(s != nullptr);
  ck_assert(!g_file_test((dir + "/.tmp-00000000000000000009.frame").c_str(), G_FILE_TEST_EXISTS));
  ck_assert(spool_put(*s, 3, "later", &evicted));
  list = s->list();
  ck_assert_uint_eq(list.size(), 3);
  ck_assert_uint_eq(list[0].seq, 1);
  ck_assert_uint_eq(list[2].seq, 3);  // after the 3 of the first run
  ck_assert_uint_eq(s->bytes_used(), list[0].size + list[1].size + list[2].size);
}
END_TEST

// The bound: the oldest frames make room (and are reported); a frame larger
// than the bound is refused.
START_TEST(test_spool_bound)
{
  std::string err;
  std::unique_ptr<Spool> s = Spool::open(spool_dir(), 1500, &err);
  ck_assert(s != nullptr);
  std::vector<SpoolRecord> evicted;
  for (uint64_t i = 0; i < 6; i++)
    ck_assert(spool_put(*s, i, std::string(200, char('a' + i)), &evicted));
  ck_assert_uint_le(s->bytes_used(), 1500);
  std::vector<SpoolEntry> list = s->list();
  ck_assert_uint_eq(list.size() + evicted.size(), 6);
  ck_assert_uint_ge(evicted.size(), 1);
  for (size_t i = 0; i < evicted.size(); i++)
    ck_assert_uint_eq(evicted[i].index, i);  // oldest first
  SpoolRecord newest;
  ck_assert(s->read(list.back(), &newest, &err));
  ck_assert_uint_eq(newest.index, 5);
  ck_assert(!spool_put(*s, 9, std::string(2000, 'x'), &evicted));
}
END_TEST

// Truncated, altered or foreign files are refused with the cause and moved
// aside, never read as frames; an unwritable folder is refused at open.
START_TEST(test_spool_corrupt_and_unwritable)
{
  std::string dir = spool_dir(), err;
  std::unique_ptr<Spool> s = Spool::open(dir, 1 << 20, &err);
  std::vector<SpoolRecord> evicted;
  for (uint64_t i = 0; i < 3; i++)
    ck_assert(spool_put(*s, i, "frame number " + std::to_string(i), &evicted));
  std::vector<SpoolEntry> list = s->list();
  gchar *text = nullptr;
  gsize len = 0;
  ck_assert(g_file_get_contents(list[0].path.c_str(), &text, &len, nullptr));
  std::string whole(text, len);
  g_free(text);
  ck_assert(g_file_set_contents(list[0].path.c_str(), whole.data(), gssize(whole.size() - 3), nullptr));
  std::string altered = whole;
  altered[altered.size() - 1] ^= 1;
  ck_assert(g_file_set_contents(list[1].path.c_str(), altered.data(), gssize(altered.size()), nullptr));
  ck_assert(g_file_set_contents(list[2].path.c_str(), "not a frame", -1, nullptr));
  SpoolRecord r;
  ck_assert(!s->read(list[0], &r, &err));
  STR_CONTAINS(err, "truncated");
  ck_assert(!s->read(list[1], &r, &err));
  STR_CONTAINS(err, "crc32c");
  ck_assert(!s->read(list[2], &r, &err));
  STR_CONTAINS(err, "not a spool file");
  STR_CONTAINS(err, "/corrupt/");
  ck_assert_uint_eq(s->list().size(), 0);
  ck_assert(g_file_test((dir + "/corrupt").c_str(), G_FILE_TEST_IS_DIR));
  // A folder under a regular file cannot be made.
  std::string file = dir + "/a-file";
  ck_assert(g_file_set_contents(file.c_str(), "x", -1, nullptr));
  ck_assert(Spool::open(file + "/spool", 1 << 20, &err) == nullptr);
  STR_CONTAINS(err, "cannot create the spool folder");
  STR_CONTAINS(err, "spool-location");
}
END_TEST

// ---------------------------------------------------------------- retry policy

START_TEST(test_retry_classification)
{
  auto http = [](long code) {
    UploadResult r;
    r.status = FrameStatus::Failed;
    r.kind = ErrorKind::Http;
    r.http_status = code;
    r.reason = "x";
    return r;
  };
  auto failed = [](ErrorKind k) {
    UploadResult r;
    r.set_failure(k, "m");
    return r;
  };
  for (long code : {408L, 429L, 500L, 502L, 503L, 504L})
    ck_assert_msg(is_retryable(http(code)), "%ld should be retried", code);
  for (long code : {400L, 401L, 403L, 404L, 412L})
    ck_assert_msg(!is_retryable(http(code)), "%ld must not be retried", code);
  for (ErrorKind k : {ErrorKind::Timeout, ErrorKind::ConnectionReset, ErrorKind::ConnectionRefused,
                      ErrorKind::DnsFailure, ErrorKind::TransportError, ErrorKind::AbsentAfter412,
                      ErrorKind::TokenUnavailable})
    ck_assert_msg(is_retryable(failed(k)), "%s should be retried", error_kind_name(k));
  for (ErrorKind k : {ErrorKind::ResponseTooLarge, ErrorKind::Redirect, ErrorKind::UnexpectedAnswer,
                      ErrorKind::ChecksumMismatch, ErrorKind::Credentials, ErrorKind::TlsFailure,
                      ErrorKind::InvalidName, ErrorKind::ClientError, ErrorKind::Stopped, ErrorKind::Aborted})
    ck_assert_msg(!is_retryable(failed(k)), "%s must not be retried", error_kind_name(k));
  // The reason text decides nothing: a server reason that reads like a kind is an HTTP answer.
  UploadResult lookalike = http(400);
  lookalike.reason = "timeout";
  ck_assert(!is_retryable(lookalike));
  UploadResult aborted = failed(ErrorKind::Timeout);
  aborted.aborted = true;
  ck_assert(!is_retryable(aborted));
  UploadResult ok;
  ok.status = FrameStatus::Uploaded;
  ck_assert(!is_retryable(ok));
}
END_TEST

START_TEST(test_backoff_bounds)
{
  RetryPolicy p;  // 1 s initial, x2, 32 s cap
  std::mt19937_64 rng(7);
  for (unsigned retry = 1; retry <= 12; retry++) {
    unsigned cap = std::min(32000u, 1000u << (retry - 1));
    unsigned max_seen = 0;
    for (int i = 0; i < 2000; i++) {
      unsigned w = backoff_ms(p, retry, 0, rng);
      ck_assert_uint_le(w, cap);
      max_seen = std::max(max_seen, w);
    }
    ck_assert_uint_ge(max_seen, cap * 9 / 10);  // full jitter spans the range
  }
  ck_assert_uint_ge(backoff_ms(p, 1, 5000, rng), 5000);  // Retry-After wins when longer
}
END_TEST

// ---------------------------------------------------------------- credentials files

START_TEST(test_credentials_file_errors)
{
  AuthHttp http;
  std::string err;
  ck_assert(!token_source_from_json("{not json", "key.json", http, &err));
  ck_assert_msg(err.find("key.json") != std::string::npos, "%s", err.c_str());
  err.clear();
  ck_assert(!token_source_from_json("{\"type\":\"external_account\"}", "k.json", http, &err));
  ck_assert_msg(err.find("service_account") != std::string::npos, "%s", err.c_str());
  err.clear();
  ck_assert(!token_source_from_json(
      "{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}",
      "k.json", http, &err));
  ck_assert_msg(err.find("private_key") != std::string::npos, "%s", err.c_str());
  ck_assert_msg(err.find("AAAA") == std::string::npos, "the key must not appear in errors: %s", err.c_str());
  err.clear();
  ck_assert(!token_source_from_json("{\"type\":\"authorized_user\",\"client_id\":\"x\"}", "adc.json", http, &err));
  ck_assert_msg(err.find("gcloud auth application-default login") != std::string::npos, "%s", err.c_str());

  CredentialsSettings cs;
  std::unique_ptr<TokenSource> src;
  cs.path = "/nonexistent/key.json";
  err.clear();
  ck_assert(!resolve_credentials(cs, http, &src, &err));
  ck_assert_msg(err.find("/nonexistent/key.json") != std::string::npos, "%s", err.c_str());
  cs.path = "anonymous";
  ck_assert(resolve_credentials(cs, http, &src, &err));
  ck_assert(!src);
  cs.path.clear();
  cs.emulator = true;
  ck_assert(resolve_credentials(cs, http, &src, &err));
  ck_assert(!src);
}
END_TEST

// ---------------------------------------------------------------- multipart body

// A token endpoint's answers: unavailable (retry later) against refused,
// and a lifetime the server got wrong kept within bounds.
START_TEST(test_token_answers)
{
  using gcsfs::TokenResult;
  std::string token, error;
  int64_t exp = 0;
  const std::string url = "http://t/token";
  ck_assert(parse_token_answer(url, 200, "{\"access_token\":\"t\",\"expires_in\":3599}", &token, &exp, &error) ==
            TokenResult::Ok);
  ck_assert_int_eq(exp, 3599);
  ck_assert(parse_token_answer(url, 200, "{\"access_token\":\"t\",\"expires_in\":\"99999999999999999999\"}", &token,
                               &exp, &error) == TokenResult::Ok);
  ck_assert_int_eq(exp, gcsfs::kMaxTokenLifeS);
  ck_assert(parse_token_answer(url, 200, "{\"access_token\":\"t\",\"expires_in\":-5}", &token, &exp, &error) ==
            TokenResult::Ok);
  ck_assert_int_eq(exp, 1);
  for (long st : {408L, 429L, 500L, 503L})
    ck_assert(parse_token_answer(url, st, "<html/>", &token, &exp, &error) == TokenResult::Unavailable);
  STR_CONTAINS(error, "is unavailable (HTTP 503)");
  ck_assert(parse_token_answer(url, 400, "{\"error\":\"invalid_grant\"}", &token, &exp, &error) ==
            TokenResult::Refused);
  STR_CONTAINS(error, "refused the credentials (HTTP 400, invalid_grant)");
  ck_assert(parse_token_answer(url, 200, "<html>portal</html>", &token, &exp, &error) == TokenResult::Refused);
  STR_CONTAINS(error, "without an access_token (not JSON)");
}
END_TEST

// A token source answering from a script: each fetch() takes the next
// result (Ok with a token living `life_s`, Unavailable or Refused).
struct ScriptedTokens : gcsfs::TokenSource {
  std::vector<gcsfs::TokenResult> script;
  int64_t life_s = 3600;
  std::string prefix = "t";  // of its tokens
  std::atomic<unsigned> calls{0};
  gcsfs::TokenResult fetch(std::string *token, int64_t *expires_in_s, std::string *error) override
  {
    unsigned n = calls++;
    gcsfs::TokenResult r = n < script.size() ? script[n] : gcsfs::TokenResult::Ok;
    if (r == gcsfs::TokenResult::Ok) {
      *token = prefix + std::to_string(n);
      *expires_in_s = life_s;
    } else {
      *error = r == gcsfs::TokenResult::Refused ? "refused" : "HTTP 503";
    }
    return r;
  }
  std::string describe() const override { return "scripted"; }
  std::string key = "scripted";
  std::string share_key() const override { return key; }
};

// Unavailable with no token: answered at once from then on (no request per
// caller) until the backoff has passed; Unavailable while a token is valid:
// the token is kept and the failure reported once; Refused: refused.
START_TEST(test_token_cache_backoff)
{
  using gcsfs::TokenResult;
  auto owned = std::make_unique<ScriptedTokens>();
  ScriptedTokens *src = owned.get();
  src->script = {TokenResult::Unavailable, TokenResult::Ok, TokenResult::Unavailable, TokenResult::Unavailable,
                 TokenResult::Refused};
  src->life_s = 4;  // due after 2 s, valid for 3 s
  gcsfs::TokenCache cache(std::move(owned));
  std::vector<std::string> reports;
  cache.set_on_refresh_failure([&](const std::string &why, int64_t valid_ms) {
    reports.push_back(why);
    ck_assert_int_gt(valid_ms, 0);
  });
  std::string token, error;
  ck_assert(cache.get(&token, &error) == TokenResult::Unavailable);
  STR_CONTAINS(error, "HTTP 503");
  for (int i = 0; i < 50; i++)  // within the backoff: no new request
    ck_assert(cache.get(&token, &error) == TokenResult::Unavailable);
  ck_assert_uint_eq(src->calls, 1);
  STR_CONTAINS(error, "asking again in");
  g_usleep(gcsfs::TokenCache::kRetryInitialMs * 1000 + 50000);
  ck_assert(cache.get(&token, &error) == TokenResult::Ok);
  ck_assert_str_eq(token.c_str(), "t1");
  ck_assert_uint_eq(src->calls, 2);
  g_usleep(2100 * 1000);  // due for refresh, still valid
  ck_assert(cache.get(&token, &error) == TokenResult::Ok);  // Unavailable: kept
  ck_assert_str_eq(token.c_str(), "t1");
  ck_assert_uint_eq(src->calls, 3);
  for (int i = 0; i < 50; i++)
    ck_assert(cache.get(&token, &error) == TokenResult::Ok);
  ck_assert_uint_eq(src->calls, 3);
  ck_assert_uint_eq(reports.size(), 1);
  // The next try comes halfway to the expiry (~0.45 s), not after a full backoff.
  g_usleep(600 * 1000);
  ck_assert(cache.get(&token, &error) == TokenResult::Ok);
  ck_assert_uint_eq(src->calls, 4);
  ck_assert_uint_eq(reports.size(), 1);  // once per outage
  ck_assert_uint_eq(cache.failed_refreshes(), 3);
  g_usleep(400 * 1000);
  ck_assert(cache.get(&token, &error) == TokenResult::Refused);
  ck_assert_str_eq(error.c_str(), "refused");
}
END_TEST

// Caches of the same credentials share their tokens: the second cache takes
// the first one's token instead of fetching; a token dropped after a 401 is
// not handed out again; caches of other credentials share nothing.
START_TEST(test_token_caches_share_tokens)
{
  using gcsfs::TokenResult;
  auto make = [](ScriptedTokens **src, const char *key, const char *prefix) {
    auto owned = std::make_unique<ScriptedTokens>();
    owned->key = key;
    owned->prefix = prefix;
    *src = owned.get();
    auto cache = std::make_unique<gcsfs::TokenCache>(std::move(owned));
    cache->share_tokens();
    return cache;
  };
  ScriptedTokens *s1, *s2, *s3, *other;
  auto c1 = make(&s1, "shared-test-a", "a"), c2 = make(&s2, "shared-test-a", "b"),
       c3 = make(&s3, "shared-test-a", "c");
  auto c4 = make(&other, "shared-test-b", "d");
  std::string t1, t2, t3, t4, error;
  ck_assert(c1->get(&t1, &error) == TokenResult::Ok);
  ck_assert(c2->get(&t2, &error) == TokenResult::Ok);
  STR_EQ(t2, t1);
  ck_assert_uint_eq(s1->calls + s2->calls, 1);  // one fetch for both
  ck_assert(c4->get(&t4, &error) == TokenResult::Ok);
  ck_assert_uint_eq(other->calls, 1);  // other credentials: its own
  // A 401 with the shared token: c2 drops it, fetches anew, and the fresh one is shared.
  c2->invalidate(t2);
  ck_assert(c2->get(&t2, &error) == TokenResult::Ok);
  ck_assert_uint_eq(s2->calls, 1);
  STR_EQ(t2, "b0");  // its own fetch, not the token dropped
  ck_assert(c3->get(&t3, &error) == TokenResult::Ok);
  STR_EQ(t3, t2);
  ck_assert_uint_eq(s3->calls, 0);
  // Without share_tokens() a cache fetches its own.
  auto owned = std::make_unique<ScriptedTokens>();
  ScriptedTokens *alone = owned.get();
  owned->key = "shared-test-a";
  gcsfs::TokenCache c5(std::move(owned));
  ck_assert(c5.get(&t1, &error) == TokenResult::Ok);
  ck_assert_uint_eq(alone->calls, 1);
}
END_TEST

// The process's upload pace: each reservation starts when the bytes
// reserved before it have had their time at the rate; idle time builds no
// burst. GCSFRAMESINK_MAX_UPLOAD_RATE is read with its suffixes, and refused
// with the fix when malformed.
START_TEST(test_upload_rate_limit)
{
  RateLimit limit(100000);  // 100 kB/s
  ck_assert_int_eq(limit.reserve(50000, 1000000), 1000000);  // at once
  ck_assert_int_eq(limit.reserve(50000, 1000000), 1500000);  // after the first's 0.5 s
  ck_assert_int_eq(limit.reserve(10000, 1200000), 2000000);  // after both
  ck_assert_int_eq(limit.reserve(10000, 5000000), 5000000);  // idle meanwhile: at once, no credit
  ck_assert_int_eq(limit.reserve(10000, 5000000), 5100000);
  limit.release(5100000, 10000, 5050000);                     // not begun: given back
  ck_assert_int_eq(limit.reserve(10000, 5050000), 5100000);
  limit.release(5000000, 10000, 5050000);                     // begun already: kept
  ck_assert_int_eq(limit.reserve(10000, 5050000), 5200000);
  uint64_t rate = 0;
  std::string why;
  const std::pair<const char *, uint64_t> good[] = {{"0", 0}, {"1500", 1500}, {"20k", 20000}, {"20M", 20000000},
                                                    {"1G", 1000000000}};
  for (const auto &g : good) {
    g_setenv("GCSFRAMESINK_MAX_UPLOAD_RATE", g.first, TRUE);
    ck_assert_msg(max_rate_from_environment(&rate, &why) && rate == g.second, "%s", g.first);
  }
  for (const char *v : {"fast", "20MB", "-5", "", "k"}) {
    g_setenv("GCSFRAMESINK_MAX_UPLOAD_RATE", v, TRUE);
    ck_assert_msg(!max_rate_from_environment(&rate, &why), "%s accepted", v);
    STR_CONTAINS(why, "is not a rate in bytes per second");
  }
  g_unsetenv("GCSFRAMESINK_MAX_UPLOAD_RATE");
  ck_assert(max_rate_from_environment(&rate, &why) && rate == 0);
}
END_TEST

START_TEST(test_multipart_body)
{
  ClientConfig cfg;
  cfg.endpoint = "http://127.0.0.1:1";
  cfg.bucket = "frames";
  cfg.metadata = {{"camera", "cam \"1\""}, {"site", "north"}};
  GcsClient client(cfg);
  // Binary bytes, including CR LF and dashes that look like a boundary.
  std::string data("\xff\xd8\r\n--\r\n\0\x01binary\xff\xd9", 18);
  std::string name = "caméra/\"quoted\"\\slash.jpg";
  std::string body = client.preamble(name, "image/jpeg", "4waSgw==", "") + data + client.epilogue();

  SoupMessageHeaders *hdrs = soup_message_headers_new(SOUP_MESSAGE_HEADERS_MULTIPART);
  soup_message_headers_replace(hdrs, "Content-Type", client.content_type_header().c_str());
  GBytes *bytes = g_bytes_new(body.data(), body.size());
  SoupMultipart *mp = soup_multipart_new_from_message(hdrs, bytes);
  ck_assert_ptr_nonnull(mp);
  ck_assert_int_eq(soup_multipart_get_length(mp), 2);

  SoupMessageHeaders *ph;
  GBytes *pb;
  ck_assert(soup_multipart_get_part(mp, 0, &ph, &pb));
  STR_EQ(soup_message_headers_get_content_type(ph, nullptr), "application/json");
  JsonParser *parser = json_parser_new();
  gsize plen;
  const char *pdata = (const char *)g_bytes_get_data(pb, &plen);
  ck_assert(json_parser_load_from_data(parser, pdata, (gssize)plen, nullptr));
  JsonObject *o = json_node_get_object(json_parser_get_root(parser));
  STR_EQ(json_object_get_string_member(o, "name"), name.c_str());
  STR_EQ(json_object_get_string_member(o, "contentType"), "image/jpeg");
  STR_EQ(json_object_get_string_member(o, "crc32c"), "4waSgw==");
  ck_assert(!json_object_has_member(o, "md5Hash"));
  JsonObject *md = json_object_get_object_member(o, "metadata");
  STR_EQ(json_object_get_string_member(md, "camera"), "cam \"1\"");
  STR_EQ(json_object_get_string_member(md, "site"), "north");
  g_object_unref(parser);

  ck_assert(soup_multipart_get_part(mp, 1, &ph, &pb));
  STR_EQ(soup_message_headers_get_content_type(ph, nullptr), "image/jpeg");
  const void *d = g_bytes_get_data(pb, &plen);
  ck_assert_uint_eq(plen, data.size());
  ck_assert(memcmp(d, data.data(), plen) == 0);

  soup_multipart_free(mp);
  g_bytes_unref(bytes);
  soup_message_headers_unref(hdrs);
}
END_TEST

// ---------------------------------------------------------------- answers

// An HTTP server on its own thread that answers every request with the
// status, Content-Type and body it is told to: a captive portal, a proxy,
// another server.
struct HostileServer {
  std::mutex m;
  guint status = 200;
  std::string content_type = "text/html", body;
  std::vector<std::pair<std::string, std::string>> headers;
  GMainContext *ctx = g_main_context_new();
  GMainLoop *loop = g_main_loop_new(ctx, FALSE);
  SoupServer *server = nullptr;
  GThread *thread = nullptr;
  std::string url;

  HostileServer()
  {
    g_main_context_push_thread_default(ctx);
    server = soup_server_new(nullptr, nullptr);
    soup_server_add_handler(server, nullptr, handler, this, nullptr);
    GError *err = nullptr;
    ck_assert_msg(soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &err), "listen: %s",
                  err ? err->message : "?");
    GSList *uris = soup_server_get_uris(server);
    url = "http://127.0.0.1:" + std::to_string(g_uri_get_port(static_cast<GUri *>(uris->data)));
    g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
    g_main_context_pop_thread_default(ctx);
    thread = g_thread_new("hostile", [](gpointer p) -> gpointer {
      auto *self = static_cast<HostileServer *>(p);
      g_main_context_push_thread_default(self->ctx);
      g_main_loop_run(self->loop);
      g_main_context_pop_thread_default(self->ctx);
      return nullptr;
    }, this);
  }
  ~HostileServer()
  {
    g_main_loop_quit(loop);
    g_thread_join(thread);
    g_object_unref(server);
    g_main_loop_unref(loop);
    g_main_context_unref(ctx);
  }
  void answer(guint st, const char *ct, const std::string &b,
              std::vector<std::pair<std::string, std::string>> h = {})
  {
    std::lock_guard<std::mutex> lk(m);
    status = st;
    content_type = ct;
    body = b;
    headers = std::move(h);
  }
  static void handler(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *, gpointer data)
  {
    auto *self = static_cast<HostileServer *>(data);
    std::lock_guard<std::mutex> lk(self->m);
    soup_server_message_set_status(msg, self->status, nullptr);
    for (const auto &h : self->headers)
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), h.first.c_str(),
                                   h.second.c_str());
    soup_server_message_set_response(msg, self->content_type.c_str(), SOUP_MEMORY_COPY, self->body.data(),
                                     self->body.size());
  }
};

// A 200 whose body is not the object resource of this bucket and name, with
// a generation, the frame's size and checksum, stored nothing we know of: it
// is a failure that says what came back, never "uploaded".
START_TEST(test_a_200_that_is_not_the_object)
{
  HostileServer srv;
  ClientConfig cfg;
  cfg.endpoint = srv.url;
  cfg.bucket = "b";
  cfg.retry.max_retries = 0;
  GcsClient client(cfg);
  const std::string data = "frame bytes";
  const std::string crc = crc32c_to_base64(crc32c(data.data(), data.size()));
  auto insert = [&] {
    return client.insert("cam/1.jpg", "image/jpeg", reinterpret_cast<const uint8_t *>(data.data()), data.size());
  };
  auto object = [&](const char *bucket, const char *name, const char *gen, size_t size, const std::string &c) {
    return std::string("{\"bucket\":\"") + bucket + "\",\"name\":\"" + name + "\"" +
           (gen ? std::string(",\"generation\":\"") + gen + "\"" : "") + ",\"size\":\"" + std::to_string(size) +
           "\",\"crc32c\":\"" + c + "\"}";
  };
  struct Case {
    const char *content_type;
    std::string body;
    const char *says;
  } cases[] = {
      {"text/html", "<html><body>Welcome to the hotel Wi-Fi</body></html>", "Welcome to the hotel"},
      {"text/plain", "", "an empty body"},
      {"application/xml", "<?xml version=\"1.0\"?><ListBucketResult/>", "ListBucketResult"},
      {"application/json", "{\"name\": \"cam/1.jpg\", ", "no object generation"},
      {"application/json", "{}", "no object generation"},
      {"application/json", object("b", "cam/1.jpg", nullptr, data.size(), crc), "no object generation"},
      {"application/json", object("b", "other.jpg", "7", data.size(), crc), "names object \"other.jpg\""},
      {"application/json", object("x", "cam/1.jpg", "7", data.size(), crc), "in bucket \"x\""},
      {"application/json", object("b", "cam/1.jpg", "7", 3, crc), "reports 3 bytes"},
      {"application/json", object("b", "cam/1.jpg", "7", data.size(), ""), "reports crc32c \"\""},
  };
  for (const Case &k : cases) {
    srv.answer(200, k.content_type, k.body);
    UploadResult r = insert();
    ck_assert_msg(r.status == FrameStatus::Failed, "answer %s counted as %s", k.body.c_str(),
                  frame_status_name(r.status));
    STR_EQ(r.reason, "unexpected-answer");
    STR_CONTAINS(r.message, k.says);
    STR_CONTAINS(r.message, "check the endpoint setting");
    ck_assert(!r.fatal);
  }
  // The object resource itself is an upload.
  srv.answer(200, "application/json", object("b", "cam/1.jpg", "7", data.size(), crc));
  UploadResult ok = insert();
  ck_assert(ok.status == FrameStatus::Uploaded);
  ck_assert_int_eq(ok.generation, 7);
}
END_TEST

// Failure messages say what happened: a redirect names the endpoint
// setting, a final 5xx says why no more retries came (attempts or budget, or
// a Retry-After past the budget), an oversized answer is not "no answer",
// and a 412 that is not a failed precondition keeps the server's reason
// without guessing "already exists".
START_TEST(test_messages_say_what_happened)
{
  HostileServer srv;
  ClientConfig cfg;
  cfg.endpoint = srv.url;
  cfg.bucket = "b";
  cfg.retry.max_retries = 1;
  cfg.retry.initial_backoff_ms = 10;
  cfg.retry.max_backoff_ms = 10;
  cfg.retry.retry_timeout_ms = 5000;
  GcsClient client(cfg);
  const std::string data = "frame bytes";
  auto insert = [&] {
    return client.insert("cam/1.jpg", "image/jpeg", reinterpret_cast<const uint8_t *>(data.data()), data.size());
  };
  auto gcs_error = [](int code, const char *reason, const char *message) {
    return std::string("{\"error\":{\"code\":") + std::to_string(code) + ",\"message\":\"" + message +
           "\",\"errors\":[{\"reason\":\"" + reason + "\",\"message\":\"" + message + "\"}]}}";
  };

  srv.answer(302, "text/html", "<a href=\"https://login.example/\">moved</a>",
             {{"Location", "https://login.example/portal"}});
  UploadResult r = insert();
  ck_assert(r.status == FrameStatus::Failed);
  STR_EQ(r.reason, "redirect");
  STR_CONTAINS(r.message, "HTTP 302");
  STR_CONTAINS(r.message, "redirects to https://login.example/portal");
  STR_CONTAINS(r.message, "endpoint setting");
  ck_assert_uint_eq(r.attempts, 1);  // not retried

  srv.answer(503, "application/json", gcs_error(503, "backendError", "Backend Error"));
  r = insert();
  ck_assert_uint_eq(r.attempts, 2);
  STR_CONTAINS(r.message, "Backend Error");
  STR_CONTAINS(r.message, "given up after 2 attempts: max-retries=1");
  ck_assert_msg(r.message.find("retried later") == std::string::npos, "%s", r.message.c_str());

  srv.answer(503, "application/json", gcs_error(503, "backendError", "Slow down"), {{"Retry-After", "60"}});
  r = insert();
  ck_assert_uint_eq(r.attempts, 1);
  STR_CONTAINS(r.message, "asked to retry after 60 s (Retry-After), past retry-timeout=5000 ms");

  srv.answer(200, "text/html", std::string(2 << 20, 'x'));
  r = insert();
  STR_EQ(r.reason, "response-too-large");
  STR_CONTAINS(r.message, "HTTP 200");
  STR_CONTAINS(r.message, "larger than 1024 KiB");
  STR_CONTAINS(r.message, "check the endpoint setting");
  ck_assert_msg(r.message.find("no answer") == std::string::npos, "%s", r.message.c_str());

  srv.answer(412, "application/json",
             gcs_error(412, "invalid", "Provided CRC32C 'AAAAAA==' does not match calculated CRC32C"));
  r = insert();
  STR_CONTAINS(r.message, "does not match calculated CRC32C");
  ck_assert_msg(r.message.find("already exists") == std::string::npos, "%s", r.message.c_str());
  srv.answer(412, "application/json",
             gcs_error(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold."));
  r = insert();
  STR_CONTAINS(r.message, "already exists");
}
END_TEST

// Uploads through a client with a RateLimit wait their turn: 4 objects of
// 25 kB at 50 kB/s take at least 1.5 s (the first goes at once), and a
// stop cuts a wait short.
START_TEST(test_client_keeps_the_upload_rate)
{
  gcsemu::Options o;
  o.buckets = {"bkt"};
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  RateLimit limit(50000);
  ClientConfig cfg;
  cfg.endpoint = emu.endpoint();
  cfg.bucket = "bkt";
  cfg.rate_limit = &limit;
  GcsClient client(cfg);
  const std::string data(25000, 'x');
  const gint64 t0 = g_get_monotonic_time();
  for (int i = 0; i < 4; i++) {
    UploadResult r = client.insert("r" + std::to_string(i), "image/jpeg",
                                   reinterpret_cast<const uint8_t *>(data.data()), data.size());
    ck_assert_msg(r.status == FrameStatus::Uploaded, "%s", r.message.c_str());
  }
  ck_assert_int_ge(g_get_monotonic_time() - t0, 1500 * 1000);  // never faster than the rate
  limit.reserve(500000, g_get_monotonic_time());  // the next one waits 10 s more
  const gint64 free_at = limit.reserve(0, g_get_monotonic_time());
  GThread *stopper = g_thread_new("stop", [](gpointer c) -> gpointer {
    g_usleep(100 * 1000);
    static_cast<GcsClient *>(c)->abort_all();
    return nullptr;
  }, &client);
  const gint64 t1 = g_get_monotonic_time();
  UploadResult r = client.insert("r4", "image/jpeg", reinterpret_cast<const uint8_t *>(data.data()), data.size());
  g_thread_join(stopper);
  ck_assert(r.aborted);
  STR_CONTAINS(r.message, "waiting for its turn");
  ck_assert_int_lt(g_get_monotonic_time() - t1, 5 * G_USEC_PER_SEC);  // not the 10 s
  client.resume();
  // Its reservation was given back: the next upload's turn is where it was.
  ck_assert_int_eq(limit.reserve(0, g_get_monotonic_time()), free_at);
  ck_assert(!emu.get_object("bkt", "r4", nullptr, nullptr));
}
END_TEST

// In doubt: a request sent in full that got no answer may have stored the
// object. Its frame ends unconfirmed (not failed) unless a later attempt
// finds out; one that never reached the server (refused) fails.
START_TEST(test_unanswered_requests_are_unconfirmed)
{
  gcsemu::Options o;
  o.buckets = {"bkt"};
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  emu.set_answer_delay(1500);  // stored at once, answered after 1.5 s
  ClientConfig cfg;
  cfg.endpoint = emu.endpoint();
  cfg.bucket = "bkt";
  cfg.request_timeout_ms = 300;
  cfg.retry.max_retries = 0;
  cfg.retry.initial_backoff_ms = 10;
  cfg.retry.max_backoff_ms = 10;
  const std::string data = "frame bytes";
  auto insert = [&](GcsClient &c, const char *name) {
    return c.insert(name, "image/jpeg", reinterpret_cast<const uint8_t *>(data.data()), data.size());
  };
  {
    GcsClient client(cfg);
    UploadResult r = insert(client, "a.jpg");
    ck_assert_msg(r.status == FrameStatus::Unconfirmed, "%s: %s", frame_status_name(r.status), r.message.c_str());
    STR_EQ(r.reason, "timeout");
    STR_CONTAINS(r.message, "may be stored");
    ck_assert(emu.get_object("bkt", "a.jpg", nullptr, nullptr));  // it was
  }
  {
    // A retry's 412 is held as well: still no answer, still in doubt.
    cfg.retry.max_retries = 1;
    GcsClient client(cfg);
    UploadResult r = insert(client, "b.jpg");
    ck_assert_msg(r.status == FrameStatus::Unconfirmed, "%s", r.message.c_str());
    ck_assert_msg(r.attempts == 2, "%u attempts: %s", r.attempts, r.message.c_str());
  }
  {
    // The first answer is held, the retry's comes at once: its 412 is read
    // back, the same bytes are there, so it is uploaded (once).
    GcsClient client(cfg);
    const uint64_t before = emu.answers_held();
    std::thread quick([&] {  // once the first answer is held (the server read the delay), no more delay
      for (int i = 0; i < 5000 && emu.answers_held() == before; i++)
        g_usleep(1000);
      emu.set_answer_delay(0);
    });
    UploadResult r = insert(client, "e.jpg");
    quick.join();
    ck_assert_msg(r.status == FrameStatus::Uploaded, "%s", r.message.c_str());
    ck_assert_msg(r.attempts == 2, "%u attempts", r.attempts);
  }
  {
    // Cut short by a stop once the server has the request: unconfirmed, aborted.
    emu.set_answer_delay(5000);
    cfg.request_timeout_ms = 30000;
    cfg.retry.max_retries = 0;
    GcsClient client(cfg);
    const uint64_t before = emu.requests_served();
    UploadResult r;
    std::thread t([&] { r = insert(client, "c.jpg"); });
    for (int i = 0; i < 5000 && emu.requests_served() == before; i++)
      g_usleep(1000);
    client.abort_all();
    t.join();
    ck_assert(r.status == FrameStatus::Unconfirmed);
    ck_assert(r.aborted);
  }
  emu.stop();
  {
    // Nothing listens: nothing was sent, so it failed.
    cfg.request_timeout_ms = 300;
    GcsClient client(cfg);
    UploadResult r = insert(client, "d.jpg");
    ck_assert(r.status == FrameStatus::Failed);
    STR_EQ(r.reason, "connection-refused");
  }
}
END_TEST

// ---------------------------------------------------------------- raw frames

// A 64x48 BGR test picture: gradients and a block, so a wrong channel order,
// a wrong stride or a wrong plane shows.
static cv::Mat test_picture()
{
  cv::Mat m(48, 64, CV_8UC3);
  for (int y = 0; y < m.rows; y++)
    for (int x = 0; x < m.cols; x++)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x * 4), uchar(y * 5), uchar(x < 32 && y < 24 ? 230 : 20));
  return m;
}

// Copies `m` (rows of `row_bytes`) into a buffer with `pad` extra bytes per row.
static std::vector<uint8_t> padded(const cv::Mat &m, int row_bytes, int pad)
{
  std::vector<uint8_t> out;
  for (int y = 0; y < m.rows; y++) {
    out.insert(out.end(), m.ptr<uint8_t>(y), m.ptr<uint8_t>(y) + row_bytes);
    out.insert(out.end(), size_t(pad), uint8_t(0xAB));
  }
  return out;
}

static double mean_abs_diff(const cv::Mat &a, const cv::Mat &b)
{
  cv::Mat d;
  cv::absdiff(a, b, d);
  cv::Scalar s = cv::mean(d);
  return (s[0] + s[1] + s[2]) / 3;
}

// Each raw layout, with padded rows, encodes to a picture of the right size
// and content: PNG exactly for the RGB family and GRAY8, within chroma
// subsampling's loss for I420 and NV12 (in place and repacked); JPEG and
// WebP within their loss. Bad layouts are refused with the cause.
START_TEST(test_encode_raw_formats)
{
  const cv::Mat bgr = test_picture();
  const int w = bgr.cols, h = bgr.rows, pad = 12;
  struct Case {
    PixelFormat format;
    cv::Mat packed;       // the picture in that layout, one plane
    double tolerance;     // mean absolute difference allowed after PNG
    cv::Mat expect;       // what decoding must give back
  };
  cv::Mat rgb, bgrx, rgbx, gray, i420, nv12, gray3;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  cv::cvtColor(bgr, bgrx, cv::COLOR_BGR2BGRA);
  cv::cvtColor(bgr, rgbx, cv::COLOR_BGR2RGBA);
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(gray, gray3, cv::COLOR_GRAY2BGR);
  cv::cvtColor(bgr, i420, cv::COLOR_BGR2YUV_I420);  // (h * 3/2) x w: Y, then U, then V
  // NV12 from I420: Y, then U and V interleaved.
  nv12 = cv::Mat(h + h / 2, w, CV_8UC1);
  i420.rowRange(0, h).copyTo(nv12.rowRange(0, h));
  const uint8_t *u = i420.ptr<uint8_t>(h), *v = u + (w / 2) * (h / 2);
  for (int i = 0; i < (w / 2) * (h / 2); i++) {
    nv12.ptr<uint8_t>(h)[2 * i] = u[i];
    nv12.ptr<uint8_t>(h)[2 * i + 1] = v[i];
  }
  const Case cases[] = {
      {PixelFormat::BGR, bgr, 0, bgr},   {PixelFormat::RGB, rgb, 0, bgr},     {PixelFormat::BGRx, bgrx, 0, bgr},
      {PixelFormat::RGBx, rgbx, 0, bgr}, {PixelFormat::GRAY8, gray, 0, gray3}, {PixelFormat::I420, i420, 6, bgr},
      {PixelFormat::NV12, nv12, 6, bgr},
  };
  for (const Case &k : cases) {
    for (bool in_place : {true, false}) {
      RawImage img;
      img.format = k.format;
      img.width = w;
      img.height = h;
      std::vector<uint8_t> buf;
      std::vector<std::vector<uint8_t>> keep;  // padded planes (moving a vector keeps its bytes in place)
      const bool yuv = k.format == PixelFormat::I420 || k.format == PixelFormat::NV12;
      if (!yuv) {
        const int row = int(k.packed.step[0]);
        buf = padded(k.packed, row, in_place ? 0 : pad);
        img.plane[0] = buf.data();
        img.stride[0] = row + (in_place ? 0 : pad);
      } else if (in_place) {  // the planes one after the other, no padding
        buf.assign(k.packed.data, k.packed.data + k.packed.total());
        img.plane[0] = buf.data();
        img.stride[0] = w;
        img.plane[1] = buf.data() + w * h;
        img.stride[1] = k.format == PixelFormat::NV12 ? w : w / 2;
        img.plane[2] = img.plane[1] + (w / 2) * (h / 2);
        img.stride[2] = w / 2;
      } else {  // every plane padded, apart
        const int planes = k.format == PixelFormat::NV12 ? 2 : 3;
        const uint8_t *src = k.packed.data;
        for (int p = 0; p < planes; p++) {
          const int rows = p == 0 ? h : h / 2;
          const int row = p == 0 || k.format == PixelFormat::NV12 ? w : w / 2;
          std::vector<uint8_t> part;
          for (int y = 0; y < rows; y++, src += row) {
            part.insert(part.end(), src, src + row);
            part.insert(part.end(), size_t(pad), uint8_t(0xAB));
          }
          keep.push_back(std::move(part));
          img.plane[p] = keep.back().data();
          img.stride[p] = row + pad;
        }
      }
      std::vector<uint8_t> png;
      std::string err;
      EncodeOptions opt;
      opt.format = ImageFormat::Png;
      ck_assert_msg(encode_raw(img, opt, &png, &err), "format %d: %s", int(k.format), err.c_str());
      cv::Mat back = cv::imdecode(png, cv::IMREAD_COLOR);
      ck_assert_int_eq(back.cols, w);
      ck_assert_int_eq(back.rows, h);
      double diff = mean_abs_diff(back, k.expect);
      ck_assert_msg(diff <= k.tolerance, "format %d (%s): differs by %.2f", int(k.format),
                    in_place ? "in place" : "padded", diff);
      for (ImageFormat lossy : {ImageFormat::Jpeg, ImageFormat::Webp}) {
        std::vector<uint8_t> out;
        opt.format = lossy;
        opt.quality = 95;
        ck_assert_msg(encode_raw(img, opt, &out, &err), "%s", err.c_str());
        cv::Mat dec = cv::imdecode(out, cv::IMREAD_COLOR);
        ck_assert_int_eq(dec.cols, w);
        ck_assert_int_eq(dec.rows, h);
        diff = mean_abs_diff(dec, k.expect);
        ck_assert_msg(diff <= k.tolerance + 6, "format %d as %s: differs by %.2f", int(k.format),
                      image_extension(lossy), diff);
      }
    }
  }
  STR_EQ(image_content_type(ImageFormat::Webp), "image/webp");
  {
    // Full-range I420 (as a JPEG decoder gives) goes to JPEG as it is; the
    // same planes taken as video range would be stretched, and differ.
    cv::Mat ycrcb, planes[3], cb, cr;
    cv::cvtColor(bgr, ycrcb, cv::COLOR_BGR2YCrCb);  // full range, JPEG's
    cv::split(ycrcb, planes);
    cv::resize(planes[2], cb, cv::Size(w / 2, h / 2), 0, 0, cv::INTER_AREA);
    cv::resize(planes[1], cr, cv::Size(w / 2, h / 2), 0, 0, cv::INTER_AREA);
    RawImage full;
    full.format = PixelFormat::I420;
    full.width = w;
    full.height = h;
    full.plane[0] = planes[0].data;
    full.plane[1] = cb.data;
    full.plane[2] = cr.data;
    full.stride[0] = int(planes[0].step[0]);
    full.stride[1] = int(cb.step[0]);
    full.stride[2] = int(cr.step[0]);
    full.full_range = true;
    EncodeOptions jpeg;
    jpeg.quality = 95;
    std::vector<uint8_t> out;
    std::string err;
    ck_assert_msg(encode_raw(full, jpeg, &out, &err), "%s", err.c_str());
    const double as_is = mean_abs_diff(cv::imdecode(out, cv::IMREAD_COLOR), bgr);
    full.full_range = false;
    ck_assert(encode_raw(full, jpeg, &out, &err));
    const double stretched = mean_abs_diff(cv::imdecode(out, cv::IMREAD_COLOR), bgr);
    ck_assert_msg(as_is <= 6 && stretched > as_is + 3, "full range: %.2f, taken as video range: %.2f", as_is,
                  stretched);
  }
  // Refused: odd I420, a stride shorter than a row, no size.
  RawImage bad;
  std::vector<uint8_t> out;
  std::string err;
  bad.format = PixelFormat::I420;
  bad.width = 63;
  bad.height = 48;
  bad.plane[0] = bad.plane[1] = bad.plane[2] = bgr.data;
  bad.stride[0] = 64;
  bad.stride[1] = bad.stride[2] = 32;
  ck_assert(!encode_raw(bad, EncodeOptions(), &out, &err));
  STR_CONTAINS(err, "even width and height");
  bad.format = PixelFormat::BGR;
  bad.width = 64;
  bad.stride[0] = 100;
  ck_assert(!encode_raw(bad, EncodeOptions(), &out, &err));
  STR_CONTAINS(err, "shorter than a row");
  bad.width = 0;
  ck_assert(!encode_raw(bad, EncodeOptions(), &out, &err));
  STR_CONTAINS(err, "no size");
}
END_TEST

// ---------------------------------------------------------------- ordered settling

// The "{index}" object-name template most uploader tests use.
static const NameTemplate &index_template()
{
  static NameTemplate t;
  static const bool parsed = [] {
    std::string err;
    return t.parse("{index}", &err);
  }();
  ck_assert(parsed);
  return t;
}

static bool started(Uploader &up)
{
  std::string err;
  return up.start(&err);
}

// A store that completes uploads after a random delay, so they finish out of order.
class RandomDelayStore : public ObjectStore {
 public:
  explicit RandomDelayStore(unsigned max_delay_us, std::set<uint64_t> fail_sizes = {})
      : max_delay_us_(max_delay_us), fail_sizes_(std::move(fail_sizes)) {}
  UploadResult insert(const std::string &name, std::string_view, const uint8_t *data, size_t size) override
  {
    unsigned delay;
    {
      std::lock_guard<std::mutex> lk(m_);
      delay = std::uniform_int_distribution<unsigned>(0, max_delay_us_)(rng_);
      names_.push_back(name);
    }
    in_flight_++;
    int peak = in_flight_.load();
    int prev = peak_.load();
    while (peak > prev && !peak_.compare_exchange_weak(prev, peak)) {
    }
    for (unsigned waited = 0; waited < delay && !aborting_; waited += 500)
      g_usleep(500);
    in_flight_--;
    UploadResult r;
    r.attempts = 1;
    if (aborting_) {
      r.status = FrameStatus::Dropped;
      r.aborted = true;
      return r;
    }
    if (fail_sizes_.count(size)) {
      r.status = FrameStatus::Failed;
      r.http_status = 503;
      r.message = "injected";
      return r;
    }
    r.status = FrameStatus::Uploaded;
    r.size = size;
    r.crc32c = crc32c_to_base64(crc32c(data, size));
    return r;
  }
  void abort_all() override { aborting_ = true; }
  void resume() override { aborting_ = false; }
  std::string object_url(const std::string &n) const override { return "http://store/b/" + n; }

  std::atomic<int> peak_{0};
  std::vector<std::string> names_;

 private:
  unsigned max_delay_us_;
  std::set<uint64_t> fail_sizes_;
  std::mutex m_;
  std::mt19937 rng_{12345};
  std::atomic<int> in_flight_{0};
  std::atomic<bool> aborting_{false};
};

struct RecordedFrame {
  uint64_t index;
  std::string object_name, uri;
  FrameStatus status;
  bool has_bytes;
};
struct RecordedBatch {
  uint64_t batch, first_index;
  unsigned uploaded, failed;
  std::vector<RecordedFrame> frames;
};

struct RecordingListener : Listener {
  std::mutex m;
  std::vector<uint64_t> frame_indices;
  std::vector<RecordedBatch> batches;
  std::vector<std::string> events;  // "f<index>", "b<batch>", "fatal", in call order
  std::string fatal_message;
  unsigned frame_delay_us = 0;      // time each on_frame takes
  void on_frame(const SettledFrame &f) override
  {
    if (frame_delay_us)
      g_usleep(frame_delay_us);
    std::lock_guard<std::mutex> lk(m);
    frame_indices.push_back(f.frame.index);
    events.push_back("f" + std::to_string(f.frame.index));
  }
  void on_batch(const SettledBatch &b) override
  {
    std::lock_guard<std::mutex> lk(m);
    RecordedBatch rb{b.batch, b.first_index, b.uploaded, b.failed, {}};
    for (const SettledFrame &f : b.frames)
      rb.frames.push_back({f.frame.index, f.frame.object_name, f.uri, f.result.status, bool(f.frame.bytes)});
    batches.push_back(std::move(rb));
    events.push_back("b" + std::to_string(b.batch));
  }
  void on_fatal(const UploadResult &e) override
  {
    std::lock_guard<std::mutex> lk(m);
    events.push_back("fatal");
    fatal_message = e.message;
  }
  size_t delivered()
  {
    std::lock_guard<std::mutex> lk(m);
    return frame_indices.size();
  }
};

// Polls `cond` every millisecond for up to 20 s; returns whether it became true.
template <typename F>
static bool eventually(F cond)
{
  for (int i = 0; i < 20000; i++) {
    if (cond())
      return true;
    g_usleep(1000);
  }
  return cond();
}

struct VecBytes : FrameBytes {
  std::vector<uint8_t> v;
  explicit VecBytes(size_t n, uint8_t fill) : v(n, fill)
  {
    data = v.data();
    size = v.size();
  }
};

static Frame make_frame(size_t size, uint8_t fill = 1)
{
  Frame f;
  f.bytes = std::make_unique<VecBytes>(size, fill);
  f.pts = 1000;
  f.ext = "jpg";
  f.content_type = "image/jpeg";
  return f;
}

START_TEST(test_ordered_settling_random_completion)
{
  RandomDelayStore store(3000, {77});  // frames of 77 bytes fail
  RecordingListener listener;
  NameTemplate tmpl;
  std::string err;
  ck_assert(tmpl.parse("{stream}/{batch}/{index:05}.{ext}", &err));
  UploaderConfig cfg;
  cfg.bucket = "b";
  cfg.stream = "s";
  cfg.first_index = 100;
  cfg.batch_size = 7;
  cfg.batch_timeout_ms = 0;
  cfg.max_concurrency = 8;
  cfg.max_queued_frames = 20;
  Uploader up(cfg, tmpl, store, listener);
  ck_assert(up.start(&err));
  const unsigned n = 500;
  for (unsigned i = 0; i < n; i++)
    ck_assert(up.submit(make_frame(i == 13 ? 77 : 100 + i % 50)) == Uploader::Submit::Ok);
  ck_assert(up.drain());

  ck_assert_uint_eq(listener.frame_indices.size(), n);
  for (unsigned i = 0; i < n; i++)
    ck_assert_uint_eq(listener.frame_indices[i], 100 + i);
  ck_assert_uint_eq(listener.batches.size(), (n + 6) / 7);
  for (size_t b = 0; b < listener.batches.size(); b++) {
    const RecordedBatch &sb = listener.batches[b];
    ck_assert_uint_eq(sb.batch, b);
    ck_assert_uint_eq(sb.first_index, 100 + 7 * b);
    ck_assert_uint_eq(sb.frames.size(), b + 1 < listener.batches.size() ? 7u : n % 7);
    for (size_t i = 0; i < sb.frames.size(); i++) {
      const RecordedFrame &f = sb.frames[i];
      ck_assert_uint_eq(f.index, sb.first_index + i);
      char expect[64];
      snprintf(expect, sizeof expect, "s/%zu/%05zu.jpg", b, (size_t)(sb.first_index + i));
      STR_EQ(f.object_name.c_str(), expect);
      STR_EQ(f.uri.c_str(), (std::string("gs://b/") + expect).c_str());
      ck_assert(!f.has_bytes);  // released once settled
    }
  }
  ck_assert(listener.batches[1].frames[6].status == FrameStatus::Failed);  // index 113
  ck_assert_uint_eq(listener.batches[1].failed, 1);
  ck_assert_uint_eq(listener.batches[1].uploaded, 6);
  Stats st = up.stats();
  ck_assert_uint_eq(st.frames_received, n);
  ck_assert_uint_eq(st.frames_uploaded, n - 1);
  ck_assert_uint_eq(st.frames_failed, 1);
  ck_assert_uint_eq(st.frames_in_flight, 0);
  ck_assert_uint_eq(st.batches_posted, listener.batches.size());
  // Concurrency was used, but never above the bound.
  ck_assert_int_gt(store.peak_.load(), 1);
  ck_assert_int_le(store.peak_.load(), 8);
}
END_TEST

START_TEST(test_batch_timeout_closes_partial_batch)
{
  RandomDelayStore store(0);
  RecordingListener listener;
  UploaderConfig cfg;
  cfg.batch_size = 100;
  cfg.batch_timeout_ms = 50;
  Uploader up(cfg, index_template(), store, listener);
  ck_assert(started(up));
  for (int i = 0; i < 3; i++)
    ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Ok);
  // No drain: the timer alone must close the batch (on a slow machine it may
  // close before the third frame, so count frames rather than batches).
  size_t delivered = 0;
  for (int i = 0; i < 1000 && delivered < 3; i++) {
    g_usleep(10000);
    std::lock_guard<std::mutex> lk(listener.m);
    delivered = 0;
    for (const RecordedBatch &b : listener.batches)
      delivered += b.frames.size();
  }
  std::lock_guard<std::mutex> lk(listener.m);
  ck_assert_uint_ge(listener.batches.size(), 1);
  ck_assert_uint_eq(delivered, 3);
  ck_assert_uint_eq(listener.batches[0].first_index, 0);
}
END_TEST

START_TEST(test_backpressure_and_flushing)
{
  RandomDelayStore store(10000000);  // uploads take "forever" unless aborted
  RecordingListener listener;
  UploaderConfig cfg;
  cfg.batch_size = 2;
  cfg.max_concurrency = 2;
  cfg.max_queued_frames = 3;
  Uploader up(cfg, index_template(), store, listener);
  ck_assert(started(up));
  for (int i = 0; i < 3; i++)
    ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Ok);
  // The fourth waits at the bound until set_flushing(true) wakes it.
  std::atomic<int> result{-1};
  std::pair<Uploader *, std::atomic<int> *> args(&up, &result);
  GThread *t = g_thread_new("submit", [](gpointer p) -> gpointer {
    auto *a = static_cast<std::pair<Uploader *, std::atomic<int> *> *>(p);
    a->second->store(int(a->first->submit(make_frame(10))));
    return nullptr;
  }, &args);
  ck_assert(eventually([&] { return up.stats().backpressure_waits == 1; }));
  ck_assert_int_eq(result.load(), -1);
  up.set_flushing(true);
  g_thread_join(t);
  ck_assert_int_eq(result.load(), int(Uploader::Submit::Flushing));
  ck_assert(!up.drain());  // interrupted, not hung
  up.set_flushing(false);
  // Shutdown aborts the stuck uploads; every frame still settles, as dropped.
  up.shutdown();
  ck_assert_uint_eq(listener.frame_indices.size(), 3);
  ck_assert_uint_eq(listener.batches.size(), 2);
  for (const RecordedBatch &b : listener.batches)
    for (const RecordedFrame &f : b.frames)
      ck_assert(f.status == FrameStatus::Dropped);
  ck_assert_uint_eq(up.stats().frames_dropped, 3);
  ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Flushing);
}
END_TEST

// A store that answers at once, except that the uploads of `held` names wait
// until release() lets them through (or abort_all() cuts them short), and
// `fatal` names fail with a fatal 403.
class GateStore : public ObjectStore {
 public:
  std::set<std::string> held, fatal;
  UploadResult insert(const std::string &name, std::string_view, const uint8_t *, size_t size) override
  {
    UploadResult r;
    r.attempts = 1;
    {
      std::unique_lock<std::mutex> lk(m_);
      inserts_++;
      if (held.count(name)) {
        waiting_++;
        cond_.wait(lk, [&] { return aborting_ || permits_ > 0; });
        waiting_--;
        if (!aborting_)
          permits_--;
      }
      if (aborting_) {
        r.status = FrameStatus::Dropped;
        r.aborted = true;
        return r;
      }
    }
    if (fatal.count(name)) {
      r.status = FrameStatus::Failed;
      r.http_status = 403;
      r.fatal = true;
      r.message = "forbidden";
      return r;
    }
    r.status = FrameStatus::Uploaded;
    r.size = size;
    return r;
  }
  void release(unsigned n = 1)
  {
    std::lock_guard<std::mutex> lk(m_);
    permits_ += n;
    cond_.notify_all();
  }
  unsigned waiting()
  {
    std::lock_guard<std::mutex> lk(m_);
    return waiting_;
  }
  void abort_all() override
  {
    std::lock_guard<std::mutex> lk(m_);
    aborting_ = true;
    cond_.notify_all();
  }
  void resume() override
  {
    std::lock_guard<std::mutex> lk(m_);
    aborting_ = false;
  }
  std::string object_url(const std::string &n) const override { return "http://store/b/" + n; }

 private:
  std::mutex m_;
  std::condition_variable cond_;
  unsigned permits_ = 0, waiting_ = 0, inserts_ = 0;
  bool aborting_ = false;
};

static UploaderConfig index_config(unsigned batch_size, unsigned concurrency, unsigned max_frames)
{
  UploaderConfig cfg;
  cfg.bucket = "b";
  cfg.batch_size = batch_size;
  cfg.batch_timeout_ms = 0;
  cfg.max_concurrency = concurrency;
  cfg.max_queued_frames = max_frames;
  return cfg;
}

// submit() on another thread; `result` is -1 until it returns.
struct AsyncSubmit {
  Uploader &up;
  size_t size;
  std::atomic<int> result{-1};
  GThread *thread;
  AsyncSubmit(Uploader &u, size_t sz) : up(u), size(sz)
  {
    thread = g_thread_new("submit", [](gpointer p) -> gpointer {
      auto *a = static_cast<AsyncSubmit *>(p);
      a->result = int(a->up.submit(make_frame(a->size)));
      return nullptr;
    }, this);
  }
  int join()
  {
    g_thread_join(thread);
    return result.load();
  }
};

// Delivery reads the open batch while submit() appends to it: with a batch
// far larger than a deque block, instant uploads and a listener that takes
// its time, the two meet constantly (ThreadSanitizer checks the access).
START_TEST(test_delivery_while_the_batch_grows)
{
  GateStore store;
  RecordingListener listener;
  listener.frame_delay_us = 50;
  Uploader up(index_config(4096, 4, 8192), index_template(), store, listener);
  ck_assert(started(up));
  const unsigned n = 6000;
  for (unsigned i = 0; i < n; i++)
    ck_assert(up.submit(make_frame(16)) == Uploader::Submit::Ok);
  ck_assert(up.drain());
  ck_assert_uint_eq(listener.frame_indices.size(), n);
  for (unsigned i = 0; i < n; i++)
    ck_assert_uint_eq(listener.frame_indices[i], i);
  ck_assert_uint_eq(listener.batches.size(), 2);
  ck_assert_uint_eq(listener.batches[1].frames.size(), n - 4096);
}
END_TEST

// Frames settled behind one slow frame are not reported yet, so they still
// count against max-queued-frames (their bytes are released): the backlog
// behind a stalled upload stays bounded.
START_TEST(test_undelivered_frames_count_against_the_bound)
{
  GateStore store;
  store.held = {"0"};
  RecordingListener listener;
  Uploader up(index_config(100, 4, 10), index_template(), store, listener);
  ck_assert(started(up));
  for (int i = 0; i < 10; i++)
    ck_assert(up.submit(make_frame(1000)) == Uploader::Submit::Ok);
  ck_assert(eventually([&] { return up.stats().frames_undelivered == 9; }));
  Stats st = up.stats();
  ck_assert_uint_eq(st.frames_in_flight, 1);
  ck_assert_uint_eq(st.bytes_queued, 1000);  // only the stalled frame's bytes are held
  AsyncSubmit eleventh(up, 1000);
  ck_assert(eventually([&] { return up.stats().backpressure_waits == 1; }));
  ck_assert_int_eq(eleventh.result.load(), -1);
  ck_assert_uint_eq(listener.delivered(), 0);
  store.release();
  ck_assert_int_eq(eleventh.join(), int(Uploader::Submit::Ok));
  ck_assert(up.drain());
  ck_assert_uint_eq(listener.delivered(), 11);
  st = up.stats();
  ck_assert_uint_eq(st.frames_undelivered, 0);
  ck_assert_uint_eq(st.frames_in_flight, 0);
}
END_TEST

// max-queued-bytes holds the producer as max-queued-frames does.
START_TEST(test_queued_bytes_bound)
{
  GateStore store;
  store.held = {"0", "1", "2"};
  RecordingListener listener;
  UploaderConfig cfg = index_config(10, 4, 100);
  cfg.max_queued_bytes = 2500;
  Uploader up(cfg, index_template(), store, listener);
  ck_assert(started(up));
  ck_assert(up.submit(make_frame(1000)) == Uploader::Submit::Ok);
  ck_assert(up.submit(make_frame(1000)) == Uploader::Submit::Ok);
  ck_assert_uint_eq(up.stats().backpressure_waits, 0);
  AsyncSubmit third(up, 1000);  // 3000 > 2500: waits
  ck_assert(eventually([&] { return up.stats().backpressure_waits == 1; }));
  ck_assert_int_eq(third.result.load(), -1);
  store.release();  // frame 0 settles: 1000 + 1000 <= 2500
  ck_assert_int_eq(third.join(), int(Uploader::Submit::Ok));
  store.release(2);
  ck_assert(up.drain());
  ck_assert_uint_eq(listener.delivered(), 3);
}
END_TEST

// A producer held at the bound goes on once a quarter of it has drained, not
// at the first free slot (one wake-up per many frames under overload).
START_TEST(test_resume_after_a_quarter_drained)
{
  GateStore store;
  for (int i = 0; i < 8; i++)
    store.held.insert(std::to_string(i));
  RecordingListener listener;
  Uploader up(index_config(100, 1, 8), index_template(), store, listener);
  ck_assert(started(up));
  for (int i = 0; i < 8; i++)
    ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Ok);
  AsyncSubmit ninth(up, 10);
  ck_assert(eventually([&] { return up.stats().backpressure_waits == 1; }));
  store.release();  // one of eight drained: not yet a quarter
  ck_assert(eventually([&] { return listener.delivered() == 1 && store.waiting() == 1; }));
  for (int i = 0; i < 100; i++) {  // and it stays held (100 ms)
    ck_assert_int_eq(ninth.result.load(), -1);
    g_usleep(1000);
  }
  ck_assert_uint_eq(up.stats().frames_received, 8);
  store.release();  // two of eight: a quarter
  ck_assert_int_eq(ninth.join(), int(Uploader::Submit::Ok));
  ck_assert_uint_eq(up.stats().backpressure_waits, 1);
  store.release(7);
  ck_assert(up.drain());
  ck_assert_uint_eq(listener.delivered(), 9);
}
END_TEST

// A fatal error settles what it stops as failed, and reaches the listener
// after the batch message of every frame accepted before it; submit() says
// Fatal only then.
START_TEST(test_fatal_error_after_every_batch)
{
  GateStore store;
  store.fatal = {"3"};
  store.held = {"5", "6"};  // in flight when the error comes: cut short
  RecordingListener listener;
  Uploader up(index_config(2, 4, 100), index_template(), store, listener);
  ck_assert(started(up));
  ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Ok);
  ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Ok);
  ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Ok);
  ck_assert(eventually([&] { return listener.delivered() == 3; }));
  ck_assert(up.submit(make_frame(10)) == Uploader::Submit::Ok);  // 3: fatal
  // Frames go on being accepted until the error is set; 5 and 6 wait in
  // their uploads until the error stops them.
  Uploader::Submit r;
  unsigned accepted = 4;
  while ((r = up.submit(make_frame(10))) == Uploader::Submit::Ok)
    accepted++;
  ck_assert(r == Uploader::Submit::Fatal);
  std::lock_guard<std::mutex> lk(listener.m);
  ck_assert_uint_ge(listener.events.size(), 2);
  STR_EQ(listener.events.back().c_str(), "fatal");
  STR_CONTAINS(listener.fatal_message, "frame 3 (gs://b/3): forbidden");
  size_t frames = 0;
  for (const RecordedBatch &b : listener.batches)
    frames += b.frames.size();
  ck_assert_uint_eq(frames, accepted);
  ck_assert_uint_eq(listener.frame_indices.size(), accepted);
  STR_EQ(listener.events[listener.events.size() - 2].c_str(),
         ("b" + std::to_string(listener.batches.back().batch)).c_str());
  ck_assert(listener.batches[1].frames[1].status == FrameStatus::Failed);  // frame 3
  if (accepted > 6) {
    ck_assert(listener.batches[2].frames[1].status == FrameStatus::Failed);  // 5: stopped
    ck_assert(listener.batches[3].frames[0].status == FrameStatus::Failed);  // 6: stopped
  }
  ck_assert_uint_eq(up.stats().frames_failed + up.stats().frames_uploaded, accepted);
}
END_TEST

#ifdef __linux__
// The upload threads end with the uploader: no thread that GLib hands to a
// later pool (GStreamer's streaming threads come from one) carries anything
// the workers set on themselves, such as their scheduling policy.
// Threads of this process; `named` counts those whose name starts with "gcsfs-".
static unsigned threads_in_process(unsigned *named = nullptr)
{
  unsigned n = 0;
  if (named)
    *named = 0;
  GDir *d = g_dir_open("/proc/self/task", 0, nullptr);
  ck_assert(d != nullptr);
  while (const gchar *tid = g_dir_read_name(d)) {
    n++;
    gchar *path = g_strdup_printf("/proc/self/task/%s/comm", tid);
    gchar *comm = nullptr;
    if (named && g_file_get_contents(path, &comm, nullptr, nullptr) && g_str_has_prefix(comm, "gcsfs-"))
      (*named)++;
    g_free(comm);
    g_free(path);
  }
  g_dir_close(d);
  return n;
}

START_TEST(test_threads_leave_nothing_behind)
{
  {
    ServiceLimits limits;
    limits.max_threads = 4;
    limits.idle_us = 500 * 1000;
    UploadService service(limits);
    GateStore store;
    RecordingListener listener;
    UploaderConfig cfg = index_config(4, 4, 64);
    cfg.batch_timeout_ms = 60000;  // the timer thread, too
    cfg.service = &service;
    Uploader up(cfg, index_template(), store, listener);
    ck_assert(started(up));
    for (int i = 0; i < 32; i++)
      ck_assert(up.submit(make_frame(16)) == Uploader::Submit::Ok);
    ck_assert(up.drain());
    const unsigned running = threads_in_process();
    const ServiceCounters c = service.counters();
    ck_assert_uint_le(c.peak_threads, 4);
    ck_assert(c.timer);
    up.shutdown();
    // Idle for 500 ms, the service's threads end (not parked for reuse).
    ck_assert(eventually([&] { return service.counters().threads == 0 && !service.counters().timer; }));
    unsigned named = 0;
    ck_assert(eventually([&] { return threads_in_process(&named), named == 0; }));
    ck_assert_uint_eq(threads_in_process(), running - c.threads - 1);
  }
  struct Probe {
    std::mutex m;
    std::vector<int> policies;
  } probe;
  GThreadPool *pool = g_thread_pool_new([](gpointer, gpointer ud) {
    auto *p = static_cast<Probe *>(ud);
    std::lock_guard<std::mutex> lk(p->m);
    p->policies.push_back(sched_getscheduler(0));
  }, &probe, 4, FALSE, nullptr);
  for (int i = 0; i < 8; i++)
    g_thread_pool_push(pool, GINT_TO_POINTER(1), nullptr);
  g_thread_pool_free(pool, FALSE, TRUE);
  std::lock_guard<std::mutex> lk(probe.m);  // GLib's wait for the tasks is invisible to ThreadSanitizer
  ck_assert_uint_eq(probe.policies.size(), 8);
  for (int policy : probe.policies)
    ck_assert_int_eq(policy, SCHED_OTHER);
}
END_TEST
#endif

// ---------------------------------------------------------------- upload service

struct NumberedJob : ServiceJob {
  explicit NumberedJob(int n) : id(n) {}
  int id;
};

// Queues job `id` on `stream`, which the service takes (a thread runs or starts).
static void push_ok(UploadService &service, UploadService::Stream *stream, int id)
{
  std::string why;
  ck_assert_msg(!service.push(stream, std::make_unique<NumberedJob>(id), &why), "refused: %s", why.c_str());
}

// Records the jobs it runs (in one order shared by several owners); a job
// waits while `hold` is set. Its deadline calls return `next_deadlines` in turn.
struct TestOwner : StreamOwner {
  std::mutex &order_m;
  std::vector<int> &order;
  std::mutex m;
  std::condition_variable c;
  bool hold = false;
  unsigned running = 0, peak = 0, done = 0, deadline_calls = 0;
  unsigned work_us = 0;  // each job's run time
  std::vector<gint64> next_deadlines;
  TestOwner(std::mutex &om, std::vector<int> &o) : order_m(om), order(o) {}
  void run(std::unique_ptr<ServiceJob> job) override
  {
    {
      std::lock_guard<std::mutex> lk(order_m);
      order.push_back(static_cast<NumberedJob *>(job.get())->id);
    }
    if (work_us)
      g_usleep(work_us);
    std::unique_lock<std::mutex> lk(m);
    running++;
    peak = std::max(peak, running);
    c.wait(lk, [&] { return !hold; });
    running--;
    done++;
  }
  gint64 on_deadline(gint64) override
  {
    std::lock_guard<std::mutex> lk(m);
    gint64 next = deadline_calls < next_deadlines.size() ? next_deadlines[deadline_calls] : 0;
    deadline_calls++;
    return next;
  }
  void set_hold(bool h)
  {
    std::lock_guard<std::mutex> lk(m);
    hold = h;
    c.notify_all();
  }
  template <typename F>
  auto with(F f)
  {
    std::lock_guard<std::mutex> lk(m);
    return f();
  }
};

// A stream whose jobs take long (20 ms) and that has many queued does not
// keep a quick stream waiting: thread time is shared, so the quick stream's
// jobs run as soon as the long job running ends, before the long stream's
// next one.
START_TEST(test_service_shares_thread_time)
{
  ServiceLimits limits;
  limits.max_threads = 1;
  UploadService service(limits);
  std::mutex om;
  std::vector<int> order;
  TestOwner a(om, order), b(om, order);
  a.work_us = 20000;
  UploadService::Stream *sa = service.attach(a, 4), *sb = service.attach(b, 4);
  for (int i = 0; i <= 10; i++)
    push_ok(service, sa, i);
  for (int i = 0; i < 5; i++)
    push_ok(service, sb, 100 + i);
  ck_assert(eventually([&] { return a.with([&] { return a.done == 11; }) && b.with([&] { return b.done == 5; }); }));
  std::lock_guard<std::mutex> lk(om);
  // a0 was running; then b's five, then a's ten (in arrival order: without
  // the fairness b's would come last).
  const std::vector<int> expected = {0, 100, 101, 102, 103, 104, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ck_assert_uint_eq(order.size(), expected.size());
  for (size_t i = 0; i < expected.size(); i++)
    ck_assert_msg(order[i] == expected[i], "job %zu is %d, expected %d", i, order[i], expected[i]);
  service.detach(sa);
  service.detach(sb);
}
END_TEST

// A stream runs at most its max_in_flight jobs at once; the process at most
// max_threads; threads start with work and end when idle.
START_TEST(test_service_bounds_and_idle_threads)
{
  ServiceLimits limits;
  limits.max_threads = 3;
  limits.idle_us = 50 * 1000;
  UploadService service(limits);
  ck_assert_uint_eq(service.counters().threads, 0);  // none before work comes
  std::mutex om;
  std::vector<int> order;
  TestOwner a(om, order), b(om, order);
  UploadService::Stream *sa = service.attach(a, 2), *sb = service.attach(b, 5);
  a.set_hold(true);
  b.set_hold(true);
  for (int i = 0; i < 10; i++)
    push_ok(service, sa, i);
  ck_assert(eventually([&] { return a.with([&] { return a.running == 2; }); }));
  ck_assert_uint_eq(service.counters().threads, 2);  // as many as the work that can run
  for (int i = 0; i < 5; i++)
    push_ok(service, sb, 100 + i);
  ck_assert(eventually([&] { return b.with([&] { return b.running == 1; }); }));
  ServiceCounters c = service.counters();
  ck_assert_uint_eq(c.threads, 3);  // the process's bound
  ck_assert_uint_eq(c.busy, 3);
  a.set_hold(false);
  b.set_hold(false);
  ck_assert(eventually([&] { return a.with([&] { return a.done == 10; }) && b.with([&] { return b.done == 5; }); }));
  ck_assert_uint_eq(a.with([&] { return a.peak; }), 2);
  ck_assert_uint_le(service.counters().peak_threads, 3);
  ck_assert(eventually([&] { return service.counters().threads == 0; }));  // idle: ended
  const uint64_t started = service.counters().threads_started;
  push_ok(service, sb, 200);
  ck_assert(eventually([&] { return b.with([&] { return b.done == 6; }); }));
  ck_assert_uint_eq(service.counters().threads_started, started + 1);  // started again for the work
  service.detach(sa);
  service.detach(sb);
}
END_TEST

START_TEST(test_service_deadlines_and_detach)
{
  ServiceLimits limits;
  limits.max_threads = 1;
  limits.idle_us = 50 * 1000;
  UploadService service(limits);
  std::mutex om;
  std::vector<int> order;
  TestOwner a(om, order);
  UploadService::Stream *sa = service.attach(a, 1);
  a.next_deadlines = {g_get_monotonic_time() + 30 * 1000, 0};
  service.arm(sa, g_get_monotonic_time() + 10 * 1000);
  ck_assert(eventually([&] { return a.with([&] { return a.deadline_calls == 2; }); }));  // called again at the one it returned
  // detach waits for the job running and hands back the ones not started.
  a.set_hold(true);
  for (int i = 0; i < 4; i++)
    push_ok(service, sa, i);
  ck_assert(eventually([&] { return a.with([&] { return a.running == 1; }); }));
  GThread *release = g_thread_new("release", [](gpointer p) -> gpointer {
    g_usleep(50 * 1000);
    static_cast<TestOwner *>(p)->set_hold(false);
    return nullptr;
  }, &a);
  std::deque<std::unique_ptr<ServiceJob>> left = service.detach(sa);
  ck_assert_uint_eq(a.with([&] { return a.done; }), 1);  // ended before detach returned
  g_thread_join(release);
  ck_assert_uint_eq(left.size(), 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(static_cast<NumberedJob *>(left[i].get())->id, i + 1);
  ck_assert_uint_eq(service.counters().streams, 0);
  ck_assert(!service.counters().timer);  // the last stream gone: the service thread ended
  ck_assert_uint_eq(service.counters().threads, 0);
}
END_TEST

// ---------------------------------------------------------------- manifest

static std::vector<std::string> file_lines(const std::string &path)
{
  std::vector<std::string> out;
  gchar *text = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(path.c_str(), &text, &len, nullptr))
    return out;
  std::string all(text, len);
  g_free(text);
  ck_assert_msg(all.empty() || all.back() == '\n', "the file ends inside a line");
  size_t at = 0;
  for (size_t nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1)
    out.push_back(all.substr(at, nl - at));
  return out;
}

// The manifest's lines: the batch message's fields (unknown times as null),
// appended whole; a write that fails (here: the file size limit) leaves no
// part of its line, and the next line is written.
START_TEST(test_manifest_lines)
{
  const std::string dir = spool_dir();  // not there yet
  std::string why;
  ck_assert(!Manifest::open(dir + "/m.jsonl", 0, "cam1", &why));
  STR_CONTAINS(why, "manifest-location");
  STR_CONTAINS(why, "No such file or directory");
  ck_assert(g_mkdir(dir.c_str(), 0700) == 0);
  const std::string path = dir + "/m.jsonl";
  std::unique_ptr<Manifest> m = Manifest::open(path, 0, "cam1", &why);
  ck_assert_msg(m != nullptr, "%s", why.c_str());

  SettledBatch b;
  b.batch = 7;
  b.first_index = 70;
  for (uint64_t i = 70; i < 72; i++) {
    SettledFrame f;
    f.frame.index = i;
    f.frame.object_name = "cam1/" + std::to_string(i) + ".jpg";
    f.frame.pts = i == 70 ? 1000 : kTimeNone;
    f.uri = "gs://bkt/" + f.frame.object_name;
    f.url = "http://h/bkt/" + f.frame.object_name;
    f.result.status = i == 70 ? FrameStatus::Uploaded : FrameStatus::Spooled;
    b.frames.push_back(std::move(f));
  }
  b.uploaded = 1;
  ck_assert(m->append(m->batch_line(b, "run1"), &why));
  SpoolRecord r = spool_meta(71);
  ck_assert(m->append(m->spool_line(r, "gs://bkt/x", "http://h/bkt/x"), &why));
  std::vector<std::string> lines = file_lines(path);
  ck_assert_uint_eq(lines.size(), 2);
  auto j = nlohmann::json::parse(lines[0]);
  STR_EQ(j.at("message").get<std::string>(), "GstGcsFrameSinkBatch");
  STR_EQ(j.at("run").get<std::string>(), "run1");
  ck_assert_uint_eq(j.at("batch").get<uint64_t>(), 7);
  ck_assert_uint_eq(j.at("first-index").get<uint64_t>(), 70);
  ck_assert_uint_eq(j.at("count").get<unsigned>(), 2);
  STR_EQ(j.at("uris")[1].get<std::string>(), "gs://bkt/cam1/71.jpg");
  STR_EQ(j.at("status")[1].get<std::string>(), "spooled");
  ck_assert_uint_eq(j.at("timestamps")[0].get<uint64_t>(), 1000);
  ck_assert(j.at("timestamps")[1].is_null());
  auto sp = nlohmann::json::parse(lines[1]);
  STR_EQ(sp.at("message").get<std::string>(), "GstGcsFrameSinkSpool");
  ck_assert_uint_eq(sp.at("index").get<uint64_t>(), 71);
  STR_EQ(sp.at("url").get<std::string>(), "http://h/bkt/x");

  // The file may not grow past its size now plus 10 bytes: the next line fails.
  GStatBuf st;
  ck_assert(g_stat(path.c_str(), &st) == 0);
  struct rlimit old;
  ck_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
  struct rlimit small = old;
  small.rlim_cur = rlim_t(st.st_size) + 10;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  ck_assert(setrlimit(RLIMIT_FSIZE, &small) == 0);
  const bool appended = m->append(m->batch_line(b, "run1"), &why);
  ck_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
  signal(SIGXFSZ, prev);
  ck_assert(!appended);
  STR_CONTAINS(why, "too large");
  ck_assert_uint_eq(file_lines(path).size(), 2);  // no part of it
  ck_assert(m->append(m->batch_line(b, "run2"), &why));
  lines = file_lines(path);
  ck_assert_uint_eq(lines.size(), 3);
  STR_EQ(nlohmann::json::parse(lines[2]).at("run").get<std::string>(), "run2");

  // Someone else cut the file short (truncate, logrotate's copytruncate):
  // the next line goes at its end, no gap of zero bytes before it.
  ck_assert(truncate(path.c_str(), 0) == 0);
  ck_assert(m->append(m->batch_line(b, "run4"), &why));
  lines = file_lines(path);
  ck_assert_uint_eq(lines.size(), 1);
  STR_EQ(nlohmann::json::parse(lines[0]).at("run").get<std::string>(), "run4");
  // A line left unfinished (a crash mid-write) is ended before the next one.
  {
    FILE *f = fopen(path.c_str(), "a");
    fputs("{\"half\":", f);
    fclose(f);
  }
  ck_assert(m->append(m->batch_line(b, "run5"), &why));
  lines = file_lines(path);
  ck_assert_uint_eq(lines.size(), 3);
  STR_EQ(lines[1], "{\"half\":");
  STR_EQ(nlohmann::json::parse(lines[2]).at("run").get<std::string>(), "run5");
  // A second sink on the same file shares it: its lines go to the same file.
  std::unique_ptr<Manifest> other = Manifest::open(path, 0, "cam2", &why);
  ck_assert(other->append(other->batch_line(b, "run6"), &why));
  ck_assert_uint_eq(file_lines(path).size(), 4);
  other.reset();

  // Rotation: a bound the next line would pass renames the file to .1.
  m.reset();
  ck_assert(g_stat(path.c_str(), &st) == 0);
  m = Manifest::open(path, uint64_t(st.st_size) + 1, "cam1", &why);
  ck_assert(m->append(m->batch_line(b, "run3"), &why));
  ck_assert_uint_eq(file_lines(path + ".1").size(), 4);
  ck_assert_uint_eq(file_lines(path).size(), 1);
  g_unlink((path + ".1").c_str());
  g_unlink(path.c_str());
  g_rmdir(dir.c_str());
}
END_TEST

static Suite *core_suite(void)
{
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_crc32c_rfc3720_vectors);
  tcase_add_test(tc, test_crc32c_chaining_and_base64);
  tcase_add_test(tc, test_template_placeholders);
  tcase_add_test(tc, test_template_hash);
  tcase_add_test(tc, test_run_ids);
  tcase_add_test(tc, test_template_errors);
  tcase_add_test(tc, test_bucket_names);
  tcase_add_test(tc, test_object_names_and_percent_encoding);
  tcase_add_test(tc, test_resolve_endpoint);
  tcase_add_test(tc, test_settings_that_can_never_work);
  tcase_add_test(tc, test_sink_config_refusals);
  tcase_add_test(tc, test_spool_round_trip);
  tcase_add_test(tc, test_spool_bound);
  tcase_add_test(tc, test_spool_corrupt_and_unwritable);
  tcase_add_test(tc, test_manifest_lines);
  tcase_add_test(tc, test_retry_classification);
  tcase_add_test(tc, test_backoff_bounds);
  tcase_add_test(tc, test_credentials_file_errors);
  tcase_add_test(tc, test_token_answers);
  tcase_add_test(tc, test_token_cache_backoff);
  tcase_add_test(tc, test_token_caches_share_tokens);
  tcase_add_test(tc, test_upload_rate_limit);
  tcase_add_test(tc, test_client_keeps_the_upload_rate);
  tcase_add_test(tc, test_multipart_body);
  tcase_add_test(tc, test_a_200_that_is_not_the_object);
  tcase_add_test(tc, test_messages_say_what_happened);
  tcase_add_test(tc, test_unanswered_requests_are_unconfirmed);
  tcase_add_test(tc, test_encode_raw_formats);
  tcase_add_test(tc, test_ordered_settling_random_completion);
  tcase_add_test(tc, test_batch_timeout_closes_partial_batch);
  tcase_add_test(tc, test_backpressure_and_flushing);
  tcase_add_test(tc, test_delivery_while_the_batch_grows);
  tcase_add_test(tc, test_undelivered_frames_count_against_the_bound);
  tcase_add_test(tc, test_queued_bytes_bound);
  tcase_add_test(tc, test_resume_after_a_quarter_drained);
  tcase_add_test(tc, test_fatal_error_after_every_batch);
#ifdef __linux__
  tcase_add_test(tc, test_threads_leave_nothing_behind);
  tcase_add_test(tc, test_service_shares_thread_time);
  tcase_add_test(tc, test_service_bounds_and_idle_threads);
  tcase_add_test(tc, test_service_deadlines_and_detach);
#endif
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(core_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
