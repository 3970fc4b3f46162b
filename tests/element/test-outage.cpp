// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Outage tests: a live 30 fps camera into gcsframesink while the storage
// server (the bundled emulator, in this process) is stopped mid-stream and
// started again on the same port with the same objects. Each test asserts
// what was stored against what the bus said, frame by frame.
#include "common.h"
#include "gcs-emulator.h"

#include <gst/check/gstcheck.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

static const char *kBucket = "outage";

static std::unique_ptr<gcsemu::Emulator> start_emulator()
{
  gcsemu::Options o;
  o.buckets = {kBucket};
  auto emu = std::make_unique<gcsemu::Emulator>(o);
  std::string err;
  ck_assert_msg(emu->start(&err), "emulator: %s", err.c_str());
  return emu;
}

static guint64 stat_of(GstElement *sink, const char *field)
{
  GstStructure *st = nullptr;
  g_object_get(sink, "stats", &st, nullptr);
  guint64 v = 0;
  ck_assert_msg(gst_structure_get_uint64(st, field, &v), "no stats field %s", field);
  gst_structure_free(st);
  return v;
}

static std::string temp_spool()
{
  gchar *d = g_dir_make_tmp("gcsframesink-outage-XXXXXX", nullptr);
  std::string s = std::string(d) + "/spool";
  g_free(d);
  return s;
}

// What the bus said about a run, frame by frame in frame order.
struct Run {
  std::vector<std::string> names, statuses;
  std::set<std::string> replayed;  // GstGcsFrameSinkSpool: stored from the spool
  guint64 received = 0, dropped = 0, spooled = 0;
  std::string warnings;
};

// Runs the camera for `before_ms`, stops the server for `outage_ms`, starts
// it again, runs `after_ms` more, then sends EOS and waits for it (and then
// until `settled` says so of the sink).
static Run outage_run(gcsemu::Emulator &emu, const std::string &props, unsigned before_ms, unsigned outage_ms,
                      unsigned after_ms, const std::function<bool(GstElement *)> &settled = nullptr)
{
  std::string desc = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 ! "
                     "jpegenc ! gcsframesink name=sink bucket=" +
                     std::string(kBucket) + " endpoint=" + emu.endpoint() + " " + props;
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch(desc.c_str(), &err);
  ck_assert_msg(pipeline != nullptr, "%s", err ? err->message : "?");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstBus *bus = gst_element_get_bus(pipeline);
  ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  g_usleep(before_ms * 1000);
  emu.stop();
  g_usleep(outage_ms * 1000);
  std::string why;
  ck_assert_msg(emu.start(&why), "restart: %s", why.c_str());
  g_usleep(after_ms * 1000);
  ck_assert(gst_element_send_event(pipeline, gst_event_new_eos()));

  Run run;
  uint64_t next_batch = 0, next_index = 0;
  bool eos = false;
  auto read = [&](GstMessage *m) {
    switch (GST_MESSAGE_TYPE(m)) {
      case GST_MESSAGE_EOS: eos = true; break;
      case GST_MESSAGE_ERROR: ck_abort_msg("error: %s", message_text(m).c_str()); break;
      case GST_MESSAGE_WARNING: run.warnings += message_text(m) + "\n"; break;
      case GST_MESSAGE_ELEMENT: {
        const GstStructure *s = gst_message_get_structure(m);
        if (gst_structure_has_name(s, "GstGcsFrameSinkBatch")) {
          // Batches in order, each going on from the last frame of the one before.
          guint64 batch = 0, first = 0;
          ck_assert(gst_structure_get_uint64(s, "batch", &batch) && gst_structure_get_uint64(s, "first-index", &first));
          ck_assert_uint_eq(batch, next_batch);
          ck_assert_uint_eq(first, next_index);
          next_batch++;
          const GValue *names = gst_structure_get_value(s, "object-names");
          const GValue *statuses = gst_structure_get_value(s, "status");
          for (guint i = 0; i < gst_value_array_get_size(names); i++) {
            run.names.push_back(g_value_get_string(gst_value_array_get_value(names, i)));
            run.statuses.push_back(g_value_get_string(gst_value_array_get_value(statuses, i)));
            next_index++;
          }
        } else if (gst_structure_has_name(s, "GstGcsFrameSinkSpool")) {
          run.replayed.insert(gst_structure_get_string(s, "filename"));
        }
        break;
      }
      default: break;
    }
  };
  const auto types = GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_ELEMENT);
  while (!eos) {
    GstMessage *m = gst_bus_timed_pop_filtered(bus, 300 * GST_SECOND, types);
    ck_assert_msg(m != nullptr, "no EOS within 300 s");
    read(m);
    gst_message_unref(m);
  }
  if (settled)
    for (int i = 0; i < 60000 && !settled(sink); i++)
      g_usleep(1000);
  run.received = stat_of(sink, "frames-received");
  run.dropped = stat_of(sink, "frames-dropped");
  run.spooled = stat_of(sink, "frames-spooled");
  while (GstMessage *m = gst_bus_pop_filtered(bus, types)) {
    read(m);
    gst_message_unref(m);
  }
  ck_assert_int_eq(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return run;
}

// The objects stored under `prefix`.
static std::set<std::string> stored(gcsemu::Emulator &emu, const std::string &prefix)
{
  std::set<std::string> names;
  for (const auto &o : emu.list_objects(kBucket, prefix))
    names.insert(o.name);
  return names;
}

static unsigned count(const Run &r, const char *status)
{
  unsigned n = 0;
  for (const auto &s : r.statuses)
    n += s == status;
  return n;
}

// With a spool and a short retry budget: the frames the outage keeps from
// the server are spooled, and replayed once it is back; every frame that
// entered the sink is stored exactly once, under the name its batch message
// gave.
static void spool_case(unsigned outage_ms, const std::string &extra)
{
  auto emu = start_emulator();
  std::string spool = temp_spool();
  Run r = outage_run(*emu,
                     "object-name=spool/{index:06}.{ext} max-retries=2 retry-timeout=1000 spool-location=" + spool +
                         " " + extra,
                     1000, outage_ms, 1500, [](GstElement *sink) {
                       return stat_of(sink, "frames-replayed") == stat_of(sink, "frames-spooled");
                     });
  ck_assert_uint_gt(r.received, 30);
  ck_assert_uint_eq(r.names.size(), r.received);  // every frame reported, in order
  ck_assert_uint_gt(r.spooled, 0);                 // the outage was felt
  ck_assert_uint_eq(count(r, "uploaded") + count(r, "spooled"), r.received);
  ck_assert_uint_eq(count(r, "spooled"), r.spooled);
  ck_assert_uint_eq(r.replayed.size(), r.spooled);
  std::set<std::string> objects = stored(*emu, "spool/");
  g_print("outage %u ms, spool%s%s: %" G_GUINT64_FORMAT " frames, %u uploaded live, %" G_GUINT64_FORMAT
          " spooled and replayed, %zu stored\n",
          outage_ms, extra.empty() ? "" : ", ", extra.c_str(), r.received, count(r, "uploaded"), r.spooled,
          objects.size());
  ck_assert_uint_eq(objects.size(), r.received);
  for (size_t i = 0; i < r.names.size(); i++) {
    ck_assert_msg(objects.count(r.names[i]), "frame %zu (%s, %s) is not stored", i, r.names[i].c_str(),
                  r.statuses[i].c_str());
    ck_assert(r.statuses[i] == "uploaded" || r.replayed.count(r.names[i]));
  }
}

START_TEST(test_outage_5s_with_spool)
{
  spool_case(5000, "");
}
END_TEST

// No spool, leaky=none (the default): the retries (a 120 s budget) ride the
// outage out and backpressure holds the camera back: nothing is lost.
START_TEST(test_outage_5s_without_spool)
{
  auto emu = start_emulator();
  Run r = outage_run(*emu, "object-name=plain/{index:06}.{ext}", 1000, 5000, 1500);
  ck_assert_uint_gt(r.received, 30);
  ck_assert_uint_eq(r.names.size(), r.received);
  ck_assert_uint_eq(count(r, "uploaded"), r.received);
  std::set<std::string> objects = stored(*emu, "plain/");
  g_print("outage 5000 ms, no spool, leaky=none: %" G_GUINT64_FORMAT " frames, %zu stored\n", r.received,
          objects.size());
  ck_assert_uint_eq(objects.size(), r.received);
  for (const auto &n : r.names)
    ck_assert(objects.count(n));
}
END_TEST

// leaky=upstream with a small queue bound: the camera never waits; the
// frames dropped are exactly those reported dropped (none of them stored),
// and every frame reported uploaded is stored.
START_TEST(test_outage_5s_leaky)
{
  auto emu = start_emulator();
  Run r = outage_run(*emu, "object-name=leaky/{index:06}.{ext} leaky=upstream max-queued-frames=20", 1000, 5000,
                     1500);
  ck_assert_uint_eq(r.names.size(), r.received);
  ck_assert_uint_gt(r.dropped, 0);
  ck_assert_uint_eq(count(r, "dropped"), r.dropped);
  ck_assert_uint_eq(count(r, "uploaded") + count(r, "dropped"), r.received);
  std::set<std::string> objects = stored(*emu, "leaky/");
  g_print("outage 5000 ms, leaky=upstream max-queued-frames=20: %" G_GUINT64_FORMAT " frames, %u uploaded, %" G_GUINT64_FORMAT
          " dropped, %zu stored\n", r.received, count(r, "uploaded"), r.dropped, objects.size());
  ck_assert_uint_eq(objects.size(), count(r, "uploaded"));
  for (size_t i = 0; i < r.names.size(); i++)
    ck_assert_msg(objects.count(r.names[i]) == (r.statuses[i] == "uploaded"), "frame %zu is %s", i,
                  r.statuses[i].c_str());
  STR_CONTAINS(r.warnings, "dropped at the queue bound");
}
END_TEST

// A minute without the server, the camera never held back (leaky, a spool
// behind it): every frame stored exactly once, in order in the messages.
START_TEST(test_outage_60s_with_spool_and_leaky)
{
  spool_case(60000, "leaky=upstream max-queued-frames=60");
}
END_TEST

static Suite *outage_suite(void)
{
  Suite *s = suite_create("outage");
  TCase *tc = tcase_create("outage");
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  clear_emulator_env();
  tcase_add_test(tc, test_outage_5s_with_spool);
  tcase_add_test(tc, test_outage_5s_without_spool);
  tcase_add_test(tc, test_outage_5s_leaky);
  tcase_add_test(tc, test_outage_60s_with_spool_and_leaky);
  return s;
}

GST_CHECK_MAIN(outage);
