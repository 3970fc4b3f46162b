// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// One row of the benchmark table, measured in its own process so that CPU
// time and peak memory belong to that row alone. tests/bench/run.sh drives it.
//
//   bench-row MODE ENDPOINT BUCKET FRAMES_DIR COUNT CONCURRENCY [PREFIX]
//
// MODE:
//   sink       appsrc ! gcsframesink max-concurrency=CONCURRENCY (the product)
//   fakesink   appsrc ! fakesink: the pipeline's own CPU per frame, to separate
//              from the sink's (ENDPOINT, BUCKET and CONCURRENCY unused)
//   curl-seq   one multipart POST after another on one kept-alive libcurl
//              handle: the sequential loop uploaders use (and gssink's one
//              upload at a time); its CPU time per request is the client floor
//   curl-par   CONCURRENCY threads, each a kept-alive handle, posting the same
//              bodies: what the server allows (the ceiling); HTTP/1.1, one
//              connection per thread, as gcsframesink's workers do
//   raw        raw I420 video of FRAMES_DIR's size, given as WIDTHxHEIGHT
//              (moving SMPTE bars from videotestsrc, made before the clock
//              starts), appsrc ! gcsframesink quality=85: encoded to JPEG
//              by the sink's upload workers
//   raw-jpegenc the same frames, appsrc ! jpegenc quality=85 ! gcsframesink:
//              encoded on the streaming thread
//   curl-h2    the same bodies as CONCURRENCY HTTP/2 streams multiplexed over
//              one TLS connection (one thread, one multi handle; ENDPOINT is
//              https:// and offers h2 by ALPN), to weigh HTTP/2 multiplexing
//              against the HTTP/1.1 pool
//
// BENCH_CA_FILE, if set, is the CA bundle for an https:// ENDPOINT (curl modes
// and the sink's ca-file).
//
// Prints one line: key=value pairs (frames, wall_s, fps, cpu_us_per_frame,
// render_p50_us, render_p99_us, peak_rss_mb).
#include "bench-util.h"
#include "checksum.h"
#include "gcs-client.h"

#include <curl/curl.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

using bench::cpu_seconds;
using bench::load_frames;
using bench::peak_rss_mb;

// `n` distinct raw I420 frames of w x h.
std::vector<GstBuffer *> make_raw_frames(int w, int h, unsigned n)
{
  gchar *desc = g_strdup_printf("videotestsrc pattern=smpte horizontal-speed=8 num-buffers=%u ! "
                                "video/x-raw,format=I420,width=%d,height=%d ! appsink name=out sync=false",
                                n, w, h);
  GstElement *p = gst_parse_launch(desc, nullptr);
  g_free(desc);
  GstElement *out = gst_bin_get_by_name(GST_BIN(p), "out");
  gst_element_set_state(p, GST_STATE_PLAYING);
  std::vector<GstBuffer *> frames;
  while (GstSample *smp = gst_app_sink_pull_sample(GST_APP_SINK(out))) {
    frames.push_back(gst_buffer_ref(gst_sample_get_buffer(smp)));
    gst_sample_unref(smp);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(p);
  return frames;
}

size_t discard(char *, size_t size, size_t n, void *) { return size * n; }

void set_ca(CURL *c)
{
  if (const char *ca = getenv("BENCH_CA_FILE"))
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
}

// The same multipart request gcsframesink sends, built once per frame up front.
struct Requests {
  std::string url, content_type;
  std::vector<std::string> bodies;
};

Requests build_requests(const std::string &endpoint, const std::string &bucket, const std::string &prefix,
                        const std::vector<std::string> &frames, unsigned count)
{
  gcsfs::ClientConfig cfg;
  cfg.endpoint = endpoint;
  cfg.bucket = bucket;
  gcsfs::GcsClient client(cfg);  // only for its body layout
  Requests r;
  r.url = endpoint + "/upload/storage/v1/b/" + bucket + "/o?uploadType=multipart&ifGenerationMatch=0";
  r.content_type = client.content_type_header();
  for (unsigned i = 0; i < count; i++) {
    const std::string &f = frames[i % frames.size()];
    std::string crc = gcsfs::crc32c_to_base64(gcsfs::crc32c(f.data(), f.size()));
    r.bodies.push_back(client.preamble(prefix + std::to_string(i) + ".jpg", "image/jpeg", crc, "") + f +
                       client.epilogue());
  }
  return r;
}

struct curl_slist *post_headers(const Requests &r)
{
  struct curl_slist *h = curl_slist_append(nullptr, ("Content-Type: " + r.content_type).c_str());
  return curl_slist_append(h, "Expect:");
}

// A handle for the upload URL with headers `h`, answers discarded.
CURL *post_handle(const Requests &r, struct curl_slist *h, long http_version)
{
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, http_version);
  set_ca(c);
  return c;
}

// Posts bodies[first], bodies[first+step], ... on one kept-alive handle.
unsigned post_all(const Requests &r, size_t first, size_t step)
{
  struct curl_slist *h = post_headers(r);
  CURL *c = post_handle(r, h, CURL_HTTP_VERSION_1_1);
  unsigned ok = 0;
  for (size_t i = first; i < r.bodies.size(); i += step) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.bodies[i].data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.bodies[i].size()));
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status == 200)
      ok++;
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return ok;
}

// CONCURRENCY streams at a time over one HTTP/2 connection; returns the 200s.
unsigned post_multiplexed(const Requests &r, unsigned streams)
{
  CURLM *multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, long(CURLPIPE_MULTIPLEX));
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
  struct curl_slist *h = post_headers(r);
  std::vector<CURL *> easies;
  size_t next = 0;
  unsigned ok = 0;
  auto start = [&](CURL *c) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.bodies[next].data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.bodies[next].size()));
    next++;
    curl_multi_add_handle(multi, c);
  };
  // The first request opens the connection alone and the other streams start
  // once it has answered, so that they all share it.
  auto make = [&]() {
    CURL *c = post_handle(r, h, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
    easies.push_back(c);
    return c;
  };
  start(make());
  bool opened = false;
  int running = 1;
  while (running) {
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg *m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE)
        continue;
      long status = 0;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      ok += m->data.result == CURLE_OK && status == 200;
      curl_multi_remove_handle(multi, m->easy_handle);
      if (next < r.bodies.size()) {
        start(m->easy_handle);
        running = 1;
      }
      if (!opened) {
        opened = true;
        for (unsigned i = 1; i < streams && next < r.bodies.size(); i++)
          start(make());
      }
    }
    if (running)
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  for (CURL *c : easies)
    curl_easy_cleanup(c);
  curl_slist_free_all(h);
  curl_multi_cleanup(multi);
  return ok;
}

struct Result {
  unsigned frames = 0;
  double wall_s = 0, cpu_s = 0, render_p50_us = -1, render_p99_us = -1;
};

Result run_curl(const Requests &r, unsigned threads)
{
  Result res;
  double cpu0 = cpu_seconds();
  gint64 t0 = g_get_monotonic_time();
  std::atomic<unsigned> ok{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; t++)
    pool.emplace_back([&, t] { ok += post_all(r, t, threads); });
  for (auto &th : pool)
    th.join();
  res.wall_s = double(g_get_monotonic_time() - t0) / 1e6;
  res.cpu_s = cpu_seconds() - cpu0;
  res.frames = ok;
  return res;
}

Result run_h2(const Requests &r, unsigned streams)
{
  Result res;
  double cpu0 = cpu_seconds();
  gint64 t0 = g_get_monotonic_time();
  res.frames = post_multiplexed(r, streams);
  res.wall_s = double(g_get_monotonic_time() - t0) / 1e6;
  res.cpu_s = cpu_seconds() - cpu0;
  return res;
}

// The sink's pipeline, fed by appsrc: `mode` sink (encoded frames), fakesink
// (the same into fakesink, for the pipeline's own cost), raw or raw-jpegenc
// (raw frames of `raw_size`, WIDTHxHEIGHT).
Result run_sink(const std::string &endpoint, const std::string &bucket, const std::string &prefix,
                const std::vector<std::string> &frames, const std::string &mode, const std::string &raw_size,
                unsigned count, unsigned concurrency)
{
  const bool fake = mode == "fakesink", raw = mode == "raw" || mode == "raw-jpegenc";
  int w = 0, h = 0;
  if (raw && sscanf(raw_size.c_str(), "%dx%d", &w, &h) != 2) {
    fprintf(stderr, "raw modes take WIDTHxHEIGHT instead of FRAMES_DIR\n");
    exit(2);
  }
  const char *ca = getenv("BENCH_CA_FILE");
  const char *extra = getenv("BENCH_SINK_PROPS");  // more gcsframesink properties, e.g. the spool's
  gchar *caps = raw ? g_strdup_printf("video/x-raw,format=I420,width=%d,height=%d,framerate=30/1", w, h)
                    : g_strdup("image/jpeg,width=1280,height=720,framerate=30/1");
  gchar *sink_desc = g_strdup_printf(
      "gcsframesink name=sink credentials=anonymous bucket=%s endpoint=%s max-concurrency=%u batch-size=50 "
      "batch-timeout=0 max-queued-frames=%u object-name=%s{index}.jpg quality=85%s%s %s",
      bucket.c_str(), endpoint.c_str(), concurrency, std::max(200u, 4 * concurrency), prefix.c_str(),
      ca ? " ca-file=" : "", ca ? ca : "", extra ? extra : "");
  gchar *desc = g_strdup_printf("appsrc name=src format=time caps=%s ! %s%s", caps,
                                mode == "raw-jpegenc" ? "jpegenc quality=85 ! " : "",
                                fake ? "fakesink name=sink sync=false" : sink_desc);
  g_free(caps);
  g_free(sink_desc);
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch(desc, &err);
  g_free(desc);
  if (!pipeline) {
    fprintf(stderr, "pipeline: %s\n", err->message);
    exit(2);
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  // One buffer per distinct frame; each push is a shallow copy sharing its
  // memory, so the row's memory is the sink's, not a copy per pushed frame.
  std::vector<GstBuffer *> distinct;
  if (raw)
    distinct = make_raw_frames(w, h, 32);
  else
    for (const std::string &f : frames)
      distinct.push_back(gst_buffer_new_memdup(f.data(), f.size()));
  std::vector<GstBuffer *> buffers;
  for (unsigned i = 0; i < count; i++) {
    GstBuffer *b = gst_buffer_copy(distinct[i % distinct.size()]);
    GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
    buffers.push_back(b);
  }
  for (GstBuffer *b : distinct)
    gst_buffer_unref(b);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  Result res;
  double cpu0 = cpu_seconds();
  gint64 t0 = g_get_monotonic_time();
  for (GstBuffer *b : buffers)
    gst_app_src_push_buffer(GST_APP_SRC(src), b);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *m = gst_bus_timed_pop_filtered(bus, 600 * GST_SECOND,
                                             (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  res.wall_s = double(g_get_monotonic_time() - t0) / 1e6;
  res.cpu_s = cpu_seconds() - cpu0;
  if (!m || GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    fprintf(stderr, "pipeline did not reach EOS\n");
    exit(2);
  }
  gst_message_unref(m);
  if (fake) {
    res.frames = count;
  } else {
    GstStructure *stats = nullptr;
    g_object_get(sink, "stats", &stats, nullptr);
    guint64 uploaded = 0;
    gst_structure_get_uint64(stats, "frames-uploaded", &uploaded);
    gst_structure_get_double(stats, "render-p50-us", &res.render_p50_us);
    gst_structure_get_double(stats, "render-p99-us", &res.render_p99_us);
    res.frames = unsigned(uploaded);
    gst_structure_free(stats);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return res;
}

}  // namespace

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  if (argc < 7) {
    fprintf(stderr, "usage: %s sink|fakesink|raw|raw-jpegenc|curl-seq|curl-par|curl-h2 ENDPOINT BUCKET FRAMES_DIR|WxH COUNT CONCURRENCY [PREFIX]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1], endpoint = argv[2], bucket = argv[3], dir = argv[4];
  unsigned count = unsigned(atoi(argv[5])), concurrency = unsigned(atoi(argv[6]));
  std::string prefix = argc > 7 ? argv[7] : mode + "-";
  const bool raw = mode == "raw" || mode == "raw-jpegenc";
  std::vector<std::string> frames = raw ? std::vector<std::string>() : load_frames(dir);
  if (frames.empty() && !raw) {
    fprintf(stderr, "no frames in %s\n", dir.c_str());
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Result r;
  if (mode == "sink" || mode == "fakesink" || raw) {
    r = run_sink(endpoint, bucket, prefix, frames, mode, dir, count, concurrency);
  } else if (mode == "curl-seq" || mode == "curl-par") {
    Requests req = build_requests(endpoint, bucket, prefix, frames, count);
    r = run_curl(req, mode == "curl-seq" ? 1 : concurrency);
  } else if (mode == "curl-h2") {
    r = run_h2(build_requests(endpoint, bucket, prefix, frames, count), concurrency);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  printf("frames=%u wall_s=%.3f fps=%.1f cpu_us_per_frame=%.1f render_p50_us=%.1f render_p99_us=%.1f "
         "peak_rss_mb=%.1f\n",
         r.frames, r.wall_s, r.frames / std::max(r.wall_s, 1e-9), r.cpu_s * 1e6 / std::max(1u, r.frames),
         r.render_p50_us, r.render_p99_us, peak_rss_mb());
  return r.frames == count ? 0 : 1;
}
