// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// A Session opened and closed against the bundled emulator, without
// GStreamer: a run's frames stored and reported in order, where the next run
// starts, refusals by kind, empty frames, and a close with uploads in flight.
#include "gcs-emulator.h"
#include "session.h"

#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <csignal>
#include <sys/resource.h>

#include "../check-strings.h"

#include <mutex>
#include <string>
#include <vector>

using namespace gcsfs;

static const char *kBucket = "session-frames";

struct StringBytes : FrameBytes {
  std::string text;
  explicit StringBytes(std::string t) : text(std::move(t))
  {
    data = reinterpret_cast<const uint8_t *>(text.data());
    size = text.size();
  }
};

static Frame frame_of(const std::string &bytes)
{
  Frame f;
  if (!bytes.empty())
    f.bytes = std::make_unique<StringBytes>(bytes);
  f.content_type = "image/jpeg";
  f.ext = "jpg";
  f.capture_unix_us = 1700000000000000;
  return f;
}

struct Recorder : SessionListener {
  std::mutex m;
  std::vector<std::string> names, statuses;
  std::vector<uint64_t> batches;
  std::vector<Notice> notices;
  std::vector<bool> warned;
  void on_frame(const SettledFrame &f, bool warn) override
  {
    std::lock_guard<std::mutex> lk(m);
    names.push_back(f.frame.object_name);
    statuses.push_back(frame_status_name(f.result.status));
    warned.push_back(warn);
  }
  void on_batch(const SettledBatch &b) override
  {
    std::lock_guard<std::mutex> lk(m);
    batches.push_back(b.batch);
  }
  void on_fatal(const UploadResult &) override {}
  std::vector<std::string> replayed;
  void on_replayed(const SpoolRecord &r, const std::string &, const std::string &) override
  {
    std::lock_guard<std::mutex> lk(m);
    replayed.push_back(r.object_name);
  }
  void on_stats(const Stats &) override {}
  void on_link(bool, const std::string &) override {}
  void on_notice(Notice n, const std::string &) override
  {
    std::lock_guard<std::mutex> lk(m);
    notices.push_back(n);
  }
};

static SinkConfig config_for(const gcsemu::Emulator &emu)
{
  SinkConfig c;
  c.bucket = kBucket;
  c.stream_name = "cam1";
  c.endpoint = emu.endpoint();
  c.object_name = "{stream}/{index:04}.{ext}";
  c.batch_size = 4;
  c.max_concurrency = 3;
  return c;
}

static std::unique_ptr<gcsemu::Emulator> emulator(unsigned latency_ms = 0)
{
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.latency_ms = latency_ms;
  auto emu = std::make_unique<gcsemu::Emulator>(o);
  std::string err;
  ck_assert_msg(emu->start(&err), "%s", err.c_str());
  return emu;
}

// A spool folder (not made yet) in a new temporary folder.
static std::string temp_spool()
{
  gchar *dir = g_dir_make_tmp("gcsframesink-session-XXXXXX", nullptr);
  std::string spool = std::string(dir) + "/spool";
  g_free(dir);
  return spool;
}

// Two runs: frames stored and reported in order, numbering going on.
START_TEST(test_session_runs)
{
  auto emu = emulator();
  Recorder rec;
  SinkConfig cfg = config_for(*emu);
  OpenProblem problem;
  std::unique_ptr<Session> s = Session::open(cfg, 0, rec, &problem);
  ck_assert_msg(s != nullptr, "%s", problem.message.c_str());
  STR_EQ(s->identity(), "anonymous");
  STR_EQ(s->endpoint(), emu->endpoint());
  for (int i = 0; i < 10; i++)
    ck_assert(s->submit(frame_of("frame " + std::to_string(i))) == SubmitResult::Ok);
  ck_assert(s->submit(frame_of("")) == SubmitResult::Ok);  // empty: skipped, noticed
  ck_assert(s->drain() == DrainEnd::Done);
  Stats st = s->stats();
  ck_assert_uint_eq(st.frames_uploaded, 10);
  ck_assert_uint_eq(st.frames_empty, 1);
  ck_assert_uint_eq(st.batches_posted, 3);
  s->close();
  ck_assert_uint_eq(s->next_index(), 10);
  ck_assert_uint_eq(s->next_batch(), 3);
  Summary sum = s->take_summary();
  ck_assert_uint_eq(sum.dropped + sum.failed, 0);
  ck_assert_uint_eq(rec.names.size(), 10);
  for (int i = 0; i < 10; i++) {
    char want[32];
    g_snprintf(want, sizeof want, "cam1/%04d.jpg", i);
    STR_EQ(rec.names[i], want);
    STR_EQ(rec.statuses[i], "uploaded");
    std::string data;
    ck_assert(emu->get_object(kBucket, want, &data, nullptr));
    STR_EQ(data, "frame " + std::to_string(i));
  }
  ck_assert(rec.batches == (std::vector<uint64_t>{0, 1, 2}));
  ck_assert_uint_eq(rec.notices.size(), 1);
  ck_assert(rec.notices[0] == Notice::EmptyBuffers);
  // The next run goes on from there.
  cfg.index = s->next_index();
  s = Session::open(cfg, 3, rec, &problem);
  ck_assert(s != nullptr);
  ck_assert(s->submit(frame_of("eleventh")) == SubmitResult::Ok);
  ck_assert(s->drain() == DrainEnd::Done);
  s.reset();  // closes
  STR_EQ(rec.names.back(), "cam1/0010.jpg");
  ck_assert_uint_eq(rec.batches.back(), 3);
}
END_TEST

// Refusals come back by kind, with the message: settings, credentials that
// cannot be read, credentials the token server refuses.
START_TEST(test_session_refusals)
{
  gcsemu::Options o;
  o.buckets = {kBucket};
  o.oauth_client_id = "id";
  o.oauth_client_secret = "secret";
  o.oauth_refresh_token = "1//good";
  gcsemu::Emulator emu(o);
  std::string err;
  ck_assert_msg(emu.start(&err), "%s", err.c_str());
  Recorder rec;
  OpenProblem p;
  SinkConfig cfg = config_for(emu);
  cfg.bucket.clear();
  ck_assert(Session::open(cfg, 0, rec, &p) == nullptr);
  ck_assert(p.kind == OpenError::Settings);
  ck_assert(p.setting == ConfigError::NoBucket);
  cfg = config_for(emu);
  cfg.credentials = "/nonexistent/key.json";
  ck_assert(Session::open(cfg, 0, rec, &p) == nullptr);
  ck_assert(p.kind == OpenError::NoCredentials);
  STR_CONTAINS(p.message, "/nonexistent/key.json");
  gchar *dir = g_dir_make_tmp("session-XXXXXX", nullptr);
  std::string key = std::string(dir) + "/user.json";
  std::string json = "{\"type\":\"authorized_user\",\"client_id\":\"id\",\"client_secret\":\"secret\","
                     "\"refresh_token\":\"1//revoked\",\"token_uri\":\"" + emu.token_url() + "\"}";
  ck_assert(g_file_set_contents(key.c_str(), json.c_str(), -1, nullptr));
  cfg.credentials = key;
  ck_assert(Session::open(cfg, 0, rec, &p) == nullptr);
  ck_assert(p.kind == OpenError::CredentialsRefused);
  STR_CONTAINS(p.message, "invalid_grant");
  g_unlink(key.c_str());
  g_rmdir(dir);
  g_free(dir);
  ck_assert_uint_eq(rec.names.size(), 0);
}
END_TEST

// Closing with uploads in flight: prompt, every frame reported, and the
// summary counts them: the 3 whose requests the server had in full are
// unconfirmed (they may be stored), the 3 not yet sent are dropped.
START_TEST(test_session_close_mid_upload)
{
  auto emu = emulator(5000);
  Recorder rec;
  SinkConfig cfg = config_for(*emu);  // max_concurrency 3
  OpenProblem p;
  std::unique_ptr<Session> s = Session::open(cfg, 0, rec, &p);
  ck_assert(s != nullptr);
  const uint64_t before = emu->requests_served();
  for (int i = 0; i < 6; i++)
    ck_assert(s->submit(frame_of("slow " + std::to_string(i))) == SubmitResult::Ok);
  for (int i = 0; i < 5000 && emu->requests_served() < before + 3; i++)
    g_usleep(1000);
  ck_assert_uint_eq(emu->requests_served(), before + 3);  // the server has 3 requests, whole
  gint64 t0 = g_get_monotonic_time();
  s->close();
  ck_assert_int_lt(g_get_monotonic_time() - t0, 4 * G_USEC_PER_SEC);
  Summary sum = s->take_summary();
  ck_assert_uint_eq(sum.dropped, 3);
  ck_assert_uint_eq(sum.unconfirmed_at_stop, 3);
  ck_assert_uint_eq(rec.statuses.size(), 6);
  for (size_t i = 0; i < 6; i++)
    STR_EQ(rec.statuses[i], i < 3 ? "unconfirmed" : "dropped");
  ck_assert_uint_eq(s->stats().frames_unconfirmed, 3);
  ck_assert_uint_eq(s->next_index(), 6);
}
END_TEST

// drain-timeout: a drain still waiting when it passes gives up on what is
// not settled (the 3 requests the server has in full are unconfirmed, the 3
// not started are dropped), reports every frame and returns TimedOut at
// once; an interrupted drain keeps its first deadline; the pool still
// uploads afterwards.
START_TEST(test_session_drain_timeout)
{
  auto emu = emulator(30000);
  Recorder rec;
  SinkConfig cfg = config_for(*emu);  // max_concurrency 3, batches of 4
  cfg.drain_timeout_ms = 600;
  OpenProblem p;
  std::unique_ptr<Session> s = Session::open(cfg, 0, rec, &p);
  ck_assert(s != nullptr);
  const uint64_t before = emu->requests_served();
  for (int i = 0; i < 6; i++)
    ck_assert(s->submit(frame_of("slow " + std::to_string(i))) == SubmitResult::Ok);
  for (int i = 0; i < 5000 && emu->requests_served() < before + 3; i++)
    g_usleep(1000);
  gint64 t0 = g_get_monotonic_time();
  s->set_flushing(true);  // a pause: the drain is interrupted...
  ck_assert(s->drain() == DrainEnd::Interrupted);
  s->set_flushing(false);
  g_usleep(300 * 1000);
  ck_assert(s->drain() == DrainEnd::TimedOut);  // ...and the deadline counts from the first call
  gint64 waited_us = g_get_monotonic_time() - t0;
  ck_assert_int_ge(waited_us, 590 * 1000);
  ck_assert_int_lt(waited_us, 3 * G_USEC_PER_SEC);
  {
    std::lock_guard<std::mutex> lk(rec.m);
    ck_assert_uint_eq(rec.statuses.size(), 6);
    for (size_t i = 0; i < 6; i++)
      STR_EQ(rec.statuses[i], i < 3 ? "unconfirmed" : "dropped");
    ck_assert_uint_eq(rec.batches.size(), 2);
  }
  Summary sum = s->take_summary();
  ck_assert_uint_eq(sum.dropped, 3);
  ck_assert_uint_eq(sum.unconfirmed_at_stop, 3);
  emu->set_latency(0, 0);
  ck_assert(s->submit(frame_of("after")) == SubmitResult::Ok);
  ck_assert(s->drain() == DrainEnd::Done);
  std::lock_guard<std::mutex> lk(rec.m);
  STR_EQ(rec.statuses.back(), "uploaded");
}
END_TEST

// After an outage the spool's replay thread, backing off (1 s, 2 s, 4 s...
// up to 30 s), starts again as soon as a live upload succeeds, not at the end
// of its backoff.
START_TEST(test_replay_wakes_when_the_endpoint_is_back)
{
  auto emu = emulator();
  Recorder rec;
  SinkConfig cfg = config_for(*emu);
  cfg.spool_location = temp_spool();
  cfg.max_retries = 0;
  cfg.batch_size = 1;
  OpenProblem p;
  std::unique_ptr<Session> s = Session::open(cfg, 0, rec, &p);
  ck_assert_msg(s != nullptr, "%s", p.message.c_str());
  emu->stop();
  ck_assert(s->submit(frame_of("during the outage")) == SubmitResult::Ok);
  for (int i = 0; i < 5000 && s->stats().frames_spooled < 1; i++)
    g_usleep(1000);
  ck_assert_uint_eq(s->stats().frames_spooled, 1);
  g_usleep(3500 * 1000);  // replays failed at about 0, 1 and 3 s: the next is due at about 7 s
  std::string err;
  ck_assert(emu->start(&err));
  ck_assert(s->submit(frame_of("after it")) == SubmitResult::Ok);
  gint64 t0 = g_get_monotonic_time();
  for (int i = 0; i < 5000 && s->stats().frames_replayed < 1; i++)
    g_usleep(1000);
  ck_assert_uint_eq(s->stats().frames_replayed, 1);
  ck_assert_int_lt(g_get_monotonic_time() - t0, 2500 * 1000);  // not at the end of the 4 s backoff
  ck_assert(s->drain() == DrainEnd::Done);
  ck_assert_uint_eq(emu->object_count(kBucket), 2);
}
END_TEST

// A full spool removes its oldest frames: each removal is noticed for the
// debug log (SpoolEvictedEach), and a warning (SpoolEvicted) comes when the
// count reaches the 1st, 10th, 100th..., not one per frame.
START_TEST(test_full_spool_warns_at_powers_of_ten)
{
  auto emu = emulator();
  Recorder rec;
  SinkConfig cfg = config_for(*emu);
  cfg.spool_location = temp_spool();
  cfg.spool_max_bytes = 3000;  // a few of the frames below
  cfg.max_retries = 0;
  emu->stop();                 // every upload fails: every frame is spooled
  OpenProblem p;
  std::unique_ptr<Session> s = Session::open(cfg, 0, rec, &p);
  ck_assert_msg(s != nullptr, "%s", p.message.c_str());
  for (int i = 0; i < 25; i++)
    ck_assert(s->submit(frame_of(std::string(800, char('a' + i % 26)))) == SubmitResult::Ok);
  ck_assert(s->drain() == DrainEnd::Done);
  Stats st = s->stats();
  ck_assert_uint_eq(st.frames_spooled, 25);
  ck_assert_uint_gt(st.frames_evicted, 10);
  ck_assert_uint_lt(st.frames_evicted, 100);
  unsigned each = 0, warned = 0;
  {
    std::lock_guard<std::mutex> lk(rec.m);
    for (Notice n : rec.notices) {
      each += n == Notice::SpoolEvictedEach;
      warned += n == Notice::SpoolEvicted;
    }
  }
  ck_assert_uint_ge(each, 1);
  ck_assert_uint_eq(warned, 2);  // at the 1st and the 10th
}
END_TEST

// Spool files left by an earlier run that are not whole (cut short, altered,
// not spool files at all) are moved to corrupt/ with a warning each; the
// whole ones beside them are stored. No crash, nothing read as a frame.
START_TEST(test_corrupt_spool_files_set_aside)
{
  auto emu = emulator();
  const std::string spool_dir = temp_spool();
  {
    std::string err;
    std::unique_ptr<Spool> sp = Spool::open(spool_dir, 1 << 20, &err);
    ck_assert_msg(sp != nullptr, "%s", err.c_str());
    for (uint64_t i = 0; i < 3; i++) {
      SpoolRecord r;
      r.object_name = "earlier/" + std::to_string(i) + ".jpg";
      r.content_type = "image/jpeg";
      r.index = i;
      const std::string bytes = "frame " + std::to_string(i);
      std::vector<SpoolRecord> evicted;
      ck_assert(sp->put(r, reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), &evicted, &err));
    }
    std::vector<SpoolEntry> files = sp->list();
    ck_assert_uint_eq(files.size(), 3);
    // The second cut short, the third one byte altered; and one more file that is not one at all.
    gchar *text = nullptr;
    gsize len = 0;
    ck_assert(g_file_get_contents(files[1].path.c_str(), &text, &len, nullptr));
    ck_assert(g_file_set_contents(files[1].path.c_str(), text, len - 3, nullptr));
    g_free(text);
    ck_assert(g_file_get_contents(files[2].path.c_str(), &text, &len, nullptr));
    text[len - 1] ^= 0x20;
    ck_assert(g_file_set_contents(files[2].path.c_str(), text, len, nullptr));
    g_free(text);
    ck_assert(g_file_set_contents((spool_dir + "/99999999999999999999.frame").c_str(), "GCSFS-SPOOL 1\n{nope", -1,
                                  nullptr));
  }
  Recorder rec;
  SinkConfig cfg = config_for(*emu);
  cfg.spool_location = spool_dir;
  OpenProblem p;
  std::unique_ptr<Session> s = Session::open(cfg, 0, rec, &p);
  ck_assert_msg(s != nullptr, "%s", p.message.c_str());
  for (int i = 0; i < 5000 && s->stats().frames_replayed < 1; i++)
    g_usleep(1000);
  unsigned corrupt = 0;
  for (int i = 0; i < 5000 && corrupt < 3; i++) {
    g_usleep(1000);
    std::lock_guard<std::mutex> lk(rec.m);
    corrupt = 0;
    for (Notice n : rec.notices)
      corrupt += n == Notice::SpoolCorrupt;
  }
  ck_assert_uint_eq(corrupt, 3);
  ck_assert_uint_eq(s->stats().frames_replayed, 1);
  {
    std::lock_guard<std::mutex> lk(rec.m);
    ck_assert(rec.replayed == std::vector<std::string>{"earlier/0.jpg"});
  }
  ck_assert(emu->get_object(kBucket, "earlier/0.jpg", nullptr, nullptr));
  ck_assert_uint_eq(emu->object_count(kBucket), 1);
  GDir *d = g_dir_open((spool_dir + "/corrupt").c_str(), 0, nullptr);
  ck_assert(d != nullptr);
  unsigned aside = 0;
  while (g_dir_read_name(d))
    aside++;
  g_dir_close(d);
  ck_assert_uint_eq(aside, 3);
}
END_TEST

// The manifest: a line that cannot be written is noticed once per run of
// failures (not once per batch); the batches after it that can be written
// are, and the frames are uploaded all along.
START_TEST(test_manifest_write_failures_noticed_once)
{
  auto emu = emulator();
  Recorder rec;
  SinkConfig cfg = config_for(*emu);
  cfg.batch_size = 1;
  gchar *dir = g_dir_make_tmp("session-manifest-XXXXXX", nullptr);
  cfg.manifest_location = std::string(dir) + "/m.jsonl";
  OpenProblem problem;
  std::unique_ptr<Session> s = Session::open(cfg, 0, rec, &problem);
  ck_assert_msg(s != nullptr, "%s", problem.message.c_str());
  auto lines = [&] {
    gchar *text = nullptr;
    gsize len = 0;
    ck_assert(g_file_get_contents(cfg.manifest_location.c_str(), &text, &len, nullptr));
    unsigned n = 0;
    for (gsize i = 0; i < len; i++)
      n += text[i] == '\n';
    g_free(text);
    return n;
  };
  auto manifest_failures = [&] {
    std::lock_guard<std::mutex> lk(rec.m);
    unsigned n = 0;
    for (Notice x : rec.notices)
      n += x == Notice::ManifestWriteFailed;
    return n;
  };
  struct rlimit old, none;
  ck_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
  none = old;
  none.rlim_cur = 0;  // no file may grow: every line fails
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  // No assertion inside the limit's window: Check reports a failure through
  // a file, which the limit would stop too. Results are checked after it.
  auto run = [&](int frames, bool writable) {
    if (!writable && setrlimit(RLIMIT_FSIZE, &none) != 0)
      ck_abort_msg("setrlimit failed");
    int accepted = 0;
    for (int i = 0; i < frames; i++)
      accepted += s->submit(frame_of("f")) == SubmitResult::Ok;
    const DrainEnd end = s->drain();
    const bool restored = setrlimit(RLIMIT_FSIZE, &old) == 0;
    ck_assert(restored);
    ck_assert_int_eq(accepted, frames);
    ck_assert(end == DrainEnd::Done);
  };
  run(2, false);
  ck_assert_uint_eq(lines(), 0);
  ck_assert_uint_eq(manifest_failures(), 1);
  run(1, true);
  ck_assert_uint_eq(lines(), 1);
  run(2, false);
  ck_assert_uint_eq(manifest_failures(), 2);
  signal(SIGXFSZ, prev);
  ck_assert_uint_eq(s->stats().frames_uploaded, 5);
  s.reset();
  g_unlink(cfg.manifest_location.c_str());
  g_rmdir(dir);
  g_free(dir);
}
END_TEST

static Suite *session_suite(void)
{
  Suite *s = suite_create("session");
  TCase *tc = tcase_create("session");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  g_unsetenv("STORAGE_EMULATOR_HOST");
  g_unsetenv("CLOUD_STORAGE_EMULATOR_ENDPOINT");
  tcase_add_test(tc, test_session_runs);
  tcase_add_test(tc, test_session_refusals);
  tcase_add_test(tc, test_session_close_mid_upload);
  tcase_add_test(tc, test_session_drain_timeout);
  tcase_add_test(tc, test_replay_wakes_when_the_endpoint_is_back);
  tcase_add_test(tc, test_full_spool_warns_at_powers_of_ten);
  tcase_add_test(tc, test_corrupt_spool_files_set_aside);
  tcase_add_test(tc, test_manifest_write_failures_noticed_once);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(session_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
