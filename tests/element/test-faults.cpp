// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Fault tests: the scenarios of Google's retry conformance suite that apply
// to objects.insert, injected through the emulator's storage-testbench API
// (POST /retry_test, selected per request by x-retry-test-id). Each test
// asserts what was stored and what the batch and frame messages say.
//
// With GCS_TEST_ENDPOINT set (for example http://127.0.0.1:9000 for Google's
// storage-testbench, or the bundled emulator started as its own process),
// the tests run against that server instead of an in-process emulator; they
// create the bucket test-faults if it is missing. Every object name starts
// with a prefix unique to the run and is unique to its test, so one
// long-lived server can serve any number of runs (tests/faults-shared.sh).
#include "checksum.h"
#include "common.h"
#include "gcs-emulator.h"

#include <curl/curl.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string>
#include <vector>

static const char *kBucket = "test-faults";

// "faults/<random>/" for this run: set once in the suite's process, before
// each test's forked process.
static std::string run_prefix;

// The object name of `leaf` in this run.
static std::string named(const std::string &leaf)
{
  return run_prefix + leaf;
}

static size_t to_string_cb(char *p, size_t size, size_t n, void *ud)
{
  static_cast<std::string *>(ud)->append(p, size * n);
  return size * n;
}

static long http(const std::string &method, const std::string &url, const std::string &body, std::string *out)
{
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  struct curl_slist *h = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (!body.empty())
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_string_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return status;
}

struct Server {
  std::unique_ptr<gcsemu::Emulator> emu;
  std::string endpoint;

  // `local`: always an in-process emulator (for faults only it can make).
  explicit Server(bool local = false)
  {
    if (const char *ep = g_getenv("GCS_TEST_ENDPOINT"); ep && !local) {
      endpoint = ep;
      std::string out;
      http("POST", endpoint + "/storage/v1/b?project=test", std::string("{\"name\":\"") + kBucket + "\"}", &out);
      return;
    }
    gcsemu::Options o;
    o.buckets = {kBucket};
    emu = std::make_unique<gcsemu::Emulator>(o);
    std::string err;
    ck_assert_msg(emu->start(&err), "emulator: %s", err.c_str());
    endpoint = emu->endpoint();
  }

  // Creates a retry test for objects.insert; returns its id.
  std::string retry_test(const std::vector<std::string> &instructions)
  {
    std::string body = "{\"instructions\":{\"storage.objects.insert\":[";
    for (size_t i = 0; i < instructions.size(); i++)
      body += (i ? ",\"" : "\"") + instructions[i] + "\"";
    body += "]},\"transport\":\"HTTP\"}";
    std::string out;
    ck_assert_int_eq(http("POST", endpoint + "/retry_test", body, &out), 200);
    JsonParser *p = json_parser_new();
    ck_assert(json_parser_load_from_data(p, out.c_str(), -1, nullptr));
    std::string id = json_object_get_string_member(json_node_get_object(json_parser_get_root(p)), "id");
    g_object_unref(p);
    return id;
  }

  bool retry_test_completed(const std::string &id)
  {
    std::string out;
    ck_assert_int_eq(http("GET", endpoint + "/retry_test/" + id, "", &out), 200);
    JsonParser *p = json_parser_new();
    ck_assert(json_parser_load_from_data(p, out.c_str(), -1, nullptr));
    bool done = json_object_get_boolean_member(json_node_get_object(json_parser_get_root(p)), "completed");
    g_object_unref(p);
    return done;
  }

  // Objects stored under `prefix`, as the server lists them (name -> crc32c).
  std::vector<std::pair<std::string, std::string>> list(const std::string &prefix)
  {
    std::string out;
    ck_assert_int_eq(http("GET", endpoint + "/storage/v1/b/" + kBucket + "/o?prefix=" + prefix, "", &out), 200);
    JsonParser *p = json_parser_new();
    ck_assert(json_parser_load_from_data(p, out.c_str(), -1, nullptr));
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    std::vector<std::pair<std::string, std::string>> items;
    if (json_object_has_member(root, "items")) {
      JsonArray *a = json_object_get_array_member(root, "items");
      for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        items.emplace_back(json_object_get_string_member(o, "name"), json_object_get_string_member(o, "crc32c"));
      }
    }
    g_object_unref(p);
    return items;
  }
};

// A gcsframesink with `props` ("name=value ..." as in a launch line, no
// spaces inside a value).
static GstElement *sink_with(const std::string &props)
{
  GstElement *sink = gst_element_factory_make("gcsframesink", nullptr);
  gchar **kv = g_strsplit(props.c_str(), " ", -1);
  for (gchar **p = kv; *p; p++) {
    gchar **pair = g_strsplit(*p, "=", 2);
    if (pair[0] && pair[1])
      gst_util_set_object_arg(G_OBJECT(sink), pair[0], pair[1]);
    g_strfreev(pair);
  }
  g_strfreev(kv);
  return sink;
}

static GstBuffer *make_jpeg()
{
  GstHarness *src = gst_harness_new_parse(
      "videotestsrc pattern=ball num-buffers=1 ! video/x-raw,width=160,height=120,framerate=30/1 ! jpegenc");
  gst_harness_play(src);
  GstBuffer *b = gst_harness_pull(src);
  gst_harness_teardown(src);
  ck_assert(b != nullptr);
  return b;
}

struct Outcome {
  std::string status;     // from the batch message
  guint attempts = 0;     // from the frame message
  std::string crc32c;     // of the frame
  std::string error;      // debug text of an error message, if any
  std::string warning;    // debug text of the first warning, if any
  std::string test_id;    // the retry test holding the faults
};

// Uploads one frame named `name` through the fault instructions; EOS; collects
// what the bus said.
static Outcome upload_one(Server &srv, const std::string &name, const std::vector<std::string> &faults,
                          const char *extra_props = "")
{
  std::string headers, test_id;
  if (!faults.empty()) {
    test_id = srv.retry_test(faults);
    headers = "h,x-retry-test-id=" + test_id;
  }
  GstElement *sink = sink_with(std::string("batch-size=1 post-messages=true ") + extra_props);
  g_object_set(sink, "bucket", kBucket, "endpoint", srv.endpoint.c_str(), "object-name", name.c_str(), nullptr);
  if (!headers.empty())
    gst_util_set_object_arg(G_OBJECT(sink), "extra-headers", headers.c_str());
  GstHarness *h = gst_harness_new_with_element(sink, "sink", nullptr);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(sink, bus);
  gst_harness_set_src_caps_str(h, "image/jpeg,width=160,height=120,framerate=30/1");
  GstBuffer *b = make_jpeg();
  Outcome out;
  out.test_id = test_id;
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_READ);
  out.crc32c = gcsfs::crc32c_to_base64(gcsfs::crc32c(map.data, map.size));
  gst_buffer_unmap(b, &map);
  gst_harness_push(h, b);
  gst_harness_push_event(h, gst_event_new_eos());
  while (GstMessage *m = gst_bus_pop(bus)) {
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
      const GstStructure *s = gst_message_get_structure(m);
      if (gst_structure_has_name(s, "GstGcsFrameSinkBatch"))
        out.status = g_value_get_string(gst_value_array_get_value(gst_structure_get_value(s, "status"), 0));
      else if (gst_structure_has_name(s, "GstGcsFrameSink"))
        gst_structure_get_uint(s, "attempts", &out.attempts);
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      std::string &dst = GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR ? out.error : out.warning;
      if (dst.empty())
        dst = message_text(m);
    }
    gst_message_unref(m);
  }
  gst_harness_teardown(h);
  gst_element_set_bus(sink, nullptr);
  gst_object_unref(bus);
  return out;
}

// Succeeds after the faults: stored once, with the frame's crc32c.
static void expect_uploaded(Server &srv, const std::string &name, const std::vector<std::string> &faults,
                            guint attempts, const char *props = "")
{
  Outcome o = upload_one(srv, name, faults, props);
  STR_EQ(o.status, "uploaded");
  ck_assert_msg(srv.retry_test_completed(o.test_id), "not every injected fault was met");
  ck_assert_uint_eq(o.attempts, attempts);
  auto items = srv.list(name);
  ck_assert_uint_eq(items.size(), 1);
  STR_EQ(items[0].first, name);
  STR_EQ(items[0].second, o.crc32c);
}

START_TEST(test_503_503_succeeds)
{
  Server srv;
  expect_uploaded(srv, named("f/503-503.jpg"), {"return-503", "return-503"}, 3);
}
END_TEST

START_TEST(test_reset_reset_succeeds)
{
  Server srv;
  expect_uploaded(srv, named("f/reset-reset.jpg"), {"return-reset-connection", "return-reset-connection"}, 3);
}
END_TEST

START_TEST(test_reset_503_succeeds)
{
  Server srv;
  expect_uploaded(srv, named("f/reset-503.jpg"), {"return-reset-connection", "return-503"}, 3);
}
END_TEST

START_TEST(test_408_and_429_storm_succeed)
{
  Server srv;
  expect_uploaded(srv, named("f/408.jpg"), {"return-408"}, 2);
  expect_uploaded(srv, named("f/429-storm.jpg"), {"return-429", "return-429", "return-429"}, 4);
}
END_TEST

// The object is stored but the answer is cut: the retry gets 412, the
// metadata check finds the same bytes, and the frame counts as uploaded once.
START_TEST(test_broken_stream_counts_once)
{
  Server srv;
  expect_uploaded(srv, named("f/broken.jpg"), {"return-broken-stream"}, 2);
}
END_TEST

// A stall past request-timeout is a timeout; the retry stores the frame.
START_TEST(test_stall_past_request_timeout)
{
  Server srv;
  expect_uploaded(srv, named("f/stall.jpg"), {"stall-for-3s-after-0K"}, 2, "request-timeout=1000");
  g_usleep(3 * G_USEC_PER_SEC);  // the stalled request finishes: still one object
  ck_assert_uint_eq(srv.list(named("f/stall.jpg")).size(), 1);
}
END_TEST

// The object is stored but its answer is cut, and no retry may find out:
// the frame is unconfirmed, not failed, and the warning says the object may
// exist (it does).
START_TEST(test_cut_answer_without_retry_is_unconfirmed)
{
  Server srv;
  Outcome o = upload_one(srv, named("f/broken-once.jpg"), {"return-broken-stream"}, "max-retries=0");
  STR_EQ(o.status, "unconfirmed");
  STR_CONTAINS(o.warning, "may be stored");
  ck_assert(srv.retry_test_completed(o.test_id));
  auto items = srv.list(named("f/broken-once.jpg"));
  ck_assert_uint_eq(items.size(), 1);
  STR_EQ(items[0].second, o.crc32c);
}
END_TEST

// A retry answered 412 whose read-back finds no object: the object is
// absent (not the bucket): the insert is tried again and succeeds.
START_TEST(test_412_then_absent_retries)
{
  Server srv;
  expect_uploaded(srv, named("f/412-absent.jpg"), {"return-503", "return-412"}, 3);
}
END_TEST

START_TEST(test_503_400_fails)
{
  Server srv;
  Outcome o = upload_one(srv, named("f/503-400.jpg"), {"return-503", "return-400"});
  STR_EQ(o.status, "failed");
  ck_assert_uint_eq(o.attempts, 2);
  STR_CONTAINS(o.warning, "HTTP 400");
  ck_assert_uint_eq(srv.list(named("f/503-400.jpg")).size(), 0);
  ck_assert(srv.retry_test_completed(o.test_id));
}
END_TEST

START_TEST(test_400_alone_fails_without_retry)
{
  Server srv;
  Outcome o = upload_one(srv, named("f/400.jpg"), {"return-400"});
  STR_EQ(o.status, "failed");
  ck_assert_uint_eq(o.attempts, 1);
  ck_assert_uint_eq(srv.list(named("f/400.jpg")).size(), 0);
}
END_TEST

START_TEST(test_401_fails_and_stops)
{
  Server srv;
  Outcome o = upload_one(srv, named("f/401.jpg"), {"return-401"});
  STR_EQ(o.status, "failed");
  ck_assert_uint_eq(o.attempts, 1);
  STR_CONTAINS(o.error, "HTTP 401");
  STR_CONTAINS(o.error, "credentials");
  // The reset came after the whole request: the server may have stored it,
  // and the 401 says nothing of that.
  Outcome o2 = upload_one(srv, named("f/reset-401.jpg"), {"return-reset-connection", "return-401"});
  STR_EQ(o2.status, "unconfirmed");
  ck_assert_uint_eq(o2.attempts, 2);
  STR_CONTAINS(o2.error, "HTTP 401");
  ck_assert_uint_eq(srv.list(named("f/401.jpg")).size(), 0);
  ck_assert_uint_eq(srv.list(named("f/reset-401.jpg")).size(), 0);
}
END_TEST

START_TEST(test_403_names_the_role)
{
  Server srv;
  Outcome o = upload_one(srv, named("f/403.jpg"), {"return-403"});
  STR_EQ(o.status, "failed");
  ck_assert_uint_eq(o.attempts, 1);
  STR_CONTAINS(o.error, "HTTP 403");
  STR_CONTAINS(o.error, "roles/storage.objectCreator");
  ck_assert_uint_eq(srv.list(named("f/403.jpg")).size(), 0);
}
END_TEST

// Retries stop at max-retries; the failure says what happened and how often.
START_TEST(test_refused_connection_gives_up)
{
  Server srv;
  // A port nobody listens on: bind one, note it, close it.
  GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *any = g_inet_socket_address_new(lo, 0);
  ck_assert(g_socket_bind(s, any, TRUE, nullptr));
  GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
  guint port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(any);
  g_object_unref(lo);
  g_object_unref(s);
  Server dead;
  dead.endpoint = "http://127.0.0.1:" + std::to_string(port);
  Outcome o = upload_one(dead, named("f/refused.jpg"), {}, "max-retries=2");
  STR_EQ(o.status, "failed");
  ck_assert_uint_eq(o.attempts, 3);
  STR_CONTAINS(o.warning, "connection-refused");
  STR_CONTAINS(o.warning, "after 3 attempts");
}
END_TEST

// ---------------------------------------------------------------- spool

static std::string temp_spool()
{
  gchar *d = g_dir_make_tmp("gcsframesink-spool-XXXXXX", nullptr);
  std::string s = std::string(d) + "/spool";
  g_free(d);
  return s;
}

static guint64 stat_of(GstElement *sink, const char *field)
{
  GstStructure *st = nullptr;
  g_object_get(sink, "stats", &st, nullptr);
  guint64 v = 0;
  ck_assert(gst_structure_get_uint64(st, field, &v));
  gst_structure_free(st);
  return v;
}

struct SpoolRun {
  std::vector<std::string> statuses, replayed_names;
  std::vector<bool> link;  // GstGcsFrameSinkLink messages: reachable
  std::string warnings, error;
};

// Pushes `n` frames through a sink with `props` (and the retry test's header
// when `test_id` is set), waits (20 s at most) until `done` says so of the
// sink, then EOS, and reads the bus.
static SpoolRun spool_run(Server &, const std::string &props, unsigned n, const std::string &test_id,
                          const std::function<bool(GstElement *)> &done, bool eos = true)
{
  GstElement *sink = sink_with(props);
  g_object_set(sink, "bucket", kBucket, nullptr);
  if (!test_id.empty())
    gst_util_set_object_arg(G_OBJECT(sink), "extra-headers", ("h,x-retry-test-id=" + test_id).c_str());
  // The bus first, as a bin gives its children one before they start: the
  // replay thread may post as soon as the element starts.
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(sink, bus);
  GstHarness *h = gst_harness_new_with_element(sink, "sink", nullptr);
  gst_harness_set_src_caps_str(h, "image/jpeg,width=160,height=120,framerate=30/1");
  for (unsigned i = 0; i < n; i++)
    ck_assert_int_eq(gst_harness_push(h, make_jpeg()), GST_FLOW_OK);
  bool finished = false;
  for (int i = 0; i < 20000 && !(finished = done(sink)); i++)
    g_usleep(1000);
  ck_assert_msg(finished, "spooled %" G_GUINT64_FORMAT ", replayed %" G_GUINT64_FORMAT,
                stat_of(sink, "frames-spooled"), stat_of(sink, "frames-replayed"));
  if (eos)
    gst_harness_push_event(h, gst_event_new_eos());
  else  // a stop with uploads in flight (READY: the pipeline's bus keeps the messages)
    gst_element_set_state(sink, GST_STATE_READY);
  SpoolRun out;
  while (GstMessage *m = gst_bus_pop(bus)) {
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
      const GstStructure *st = gst_message_get_structure(m);
      if (gst_structure_has_name(st, "GstGcsFrameSinkBatch")) {
        const GValue *arr = gst_structure_get_value(st, "status");
        for (guint i = 0; i < gst_value_array_get_size(arr); i++)
          out.statuses.push_back(g_value_get_string(gst_value_array_get_value(arr, i)));
      } else if (gst_structure_has_name(st, "GstGcsFrameSinkSpool")) {
        out.replayed_names.push_back(gst_structure_get_string(st, "filename"));
      } else if (gst_structure_has_name(st, "GstGcsFrameSinkLink")) {
        gboolean up = FALSE;
        ck_assert(gst_structure_get_boolean(st, "reachable", &up));
        out.link.push_back(up);
      }
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      out.warnings += message_text(m) + "\n";
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      out.error += message_text(m) + "\n";
    }
    gst_message_unref(m);
  }
  gst_harness_teardown(h);
  gst_element_set_bus(sink, nullptr);
  gst_object_unref(bus);
  return out;
}

// An outage longer than the retry budget: with a spool, the frames are kept
// on disk (status spooled), uploaded once the endpoint answers again (one
// GstGcsFrameSinkSpool message each), stored exactly once, and the spool is
// empty after. (The live uploads and the replay thread share the 6 injected
// 503s in whatever order they reach the server, so a frame may also be
// stored at once; every frame is either.)
START_TEST(test_outage_spooled_then_replayed)
{
  Server srv;
  std::string id = srv.retry_test({"return-503", "return-503", "return-503", "return-503", "return-503",
                                   "return-503"});
  std::string spool = temp_spool();
  std::string prefix = named("spool/outage/");
  SpoolRun r = spool_run(srv,
                         "endpoint=" + srv.endpoint + " batch-size=4 max-concurrency=2 max-retries=0 object-name=" + prefix +
                             "{index}.{ext} spool-location=" + spool,
                         4, id, [](GstElement *sink) {
                           guint64 spooled = stat_of(sink, "frames-spooled");
                           return spooled + stat_of(sink, "frames-uploaded") == 4 &&
                                  stat_of(sink, "frames-replayed") == spooled;
                         });
  ck_assert_msg(r.error.empty(), "%s", r.error.c_str());
  ck_assert_uint_eq(r.statuses.size(), 4);
  guint spooled = 0;
  for (const auto &st : r.statuses) {
    ck_assert_msg(st == "spooled" || st == "uploaded", "status %s", st.c_str());
    spooled += st == "spooled";
  }
  ck_assert_uint_ge(spooled, 1);  // the first request got a 503
  ck_assert_uint_eq(r.replayed_names.size(), spooled);
  auto items = srv.list(prefix);
  ck_assert_uint_eq(items.size(), 4);
  for (unsigned i = 0; i < 4; i++)
    STR_EQ(items[i].first, prefix + std::to_string(i) + ".jpg");
  ck_assert(srv.retry_test_completed(id));
  GDir *d = g_dir_open(spool.c_str(), 0, nullptr);
  ck_assert(d != nullptr);
  ck_assert(g_dir_read_name(d) == nullptr);  // nothing left on disk
  g_dir_close(d);
}
END_TEST

// Frames spooled by an earlier run (the endpoint was down the whole run) are
// uploaded when the element starts again, under their original names.
START_TEST(test_spool_replayed_after_restart)
{
  Server srv;
  std::string spool = temp_spool();
  std::string prefix = named("spool/restart/");
  Server dead;
  dead.endpoint = "http://127.0.0.1:1";  // nothing listens there
  SpoolRun first = spool_run(dead,
                             "endpoint=" + dead.endpoint + " batch-size=3 max-retries=0 object-name=" + prefix +
                                 "{run}/{index}.{ext} spool-location=" + spool,
                             3, "", [](GstElement *sink) { return stat_of(sink, "frames-spooled") == 3; });
  ck_assert_uint_eq(first.statuses.size(), 3);
  for (const auto &st : first.statuses)
    STR_EQ(st, "spooled");
  ck_assert_uint_eq(srv.list(prefix).size(), 0);
  SpoolRun second = spool_run(srv, "endpoint=" + srv.endpoint + " spool-location=" + spool, 0, "",
                              [](GstElement *sink) { return stat_of(sink, "frames-replayed") == 3; });
  ck_assert_uint_eq(second.replayed_names.size(), 3);
  auto items = srv.list(prefix);
  ck_assert_uint_eq(items.size(), 3);
  // The names of the first run (replayed in the order they were spooled,
  // which concurrent workers may not have done in index order).
  std::vector<std::string> replayed = second.replayed_names;
  std::sort(replayed.begin(), replayed.end());
  for (unsigned i = 0; i < 3; i++) {
    STR_EQ(items[i].first, replayed[i]);
    STR_CONTAINS(items[i].first, "/" + std::to_string(i) + ".jpg");
  }
}
END_TEST

static unsigned files_in(const std::string &dir)
{
  unsigned n = 0;
  if (GDir *d = g_dir_open(dir.c_str(), 0, nullptr)) {
    while (const gchar *name = g_dir_read_name(d))
      n += g_str_has_suffix(name, ".frame") && !g_str_has_prefix(name, ".tmp-");  // whole files only
    g_dir_close(d);
  }
  return n;
}

// spool-mode=always: every frame is on disk before its upload starts. A
// stop with uploads in flight reports them spooled (not dropped), and the
// next start stores each exactly once (one that the server stored anyway is
// read back and counted once); a frame stored at once leaves no file.
START_TEST(test_spool_always_stop_then_restart)
{
  Server srv;
  std::string spool = temp_spool();
  std::string prefix = named("spool/always/");
  // Two frames stored at once, then four whose uploads stall past the stop.
  SpoolRun quick = spool_run(srv,
                             "endpoint=" + srv.endpoint + " batch-size=2 spool-mode=always object-name=" + prefix +
                                 "{run}/{index}.{ext} spool-location=" + spool,
                             2, "", [](GstElement *sink) { return stat_of(sink, "frames-uploaded") == 2; });
  ck_assert_uint_eq(files_in(spool), 0);
  std::string id = srv.retry_test({"stall-for-5s-after-0K", "stall-for-5s-after-0K", "stall-for-5s-after-0K",
                                   "stall-for-5s-after-0K"});
  SpoolRun stopped = spool_run(srv,
                               "endpoint=" + srv.endpoint + " batch-size=4 spool-mode=always object-name=" + prefix +
                                   "{run}/{index}.{ext} spool-location=" + spool,
                               4, id, [&](GstElement *) { return files_in(spool) == 4; }, false);
  ck_assert_uint_eq(stopped.statuses.size(), 4);
  for (const auto &st : stopped.statuses)
    STR_EQ(st, "spooled");
  ck_assert_uint_eq(files_in(spool), 4);
  SpoolRun restart = spool_run(srv, "endpoint=" + srv.endpoint + " spool-location=" + spool, 0, "",
                               [](GstElement *sink) { return stat_of(sink, "frames-replayed") == 4; });
  ck_assert_uint_eq(restart.replayed_names.size(), 4);
  ck_assert_uint_eq(files_in(spool), 0);
  g_usleep(5500 * 1000);  // the stalled requests end: still one object per frame
  ck_assert_uint_eq(srv.list(prefix).size(), 6);
}
END_TEST

// spool-mode=always through a crash: a process whose uploads cannot finish
// (nothing listens at its endpoint, retries for minutes) is killed with
// SIGKILL once every frame entered its sink; the next start, against a
// working server, stores every one of them.
START_TEST(test_spool_always_survives_sigkill)
{
  std::string spool = temp_spool();
  const unsigned n = 8;
  // Forked before this process starts any thread (the server comes after).
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    GstElement *sink = gst_element_factory_make("gcsframesink", nullptr);
    g_object_set(sink, "bucket", kBucket, "spool-location", spool.c_str(), "max-retries", 1000u, "retry-timeout",
                 600000u, nullptr);
    gst_util_set_object_arg(G_OBJECT(sink), "endpoint", "http://127.0.0.1:1");
    gst_util_set_object_arg(G_OBJECT(sink), "spool-mode", "always");
    gst_util_set_object_arg(G_OBJECT(sink), "object-name", (run_prefix + "spool/crash/{run}/{index}.{ext}").c_str());
    GstHarness *h = gst_harness_new_with_element(sink, "sink", nullptr);
    gst_harness_set_src_caps_str(h, "image/jpeg,width=160,height=120,framerate=30/1");
    for (unsigned i = 0; i < n; i++)
      gst_harness_push(h, make_jpeg());
    for (;;)
      g_usleep(G_USEC_PER_SEC);  // until killed
  }
  for (int i = 0; i < 20000 && files_in(spool) < n; i++)
    g_usleep(1000);
  unsigned on_disk = files_in(spool);
  kill(child, SIGKILL);
  int status = 0;
  ck_assert_int_eq(waitpid(child, &status, 0), child);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ck_assert_uint_eq(on_disk, n);
  Server srv;
  SpoolRun restart = spool_run(srv, "endpoint=" + srv.endpoint + " spool-location=" + spool, 0, "",
                               [](GstElement *sink) { return stat_of(sink, "frames-replayed") == n; });
  ck_assert_uint_eq(restart.replayed_names.size(), n);
  auto items = srv.list(named("spool/crash/"));
  ck_assert_uint_eq(items.size(), n);
  for (unsigned i = 0; i < n; i++)
    STR_CONTAINS(items[i].first, "/" + std::to_string(i) + ".jpg");
  ck_assert_uint_eq(files_in(spool), 0);
}
END_TEST

// A server that stores each frame and then holds its answer past
// request-timeout. Without a spool the frames end unconfirmed, each warned
// about, and each is stored once. With a spool they are kept (spooled), and
// once the server answers again the replay reads each object back (412, same
// size and checksum): uploaded, once, and the spool is empty.
START_TEST(test_stalled_answers_unconfirmed_then_reconciled)
{
  Server srv(true);
  srv.emu->set_answer_delay(3000);
  const std::string plain = named("doubt/plain/"), spooled = named("doubt/spooled/");
  SpoolRun r = spool_run(srv,
                         "endpoint=" + srv.endpoint + " batch-size=3 max-retries=0 request-timeout=1000 object-name=" +
                             plain + "{index}.{ext}",
                         3, "", [](GstElement *sink) { return stat_of(sink, "frames-unconfirmed") == 3; });
  ck_assert(r.statuses == (std::vector<std::string>{"unconfirmed", "unconfirmed", "unconfirmed"}));
  guint warned = 0;
  const std::string each = "A frame may or may not have been uploaded";
  for (size_t at = r.warnings.find(each); at != std::string::npos; at = r.warnings.find(each, at + 1))
    warned++;
  ck_assert_uint_eq(warned, 3);
  STR_CONTAINS(r.warnings, "the object may be stored");
  ck_assert_msg(r.error.empty(), "%s", r.error.c_str());
  ck_assert_uint_eq(srv.list(plain).size(), 3);

  std::string spool = temp_spool();
  Server *s = &srv;
  r = spool_run(srv,
                "endpoint=" + srv.endpoint + " batch-size=3 max-retries=0 request-timeout=1000 object-name=" +
                    spooled + "{index}.{ext} spool-location=" + spool,
                3, "", [s](GstElement *sink) {
                  if (stat_of(sink, "frames-spooled") == 3)
                    s->emu->set_answer_delay(0);  // the server answers again
                  return stat_of(sink, "frames-replayed") == 3;
                });
  ck_assert(r.statuses == (std::vector<std::string>{"spooled", "spooled", "spooled"}));
  ck_assert_uint_eq(r.replayed_names.size(), 3);
  auto items = srv.list(spooled);
  ck_assert_uint_eq(items.size(), 3);
  for (unsigned i = 0; i < 3; i++)
    STR_EQ(items[i].first, spooled + std::to_string(i) + ".jpg");
  ck_assert_uint_eq(files_in(spool), 0);
}
END_TEST

// Link state: the first frame failing on an outage posts one warning and a
// GstGcsFrameSinkLink (reachable=false), not one per frame; the next frame
// stored posts reachable=true; stats say so.
START_TEST(test_link_down_and_up)
{
  Server srv;
  std::string id = srv.retry_test({"return-503", "return-503", "return-503"});
  SpoolRun r = spool_run(srv,
                         "endpoint=" + srv.endpoint + " batch-size=5 max-concurrency=1 max-retries=0 object-name=" +
                             named("link/{index}.{ext}"),
                         5, id, [](GstElement *sink) {
                           return stat_of(sink, "frames-uploaded") + stat_of(sink, "frames-failed") == 5;
                         });
  ck_assert_uint_eq(r.statuses.size(), 5);
  ck_assert(r.link == (std::vector<bool>{false, true}));
  guint warned = 0;
  for (size_t at = r.warnings.find("Uploads are failing"); at != std::string::npos;
       at = r.warnings.find("Uploads are failing", at + 1))
    warned++;
  ck_assert_uint_eq(warned, 1);
  STR_CONTAINS(r.warnings, "HTTP 503");
}
END_TEST

// A spool folder that cannot be made stops the start with the fix.
START_TEST(test_unwritable_spool_is_an_error)
{
  std::string file = temp_spool();  // ".../spool" under a new folder: make it a file
  ck_assert(g_file_set_contents(file.c_str(), "x", -1, nullptr));
  std::string e = start_error({{"bucket", kBucket}, {"endpoint", "http://127.0.0.1:1"},
                               {"spool-location", file + "/frames"}});
  STR_CONTAINS(e, "Cannot use the spool folder");
  STR_CONTAINS(e, "set spool-location");
}
END_TEST

static Suite *faults_suite(void)
{
  Suite *s = suite_create("faults");
  TCase *tc = tcase_create("insert");
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  clear_emulator_env();
  gchar *uuid = g_uuid_string_random();
  run_prefix = std::string("faults/") + uuid + "/";
  g_free(uuid);
  tcase_add_test(tc, test_503_503_succeeds);
  tcase_add_test(tc, test_reset_reset_succeeds);
  tcase_add_test(tc, test_reset_503_succeeds);
  tcase_add_test(tc, test_408_and_429_storm_succeed);
  tcase_add_test(tc, test_broken_stream_counts_once);
  tcase_add_test(tc, test_stall_past_request_timeout);
  tcase_add_test(tc, test_412_then_absent_retries);
  tcase_add_test(tc, test_cut_answer_without_retry_is_unconfirmed);
  tcase_add_test(tc, test_503_400_fails);
  tcase_add_test(tc, test_400_alone_fails_without_retry);
  tcase_add_test(tc, test_401_fails_and_stops);
  tcase_add_test(tc, test_403_names_the_role);
  tcase_add_test(tc, test_refused_connection_gives_up);
  tcase_add_test(tc, test_outage_spooled_then_replayed);
  tcase_add_test(tc, test_spool_replayed_after_restart);
  tcase_add_test(tc, test_unwritable_spool_is_an_error);
  tcase_add_test(tc, test_spool_always_stop_then_restart);
  tcase_add_test(tc, test_spool_always_survives_sigkill);
  tcase_add_test(tc, test_link_down_and_up);
  tcase_add_test(tc, test_stalled_answers_unconfirmed_then_reconciled);
  return s;
}

GST_CHECK_MAIN(faults);
