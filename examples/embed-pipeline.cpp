/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The gcsframesink authors */
/* gcsframes-embed: a C++ application embedding a gcsframesink pipeline.
 *
 * FrameUploader owns a pipeline
 *
 *   videotestsrc num-buffers=N ! video/x-raw,format=I420,width=320,height=240 ! gcsframesink post-messages=true
 *
 * (raw frames: the sink's upload workers encode them to image-format), runs it
 * on a GMainLoop and hands each batch to a callback as a gcsframes::Batch
 * (examples/gcsframesink-batch.h): frames in frame order, each with its
 * object name, URL, status and, thanks to post-messages=true, the size stored.
 * The callback here prints one line per frame:
 *
 *   batch 0 (first-index 0, count 10, uploaded 10, failed 0)
 *     0 uploaded http://127.0.0.1:9023/demo/embed/20261201T120000Z-3fa9/00000000.png 20480
 *
 *   gcsframes-embed --frames 40 --image-format png --bucket demo --endpoint http://127.0.0.1:9023
 *
 * Exit status: 0 when every frame was uploaded, 1 otherwise, 2 on bad usage.
 */
#include <gst/gst.h>

#include <cinttypes>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "gcsframesink-batch.h"

namespace {

struct ObjectUnref {
  void operator()(gpointer p) const { gst_object_unref(p); }
};
struct LoopUnref {
  void operator()(GMainLoop *l) const { g_main_loop_unref(l); }
};

struct UploaderSettings {
  unsigned frames = 40;
  std::string bucket = "demo";
  std::string endpoint;  // empty: STORAGE_EMULATOR_HOST, else Google Cloud Storage
  std::string stream = "embed";
  std::string image_format = "png";
  unsigned batch_size = 10;
};

/* A pipeline that uploads test frames; run() returns once every batch has
 * been handed to on_batch (EOS) or on the first error. */
class FrameUploader {
 public:
  using BatchCallback = std::function<void(const gcsframes::Batch &)>;

  FrameUploader(const UploaderSettings &s, BatchCallback on_batch) : on_batch_(std::move(on_batch))
  {
    gchar *desc = g_strdup_printf(
        "videotestsrc num-buffers=%u pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
        "gcsframesink name=sink post-messages=true object-name={stream}/{run}/{index:08}.{ext}",
        s.frames);
    GError *error = nullptr;
    GstElement *p = gst_parse_launch(desc, &error);
    g_free(desc);
    if (!p || error) {
      std::string what = error ? error->message : "unknown error";
      g_clear_error(&error);
      if (p)
        gst_object_unref(p);
      throw std::runtime_error("cannot build the pipeline: " + what);
    }
    pipeline_.reset(p);
    std::unique_ptr<GstElement, ObjectUnref> sink(gst_bin_get_by_name(GST_BIN(p), "sink"));
    g_object_set(sink.get(), "bucket", s.bucket.c_str(), "stream-name", s.stream.c_str(), "batch-size",
                 s.batch_size, nullptr);
    gst_util_set_object_arg(G_OBJECT(sink.get()), "image-format", s.image_format.c_str());
    if (!s.endpoint.empty())
      g_object_set(sink.get(), "endpoint", s.endpoint.c_str(), nullptr);
  }

  /* Returns true after EOS, false after an error. */
  bool run()
  {
    loop_.reset(g_main_loop_new(nullptr, FALSE));
    std::unique_ptr<GstBus, ObjectUnref> bus(gst_element_get_bus(pipeline_.get()));
    guint watch = gst_bus_add_watch(bus.get(), &FrameUploader::on_message, this);
    if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      failed_ = true;  // the error message is on the bus: the loop reads it
    g_main_loop_run(loop_.get());
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    g_source_remove(watch);
    return eos_ && !failed_;
  }

  ~FrameUploader()
  {
    if (pipeline_)
      gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
  }

 private:
  static gboolean on_message(GstBus *, GstMessage *msg, gpointer data)
  {
    auto *self = static_cast<FrameUploader *>(data);
    try {
      if (std::optional<gcsframes::Batch> b = self->reader_.read(msg))
        self->on_batch_(*b);
    } catch (const std::exception &e) {
      std::fprintf(stderr, "%s\n", e.what());
      self->failed_ = true;
      g_main_loop_quit(self->loop_.get());
    }
    switch (GST_MESSAGE_TYPE(msg)) {
      case GST_MESSAGE_EOS:
        self->eos_ = true;
        g_main_loop_quit(self->loop_.get());
        break;
      case GST_MESSAGE_ERROR: {
        GError *err = nullptr;
        gchar *debug = nullptr;
        gst_message_parse_error(msg, &err, &debug);
        std::fprintf(stderr, "ERROR from %s: %s\n%s\n", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), err->message,
                     debug ? debug : "");
        g_clear_error(&err);
        g_free(debug);
        self->failed_ = true;
        g_main_loop_quit(self->loop_.get());
        break;
      }
      default:
        break;
    }
    return G_SOURCE_CONTINUE;
  }

  std::unique_ptr<GstElement, ObjectUnref> pipeline_;
  std::unique_ptr<GMainLoop, LoopUnref> loop_;
  gcsframes::BatchReader reader_;
  BatchCallback on_batch_;
  bool eos_ = false, failed_ = false;
};

}  // namespace

int main(int argc, char **argv)
{
  gint frames = 40, batch_size = 10;
  gchar *bucket = nullptr, *endpoint = nullptr, *format = nullptr;
  GOptionEntry entries[] = {
      {"frames", 'n', 0, G_OPTION_ARG_INT, &frames, "Test frames to upload (default 40)", "N"},
      {"bucket", 'b', 0, G_OPTION_ARG_STRING, &bucket, "Bucket (default demo)", "NAME"},
      {"endpoint", 'e', 0, G_OPTION_ARG_STRING, &endpoint,
       "Storage endpoint (default: STORAGE_EMULATOR_HOST, else Google Cloud Storage)", "URL"},
      {"image-format", 'f', 0, G_OPTION_ARG_STRING, &format, "png (default), jpeg or webp", "FORMAT"},
      {"batch-size", 0, 0, G_OPTION_ARG_INT, &batch_size, "Frames per batch (default 10)", "N"},
      {}};
  GOptionContext *ctx = g_option_context_new("- upload test frames from a pipeline embedded in C++");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError *error = nullptr;
  const bool parsed = g_option_context_parse(ctx, &argc, &argv, &error);
  g_option_context_free(ctx);
  UploaderSettings settings;
  settings.frames = frames > 0 ? frames : 0;
  settings.batch_size = batch_size > 0 ? batch_size : 0;
  if (bucket)
    settings.bucket = bucket;
  if (endpoint)
    settings.endpoint = endpoint;
  if (format)
    settings.image_format = format;
  g_free(bucket);
  g_free(endpoint);
  g_free(format);
  if (!parsed || frames < 1 || batch_size < 1) {
    std::fprintf(stderr, "%s\n", error ? error->message : "--frames and --batch-size must be 1 or more");
    g_clear_error(&error);
    return 2;
  }

  uint64_t total = 0, uploaded = 0, bytes = 0;
  try {
    FrameUploader uploader(settings, [&](const gcsframes::Batch &b) {
      std::printf("batch %" PRIu64 " (first-index %" PRIu64 ", count %zu, uploaded %u, failed %u)\n", b.number,
                  b.first_index, b.frames.size(), b.uploaded, b.failed);
      for (const gcsframes::Frame &f : b.frames) {
        std::printf("  %" PRIu64 " %s %s %" PRIu64 "\n", f.index, f.status.c_str(), f.url.c_str(),
                    f.size.value_or(0));
        total++;
        uploaded += f.uploaded();
        bytes += f.size.value_or(0);
      }
      std::fflush(stdout);
    });
    const bool ok = uploader.run();
    std::fprintf(stderr, "%" PRIu64 " frames, %" PRIu64 " uploaded, %" PRIu64 " bytes\n", total, uploaded, bytes);
    return ok && total == settings.frames && uploaded == total ? 0 : 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
