// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Many cameras in one process: STREAMS live streams of encoded frames, each
// appsrc ! gcsframesink, pushed at FPS for SECONDS, in one pipeline (the
// sinks share the process's upload threads, or with BENCH_SINK_PROPS
// share-uploads=false each has its own). tests/bench/streams.sh drives it.
//
//   streams-row ENDPOINT BUCKET FRAMES_DIR STREAMS FPS SECONDS
//
// BENCH_SINK_PROPS adds gcsframesink properties (e.g. max-concurrency=4).
// Prints one line: streams, frames (uploaded, all streams), wall_s,
// cpu_us_per_frame (the process's CPU time while frames flow and until EOS,
// less the sampling below, over the frames uploaded), threads (the process's, at most, sampled every 100 ms
// while running), upload_threads (of those, the gcsframesink upload threads,
// "gcsfs-upload", at most), connections (its established TCP connections, at
// most, sampled likewise), peak_rss_mb, worst_p50_ms (the largest of the
// sinks' median latencies, frame accepted to stored: whether every stream
// kept up).
#include "bench-util.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using bench::cpu_seconds;
using bench::load_frames;
using bench::peak_rss_mb;

double thread_cpu_seconds()
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Threads of this process named `name` (/proc/self/task/*/comm).
unsigned threads_named(const char *name)
{
  unsigned n = 0;
  GDir *d = g_dir_open("/proc/self/task", 0, nullptr);
  if (!d)
    return 0;
  while (const gchar *tid = g_dir_read_name(d)) {
    gchar *path = g_strdup_printf("/proc/self/task/%s/comm", tid);
    gchar *comm = nullptr;
    if (g_file_get_contents(path, &comm, nullptr, nullptr) && g_str_has_prefix(comm, name))
      n++;
    g_free(comm);
    g_free(path);
  }
  g_dir_close(d);
  return n;
}

// Threads of this process (/proc/self/status).
unsigned threads_now()
{
  gchar *text = nullptr;
  unsigned n = 0;
  if (g_file_get_contents("/proc/self/status", &text, nullptr, nullptr)) {
    if (const char *t = strstr(text, "\nThreads:"))
      n = unsigned(atoi(t + 9));
    g_free(text);
  }
  return n;
}

// Established TCP connections of this process: its socket descriptors
// (/proc/self/fd) found in /proc/net/tcp and tcp6 in state ESTABLISHED.
// (libcurl also holds socket pairs of its own, which are not connections.)
unsigned tcp_connections_now()
{
  std::vector<std::string> inodes;
  GDir *d = g_dir_open("/proc/self/fd", 0, nullptr);
  if (!d)
    return 0;
  while (const gchar *name = g_dir_read_name(d)) {
    gchar *path = g_strdup_printf("/proc/self/fd/%s", name);
    gchar *target = g_file_read_link(path, nullptr);
    if (target && g_str_has_prefix(target, "socket:[")) {
      std::string inode = target + 8;
      inode.pop_back();  // the ']'
      inodes.push_back(inode);
    }
    g_free(target);
    g_free(path);
  }
  g_dir_close(d);
  std::sort(inodes.begin(), inodes.end());
  unsigned n = 0;
  for (const char *table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    gchar *text = nullptr;
    if (!g_file_get_contents(table, &text, nullptr, nullptr))
      continue;
    gchar **lines = g_strsplit(text, "\n", -1);
    for (gchar **l = lines + 1; *l && **l; l++) {  // after the header
      gchar **f = g_strsplit_set(g_strstrip(*l), " ", -1);
      std::vector<std::string> cols;
      for (gchar **c = f; *c; c++)
        if (**c)
          cols.emplace_back(*c);
      g_strfreev(f);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (cols.size() > 9 && cols[3] == "01" && std::binary_search(inodes.begin(), inodes.end(), cols[9]))
        n++;
    }
    g_strfreev(lines);
    g_free(text);
  }
  return n;
}

}  // namespace

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  if (argc != 7) {
    fprintf(stderr, "usage: %s ENDPOINT BUCKET FRAMES_DIR STREAMS FPS SECONDS\n", argv[0]);
    return 2;
  }
  const std::string endpoint = argv[1], bucket = argv[2];
  const std::vector<std::string> frames = load_frames(argv[3]);
  const unsigned streams = unsigned(atoi(argv[4])), fps = unsigned(atoi(argv[5])), seconds = unsigned(atoi(argv[6]));
  if (frames.empty() || streams == 0 || fps == 0 || seconds == 0) {
    fprintf(stderr, "no frames in %s, or a count of 0\n", argv[3]);
    return 2;
  }
  const char *extra = getenv("BENCH_SINK_PROPS");
  std::string desc;
  for (unsigned s = 0; s < streams; s++)
    desc += "appsrc name=src" + std::to_string(s) +
            " format=time is-live=true caps=image/jpeg,width=320,height=240,framerate=" + std::to_string(fps) +
            "/1 ! gcsframesink name=sink" + std::to_string(s) + " credentials=anonymous bucket=" + bucket +
            " endpoint=" + endpoint + " stream-name=cam" + std::to_string(s) + " " + (extra ? extra : "") + " ";
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch(desc.c_str(), &err);
  if (!pipeline) {
    fprintf(stderr, "pipeline: %s\n", err->message);
    return 2;
  }
  std::vector<GstElement *> srcs, sinks;
  for (unsigned s = 0; s < streams; s++) {
    srcs.push_back(gst_bin_get_by_name(GST_BIN(pipeline), ("src" + std::to_string(s)).c_str()));
    sinks.push_back(gst_bin_get_by_name(GST_BIN(pipeline), ("sink" + std::to_string(s)).c_str()));
  }
  std::vector<GstBuffer *> distinct;
  for (const std::string &f : frames)
    distinct.push_back(gst_buffer_new_memdup(f.data(), f.size()));
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  const double cpu0 = cpu_seconds();
  const gint64 t0 = g_get_monotonic_time();
  unsigned max_threads = 0, max_uploaders = 0, max_sockets = 0;  // sockets: TCP connections
  double sampling_cpu = 0;
  const unsigned ticks = fps * seconds;
  for (unsigned i = 0; i < ticks; i++) {
    // One frame to every stream per tick, on time (a live camera each).
    g_usleep(std::max<gint64>(0, t0 + gint64(i) * 1000000 / fps - g_get_monotonic_time()));
    for (unsigned s = 0; s < streams; s++) {
      // Memory of its own, as a camera's frame has: GStreamer counts at most
      // 255 maps of one GstMemory at once, and a backlog can hold more frames.
      GstBuffer *b = gst_buffer_copy_deep(distinct[(i + s) % distinct.size()]);
      GST_BUFFER_PTS(b) = guint64(i) * GST_SECOND / fps;
      GST_BUFFER_DURATION(b) = GST_SECOND / fps;
      gst_app_src_push_buffer(GST_APP_SRC(srcs[s]), b);
    }
    if (i % std::max(1u, fps / 10) == 0) {  // the sampling's own CPU is left out of the row's
      const double s0 = thread_cpu_seconds();
      max_threads = std::max(max_threads, threads_now());
      max_uploaders = std::max(max_uploaders, threads_named("gcsfs-upload"));
      max_sockets = std::max(max_sockets, tcp_connections_now());
      sampling_cpu += thread_cpu_seconds() - s0;
    }
  }
  for (GstElement *s : srcs)
    gst_app_src_end_of_stream(GST_APP_SRC(s));
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *m = gst_bus_timed_pop_filtered(bus, 600 * GST_SECOND,
                                             (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  const double wall = double(g_get_monotonic_time() - t0) / 1e6, cpu = cpu_seconds() - cpu0 - sampling_cpu;
  if (!m || GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    fprintf(stderr, "pipeline did not reach EOS\n");
    return 2;
  }
  gst_message_unref(m);
  guint64 uploaded = 0;
  double worst_p50 = 0;
  for (GstElement *s : sinks) {
    GstStructure *st = nullptr;
    g_object_get(s, "stats", &st, nullptr);
    guint64 u = 0;
    double p50 = 0;
    gst_structure_get_uint64(st, "frames-uploaded", &u);
    gst_structure_get_double(st, "latency-p50-ms", &p50);
    uploaded += u;
    worst_p50 = std::max(worst_p50, p50);
    gst_structure_free(st);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  for (GstElement *e : srcs)
    gst_object_unref(e);
  for (GstElement *e : sinks)
    gst_object_unref(e);
  for (GstBuffer *b : distinct)
    gst_buffer_unref(b);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  printf("streams=%u frames=%" G_GUINT64_FORMAT " wall_s=%.2f cpu_us_per_frame=%.1f threads=%u upload_threads=%u "
         "connections=%u peak_rss_mb=%.1f worst_p50_ms=%.0f\n",
         streams, uploaded, wall, cpu * 1e6 / double(std::max<guint64>(1, uploaded)), max_threads, max_uploaders,
         max_sockets, peak_rss_mb(), worst_p50);
  return uploaded == guint64(streams) * ticks ? 0 : 1;
}
