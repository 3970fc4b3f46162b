// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Credentials and TLS, end to end against the emulator: a service-account
// key (a throwaway RSA key made at test time) with tokens that expire and get
// revoked mid-stream, user credentials, the metadata server through the ADC
// chain, bad credentials at start, HTTPS with the right and a wrong CA, and
// no secret in the debug log.
#include "codec.h"
#include "common.h"
#include "gcs-emulator.h"
#include "naming.h"
#include "testkit.h"

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <json-glib/json-glib.h>

#include <functional>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

static const char *kBucket = "auth-frames";

static std::string temp_dir()
{
  gchar *d = g_dir_make_tmp("gcsframesink-auth-XXXXXX", nullptr);
  std::string s(d);
  g_free(d);
  return s;
}

static std::string write_file(const std::string &dir, const char *name, const std::string &text)
{
  std::string path = dir + "/" + name;
  ck_assert(g_file_set_contents(path.c_str(), text.data(), gssize(text.size()), nullptr));
  return path;
}

static std::string service_account_json(const std::string &private_pem, const std::string &token_uri)
{
  return "{\"type\":\"service_account\",\"project_id\":\"test\",\"private_key_id\":\"k1\",\"private_key\":" +
         gcsfs::json_quote(private_pem) + ",\"client_email\":\"frames@test.iam.gserviceaccount.com\",\"token_uri\":" +
         gcsfs::json_quote(token_uri) + "}";
}

// Collects every debug line, at every level, of every category.
struct DebugLog {
  std::mutex m;
  std::string text;
  static void log_fn(GstDebugCategory *, GstDebugLevel, const gchar *, const gchar *, gint, GObject *,
                     GstDebugMessage *message, gpointer user_data)
  {
    auto *self = static_cast<DebugLog *>(user_data);
    const gchar *msg = gst_debug_message_get(message);
    std::lock_guard<std::mutex> lk(self->m);
    self->text += msg ? msg : "";
    self->text += '\n';
  }
  DebugLog()
  {
    gst_debug_set_active(TRUE);
    gst_debug_set_default_threshold(GST_LEVEL_MEMDUMP);
    gst_debug_add_log_function(log_fn, this, nullptr);
  }
  ~DebugLog()
  {
    gst_debug_remove_log_function_by_data(this);
    gst_debug_set_default_threshold(GST_LEVEL_NONE);
  }
};

struct Run {
  std::vector<std::string> statuses;
  std::string error, warning;
};

// A sink with `props` (name, value pairs) on its own bus, fed JPEG frames
// from a videotestsrc ! jpegenc harness.
struct JpegRig {
  GstElement *sink;
  GstBus *bus;
  GstHarness *src, *h;
  explicit JpegRig(const Props &props) : sink(make_sink(props)), bus(gst_bus_new())
  {
    gst_element_set_bus(sink, bus);
    src = gst_harness_new_parse(
        "videotestsrc pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 ! jpegenc");
    gst_harness_play(src);
    h = gst_harness_new_with_element(sink, "sink", nullptr);
    gst_harness_set_src_caps_str(h, "image/jpeg,width=160,height=120,framerate=30/1");
  }
  ~JpegRig()
  {
    gst_harness_teardown(h);
    gst_harness_teardown(src);
    gst_element_set_bus(sink, nullptr);
    gst_object_unref(bus);
  }
  GstFlowReturn push_one() { return gst_harness_push(h, gst_harness_pull(src)); }
};

static Run finish(JpegRig &rig);

// Pushes `n` JPEG frames through a sink with `props` (name, value pairs),
// calling `midway` after half of them, then EOS.
static Run upload(const Props &props, unsigned n,
                  unsigned spacing_ms = 0, const std::function<void()> &midway = {})
{
  JpegRig rig(props);
  for (unsigned i = 0; i < n; i++) {
    if (i == n / 2 && midway)
      midway();
    if (rig.push_one() != GST_FLOW_OK)
      break;
    if (spacing_ms)
      g_usleep(spacing_ms * 1000);
  }
  return finish(rig);
}

// Sends EOS (which drains) and reads what the bus got.
static Run finish(JpegRig &rig)
{
  Run run;
  gst_harness_push_event(rig.h, gst_event_new_eos());
  while (GstMessage *m = gst_bus_pop(rig.bus)) {
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT &&
        gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch")) {
      const GValue *st = gst_structure_get_value(gst_message_get_structure(m), "status");
      for (guint i = 0; i < gst_value_array_get_size(st); i++)
        run.statuses.push_back(g_value_get_string(gst_value_array_get_value(st, i)));
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      std::string &dst = GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR ? run.error : run.warning;
      dst += message_text(m) + "\n";
    }
    gst_message_unref(m);
  }
  return run;
}

static size_t count_substr(const std::string &text, const char *what)
{
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    n++;
  return n;
}

static size_t count(const std::vector<std::string> &v, const char *what)
{
  size_t n = 0;
  for (const auto &s : v)
    n += s == what;
  return n;
}

// A service-account key against an emulator that requires auth; tokens live
// 3 s (so they are refreshed mid-stream) and are revoked half way (so a 401
// forces a refresh). Every frame is stored; no secret reaches the log.
START_TEST(test_service_account_end_to_end)
{
  gcsemu::TestKeyPair key = gcsemu::make_rsa_key_pair();
  ck_assert(!key.private_pem.empty());
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_public_key_pem = key.public_pem;
  o.require_auth = true;
  o.token_lifetime_s = 3;
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  std::string dir = temp_dir();
  std::string key_file = write_file(dir, "key.json", service_account_json(key.private_pem, emu.token_url()));

  DebugLog log;
  Run run = upload({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", key_file},
                    {"batch-size", "5"}, {"max-concurrency", "4"}},
                   40, 100, [&] { emu.revoke_all_tokens(); });
  ck_assert_msg(run.error.empty(), "%s", run.error.c_str());
  ck_assert_uint_eq(run.statuses.size(), 40);
  ck_assert_uint_eq(count(run.statuses, "uploaded"), 40);
  ck_assert_uint_eq(emu.object_count(kBucket), 40);
  ck_assert_uint_ge(emu.tokens_issued(), 3);  // first, on expiry, after the revocation
  ck_assert_uint_ge(emu.auth_failures(), 1);  // the revoked token was refused, then replaced

  std::lock_guard<std::mutex> lk(log.m);
  ck_assert_uint_gt(log.text.size(), 10000);  // the log really was captured
  // A line from the middle of the private key, the token prefix, the header.
  std::string key_line = key.private_pem.substr(key.private_pem.find('\n', 100) + 1, 40);
  ck_assert(log.text.find(key_line) == std::string::npos);
  ck_assert(log.text.find("ya29.") == std::string::npos);
  ck_assert(log.text.find("Bearer") == std::string::npos);
  ck_assert(log.text.find("BEGIN PRIVATE KEY") == std::string::npos);
}
END_TEST

// Sinks of one process with the same credentials share one token: the
// second starts with the first one's, no fetch of its own; a sink with
// share-uploads=false fetches its own.
START_TEST(test_sinks_share_one_token)
{
  gcsemu::TestKeyPair key = gcsemu::make_rsa_key_pair();
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_public_key_pem = key.public_pem;
  o.require_auth = true;
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  std::string key_file =
      write_file(temp_dir(), "key.json", service_account_json(key.private_pem, emu.token_url()));
  Props props = {{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", key_file}, {"batch-size", "2"}};
  JpegRig a(props);
  JpegRig b(props);
  ck_assert_uint_eq(emu.tokens_issued(), 1);
  for (JpegRig *rig : {&a, &b}) {
    ck_assert_int_eq(rig->push_one(), GST_FLOW_OK);
    ck_assert_int_eq(rig->push_one(), GST_FLOW_OK);
    Run run = finish(*rig);
    ck_assert_msg(run.error.empty(), "%s", run.error.c_str());
    ck_assert_uint_eq(count(run.statuses, "uploaded"), 2);
  }
  ck_assert_uint_eq(emu.tokens_issued(), 1);
  Props own = props;
  own.push_back({"share-uploads", "false"});
  JpegRig c(own);
  ck_assert_uint_eq(emu.tokens_issued(), 2);
}
END_TEST

// Stopping while a worker waits for a token server that does not answer:
// the fetch is cut short (not waited out for the request timeout), the frame
// is reported dropped, and no credentials error is made up.
START_TEST(test_stop_during_token_refresh)
{
  gcsemu::TestKeyPair key = gcsemu::make_rsa_key_pair();
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_public_key_pem = key.public_pem;
  o.require_auth = true;
  o.token_lifetime_s = 2;  // refreshed after 1 s
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  std::string key_file =
      write_file(temp_dir(), "key.json", service_account_json(key.private_pem, emu.token_url()));
  JpegRig rig({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", key_file}, {"batch-size", "1"},
               {"request-timeout", "120000"}});
  ck_assert_uint_eq(emu.tokens_issued(), 1);  // at start
  emu.set_token_delay(60000);
  // Frames until one finds the token due and asks for a new one.
  for (int i = 0; i < 1000 && emu.tokens_issued() < 2; i++) {
    ck_assert_int_eq(rig.push_one(), GST_FLOW_OK);
    g_usleep(10 * 1000);
  }
  ck_assert_uint_eq(emu.tokens_issued(), 2);
  gint64 t0 = g_get_monotonic_time();
  ck_assert_int_eq(gst_element_set_state(rig.sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gint64 took_ms = (g_get_monotonic_time() - t0) / 1000;
  ck_assert_msg(took_ms < 30000, "stopping waited %" G_GINT64_FORMAT " ms for the token server", took_ms);
  unsigned dropped = 0;
  while (GstMessage *m = gst_bus_pop(rig.bus)) {
    ck_assert_msg(GST_MESSAGE_TYPE(m) != GST_MESSAGE_ERROR, "error: %s", message_text(m).c_str());
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT &&
        gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch")) {
      const GValue *st = gst_structure_get_value(gst_message_get_structure(m), "status");
      dropped += g_str_equal(g_value_get_string(gst_value_array_get_value(st, 0)), "dropped");
    }
    gst_message_unref(m);
  }
  ck_assert_uint_ge(dropped, 1);
}
END_TEST

// The token server answers 503 when the token is due for refresh but still
// valid: the current token is kept (uploads go on), the refresh is asked
// again with backoff, one warning says so, and nothing stops.
START_TEST(test_token_outage_while_the_token_is_valid)
{
  gcsemu::TestKeyPair key = gcsemu::make_rsa_key_pair();
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_public_key_pem = key.public_pem;
  o.require_auth = true;
  o.token_lifetime_s = 6;  // due for refresh after 3 s, valid for 5 s
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  std::string key_file =
      write_file(temp_dir(), "key.json", service_account_json(key.private_pem, emu.token_url()));
  JpegRig rig({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", key_file}, {"batch-size", "4"}});
  ck_assert_uint_eq(emu.tokens_issued(), 1);  // at start
  emu.fail_token_requests(2);
  unsigned pushed = 0;
  for (; pushed < 2000 && emu.tokens_issued() < 2; pushed++) {
    ck_assert_int_eq(rig.push_one(), GST_FLOW_OK);
    g_usleep(10 * 1000);
  }
  ck_assert_uint_eq(emu.token_requests_failed(), 2);
  ck_assert_uint_eq(emu.tokens_issued(), 2);  // the third request got the new token
  Run run = finish(rig);
  ck_assert_msg(run.error.empty(), "%s", run.error.c_str());
  ck_assert_uint_eq(count(run.statuses, "uploaded"), pushed);
  ck_assert_uint_eq(emu.object_count(kBucket), pushed);
  STR_CONTAINS(run.warning, "Refreshing the access token failed; the current token is still used");
  STR_CONTAINS(run.warning, "HTTP 503");
  // Once per outage, not once per failed request.
  ck_assert_uint_eq(count_substr(run.warning, "Refreshing the access token failed"), 1);
}
END_TEST

// The token server is down when the element starts: a warning, not an
// error; the uploads ask again with backoff and store every frame once it
// answers.
START_TEST(test_token_server_down_at_start)
{
  gcsemu::TestKeyPair key = gcsemu::make_rsa_key_pair();
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_public_key_pem = key.public_pem;
  o.require_auth = true;
  o.token_failures = 2;
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  std::string key_file =
      write_file(temp_dir(), "key.json", service_account_json(key.private_pem, emu.token_url()));
  Run run = upload({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", key_file},
                    {"batch-size", "2"}},
                   4);
  ck_assert_msg(run.error.empty(), "%s", run.error.c_str());
  ck_assert_uint_eq(count(run.statuses, "uploaded"), 4);
  ck_assert_uint_eq(emu.object_count(kBucket), 4);
  ck_assert_uint_eq(emu.token_requests_failed(), 2);
  STR_CONTAINS(run.warning, "No access token yet: the token server is unavailable");
}
END_TEST

START_TEST(test_authorized_user_refresh_grant)
{
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_client_id = "client-1";
  o.oauth_client_secret = "s3cret";
  o.oauth_refresh_token = "1//refresh-token-value";
  o.require_auth = true;
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert(emu.start(&err));
  std::string dir = temp_dir();
  std::string adc = write_file(dir, "adc.json",
                               "{\"type\":\"authorized_user\",\"client_id\":\"client-1\",\"client_secret\":"
                               "\"s3cret\",\"refresh_token\":\"1//refresh-token-value\",\"token_uri\":" +
                                   gcsfs::json_quote(emu.token_url()) + "}");
  Run run = upload({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", adc}}, 5);
  ck_assert_uint_eq(count(run.statuses, "uploaded"), 5);
  ck_assert_uint_eq(emu.object_count(kBucket), 5);

  // A revoked refresh token: refused at start, naming the file and the fix.
  std::string bad = write_file(dir, "bad.json",
                               "{\"type\":\"authorized_user\",\"client_id\":\"client-1\",\"client_secret\":"
                               "\"s3cret\",\"refresh_token\":\"1//other\",\"token_uri\":" +
                                   gcsfs::json_quote(emu.token_url()) + "}");
  std::string e = start_error({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", bad}});
  STR_CONTAINS(e, bad);
  STR_CONTAINS(e, "gcloud auth application-default login");
  ck_assert(e.find("1//other") == std::string::npos);
}
END_TEST

START_TEST(test_bad_credentials_stop_the_start)
{
  gcsemu::TestKeyPair key = gcsemu::make_rsa_key_pair(), other = gcsemu::make_rsa_key_pair();
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_public_key_pem = other.public_pem;  // the server trusts another key
  o.require_auth = true;
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert(emu.start(&err));
  std::string dir = temp_dir();
  std::string key_file = write_file(dir, "key.json", service_account_json(key.private_pem, emu.token_url()));
  std::vector<std::pair<std::string, std::string>> base = {{"bucket", kBucket}, {"endpoint", emu.endpoint()}};

  auto with = [&](const std::string &creds) {
    auto p = base;
    p.emplace_back("credentials", creds);
    return p;
  };
  std::string e = start_error(with(key_file));
  STR_CONTAINS(e, "refused");
  STR_CONTAINS(e, "frames@test.iam.gserviceaccount.com");
  STR_CONTAINS(e, "Invalid JWT Signature");
  STR_CONTAINS(start_error(with(dir + "/missing.json")), dir + "/missing.json");
  STR_CONTAINS(start_error(with(write_file(dir, "broken.json", "{\"type\": \"service_account\","))),
               "not valid JSON");
  STR_CONTAINS(start_error(with(write_file(dir, "ext.json", "{\"type\": \"external_account\"}"))),
               "external_account");
}
END_TEST

// An emulator serving HTTPS with a certificate from a CA made for the test
// (tls.ca_file trusts it, tls.other_ca_file does not), started.
struct TlsEmulator {
  gcsemu::TestTls tls;
  std::unique_ptr<gcsemu::Emulator> emu;
  explicit TlsEmulator(gcsemu::Options o)
  {
    ck_assert(gcsemu::make_test_tls(&tls));
    o.tls_cert_file = tls.cert_file;
    o.tls_key_file = tls.key_file;
    emu = std::make_unique<gcsemu::Emulator>(o);
    std::string err;
    ck_assert_msg(emu->start(&err), "%s", err.c_str());
  }
};

// No credentials configured and an https endpoint: the ADC chain ends at the
// metadata server (GCE_METADATA_ROOT), whose token the storage API accepts.
START_TEST(test_metadata_server_through_adc_over_https)
{
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.metadata_server = true;
  o.require_auth = true;
  TlsEmulator https(o);
  gcsemu::Emulator &emu = *https.emu;
  const gcsemu::TestTls &tls = https.tls;
  g_setenv("GCE_METADATA_ROOT", (emu.endpoint() + "/computeMetadata/v1").c_str(), TRUE);
  Run run = upload({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"ca-file", tls.ca_file}}, 6);
  g_unsetenv("GCE_METADATA_ROOT");
  ck_assert_msg(run.error.empty(), "%s", run.error.c_str());
  ck_assert_uint_eq(count(run.statuses, "uploaded"), 6);
  ck_assert_uint_eq(emu.object_count(kBucket), 6);
  ck_assert_uint_ge(emu.tokens_issued(), 1);
}
END_TEST

// HTTPS with the CA that signed the server's certificate works; with another
// CA the upload is refused with an error that names the fix.
START_TEST(test_tls_verification)
{
  gcsemu::Options o;
  o.buckets = {kBucket};
  TlsEmulator https(o);
  gcsemu::Emulator &emu = *https.emu;
  const gcsemu::TestTls &tls = https.tls;
  Run good = upload({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", "anonymous"},
                     {"ca-file", tls.ca_file}},
                    4);
  ck_assert_uint_eq(count(good.statuses, "uploaded"), 4);
  Run bad = upload({{"bucket", kBucket}, {"endpoint", emu.endpoint()}, {"credentials", "anonymous"},
                    {"ca-file", tls.other_ca_file}, {"object-name", "wrong-ca/{index}.{ext}"}},
                   2);
  ck_assert_uint_eq(count(bad.statuses, "uploaded"), 0);
  STR_CONTAINS(bad.error, "tls-failure");
  STR_CONTAINS(bad.error, "ca-file");
  ck_assert_uint_eq(emu.object_count(kBucket), 4);
}
END_TEST

static Suite *auth_suite(void)
{
  Suite *s = suite_create("auth");
  TCase *tc = tcase_create("credentials");
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  clear_emulator_env();
  g_unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
  // An empty config folder: no gcloud ADC file from the machine running the tests.
  gchar *cfg = g_dir_make_tmp("gcsframesink-config-XXXXXX", nullptr);
  g_setenv("XDG_CONFIG_HOME", cfg, TRUE);
  g_free(cfg);
  tcase_add_test(tc, test_service_account_end_to_end);
  tcase_add_test(tc, test_authorized_user_refresh_grant);
  tcase_add_test(tc, test_bad_credentials_stop_the_start);
  tcase_add_test(tc, test_stop_during_token_refresh);
  tcase_add_test(tc, test_sinks_share_one_token);
  tcase_add_test(tc, test_token_outage_while_the_token_is_valid);
  tcase_add_test(tc, test_token_server_down_at_start);
  // HTTPS cases: their TLS runs in glib-networking's GnuTLS threads (see tests/meson.build).
  TCase *tls = tcase_create("tls");
  tcase_set_timeout(tls, 120);
  suite_add_tcase(s, tls);
  tcase_add_test(tls, test_metadata_server_through_adc_over_https);
  tcase_add_test(tls, test_tls_verification);
  return s;
}

GST_CHECK_MAIN(auth);
