// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Element tests: gcsframesink in a GstHarness (and one launch line) against
// the bundled GCS emulator, started in-process on a free port.
// OpenCV (decoding what raw frames became) before check.h, whose fail()
// macro breaks the standard streams.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <nlohmann/json.hpp>

#include "checksum.h"
#include "common.h"
#include "gcs-emulator.h"

#include <curl/curl.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

static const char *kBucket = "test-frames";

// ------------------------------------------------------------------ helpers

struct EmulatorFixture {
  std::unique_ptr<gcsemu::Emulator> emu;
  explicit EmulatorFixture(unsigned latency_ms = 0, unsigned jitter_ms = 0)
  {
    gcsemu::Options o;
    o.latency_ms = latency_ms;
    o.jitter_ms = jitter_ms;
    o.buckets = {kBucket};
    emu = std::make_unique<gcsemu::Emulator>(o);
    std::string err;
    ck_assert_msg(emu->start(&err), "emulator failed to start: %s", err.c_str());
  }
};

// Produces real JPEG frames (videotestsrc ! jpegenc), each different.
static std::vector<GstBuffer *> make_jpegs(unsigned n, int width = 160, int height = 120)
{
  gchar *desc = g_strdup_printf("videotestsrc pattern=ball num-buffers=%u ! video/x-raw,width=%d,height=%d,"
                                "framerate=30/1 ! jpegenc",
                                n, width, height);
  GstHarness *src = gst_harness_new_parse(desc);
  g_free(desc);
  gst_harness_play(src);
  std::vector<GstBuffer *> out;
  for (unsigned i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull(src);
    ck_assert((b) != nullptr);
    out.push_back(b);
  }
  gst_harness_teardown(src);
  return out;
}

static std::string buffer_bytes(GstBuffer *b)
{
  GstMapInfo map;
  ck_assert(gst_buffer_map(b, &map, GST_MAP_READ));
  std::string s(reinterpret_cast<const char *>(map.data), map.size);
  gst_buffer_unmap(b, &map);
  return s;
}

struct SinkHarness {
  GstHarness *h = nullptr;
  GstElement *sink = nullptr;
  GstBus *bus = nullptr;

  // Creates the element with `props` ("name=value ..." as in a launch line)
  // and then `extra` (name, value) pairs, before it starts.
  SinkHarness(const std::string &endpoint, const char *props, const Props &extra = {})
  {
    gchar *desc = g_strdup_printf("gcsframesink name=sink bucket=%s endpoint=%s %s", kBucket, endpoint.c_str(),
                                  props ? props : "");
    GError *err = nullptr;
    sink = gst_parse_launch(desc, &err);
    ck_assert_msg(sink != nullptr, "cannot create: %s", err ? err->message : "?");
    g_free(desc);
    for (const auto &kv : extra)
      gst_util_set_object_arg(G_OBJECT(sink), kv.first.c_str(), kv.second.c_str());
    bus = gst_bus_new();  // before it starts, as a bin would
    gst_element_set_bus(sink, bus);
    h = gst_harness_new_with_element(sink, "sink", nullptr);
  }
  ~SinkHarness()
  {
    if (h)
      gst_harness_teardown(h);
    gst_element_set_bus(sink, nullptr);
    gst_object_unref(bus);
    gst_object_unref(sink);
  }
  void start_jpeg() { gst_harness_set_src_caps_str(h, "image/jpeg,width=160,height=120,framerate=30/1"); }
  void eos() { ck_assert(gst_harness_push_event(h, gst_event_new_eos())); }
  // Pushes every frame (taking them) and returns their bytes, in order.
  std::vector<std::string> push_all(const std::vector<GstBuffer *> &frames)
  {
    std::vector<std::string> bytes;
    for (GstBuffer *b : frames) {
      bytes.push_back(buffer_bytes(b));
      ck_assert_int_eq(gst_harness_push(h, b), GST_FLOW_OK);
    }
    return bytes;
  }

  // All element messages with the given structure name, in bus order.
  std::vector<GstStructure *> take(const char *name)
  {
    std::vector<GstStructure *> out;
    while (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
      const GstStructure *s = gst_message_get_structure(m);
      if (gst_structure_has_name(s, name))
        out.push_back(gst_structure_copy(s));
      gst_message_unref(m);
    }
    return out;
  }
  GstMessage *pop(GstMessageType types) { return gst_bus_pop_filtered(bus, types); }
};

// A new empty folder.
static std::string temp_dir()
{
  gchar *d = g_dir_make_tmp("gcsframesink-test-XXXXXX", nullptr);
  std::string s = d;
  g_free(d);
  return s;
}

static void free_structs(std::vector<GstStructure *> &v)
{
  for (GstStructure *s : v)
    gst_structure_free(s);
  v.clear();
}

static std::string array_string(const GstStructure *s, const char *field, guint i)
{
  const GValue *arr = gst_structure_get_value(s, field);
  ck_assert_msg(arr && GST_VALUE_HOLDS_ARRAY(arr), "field %s is not an array", field);
  ck_assert_uint_lt(i, gst_value_array_get_size(arr));
  return g_value_get_string(gst_value_array_get_value(arr, i));
}

static guint array_size(const GstStructure *s, const char *field)
{
  const GValue *arr = gst_structure_get_value(s, field);
  ck_assert_msg(arr && GST_VALUE_HOLDS_ARRAY(arr), "field %s is not an array", field);
  return gst_value_array_get_size(arr);
}

static guint64 get_u64(const GstStructure *s, const char *field)
{
  guint64 v = 0;
  ck_assert_msg(gst_structure_get_uint64(s, field, &v), "no guint64 field %s", field);
  return v;
}

static size_t write_to_string(char *p, size_t size, size_t n, void *ud)
{
  static_cast<std::string *>(ud)->append(p, size * n);
  return size * n;
}

// GETs a URL with libcurl; returns the HTTP status.
static long http_get(const std::string &url, std::string *body)
{
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_to_string);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status;
}

// One field of the element's `stats` structure, read with `get` (which asserts it is there).
template <typename T, typename Get>
static T stats_field(GstElement *sink, const char *field, Get get)
{
  GstStructure *st = nullptr;
  g_object_get(sink, "stats", &st, nullptr);
  T v = get(st, field);
  gst_structure_free(st);
  return v;
}

static guint64 stat(GstElement *sink, const char *field)
{
  return stats_field<guint64>(sink, field, get_u64);
}

static double stat_double(GstElement *sink, const char *field)
{
  return stats_field<double>(sink, field, [](const GstStructure *st, const char *f) {
    double v = 0;
    ck_assert_msg(gst_structure_get_double(st, f, &v), "no double field %s", f);
    return v;
  });
}

// Polls a stats counter every millisecond until it reaches `value` (20 s at most).
static bool stat_reaches(GstElement *sink, const char *field, guint64 value)
{
  for (int i = 0; i < 20000; i++) {
    if (stat(sink, field) >= value)
      return true;
    g_usleep(1000);
  }
  return false;
}

// ------------------------------------------------------------------ tests

// The acceptance case: 500 JPEG frames, 200 ms +- 150 ms latency,
// batch-size=10, max-concurrency=16: 50 batches in order, URLs in frame
// order, every object stored with the right bytes and crc32c.
START_TEST(test_ordered_batches_under_random_latency)
{
  EmulatorFixture fx(200, 150);
  const unsigned n = 500;
  std::vector<GstBuffer *> frames = make_jpegs(n);
  std::vector<std::string> bytes;
  {
    SinkHarness s(fx.emu->endpoint(), "batch-size=10 max-concurrency=16 batch-timeout=0 stream-name=cam1 "
                                      "object-name={stream}/{index:05}.{ext}");
    s.start_jpeg();
    bytes = s.push_all(frames);
    s.eos();  // returns once every batch message is posted
    std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
    ck_assert_uint_eq(batches.size(), 50);
    for (guint b = 0; b < batches.size(); b++) {
      const GstStructure *st = batches[b];
      ck_assert_uint_eq(get_u64(st, "batch"), b);
      ck_assert_uint_eq(get_u64(st, "first-index"), b * 10);
      guint count = 0, uploaded = 0, failed = 99;
      ck_assert(gst_structure_get_uint(st, "count", &count));
      ck_assert(gst_structure_get_uint(st, "uploaded", &uploaded));
      ck_assert(gst_structure_get_uint(st, "failed", &failed));
      ck_assert_uint_eq(count, 10);
      ck_assert_uint_eq(uploaded, 10);
      ck_assert_uint_eq(failed, 0);
      ck_assert_uint_eq(array_size(st, "urls"), 10);
      ck_assert_uint_eq(array_size(st, "timestamps"), 10);
      ck_assert_uint_gt(get_u64(st, "upload-time"), 0);
      for (guint i = 0; i < 10; i++) {
        gchar name[64];
        g_snprintf(name, sizeof name, "cam1/%05u.jpg", b * 10 + i);
        STR_EQ(array_string(st, "object-names", i), name);
        STR_EQ(array_string(st, "uris", i), std::string("gs://") + kBucket + "/" + name);
        STR_EQ(array_string(st, "urls", i), fx.emu->endpoint() + "/" + kBucket + "/" + name);
        STR_EQ(array_string(st, "status", i), "uploaded");
      }
    }
    free_structs(batches);
  }
  ck_assert_uint_eq(fx.emu->object_count(kBucket), n);
  for (unsigned i = 0; i < n; i++) {
    gchar name[64];
    g_snprintf(name, sizeof name, "cam1/%05u.jpg", i);
    std::string data;
    gcsemu::ObjectInfo info;
    ck_assert_msg(fx.emu->get_object(kBucket, name, &data, &info), "%s not stored", name);
    ck_assert_msg(data == bytes[i], "%s: stored bytes differ", name);
    STR_EQ(info.crc32c, gcsfs::crc32c_to_base64(gcsfs::crc32c(bytes[i].data(), bytes[i].size())));
    STR_EQ(info.content_type, "image/jpeg");
  }
  // Connections are reused: far fewer than one per frame.
  ck_assert_uint_le(fx.emu->connections_accepted(), 32);
}
END_TEST

START_TEST(test_batch_timeout_posts_partial_batch)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(3);
  // The largest batch-size costs no memory up front.
  SinkHarness s(fx.emu->endpoint(), "batch-size=2147483647 batch-timeout=100");
  s.start_jpeg();
  s.push_all(frames);
  // No EOS: the timeout alone closes the batch.
  GstMessage *m = gst_bus_timed_pop_filtered(s.bus, 20 * GST_SECOND, GST_MESSAGE_ELEMENT);
  ck_assert((m) != nullptr);
  const GstStructure *st = gst_message_get_structure(m);
  ck_assert(gst_structure_has_name(st, "GstGcsFrameSinkBatch"));
  guint count = 0;
  ck_assert(gst_structure_get_uint(st, "count", &count));
  ck_assert_uint_eq(count, 3);
  ck_assert_uint_eq(get_u64(st, "batch"), 0);
  gst_message_unref(m);
}
END_TEST

START_TEST(test_eos_drains_every_frame)
{
  EmulatorFixture fx(300, 0);
  std::vector<GstBuffer *> frames = make_jpegs(6);
  SinkHarness s(fx.emu->endpoint(), "batch-size=4 batch-timeout=0");
  s.start_jpeg();
  s.push_all(frames);
  s.eos();
  // When EOS has passed the sink, both batches are posted and stored, and
  // the EOS message comes after the last of them.
  std::vector<GstStructure *> batches;
  bool eos = false;
  while (GstMessage *m = s.pop((GstMessageType)(GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS))) {
    ck_assert_msg(!eos, "a message after EOS");
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS)
      eos = true;
    else if (gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch"))
      batches.push_back(gst_structure_copy(gst_message_get_structure(m)));
    gst_message_unref(m);
  }
  ck_assert(eos);
  ck_assert_uint_eq(batches.size(), 2);
  guint count = 0;
  ck_assert(gst_structure_get_uint(batches[1], "count", &count));
  ck_assert_uint_eq(count, 2);
  free_structs(batches);
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 6);
  GstStructure *stats = nullptr;
  g_object_get(s.sink, "stats", &stats, nullptr);
  ck_assert_uint_eq(get_u64(stats, "frames-received"), 6);
  ck_assert_uint_eq(get_u64(stats, "frames-uploaded"), 6);
  ck_assert_uint_eq(get_u64(stats, "frames-in-flight"), 0);
  ck_assert_uint_eq(get_u64(stats, "batches-posted"), 2);
  gst_structure_free(stats);
}
END_TEST

struct PushArgs {
  GstHarness *h;
  GstBuffer *buf;
  std::atomic<int> ret{999};
};

static gpointer push_thread(gpointer data)
{
  auto *a = static_cast<PushArgs *>(data);
  a->ret = gst_harness_push(a->h, a->buf);
  return nullptr;
}

// Fills a queue bound of two with frames[0..1], then pushes frames[2] from a
// thread, where it waits at the bound; join the returned thread.
static GThread *push_third_at_bound(SinkHarness &s, const std::vector<GstBuffer *> &frames, PushArgs &args)
{
  s.start_jpeg();
  ck_assert_int_eq(gst_harness_push(s.h, frames[0]), GST_FLOW_OK);
  ck_assert_int_eq(gst_harness_push(s.h, frames[1]), GST_FLOW_OK);
  args.h = s.h;
  args.buf = frames[2];
  return g_thread_new("push", push_thread, &args);
}

// A render waiting at the queue bound is woken by a flush; frames already
// accepted keep uploading and are reported.
START_TEST(test_flush_wakes_render_at_bound)
{
  EmulatorFixture fx(1500, 0);
  std::vector<GstBuffer *> frames = make_jpegs(3);
  SinkHarness s(fx.emu->endpoint(), "batch-size=10 batch-timeout=0 max-queued-frames=2");
  PushArgs args;
  GThread *t = push_third_at_bound(s, frames, args);
  ck_assert(stat_reaches(s.sink, "backpressure-waits", 1));
  ck_assert_int_eq(args.ret.load(), 999);  // still waiting at the bound
  ck_assert(gst_harness_push_event(s.h, gst_event_new_flush_start()));
  g_thread_join(t);
  ck_assert_int_eq(args.ret.load(), GST_FLOW_FLUSHING);
  ck_assert(gst_harness_push_event(s.h, gst_event_new_flush_stop(TRUE)));
  gst_harness_set_src_caps_str(s.h, "image/jpeg,width=160,height=120,framerate=30/1");
  s.eos();
  std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
  ck_assert_uint_eq(batches.size(), 1);
  guint uploaded = 0;
  ck_assert(gst_structure_get_uint(batches[0], "uploaded", &uploaded));
  ck_assert_uint_eq(uploaded, 2);
  free_structs(batches);
}
END_TEST

// PLAYING->PAUSED also unlocks a render held at the queue bound: the frame
// must not be lost, and is handed over once playing again.
START_TEST(test_pause_at_bound_keeps_the_frame)
{
  EmulatorFixture fx(400, 0);
  std::vector<GstBuffer *> frames = make_jpegs(3);
  SinkHarness s(fx.emu->endpoint(), "batch-size=10 batch-timeout=0 max-queued-frames=2");
  PushArgs args;
  GThread *t = push_third_at_bound(s, frames, args);
  ck_assert(stat_reaches(s.sink, "backpressure-waits", 1));
  gst_element_set_state(s.sink, GST_STATE_PAUSED);
  ck_assert(stat_reaches(s.sink, "frames-uploaded", 2));  // the first uploads finish while paused
  ck_assert_int_eq(args.ret.load(), 999);  // waiting for PLAYING, not failed
  ck_assert_uint_eq(stat(s.sink, "frames-received"), 2);
  gst_element_set_state(s.sink, GST_STATE_PLAYING);
  g_thread_join(t);
  ck_assert_int_eq(args.ret.load(), GST_FLOW_OK);
  s.eos();
  std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
  ck_assert_uint_eq(batches.size(), 1);
  guint uploaded = 0;
  ck_assert(gst_structure_get_uint(batches[0], "uploaded", &uploaded));
  ck_assert_uint_eq(uploaded, 3);
  free_structs(batches);
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 3);
}
END_TEST

struct EosArgs {
  GstHarness *h;
  std::atomic<bool> done{false};
};

// A pause during the EOS drain must not let EOS overtake the batch messages.
START_TEST(test_pause_during_eos_drain)
{
  EmulatorFixture fx(800, 0);
  std::vector<GstBuffer *> frames = make_jpegs(4);
  SinkHarness s(fx.emu->endpoint(), "batch-size=2 batch-timeout=0");
  s.start_jpeg();
  s.push_all(frames);
  EosArgs args;
  args.h = s.h;
  GThread *t = g_thread_new("eos", [](gpointer p) -> gpointer {
    auto *a = static_cast<EosArgs *>(p);
    gst_harness_push_event(a->h, gst_event_new_eos());
    a->done = true;
    return nullptr;
  }, &args);
  ck_assert(stat_reaches(s.sink, "drain-waits", 1));
  gst_element_set_state(s.sink, GST_STATE_PAUSED);
  ck_assert(!args.done);
  gst_element_set_state(s.sink, GST_STATE_PLAYING);
  g_thread_join(t);
  // EOS passed the sink: both batches were posted before it, all uploaded.
  std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
  ck_assert_uint_eq(batches.size(), 2);
  for (GstStructure *st : batches) {
    guint uploaded = 0;
    ck_assert(gst_structure_get_uint(st, "uploaded", &uploaded));
    ck_assert_uint_eq(uploaded, 2);
  }
  free_structs(batches);
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 4);
}
END_TEST

// Going to NULL mid-upload aborts the transfers; every frame is still
// reported and a warning says so: the frames whose requests the server had
// in full are unconfirmed (they may be stored), the rest dropped.
START_TEST(test_null_mid_upload_reports_every_frame)
{
  EmulatorFixture fx(30000, 0);
  std::vector<GstBuffer *> frames = make_jpegs(5);
  SinkHarness s(fx.emu->endpoint(), "batch-size=2 batch-timeout=0 max-concurrency=2");
  s.start_jpeg();
  const uint64_t before = fx.emu->requests_served();
  s.push_all(frames);
  for (int i = 0; i < 5000 && fx.emu->requests_served() < before + 2; i++)
    g_usleep(1000);
  ck_assert_uint_eq(fx.emu->requests_served(), before + 2);
  ck_assert_int_eq(gst_element_set_state(s.sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  // Every frame is reported in its batch message...
  std::vector<GstStructure *> batches;
  GstMessage *w = nullptr;
  while (GstMessage *m = s.pop((GstMessageType)(GST_MESSAGE_ELEMENT | GST_MESSAGE_WARNING))) {
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      ck_assert(w == nullptr);
      w = m;
      continue;
    }
    if (gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch"))
      batches.push_back(gst_structure_copy(gst_message_get_structure(m)));
    gst_message_unref(m);
  }
  ck_assert_uint_eq(batches.size(), 3);
  std::vector<std::string> statuses;
  for (GstStructure *st : batches)
    for (guint i = 0; i < array_size(st, "status"); i++)
      statuses.push_back(array_string(st, "status", i));
  ck_assert(statuses == (std::vector<std::string>{"unconfirmed", "unconfirmed", "dropped", "dropped", "dropped"}));
  free_structs(batches);
  // ...and one warning says how many and why.
  ck_assert((w) != nullptr);
  GError *err = nullptr;
  gchar *dbg = nullptr;
  gst_message_parse_warning(w, &err, &dbg);
  STR_CONTAINS(dbg, "3 frames were dropped, 2 frames are unconfirmed");
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(w);
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 0);
}
END_TEST

START_TEST(test_per_frame_messages_and_metadata)
{
  EmulatorFixture fx(20, 15);
  std::vector<GstBuffer *> frames = make_jpegs(7);
  SinkHarness s(fx.emu->endpoint(),
                "batch-size=3 post-messages=true metadata=\"m,camera=north-gate,site=7\" "
                "object-name=\"%05d.{ext}\" index=100 checksum=both");
  s.start_jpeg();
  std::vector<std::string> bytes = s.push_all(frames);
  s.eos();
  std::vector<GstStructure *> per = s.take("GstGcsFrameSink");
  ck_assert_uint_eq(per.size(), 7);
  for (guint i = 0; i < per.size(); i++) {
    gchar name[32];
    g_snprintf(name, sizeof name, "%05u.jpg", 100 + i);
    ck_assert_uint_eq(get_u64(per[i], "index"), 100 + i);
    STR_EQ(gst_structure_get_string(per[i], "filename"), name);
    STR_EQ(gst_structure_get_string(per[i], "status"), "uploaded");
    STR_EQ(gst_structure_get_string(per[i], "crc32c"),
           gcsfs::crc32c_to_base64(gcsfs::crc32c(bytes[i].data(), bytes[i].size())));
    ck_assert_uint_eq(get_u64(per[i], "size"), bytes[i].size());
    gint64 gen = 0;
    ck_assert(gst_structure_get_int64(per[i], "generation", &gen));
    ck_assert_int_gt(gen, 0);
    // The URL resolves to the frame's bytes over plain HTTP.
    std::string body;
    ck_assert_int_eq(http_get(gst_structure_get_string(per[i], "url"), &body), 200);
    ck_assert(body == bytes[i]);
    gcsemu::ObjectInfo info;
    ck_assert(fx.emu->get_object(kBucket, name, nullptr, &info));
    STR_EQ(info.metadata["camera"], "north-gate");
    STR_EQ(info.metadata["site"], "7");
    STR_EQ(info.md5, gcsfs::md5_base64(bytes[i].data(), bytes[i].size()));
  }
  free_structs(per);
}
END_TEST

START_TEST(test_odd_utf8_names_round_trip)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(2);
  SinkHarness s(fx.emu->endpoint(), "post-messages=true",
                {{"object-name", "caméra #1/東京 ?&=+%/{{x}} {index:03}.{ext}"}});
  s.start_jpeg();
  std::vector<std::string> bytes = s.push_all(frames);
  s.eos();
  std::vector<GstStructure *> per = s.take("GstGcsFrameSink");
  ck_assert_uint_eq(per.size(), 2);
  for (guint i = 0; i < 2; i++) {
    gchar name[128];
    g_snprintf(name, sizeof name, "caméra #1/東京 ?&=+%%/{x} %03u.jpg", i);
    STR_EQ(gst_structure_get_string(per[i], "filename"), name);
    std::string data;
    ck_assert_msg(fx.emu->get_object(kBucket, name, &data, nullptr), "\"%s\" not stored under its exact name", name);
    ck_assert(data == bytes[i]);
    std::string body;
    ck_assert_int_eq(http_get(gst_structure_get_string(per[i], "url"), &body), 200);
    ck_assert(body == bytes[i]);
  }
  free_structs(per);
}
END_TEST

START_TEST(test_bad_settings_fail_start_with_the_fix)
{
  const std::pair<std::string, std::string> ep{"endpoint", "http://127.0.0.1:1"}, good{"bucket", "good-bucket"};
  STR_CONTAINS(start_error({ep}), "set the bucket property");
  STR_CONTAINS(start_error({ep, {"bucket", "Bad_Bucket!"}}), "invalid bucket name");
  STR_CONTAINS(start_error({ep, {"bucket", "ab"}}), "invalid bucket name");
  STR_CONTAINS(start_error({good, {"endpoint", "ftp://127.0.0.1:1"}}), "invalid endpoint");
  STR_CONTAINS(start_error({good, {"endpoint", "http://"}}), "invalid endpoint");
  std::string e = start_error({good, ep, {"object-name", "{stream}/{frame}.{ext}"}});
  STR_CONTAINS(e, "unknown placeholder {frame}");
  STR_CONTAINS(e, "{index}");
  STR_CONTAINS(start_error({good, ep, {"object-name", "{index"}}), "unterminated");
  STR_CONTAINS(start_error({good, ep, {"extra-headers", "h,bad/name=1"}}), "extra-headers");
  STR_CONTAINS(start_error({good, ep, {"extra-headers", "h,bad:name=1"}}), "extra-headers");
  // The emulator variables are read when endpoint is unset, and checked too.
  g_setenv("STORAGE_EMULATOR_HOST", "ftp://nowhere", TRUE);
  STR_CONTAINS(start_error({good}), "STORAGE_EMULATOR_HOST");
  g_unsetenv("STORAGE_EMULATOR_HOST");
}
END_TEST

// Settings that look valid but can never work are refused at start, each
// naming the fix, instead of failing (and retrying) every frame.
START_TEST(test_settings_that_can_never_work)
{
  const std::pair<std::string, std::string> ep{"endpoint", "http://127.0.0.1:1"}, good{"bucket", "good-bucket"};
  std::string e = start_error({good, {"endpoint", "not a url"}});
  STR_CONTAINS(e, "invalid endpoint");
  STR_CONTAINS(e, "libcurl cannot parse it");
  e = start_error({good, ep, {"object-name", std::string(1100, 'x')}});
  STR_CONTAINS(e, "more than 1024");
  STR_CONTAINS(e, "change object-name or stream-name");
  STR_CONTAINS(start_error({good, ep, {"object-name", ".."}}), "it is \".\" or \"..\"");
  e = start_error({good, ep, {"stream-name", "cam\r1"}});
  STR_CONTAINS(e, "carriage return");
  STR_CONTAINS(e, "cam\\r1");  // shown escaped
  STR_CONTAINS(start_error({good, ep, {"stream-name", "cam\t1"}}), "control character");
  e = start_error({good, ep, {"object-name", "%s/%d.jpg"}});
  STR_CONTAINS(e, "\"%s\" at position 0");
  STR_CONTAINS(e, "write %% for a literal percent sign");
  STR_CONTAINS(start_error({good, ep, {"object-name", "frame-%05x.jpg"}}), "only %d");
  STR_CONTAINS(start_error({good, ep, {"index", "18446744073709551615"}}), "would wrap around");
  for (const char *h : {"Content-Length", "content-type", "AUTHORIZATION", "Host", "Transfer-Encoding"}) {
    e = start_error({good, ep, {"extra-headers", std::string("h,") + h + "=1"}});
    STR_CONTAINS(e, "the element sets");
  }
  // Invalid UTF-8 cannot come from a launch line, but can from an application.
  GstElement *sink = make_sink({good, ep});
  g_object_set(sink, "stream-name", "cam\xff", nullptr);
  STR_CONTAINS(start_error(sink), "stream-name is not valid UTF-8");
  sink = make_sink({good, ep});
  g_object_set(sink, "object-name", "a\xc3/{index}", nullptr);
  STR_CONTAINS(start_error(sink), "object-name is not valid UTF-8");
  // (metadata and extra-headers: GstStructure refuses invalid UTF-8 itself)
  gchar *dir = g_dir_make_tmp("gcsframesink-ca-XXXXXX", nullptr);
  std::string not_pem = std::string(dir) + "/not-a-cert.pem";
  ck_assert(g_file_set_contents(not_pem.c_str(), "just text\n", -1, nullptr));
  e = start_error({good, ep, {"ca-file", not_pem}});
  STR_CONTAINS(e, "holds no PEM certificate");
  STR_CONTAINS(e, "set it to a PEM bundle");
  g_remove(not_pem.c_str());
  g_rmdir(dir);
  g_free(dir);
}
END_TEST

// A zero-byte buffer is no image: skipped (no index, no object), counted in
// stats, and warned about at the 1st and the 10th only.
START_TEST(test_empty_buffers_skipped_and_counted)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(3);
  SinkHarness s(fx.emu->endpoint(), "batch-size=3");
  s.start_jpeg();
  ck_assert_int_eq(gst_harness_push(s.h, frames[0]), GST_FLOW_OK);
  for (int i = 0; i < 12; i++)
    ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_new()), GST_FLOW_OK);
  ck_assert_int_eq(gst_harness_push(s.h, frames[1]), GST_FLOW_OK);
  ck_assert_int_eq(gst_harness_push(s.h, frames[2]), GST_FLOW_OK);
  s.eos();
  ck_assert_uint_eq(stat(s.sink, "frames-empty"), 12);
  ck_assert_uint_eq(stat(s.sink, "frames-received"), 3);
  std::vector<std::string> warnings;
  std::vector<GstStructure *> batches;
  while (GstMessage *m = s.pop(GstMessageType(GST_MESSAGE_WARNING | GST_MESSAGE_ELEMENT))) {
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING)
      warnings.push_back(message_text(m));
    else if (gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch"))
      batches.push_back(gst_structure_copy(gst_message_get_structure(m)));
    gst_message_unref(m);
  }
  ck_assert_uint_eq(batches.size(), 1);
  ck_assert_uint_eq(array_size(batches[0], "object-names"), 3);
  for (guint i = 0; i < 3; i++) {
    STR_EQ(array_string(batches[0], "status", i), "uploaded");
    STR_CONTAINS(array_string(batches[0], "object-names", i), "0000000" + std::to_string(i) + ".jpg");
  }
  free_structs(batches);
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 3);
  ck_assert_uint_eq(warnings.size(), 2);
  STR_CONTAINS(warnings[0], "Skipped an empty buffer");
  STR_CONTAINS(warnings[0], "1 empty buffer skipped so far");
  STR_CONTAINS(warnings[1], "10 empty buffers skipped so far");
}
END_TEST

// One run of a fresh element over `frames` (pushed without giving them
// away), then EOS: each frame's status and every warning.
struct RunOutcome {
  std::vector<std::string> statuses, names;
  std::string warnings;
};
// What the bus holds: each frame's status and name, every warning.
static RunOutcome read_outcome(SinkHarness &s)
{
  RunOutcome out;
  while (GstMessage *m = s.pop(GstMessageType(GST_MESSAGE_WARNING | GST_MESSAGE_ELEMENT))) {
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      out.warnings += message_text(m) + "\n";
    } else if (gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch")) {
      const GstStructure *st = gst_message_get_structure(m);
      for (guint i = 0; i < array_size(st, "status"); i++) {
        out.statuses.push_back(array_string(st, "status", i));
        out.names.push_back(array_string(st, "object-names", i));
      }
    }
    gst_message_unref(m);
  }
  return out;
}

static RunOutcome run_frames(EmulatorFixture &fx, const char *props, const std::vector<GstBuffer *> &frames)
{
  SinkHarness s(fx.emu->endpoint(), props);
  s.start_jpeg();
  for (GstBuffer *b : frames)
    ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(b)), GST_FLOW_OK);
  s.eos();
  return read_outcome(s);
}

static guint count_of(const std::vector<std::string> &v, const char *what)
{
  guint n = 0;
  for (const auto &s : v)
    n += s == what;
  return n;
}

// The same launch line run twice (a camera restarting): the default names
// never repeat across runs ({run}), so both runs store every frame.
START_TEST(test_rerun_stores_every_frame)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(4);
  RunOutcome a = run_frames(fx, "stream-name=cam1 batch-size=4", frames);
  RunOutcome b = run_frames(fx, "stream-name=cam1 batch-size=4", frames);
  ck_assert_uint_eq(count_of(a.statuses, "uploaded"), 4);
  ck_assert_uint_eq(count_of(b.statuses, "uploaded"), 4);
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 8);
  ck_assert(a.names[0] != b.names[0]);
  STR_CONTAINS(a.names[0], "cam1/");
  STR_CONTAINS(a.names[0], "/00000000.jpg");
  for (GstBuffer *f : frames)
    gst_buffer_unref(f);
}
END_TEST

// if-exists on names that repeat (a fixed template): fail keeps the object
// and fails the frame; skip counts the same bytes as uploaded without
// storing them again, and fails on different bytes; overwrite replaces.
START_TEST(test_if_exists_policies)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(6);
  std::vector<GstBuffer *> first(frames.begin(), frames.begin() + 3), other(frames.begin() + 3, frames.end());
  const char *fixed = "object-name=fixed/{index}.{ext} batch-size=3";
  auto generation = [&](const char *name) {
    gcsemu::ObjectInfo info;
    ck_assert(fx.emu->get_object(kBucket, name, nullptr, &info));
    return info.generation;
  };
  RunOutcome a = run_frames(fx, fixed, first);
  ck_assert_uint_eq(count_of(a.statuses, "uploaded"), 3);
  int64_t gen0 = generation("fixed/0.jpg");

  RunOutcome fail = run_frames(fx, (std::string(fixed) + " if-exists=fail").c_str(), first);
  ck_assert_uint_eq(count_of(fail.statuses, "failed"), 3);
  STR_CONTAINS(fail.warnings, "already exists");
  STR_CONTAINS(fail.warnings, "if-exists=overwrite or skip");
  ck_assert_int_eq(generation("fixed/0.jpg"), gen0);

  RunOutcome same = run_frames(fx, (std::string(fixed) + " if-exists=skip").c_str(), first);
  ck_assert_uint_eq(count_of(same.statuses, "uploaded"), 3);
  ck_assert_int_eq(generation("fixed/0.jpg"), gen0);  // not stored again

  RunOutcome differs = run_frames(fx, (std::string(fixed) + " if-exists=skip").c_str(), other);
  ck_assert_uint_eq(count_of(differs.statuses, "failed"), 3);
  STR_CONTAINS(differs.warnings, "a different object named");
  ck_assert_int_eq(generation("fixed/0.jpg"), gen0);

  RunOutcome over = run_frames(fx, (std::string(fixed) + " if-exists=overwrite").c_str(), other);
  ck_assert_uint_eq(count_of(over.statuses, "uploaded"), 3);
  ck_assert_int_gt(generation("fixed/0.jpg"), gen0);
  std::string data;
  ck_assert(fx.emu->get_object(kBucket, "fixed/0.jpg", &data, nullptr));
  ck_assert(data == buffer_bytes(other[0]));
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 3);
  for (GstBuffer *f : frames)
    gst_buffer_unref(f);
}
END_TEST

// stats-interval: GstGcsFrameSinkStats messages while running, with the
// stats property's fields; none when unset.
START_TEST(test_stats_interval_messages)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(3);
  for (const char *props : {"stats-interval=50 batch-size=3", "batch-size=3"}) {
    SinkHarness s(fx.emu->endpoint(), props);
    s.start_jpeg();
    for (GstBuffer *b : frames)
      ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(b)), GST_FLOW_OK);
    ck_assert(stat_reaches(s.sink, "frames-uploaded", 3));
    const bool ticking = g_str_has_prefix(props, "stats-interval");
    // Ticks seen after the uploads, polled (5 s at most); without the
    // property, the same 300 ms must bring none.
    std::vector<GstStructure *> ticks;
    for (int i = 0; i < (ticking ? 5000 : 300) && ticks.size() < 3; i++) {
      std::vector<GstStructure *> more = s.take("GstGcsFrameSinkStats");
      ticks.insert(ticks.end(), more.begin(), more.end());
      g_usleep(1000);
    }
    s.eos();
    if (ticking) {
      ck_assert_uint_ge(ticks.size(), 3);
      ck_assert_uint_eq(get_u64(ticks.back(), "frames-uploaded"), 3);
      ck_assert(gst_structure_has_field(ticks.back(), "render-p99-us"));
    } else {
      ck_assert_uint_eq(ticks.size(), 0);
    }
    free_structs(ticks);
  }
  for (GstBuffer *f : frames)
    gst_buffer_unref(f);
}
END_TEST

// leaky: at the queue bound render() does not wait; upstream drops the
// incoming frame, downstream the oldest frame not yet uploading. Every drop
// is reported (dropped in its batch message, frames-dropped), and what is
// reported uploaded is exactly what was stored.
START_TEST(test_leaky_policies)
{
  EmulatorFixture fx(1500);  // slow uploads: the queue fills
  std::vector<GstBuffer *> frames = make_jpegs(10);
  struct Case {
    const char *props;
    std::vector<std::string> want;  // status of frames 0..9
  } cases[] = {
      {"leaky=upstream stream-name=up",
       {"uploaded", "uploaded", "uploaded", "uploaded", "dropped", "dropped", "dropped", "dropped", "dropped",
        "dropped"}},
      {"leaky=downstream stream-name=down",
       {"uploaded", "uploaded", "dropped", "dropped", "dropped", "dropped", "dropped", "dropped", "uploaded",
        "uploaded"}},
  };
  for (const Case &k : cases) {
    std::string props = std::string(k.props) + " max-queued-frames=4 max-concurrency=2 batch-size=10";
    SinkHarness s(fx.emu->endpoint(), props.c_str());
    s.start_jpeg();
    for (GstBuffer *b : frames)
      ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(b)), GST_FLOW_OK);
    ck_assert_uint_eq(stat(s.sink, "backpressure-waits"), 0);  // render() never waited
    s.eos();
    ck_assert_uint_eq(stat(s.sink, "frames-dropped"), 6);
    RunOutcome out = read_outcome(s);
    ck_assert_uint_eq(out.statuses.size(), 10);
    for (guint i = 0; i < 10; i++) {
      ck_assert_msg(out.statuses[i] == k.want[i], "%s: frame %u is %s, expected %s", k.props, i,
                    out.statuses[i].c_str(), k.want[i].c_str());
      ck_assert(fx.emu->get_object(kBucket, out.names[i], nullptr, nullptr) == (k.want[i] == "uploaded"));
    }
    STR_CONTAINS(out.warnings, "Frames were dropped: the upload queue is full");
    STR_CONTAINS(out.warnings, "1 frame dropped at the queue bound so far");
    ck_assert_msg(out.warnings.find("because the element stopped") == std::string::npos, "%s",
                  out.warnings.c_str());
  }
  // With a spool, the frames leaky would drop go to the spool instead
  // (spooled), and the replay thread stores every one of them.
  std::string props = "leaky=upstream stream-name=spill spool-location=" + temp_dir() +
                      "/spool max-queued-frames=4 max-concurrency=2 batch-size=10";
  SinkHarness s(fx.emu->endpoint(), props.c_str());
  s.start_jpeg();
  for (GstBuffer *b : frames)
    ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(b)), GST_FLOW_OK);
  ck_assert_uint_eq(stat(s.sink, "backpressure-waits"), 0);
  s.eos();
  ck_assert(stat_reaches(s.sink, "frames-replayed", 6));
  ck_assert_uint_eq(stat(s.sink, "frames-dropped"), 0);
  ck_assert_uint_eq(stat(s.sink, "frames-spooled"), 6);
  RunOutcome spill = read_outcome(s);
  ck_assert_uint_eq(spill.statuses.size(), 10);
  for (guint i = 0; i < 10; i++) {
    STR_EQ(spill.statuses[i], i < 4 ? "uploaded" : "spooled");
    ck_assert(fx.emu->get_object(kBucket, spill.names[i], nullptr, nullptr));  // every frame is stored
  }
  STR_CONTAINS(spill.warnings, "Frames went to the spool: the upload queue is full");
  STR_CONTAINS(spill.warnings, "1 frame written to the spool at the queue bound so far");
  for (GstBuffer *f : frames)
    gst_buffer_unref(f);
}
END_TEST

// Raw video the encoder cannot take is refused at caps, with the cause and
// the fix, once however often upstream offers it.
START_TEST(test_raw_video_refused_clearly)
{
  EmulatorFixture fx;
  SinkHarness s(fx.emu->endpoint(), "");
  gst_harness_set_src_caps_str(s.h, "video/x-raw,format=I420,width=161,height=121,framerate=30/1");
  GstBuffer *b = gst_buffer_new_allocate(nullptr, 162 * 122 * 3 / 2, nullptr);
  ck_assert_int_eq(gst_harness_push(s.h, b), GST_FLOW_NOT_NEGOTIATED);
  // Offered again, as upstream does after a refusal: still one error.
  gst_harness_set_src_caps_str(s.h, "video/x-raw,format=I420,width=321,height=241,framerate=30/1");
  b = gst_buffer_new_allocate(nullptr, 322 * 242 * 3 / 2, nullptr);
  ck_assert_int_eq(gst_harness_push(s.h, b), GST_FLOW_NOT_NEGOTIATED);
  GstMessage *m = s.pop(GST_MESSAGE_ERROR);
  ck_assert((m) != nullptr);
  std::string text = message_text(m);
  STR_CONTAINS(text, "even width and height");
  STR_CONTAINS(text, "161x121");
  gst_message_unref(m);
  ck_assert(s.pop(GST_MESSAGE_ERROR) == nullptr);
}
END_TEST

// Runs a launch line to EOS; returns the text of its error, if any.
static std::string run_to_eos(const std::string &desc)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch(desc.c_str(), &err);
  ck_assert_msg(p != nullptr, "%s: %s", desc.c_str(), err ? err->message : "?");
  GstBus *bus = gst_element_get_bus(p);
  ck_assert_int_ne(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstMessage *m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  ck_assert_msg(m != nullptr, "no EOS within 60 s: %s", desc.c_str());
  std::string error = GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR ? message_text(m) : "";
  gst_message_unref(m);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
  return error;
}

// The first frame of videotestsrc (smpte, 160x120) in `format`, as BGR
// through videoconvert: what an encoded frame must show.
static cv::Mat reference_bgr(const std::string &format)
{
  GstHarness *h = gst_harness_new_parse(("videotestsrc pattern=smpte num-buffers=1 ! video/x-raw,format=" + format +
                                         ",width=160,height=120 ! videoconvert ! capsfilter caps=video/x-raw,format=BGR")
                                            .c_str());
  gst_harness_play(h);
  GstBuffer *b = gst_harness_pull(h);
  ck_assert(b != nullptr);
  GstMapInfo map;
  ck_assert(gst_buffer_map(b, &map, GST_MAP_READ));
  cv::Mat out = cv::Mat(120, 160, CV_8UC3, map.data, 160 * 3).clone();
  gst_buffer_unmap(b, &map);
  gst_buffer_unref(b);
  gst_harness_teardown(h);
  return out;
}

// Raw video in every format the element takes is encoded by the upload
// workers: the stored object decodes to the frame's size and content
// (PNG: within rounding of the colour conversion; JPEG: within its loss),
// named with the image's extension and stored with its content type.
START_TEST(test_raw_formats_round_trip)
{
  EmulatorFixture fx;
  struct Case {
    const char *format;
    double tolerance;  // mean absolute difference from videoconvert's BGR, PNG
  } cases[] = {{"BGR", 0.5}, {"RGB", 0.5}, {"BGRx", 0.5}, {"RGBx", 0.5},
               {"GRAY8", 0.5}, {"I420", 8}, {"NV12", 8}};
  for (const Case &k : cases) {
    for (const char *image : {"png", "jpeg", "webp"}) {
      const std::string ext = std::string(image) == "jpeg" ? "jpg" : image;
      const std::string name = std::string("raw/") + k.format + "." + ext;
      std::string error = run_to_eos(std::string("videotestsrc pattern=smpte num-buffers=1 ! video/x-raw,format=") +
                                     k.format + ",width=160,height=120 ! gcsframesink bucket=" + kBucket +
                                     " endpoint=" + fx.emu->endpoint() + " image-format=" + image +
                                     " quality=95 object-name=raw/" + k.format + ".{ext}");
      ck_assert_msg(error.empty(), "%s to %s: %s", k.format, image, error.c_str());
      std::string data;
      gcsemu::ObjectInfo info;
      ck_assert_msg(fx.emu->get_object(kBucket, name, &data, &info), "%s not stored", name.c_str());
      STR_EQ(info.content_type, std::string("image/") + image);
      cv::Mat got = cv::imdecode(cv::Mat(1, int(data.size()), CV_8UC1, data.data()), cv::IMREAD_COLOR);
      ck_assert_msg(!got.empty(), "%s does not decode", name.c_str());
      ck_assert_int_eq(got.cols, 160);
      ck_assert_int_eq(got.rows, 120);
      cv::Mat want = reference_bgr(k.format), d;
      cv::absdiff(got, want, d);
      cv::Scalar mean = cv::mean(d);
      const double diff = (mean[0] + mean[1] + mean[2]) / 3;
      const double allowed = k.tolerance + (ext == "png" ? 0 : 6);
      ck_assert_msg(diff <= allowed, "%s as %s differs by %.2f (allowed %.1f)", k.format, image, diff, allowed);
    }
  }
}
END_TEST

// Raw frames that leaky puts in the spool before any worker encoded them are
// encoded on the way in: what the replay stores is the image, not the
// raw bytes.
START_TEST(test_raw_frames_spilled_to_the_spool_are_images)
{
  EmulatorFixture fx(1500);  // slow uploads: the queue fills
  const std::string spool = temp_dir() + "/spool";
  std::string error = run_to_eos(std::string("videotestsrc pattern=smpte num-buffers=8 ! video/x-raw,format=I420,"
                                             "width=160,height=120 ! gcsframesink name=sink bucket=") +
                                 kBucket + " endpoint=" + fx.emu->endpoint() +
                                 " image-format=png leaky=upstream max-queued-frames=2 max-concurrency=1 "
                                 "object-name=spill/{index}.{ext} spool-location=" + spool);
  ck_assert_msg(error.empty(), "%s", error.c_str());
  // What the replay thread had not stored when the pipeline ended, a later
  // run (1 s of live frames, a fast server now) stores.
  fx.emu->set_latency(0, 0);
  for (int i = 0; i < 10 && fx.emu->list_objects(kBucket, "spill/").size() < 8; i++)
    run_to_eos(std::string("videotestsrc is-live=true num-buffers=30 ! video/x-raw,format=I420,width=160,"
                           "height=120,framerate=30/1 ! gcsframesink bucket=") +
               kBucket + " endpoint=" + fx.emu->endpoint() + " spool-location=" + spool +
               " object-name=later/{index}.{ext}");
  auto objects = fx.emu->list_objects(kBucket, "spill/");
  ck_assert_uint_eq(objects.size(), 8);
  for (const auto &o : objects) {
    std::string data;
    ck_assert(fx.emu->get_object(kBucket, o.name, &data, nullptr));
    cv::Mat img = cv::imdecode(cv::Mat(1, int(data.size()), CV_8UC1, data.data()), cv::IMREAD_COLOR);
    ck_assert_msg(!img.empty() && img.cols == 160 && img.rows == 120, "%s is not a 160x120 PNG", o.name.c_str());
  }
}
END_TEST

START_TEST(test_missing_bucket_is_a_clear_error)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(2);
  SinkHarness s(fx.emu->endpoint(), "batch-size=1", {{"bucket", "no-such-bucket"}});
  s.start_jpeg();
  ck_assert_int_eq(gst_harness_push(s.h, frames[0]), GST_FLOW_OK);
  GstMessage *m = gst_bus_timed_pop_filtered(s.bus, 20 * GST_SECOND, GST_MESSAGE_ERROR);
  ck_assert((m) != nullptr);
  GError *err = nullptr;
  gchar *dbg = nullptr;
  gst_message_parse_error(m, &err, &dbg);
  STR_CONTAINS(dbg, "HTTP 404");
  STR_CONTAINS(dbg, "bucket \"no-such-bucket\" does not exist");
  const GstStructure *details = nullptr;
  gst_message_parse_error_details(m, &details);
  ck_assert((details) != nullptr);
  gint status = 0;
  ck_assert(gst_structure_get_int(details, "http-status", &status));
  ck_assert_int_eq(status, 404);
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(m);
  // Later frames are refused instead of piling up.
  ck_assert_int_eq(gst_harness_push(s.h, frames[1]), GST_FLOW_ERROR);
}
END_TEST

// Plays `pipeline` until EOS (an error or 60 s without a message fails the
// test), passing each GstGcsFrameSinkBatch structure to `on_batch`.
template <typename F>
static void play_until_eos(GstElement *pipeline, F on_batch)
{
  GstBus *bus = gst_element_get_bus(pipeline);
  ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  for (bool eos = false; !eos;) {
    GstMessage *m = gst_bus_timed_pop_filtered(
        bus, 60 * GST_SECOND, (GstMessageType)(GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ck_assert_msg(m != nullptr, "pipeline timed out");
    ck_assert_msg(GST_MESSAGE_TYPE(m) != GST_MESSAGE_ERROR, "pipeline error");
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS)
      eos = true;
    else if (gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch"))
      on_batch(gst_message_get_structure(m));
    gst_message_unref(m);
  }
  gst_object_unref(bus);
}

// End to end from a launch line, through a real pipeline and its bus.
START_TEST(test_launch_line_pipeline)
{
  EmulatorFixture fx(30, 20);
  gchar *desc = g_strdup_printf("videotestsrc num-buffers=45 ! video/x-raw,width=320,height=240 ! jpegenc ! "
                                "gcsframesink bucket=%s endpoint=%s batch-size=10 stream-name=e2e",
                                kBucket, fx.emu->endpoint().c_str());
  GstElement *pipeline = gst_parse_launch(desc, nullptr);
  g_free(desc);
  ck_assert((pipeline) != nullptr);
  guint64 next_batch = 0, next_index = 0;
  play_until_eos(pipeline, [&](const GstStructure *st) {
    ck_assert_uint_eq(get_u64(st, "batch"), next_batch++);
    ck_assert_uint_eq(get_u64(st, "first-index"), next_index);
    next_index += array_size(st, "urls");
  });
  ck_assert_uint_eq(next_batch, 5);
  ck_assert_uint_eq(next_index, 45);
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 45);
  ck_assert_uint_eq(fx.emu->list_objects(kBucket, "e2e/").size(), 45);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}
END_TEST

// 16 live cameras in one pipeline, each into its own sink, all sharing the
// process's upload threads, capped at 4 (GCSFRAMESINK_MAX_CONNECTIONS=4).
// Camera 0 is greedy: 60 fps into an endpoint answering in 100 +- 20 ms,
// more than 4 threads can carry (40 frames/s), so its frames pile up. The
// 15 others send 4 to 18 fps into an endpoint answering in 5 ms. Every frame
// is stored, each stream's batches come in order without gaps, and no light
// camera is starved: the streams take turns for the threads, so a light
// camera's frame waits at most for one greedy upload to end, and its p99
// latency stays under kLightP99BoundMs, however long the greedy backlog.
START_TEST(test_sixteen_cameras_share_the_upload_threads)
{
  g_setenv("GCSFRAMESINK_MAX_CONNECTIONS", "4", TRUE);  // this test's process only (each test is forked)
  constexpr double kLightP99BoundMs = 400;
  constexpr unsigned kCameras = 16, kSeconds = 3;
  EmulatorFixture slow(100, 20), fast(5);
  std::string desc;
  std::vector<unsigned> frames(kCameras);
  for (unsigned i = 0; i < kCameras; i++) {
    const unsigned fps = i == 0 ? 60 : 3 + i;
    frames[i] = fps * kSeconds;
    gchar *branch = g_strdup_printf(
        "videotestsrc is-live=true num-buffers=%u pattern=ball ! video/x-raw,width=64,height=48,framerate=%u/1 ! "
        "jpegenc ! gcsframesink name=cam%u stream-name=cam%u bucket=%s endpoint=%s batch-size=10 "
        "batch-timeout=200 max-queued-frames=1000 ",
        frames[i], fps, i, i, kBucket, (i == 0 ? slow : fast).emu->endpoint().c_str());
    desc += branch;
    g_free(branch);
  }
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch(desc.c_str(), &err);
  ck_assert_msg(pipeline != nullptr, "%s", err ? err->message : "");
  std::map<std::string, guint64> next_batch, next_index, uploaded;
  play_until_eos(pipeline, [&](const GstStructure *st) {
    const std::string cam = gst_structure_get_string(st, "stream-name");
    ck_assert_uint_eq(get_u64(st, "batch"), next_batch[cam]++);       // in order, per stream
    ck_assert_uint_eq(get_u64(st, "first-index"), next_index[cam]);  // no gap
    next_index[cam] += array_size(st, "urls");
    guint uploaded_here = 0;
    ck_assert(gst_structure_get_uint(st, "uploaded", &uploaded_here));
    uploaded[cam] += uploaded_here;
  });
  double greedy_p50 = 0, worst_light_p99 = 0;
  guint64 peak_threads = 0;
  for (unsigned i = 0; i < kCameras; i++) {
    const std::string cam = "cam" + std::to_string(i);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), cam.c_str());
    ck_assert_uint_eq(next_index[cam], frames[i]);
    ck_assert_uint_eq(uploaded[cam], frames[i]);
    ck_assert_uint_eq((i == 0 ? slow : fast).emu->list_objects(kBucket, cam + "/").size(), frames[i]);
    const double p99 = stat_double(sink, "latency-p99-ms");
    if (i == 0)
      greedy_p50 = stat_double(sink, "latency-p50-ms");
    else
      worst_light_p99 = std::max(worst_light_p99, p99);
    peak_threads = std::max(peak_threads, stat(sink, "upload-threads-peak"));
    gst_object_unref(sink);
  }
  g_print("16 cameras: greedy p50 %.0f ms, worst light p99 %.0f ms, upload threads at most %" G_GUINT64_FORMAT
          ", connections at most %" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT "\n",
          greedy_p50, worst_light_p99, peak_threads, slow.emu->max_connections_seen(),
          fast.emu->max_connections_seen());
  ck_assert_uint_le(peak_threads, 4);
  ck_assert_uint_le(slow.emu->max_connections_seen(), 4);  // the threads' connections, shared
  ck_assert_uint_le(fast.emu->max_connections_seen(), 4);
  ck_assert_msg(greedy_p50 > 2 * kLightP99BoundMs, "the greedy camera did not pile up (p50 %.0f ms)", greedy_p50);
  ck_assert_msg(worst_light_p99 <= kLightP99BoundMs, "a light camera waited: p99 %.0f ms", worst_light_p99);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}
END_TEST

static gpointer push_eos_thread(gpointer data)
{
  auto *a = static_cast<EosArgs *>(data);
  gst_harness_push_event(a->h, gst_event_new_eos());
  a->done = true;
  return nullptr;
}

// An application that sends EOS, stops waiting and sets the element to NULL
// while the EOS drain waits: the state change finishes, and EOS goes no
// further.
START_TEST(test_null_during_eos_drain)
{
  EmulatorFixture fx(2000, 0);
  std::vector<GstBuffer *> frames = make_jpegs(3);
  SinkHarness s(fx.emu->endpoint(), "batch-size=10 batch-timeout=0");
  s.start_jpeg();
  s.push_all(frames);
  EosArgs args;
  args.h = s.h;
  GThread *t = g_thread_new("eos", push_eos_thread, &args);
  ck_assert(stat_reaches(s.sink, "drain-waits", 1));
  ck_assert_int_eq(gst_element_set_state(s.sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  g_thread_join(t);
  ck_assert(args.done);
  bool eos = false;
  while (GstMessage *m = s.pop(GST_MESSAGE_EOS)) {
    eos = true;
    gst_message_unref(m);
  }
  ck_assert(!eos);
}
END_TEST

// A fatal error during the EOS drain: the batch messages of every frame come
// before the error, and an application that stops at the error (sets NULL,
// as gst-launch-1.0 does) does not hang.
START_TEST(test_fatal_error_during_eos_drain)
{
  EmulatorFixture fx(500, 0);
  std::vector<GstBuffer *> frames = make_jpegs(5);
  SinkHarness s(fx.emu->endpoint(), "batch-size=2 batch-timeout=0 max-concurrency=1",
                {{"bucket", "no-such-bucket"}});
  s.start_jpeg();
  s.push_all(frames);
  EosArgs args;
  args.h = s.h;
  GThread *t = g_thread_new("eos", push_eos_thread, &args);
  std::vector<std::string> seen;  // "batch N" / "error", in bus order
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered(s.bus, 20 * GST_SECOND,
                                               (GstMessageType)(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    ck_assert_msg(m != nullptr, "no error after %zu messages", seen.size());
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      STR_CONTAINS(message_text(m), "HTTP 404");
      gst_message_unref(m);
      seen.push_back("error");
      break;
    }
    const GstStructure *st = gst_message_get_structure(m);
    if (gst_structure_has_name(st, "GstGcsFrameSinkBatch"))
      seen.push_back("batch " + std::to_string(get_u64(st, "batch")));
    gst_message_unref(m);
  }
  ck_assert_int_eq(gst_element_set_state(s.sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  g_thread_join(t);
  ck_assert_uint_eq(seen.size(), 4);
  STR_EQ(seen[0], "batch 0");
  STR_EQ(seen[1], "batch 1");
  STR_EQ(seen[2], "batch 2");
  STR_EQ(seen[3], "error");
  ck_assert(s.pop(GST_MESSAGE_ERROR) == nullptr);  // one error
}
END_TEST

// Setting a property while running keeps the old value and only logs (no
// g_warning, which aborts applications run with G_DEBUG=fatal-warnings).
START_TEST(test_property_change_while_running)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(4);
  SinkHarness s(fx.emu->endpoint(), "batch-size=2 batch-timeout=0");
  s.start_jpeg();
  g_object_set(s.sink, "batch-size", 3u, "stream-name", "changed", nullptr);
  guint batch_size = 0;
  gchar *stream = nullptr;
  g_object_get(s.sink, "batch-size", &batch_size, "stream-name", &stream, nullptr);
  ck_assert_uint_eq(batch_size, 2);
  ck_assert(stream == nullptr);
  s.push_all(frames);
  s.eos();
  std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
  ck_assert_uint_eq(batches.size(), 2);
  free_structs(batches);
}
END_TEST

// Index and batch numbers go on across a restart of the element (to READY and
// to NULL), so a later run neither rewrites names nor repeats batch numbers.
START_TEST(test_numbering_across_restarts)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(9);
  SinkHarness s(fx.emu->endpoint(), "batch-size=2 batch-timeout=0 object-name={index}.{ext}");
  guint64 next_batch = 0, next_index = 0;
  for (int run = 0; run < 3; run++) {
    if (run > 0) {
      gst_element_set_state(s.sink, run == 1 ? GST_STATE_READY : GST_STATE_NULL);
      ck_assert_int_eq(gst_element_set_state(s.sink, GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
      ck_assert(gst_harness_push_event(s.h, gst_event_new_stream_start("restarted")));
    }
    s.start_jpeg();
    for (int i = 0; i < 3; i++)
      ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(frames[run * 3 + i])), GST_FLOW_OK);
    s.eos();
    std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
    ck_assert_uint_eq(batches.size(), 2);
    for (GstStructure *st : batches) {
      ck_assert_uint_eq(get_u64(st, "batch"), next_batch++);
      ck_assert_uint_eq(get_u64(st, "first-index"), next_index);
      for (guint i = 0; i < array_size(st, "object-names"); i++)
        STR_EQ(array_string(st, "object-names", i), std::to_string(next_index++) + ".jpg");
    }
    free_structs(batches);
  }
  ck_assert_uint_eq(fx.emu->object_count(kBucket), 9);
  guint64 index = 0;
  gst_element_set_state(s.sink, GST_STATE_READY);
  g_object_get(s.sink, "index", &index, nullptr);
  ck_assert_uint_eq(index, 9);  // where a next run starts
  for (GstBuffer *b : frames)
    gst_buffer_unref(b);
}
END_TEST

// New caps mid-stream: later frames take the new format's extension and
// Content-Type. (The sink does not look into the bytes: the caps say what
// they are.)
START_TEST(test_caps_change_midstream)
{
  EmulatorFixture fx;
  std::vector<GstBuffer *> frames = make_jpegs(4);
  SinkHarness s(fx.emu->endpoint(), "batch-size=4 batch-timeout=0 object-name={index}.{ext}");
  s.start_jpeg();
  ck_assert_int_eq(gst_harness_push(s.h, frames[0]), GST_FLOW_OK);
  ck_assert_int_eq(gst_harness_push(s.h, frames[1]), GST_FLOW_OK);
  gst_harness_set_src_caps_str(s.h, "image/png,width=160,height=120,framerate=30/1");
  ck_assert_int_eq(gst_harness_push(s.h, frames[2]), GST_FLOW_OK);
  ck_assert_int_eq(gst_harness_push(s.h, frames[3]), GST_FLOW_OK);
  s.eos();
  std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
  ck_assert_uint_eq(batches.size(), 1);
  const char *expect[] = {"0.jpg", "1.jpg", "2.png", "3.png"};
  for (guint i = 0; i < 4; i++)
    STR_EQ(array_string(batches[0], "object-names", i), expect[i]);
  free_structs(batches);
  gcsemu::ObjectInfo info;
  std::string data;
  ck_assert(fx.emu->get_object(kBucket, "1.jpg", &data, &info));
  STR_EQ(info.content_type, "image/jpeg");
  ck_assert(fx.emu->get_object(kBucket, "2.png", &data, &info));
  STR_EQ(info.content_type, "image/png");
}
END_TEST

struct CapturedMessages {
  std::mutex m;
  std::string text;
  static void handler(const gchar *, GLogLevelFlags, const gchar *message, gpointer data)
  {
    auto *self = static_cast<CapturedMessages *>(data);
    std::lock_guard<std::mutex> lk(self->m);
    self->text += message;
    self->text += '\n';
  }
};

// Stops a live pipeline mid-upload the way gst-launch-1.0 does on Ctrl-C
// without -e (straight to NULL, its bus unread and then flushed); returns
// what the element said on the console (g_message) and on the bus.
static void stop_mid_upload(GstState via, std::string *console, std::string *bus_warning)
{
  EmulatorFixture fx(5000, 0);
  gchar *desc = g_strdup_printf("videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=20/1 ! "
                                "jpegenc ! gcsframesink name=sink bucket=%s endpoint=%s",
                                kBucket, fx.emu->endpoint().c_str());
  GstElement *pipeline = gst_parse_launch(desc, nullptr);
  g_free(desc);
  ck_assert(pipeline != nullptr);
  CapturedMessages captured;
  guint handler = g_log_set_handler(nullptr, G_LOG_LEVEL_MESSAGE, CapturedMessages::handler, &captured);
  ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  ck_assert(stat_reaches(sink, "frames-received", 3));
  if (via != GST_STATE_NULL)
    gst_element_set_state(pipeline, via);
  GstBus *bus = gst_element_get_bus(pipeline);
  if (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING)) {
    *bus_warning = message_text(m);
    gst_message_unref(m);
  }
  ck_assert_int_eq(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  g_log_remove_handler(nullptr, handler);
  std::lock_guard<std::mutex> lk(captured.m);
  *console = captured.text;
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

// Dropped frames are said where the user looks: on the bus when the
// application reads it, on the console when nobody will.
START_TEST(test_dropped_frames_said_where_seen)
{
  std::string console, warning;
  stop_mid_upload(GST_STATE_NULL, &console, &warning);
  STR_CONTAINS(console, "because the element stopped before their uploads finished");
  STR_CONTAINS(console, "gst-launch-1.0 -e");
  console.clear();
  warning.clear();
  stop_mid_upload(GST_STATE_READY, &console, &warning);
  STR_CONTAINS(warning, "because the element stopped before their uploads finished");
  STR_EQ(console, "");
}
END_TEST

static unsigned spool_files(const std::string &dir)
{
  unsigned n = 0;
  if (GDir *d = g_dir_open(dir.c_str(), 0, nullptr)) {
    while (const gchar *name = g_dir_read_name(d))
      n += g_str_has_suffix(name, ".frame") && !g_str_has_prefix(name, ".tmp-");
    g_dir_close(d);
  }
  return n;
}

// drain-timeout bounds EOS during an outage (nothing listens at the
// endpoint; the retry budget is ten minutes): EOS goes on after it, every
// frame is reported, and one warning counts them: kept in the spool with
// spool-location, else dropped.
START_TEST(test_drain_timeout_bounds_eos)
{
  for (bool with_spool : {false, true}) {
    std::string spool = temp_dir() + "/spool";
    std::string props = "batch-size=3 max-retries=1000 retry-timeout=600000 drain-timeout=500";
    if (with_spool)
      props += " spool-location=" + spool;
    SinkHarness s("http://127.0.0.1:1", props.c_str());
    s.start_jpeg();
    s.push_all(make_jpegs(3));
    gint64 t0 = g_get_monotonic_time();
    s.eos();  // returns once the sink let EOS go on
    gint64 waited_us = g_get_monotonic_time() - t0;
    ck_assert_int_ge(waited_us, 490 * 1000);
    ck_assert_int_lt(waited_us, 5 * G_USEC_PER_SEC);
    std::vector<std::string> statuses;
    std::string warnings;
    bool eos = false;
    while (GstMessage *m = s.pop((GstMessageType)(GST_MESSAGE_ELEMENT | GST_MESSAGE_WARNING | GST_MESSAGE_EOS))) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
        warnings += message_text(m) + "\n";
      } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
        eos = true;
      } else if (gst_structure_has_name(gst_message_get_structure(m), "GstGcsFrameSinkBatch")) {
        ck_assert(!eos);  // batch messages come before EOS
        for (guint i = 0; i < array_size(gst_message_get_structure(m), "status"); i++)
          statuses.push_back(array_string(gst_message_get_structure(m), "status", i));
      }
      gst_message_unref(m);
    }
    ck_assert(eos);
    const char *expect = with_spool ? "spooled" : "dropped";
    ck_assert(statuses == (std::vector<std::string>{expect, expect, expect}));
    STR_CONTAINS(warnings, with_spool ? "3 frames were kept in the spool" : "3 frames were dropped");
    STR_CONTAINS(warnings, "because drain-timeout=500 ms passed at EOS");
    ck_assert_uint_eq(spool_files(spool), with_spool ? 3 : 0);
  }
}
END_TEST

// gst-launch-1.0 -e interrupted a second time while EOS waits for uploads
// (an outage): the pipeline goes straight to NULL, its bus is flushed, and
// the console still says what became of every frame.
START_TEST(test_second_interrupt_during_drain)
{
  for (bool with_spool : {false, true}) {
    std::string spool = temp_dir() + "/spool";
    gchar *desc = g_strdup_printf(
        "videotestsrc num-buffers=4 ! video/x-raw,width=160,height=120,framerate=20/1 ! jpegenc ! gcsframesink "
        "name=sink bucket=%s endpoint=http://127.0.0.1:1 max-retries=1000 retry-timeout=600000 %s%s",
        kBucket, with_spool ? "spool-location=" : "", with_spool ? spool.c_str() : "");
    GstElement *pipeline = gst_parse_launch(desc, nullptr);
    g_free(desc);
    ck_assert(pipeline != nullptr);
    CapturedMessages captured;
    guint handler = g_log_set_handler(nullptr, G_LOG_LEVEL_MESSAGE, CapturedMessages::handler, &captured);
    ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    ck_assert(stat_reaches(sink, "drain-waits", 1));  // EOS is waiting for the uploads
    ck_assert_int_eq(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    g_log_remove_handler(nullptr, handler);
    {
      std::lock_guard<std::mutex> lk(captured.m);
      STR_CONTAINS(captured.text, with_spool ? "4 frames were kept in the spool" : "4 frames were dropped");
      STR_CONTAINS(captured.text, "because the element stopped");
    }
    ck_assert_uint_eq(spool_files(spool), with_spool ? 4 : 0);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
}
END_TEST

// The manifest's lines, each parsed (a line that is not JSON fails the test).
static std::vector<nlohmann::json> manifest_lines(const std::string &path)
{
  std::vector<nlohmann::json> out;
  gchar *text = nullptr;
  if (!g_file_get_contents(path.c_str(), &text, nullptr, nullptr))
    return out;
  gchar **lines = g_strsplit(text, "\n", -1);
  for (gchar **l = lines; *l; l++)
    if (**l && l[1])  // the last piece has no newline yet: a line still being written
      out.push_back(nlohmann::json::parse(*l));
  g_strfreev(lines);
  g_free(text);
  return out;
}

// manifest-location: a program that does not read the bus follows the file
// while the element runs; each line holds what its batch message says, in
// the same order; a second run appends; a bound rotates it to <file>.1; a
// file that cannot be opened stops the start with the cause. The stats keep
// GstBaseSink's own counters.
START_TEST(test_manifest_follows_batches)
{
  EmulatorFixture fx;
  const std::string dir = temp_dir(), path = dir + "/frames.jsonl";
  const std::string props = "stream-name=cam1 batch-size=4 batch-timeout=0 manifest-location=" + path;
  std::vector<GstBuffer *> frames = make_jpegs(10);
  std::string first_run;
  for (int run = 0; run < 2; run++) {
    SinkHarness s(fx.emu->endpoint(), props.c_str());
    s.start_jpeg();
    for (int i = 0; i < 4; i++)
      ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(frames[i])), GST_FLOW_OK);
    // Followed while running: the first batch's line comes before EOS.
    const size_t before = run * 3;
    for (int i = 0; i < 20000 && manifest_lines(path).size() <= before; i++)
      g_usleep(1000);
    ck_assert_uint_eq(manifest_lines(path).size(), before + 1);
    for (size_t i = 4; i < frames.size(); i++)
      ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(frames[i])), GST_FLOW_OK);
    s.eos();
    ck_assert_uint_eq(stat(s.sink, "rendered"), 10);  // GstBaseSink's, beside the element's own
    ck_assert_uint_eq(stat(s.sink, "frames-uploaded"), 10);
    std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
    std::vector<nlohmann::json> lines = manifest_lines(path);
    ck_assert_uint_eq(batches.size(), 3);
    ck_assert_uint_eq(lines.size(), before + 3);
    for (size_t b = 0; b < 3; b++) {
      const nlohmann::json &j = lines[before + b];
      const GstStructure *m = batches[b];
      STR_EQ(j.at("message").get<std::string>(), "GstGcsFrameSinkBatch");
      STR_EQ(j.at("stream").get<std::string>(), "cam1");
      ck_assert_uint_eq(j.at("batch").get<uint64_t>(), get_u64(m, "batch"));
      ck_assert_uint_eq(j.at("first-index").get<uint64_t>(), get_u64(m, "first-index"));
      ck_assert_uint_eq(j.at("object-names").size(), array_size(m, "object-names"));
      for (guint i = 0; i < array_size(m, "object-names"); i++) {
        STR_EQ(j.at("object-names")[i].get<std::string>(), array_string(m, "object-names", i));
        STR_EQ(j.at("uris")[i].get<std::string>(), array_string(m, "uris", i));
        STR_EQ(j.at("urls")[i].get<std::string>(), array_string(m, "urls", i));
        STR_EQ(j.at("status")[i].get<std::string>(), "uploaded");
        ck_assert(j.at("timestamps")[i].is_number_unsigned());
        ck_assert(fx.emu->get_object(kBucket, j.at("object-names")[i].get<std::string>(), nullptr, nullptr));
      }
    }
    const std::string run_id = lines[before].at("run").get<std::string>();
    ck_assert(!run_id.empty());
    if (run == 0)
      first_run = run_id;
    else
      ck_assert(run_id != first_run);
    free_structs(batches);
    // Stopped, the stats still hold the run's counts, GstBaseSink's too.
    ck_assert_int_eq(gst_element_set_state(s.sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    ck_assert_uint_eq(stat(s.sink, "rendered"), 10);
    ck_assert_uint_eq(stat(s.sink, "frames-uploaded"), 10);
  }
  {
    // Bounded: every line takes the file past 1 byte, so the file holds the
    // last line and <file>.1 the one before.
    SinkHarness s(fx.emu->endpoint(), (props + " manifest-max-size=1").c_str());
    s.start_jpeg();
    for (GstBuffer *b : frames)
      ck_assert_int_eq(gst_harness_push(s.h, gst_buffer_ref(b)), GST_FLOW_OK);
    s.eos();
    std::vector<nlohmann::json> now = manifest_lines(path), old = manifest_lines(path + ".1");
    ck_assert_uint_eq(now.size(), 1);
    ck_assert_uint_eq(old.size(), 1);
    ck_assert_uint_eq(now[0].at("count").get<unsigned>(), 2);
    ck_assert_uint_eq(old[0].at("count").get<unsigned>(), 4);
    ck_assert_uint_eq(now[0].at("batch").get<uint64_t>(), old[0].at("batch").get<uint64_t>() + 1);
  }
  {
    // A folder is no manifest: the start fails, saying so.
    std::string e = start_error({{"bucket", kBucket}, {"endpoint", fx.emu->endpoint()}, {"manifest-location", dir}});
    STR_CONTAINS(e, "Cannot open the manifest file.");
    STR_CONTAINS(e, "manifest-location");
    STR_CONTAINS(e, "Is a directory");
  }
  for (GstBuffer *f : frames)
    gst_buffer_unref(f);
  g_unlink((path + ".1").c_str());
  g_unlink(path.c_str());
  g_rmdir(dir.c_str());
}
END_TEST

// Which stream: the batch and frame messages (and the manifest) carry
// stream-name and the upstream stream-id, and {stream-id} names objects by
// it, as branches of streamiddemux or nvstreamdemux need.
START_TEST(test_stream_name_and_id)
{
  EmulatorFixture fx;
  const std::string dir = temp_dir(), manifest = dir + "/m.jsonl";
  SinkHarness s(fx.emu->endpoint(),
                ("stream-name=gate batch-size=2 post-messages=true object-name={stream-id}/{index}.{ext} "
                 "manifest-location=" + manifest).c_str());
  s.start_jpeg();
  ck_assert(gst_harness_push_event(s.h, gst_event_new_stream_start("d9a1/video_0")));
  std::vector<GstBuffer *> frames = make_jpegs(2);
  s.push_all(frames);
  s.eos();
  std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
  ck_assert_uint_eq(batches.size(), 1);
  STR_EQ(gst_structure_get_string(batches[0], "stream-name"), "gate");
  STR_EQ(gst_structure_get_string(batches[0], "stream-id"), "d9a1/video_0");
  STR_EQ(array_string(batches[0], "object-names", 1), "d9a1/video_0/1.jpg");
  ck_assert(fx.emu->get_object(kBucket, "d9a1/video_0/1.jpg", nullptr, nullptr));
  free_structs(batches);
  // The per-frame messages were taken with the rest: read them from a second run.
  SinkHarness t(fx.emu->endpoint(), "stream-name=gate batch-size=1 post-messages=true index=5");
  t.start_jpeg();
  ck_assert(gst_harness_push_event(t.h, gst_event_new_stream_start("other/audio_1")));
  t.push_all(make_jpegs(1));
  t.eos();
  std::vector<GstStructure *> per_frame = t.take("GstGcsFrameSink");
  ck_assert_uint_eq(per_frame.size(), 1);
  STR_EQ(gst_structure_get_string(per_frame[0], "stream-name"), "gate");
  STR_EQ(gst_structure_get_string(per_frame[0], "stream-id"), "other/audio_1");
  free_structs(per_frame);
  std::vector<nlohmann::json> lines = manifest_lines(manifest);
  ck_assert_uint_eq(lines.size(), 1);
  STR_EQ(lines[0].at("stream-id").get<std::string>(), "d9a1/video_0");
  STR_EQ(lines[0].at("stream").get<std::string>(), "gate");
  g_unlink(manifest.c_str());
  g_rmdir(dir.c_str());
}
END_TEST

// manifest-name: a manifest object per batch in the bucket, there by EOS,
// holding what the batch message said, frame by frame, with each stored
// object's size and checksums: what a consumer on another machine reads.
START_TEST(test_manifest_objects_in_the_bucket)
{
  EmulatorFixture fx(50);
  SinkHarness s(fx.emu->endpoint(),
                "stream-name=cam7 batch-size=10 manifest-name=manifests/{stream}/{run}/{batch:04}.{ext}");
  s.start_jpeg();
  s.push_all(make_jpegs(25));
  s.eos();
  std::vector<GstStructure *> batches = s.take("GstGcsFrameSinkBatch");
  ck_assert_uint_eq(batches.size(), 3);
  std::vector<gcsemu::ObjectInfo> listed = fx.emu->list_objects(kBucket, "manifests/cam7/");
  ck_assert_uint_eq(listed.size(), 3);
  ck_assert_uint_eq(stat(s.sink, "manifests-uploaded"), 3);
  ck_assert_uint_eq(stat(s.sink, "manifests-failed"), 0);
  for (size_t b = 0; b < 3; b++) {
    const gcsemu::ObjectInfo &info = listed[b];  // listed by name: in batch order
    STR_EQ(info.content_type, "application/json");
    std::string text;
    ck_assert(fx.emu->get_object(kBucket, info.name, &text, nullptr));
    nlohmann::json j = nlohmann::json::parse(text);
    const GstStructure *m = batches[b];
    ck_assert_uint_eq(j.at("batch").get<uint64_t>(), get_u64(m, "batch"));
    STR_CONTAINS(info.name, "/000" + std::to_string(b) + ".json");
    ck_assert_uint_eq(j.at("first-index").get<uint64_t>(), get_u64(m, "first-index"));
    STR_EQ(j.at("stream").get<std::string>(), "cam7");
    STR_EQ(j.at("bucket").get<std::string>(), kBucket);
    ck_assert_uint_eq(j.at("frames").size(), array_size(m, "object-names"));
    for (guint i = 0; i < array_size(m, "object-names"); i++) {
      const nlohmann::json &f = j.at("frames")[i];
      STR_EQ(f.at("name").get<std::string>(), array_string(m, "object-names", i));
      STR_EQ(f.at("url").get<std::string>(), array_string(m, "urls", i));
      STR_EQ(f.at("status").get<std::string>(), array_string(m, "status", i));
      ck_assert_uint_eq(f.at("index").get<uint64_t>(), get_u64(m, "first-index") + i);
      gcsemu::ObjectInfo frame;
      ck_assert(fx.emu->get_object(kBucket, f.at("name").get<std::string>(), nullptr, &frame));
      ck_assert_uint_eq(f.at("size").get<uint64_t>(), frame.size);
      STR_EQ(f.at("crc32c").get<std::string>(), frame.crc32c);
      ck_assert_int_eq(f.at("generation").get<int64_t>(), frame.generation);
    }
  }
  free_structs(batches);
  {
    // One fixed name for every batch (and if-exists=fail): the first is
    // stored, the other two fail, each with a warning; the frames do not.
    SinkHarness t(fx.emu->endpoint(), "stream-name=cam8 batch-size=10 manifest-name=fixed.json");
    t.start_jpeg();
    t.push_all(make_jpegs(25));
    t.eos();
    ck_assert_uint_eq(stat(t.sink, "frames-uploaded"), 25);
    ck_assert_uint_eq(stat(t.sink, "manifests-uploaded"), 1);
    ck_assert_uint_eq(stat(t.sink, "manifests-failed"), 2);
    RunOutcome out = read_outcome(t);
    // Which batch's manifest is stored first is up to the manifest threads.
    size_t warned = 0;
    for (size_t at = 0; (at = out.warnings.find("A manifest object could not be stored.", at)) != std::string::npos; at++)
      warned++;
    ck_assert_uint_eq(warned, 2);
    STR_CONTAINS(out.warnings, "the manifest object fixed.json of batch ");
    STR_CONTAINS(out.warnings, "already exists");
  }
  // A template that does not parse stops the start, naming the property.
  std::string e = start_error({{"bucket", kBucket}, {"endpoint", fx.emu->endpoint()}, {"manifest-name", "m/{nope}"}});
  STR_CONTAINS(e, "manifest-name template \"m/{nope}\"");
  STR_CONTAINS(e, "unknown placeholder {nope}");
}
END_TEST

static Suite *gcsframesink_suite(void)
{
  Suite *s = suite_create("gcsframesink");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  clear_emulator_env();
  tcase_add_test(tc, test_ordered_batches_under_random_latency);
  tcase_add_test(tc, test_batch_timeout_posts_partial_batch);
  tcase_add_test(tc, test_eos_drains_every_frame);
  tcase_add_test(tc, test_flush_wakes_render_at_bound);
  tcase_add_test(tc, test_pause_at_bound_keeps_the_frame);
  tcase_add_test(tc, test_pause_during_eos_drain);
  tcase_add_test(tc, test_null_mid_upload_reports_every_frame);
  tcase_add_test(tc, test_per_frame_messages_and_metadata);
  tcase_add_test(tc, test_odd_utf8_names_round_trip);
  tcase_add_test(tc, test_bad_settings_fail_start_with_the_fix);
  tcase_add_test(tc, test_settings_that_can_never_work);
  tcase_add_test(tc, test_empty_buffers_skipped_and_counted);
  tcase_add_test(tc, test_rerun_stores_every_frame);
  tcase_add_test(tc, test_if_exists_policies);
  tcase_add_test(tc, test_stats_interval_messages);
  tcase_add_test(tc, test_leaky_policies);
  tcase_add_test(tc, test_raw_video_refused_clearly);
  tcase_add_test(tc, test_raw_formats_round_trip);
  tcase_add_test(tc, test_raw_frames_spilled_to_the_spool_are_images);
  tcase_add_test(tc, test_missing_bucket_is_a_clear_error);
  tcase_add_test(tc, test_launch_line_pipeline);
  tcase_add_test(tc, test_sixteen_cameras_share_the_upload_threads);
  tcase_add_test(tc, test_null_during_eos_drain);
  tcase_add_test(tc, test_fatal_error_during_eos_drain);
  tcase_add_test(tc, test_property_change_while_running);
  tcase_add_test(tc, test_numbering_across_restarts);
  tcase_add_test(tc, test_caps_change_midstream);
  tcase_add_test(tc, test_dropped_frames_said_where_seen);
  tcase_add_test(tc, test_drain_timeout_bounds_eos);
  tcase_add_test(tc, test_second_interrupt_during_drain);
  tcase_add_test(tc, test_manifest_follows_batches);
  tcase_add_test(tc, test_stream_name_and_id);
  tcase_add_test(tc, test_manifest_objects_in_the_bucket);
  return s;
}

GST_CHECK_MAIN(gcsframesink);
