/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The gcsframesink authors */
/* opencv-upload: frames read with OpenCV uploaded by gcsframesink.
 *
 * Reads N frames from a camera with cv::VideoCapture, pushes each cv::Mat
 * (BGR) as it is into
 *
 *   appsrc caps=video/x-raw,format=BGR,width=W,height=H,framerate=F/1 ! gcsframesink
 *
 * (the sink's upload workers encode them, several at a time, to image-format),
 * then ends the stream and prints the URLs of each batch in frame order as its
 * GstGcsFrameSinkBatch message arrives:
 *
 *   batch 0 (first-index 0, count 10, uploaded 10, failed 0)
 *     0 uploaded http://127.0.0.1:9023/demo/opencv/20261201T120000Z-3fa9/00000000.jpg
 *     ...
 *
 *   opencv-upload --camera rtsp://127.0.0.1:8554/camera --frames 30 \
 *       --bucket demo --endpoint http://127.0.0.1:9023
 *
 * --width W scales each frame to W pixels wide (cv::resize, keeping the aspect
 * ratio) before it is pushed, as an application that stores smaller frames
 * would.
 *
 * The Mat's pixels are not copied: each GstBuffer wraps the Mat's data and
 * keeps the Mat (its reference count) alive until the sink has encoded it.
 * A BGR row is width*3 bytes, and a Mat's row may be longer still (a
 * region of interest); GStreamer's default stride for BGR caps is width*3
 * rounded up to a multiple of 4. So each buffer carries a GstVideoMeta with
 * the Mat's own stride (Mat::step), which the sink reads, instead of the
 * default the caps imply.
 *
 * Exit status: 0 when every frame was uploaded, 1 otherwise, 2 on bad usage.
 */
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "gcsframesink-batch.h"

namespace {

template <typename T, void (*Free)(T *)>
struct Deleter {
  void operator()(T *p) const { Free(p); }
};
void unref_element(GstElement *e) { gst_object_unref(e); }
void unref_bus(GstBus *b) { gst_object_unref(b); }
void unref_message(GstMessage *m) { gst_message_unref(m); }
using ElementPtr = std::unique_ptr<GstElement, Deleter<GstElement, unref_element>>;
using BusPtr = std::unique_ptr<GstBus, Deleter<GstBus, unref_bus>>;
using MessagePtr = std::unique_ptr<GstMessage, Deleter<GstMessage, unref_message>>;

struct Totals {
  uint64_t batches = 0, frames = 0, uploaded = 0;
  bool error = false, eos = false;
};

void print_batch(const gcsframes::Batch &b)
{
  std::printf("batch %" PRIu64 " (first-index %" PRIu64 ", count %zu, uploaded %u, failed %u)\n", b.number,
              b.first_index, b.frames.size(), b.uploaded, b.failed);
  for (const gcsframes::Frame &f : b.frames)
    std::printf("  %" PRIu64 " %s %s\n", f.index, f.status.c_str(), f.url.c_str());
  std::fflush(stdout);
}

/* Handles one bus message: batches, EOS, errors and warnings. */
void handle(gcsframes::BatchReader &reader, GstMessage *msg, Totals &t)
{
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ELEMENT:
      if (std::optional<gcsframes::Batch> b = reader.read(msg)) {
        print_batch(*b);
        t.batches++;
        t.frames += b->frames.size();
        t.uploaded += b->uploaded;
      }
      break;
    case GST_MESSAGE_EOS:
      t.eos = true;
      break;
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_WARNING: {
      GError *err = nullptr;
      gchar *debug = nullptr;
      const bool error = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR;
      if (error)
        gst_message_parse_error(msg, &err, &debug);
      else
        gst_message_parse_warning(msg, &err, &debug);
      std::fprintf(stderr, "%s from %s: %s\n%s\n", error ? "ERROR" : "WARNING", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)),
                   err->message, debug ? debug : "");
      g_clear_error(&err);
      g_free(debug);
      t.error = t.error || error;
      break;
    }
    default:
      break;
  }
}

/* A GstBuffer wrapping the Mat's pixels, with the Mat's stride in a
 * GstVideoMeta. The buffer owns a copy of the Mat header, which holds a
 * reference to the pixels until the buffer is freed. */
GstBuffer *wrap_mat(const cv::Mat &frame)
{
  auto keeper = std::make_unique<cv::Mat>(frame);
  const gsize size = keeper->step[0] * (keeper->rows - 1) + keeper->cols * keeper->elemSize();
  GstBuffer *buffer = gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, keeper->data, size, 0, size, keeper.get(),
      [](gpointer m) { std::unique_ptr<cv::Mat>(static_cast<cv::Mat *>(m)); });
  gsize offset[GST_VIDEO_MAX_PLANES] = {0};
  gint stride[GST_VIDEO_MAX_PLANES] = {static_cast<gint>(keeper->step[0])};
  gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_BGR, keeper->cols, keeper->rows,
                                 1, offset, stride);
  keeper.release();  // the buffer's destroy notify frees it now
  return buffer;
}

}  // namespace

int main(int argc, char **argv)
{
  gchar *camera = nullptr, *bucket = nullptr, *endpoint = nullptr, *stream = nullptr, *format = nullptr;
  gint frames = 30, batch_size = 10, width = 0;
  GOptionEntry entries[] = {
      {"camera", 'c', 0, G_OPTION_ARG_STRING, &camera, "Camera URL or file cv::VideoCapture opens (required)", "URL"},
      {"frames", 'n', 0, G_OPTION_ARG_INT, &frames, "Frames to upload (default 30)", "N"},
      {"bucket", 'b', 0, G_OPTION_ARG_STRING, &bucket, "Bucket (default demo)", "NAME"},
      {"endpoint", 'e', 0, G_OPTION_ARG_STRING, &endpoint,
       "Storage endpoint (default: STORAGE_EMULATOR_HOST, else Google Cloud Storage)", "URL"},
      {"stream-name", 's', 0, G_OPTION_ARG_STRING, &stream, "Stream name, the objects' first folder (default opencv)",
       "NAME"},
      {"image-format", 'f', 0, G_OPTION_ARG_STRING, &format, "jpeg (default), png or webp", "FORMAT"},
      {"batch-size", 0, 0, G_OPTION_ARG_INT, &batch_size, "Frames per batch (default 10)", "N"},
      {"width", 'w', 0, G_OPTION_ARG_INT, &width, "Scale frames to this width, keeping the aspect ratio (default: as read)",
       "PIXELS"},
      {}};
  GOptionContext *ctx = g_option_context_new("- upload frames read with OpenCV through gcsframesink");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError *error = nullptr;
  const bool parsed = g_option_context_parse(ctx, &argc, &argv, &error);
  g_option_context_free(ctx);
  std::unique_ptr<gchar, decltype(&g_free)> free_camera(camera, g_free), free_bucket(bucket, g_free),
      free_endpoint(endpoint, g_free), free_stream(stream, g_free), free_format(format, g_free);
  if (!parsed || !camera || frames < 1 || batch_size < 1 || width < 0) {
    std::fprintf(stderr, "%s\n",
                 error ? error->message : "--camera URL is required; --frames and --batch-size >= 1, --width >= 0");
    g_clear_error(&error);
    return 2;
  }

  // FFmpeg reads RTSP on its own (OpenCV's GStreamer backend would do too).
  cv::VideoCapture capture(camera, cv::CAP_FFMPEG);
  cv::Mat first;
  if (!capture.isOpened() || !capture.read(first) || first.empty() || first.type() != CV_8UC3) {
    std::fprintf(stderr, "Cannot read BGR frames from %s\n", camera);
    return 1;
  }
  // Scaled into a new Mat (the pixels of the one read stay with it).
  auto scaled = [width](const cv::Mat &in) {
    if (width == 0 || width == in.cols)
      return in;
    cv::Mat out;
    cv::resize(in, out, cv::Size(width, std::max(1, (in.rows * width + in.cols / 2) / in.cols)), 0, 0, cv::INTER_AREA);
    return out;
  };
  first = scaled(first);
  double fps = capture.get(cv::CAP_PROP_FPS);
  const gint fps_n = fps >= 1 && fps <= 240 ? static_cast<gint>(fps + 0.5) : 30;
  std::fprintf(stderr, "%s: %dx%d at %d fps (row stride %zu bytes)\n", camera, first.cols, first.rows, fps_n,
               first.step[0]);

  ElementPtr pipeline(gst_pipeline_new("opencv-upload"));
  GstElement *src = gst_element_factory_make("appsrc", "src");
  GstElement *sink = gst_element_factory_make("gcsframesink", "sink");
  if (!src || !sink) {
    std::fprintf(stderr, "No %s element%s\n", sink ? "appsrc" : "gcsframesink",
                 sink ? "" : " (set GST_PLUGIN_PATH to the directory of libgstgcsframes.so, e.g. build/gst)");
    if (src)
      gst_object_unref(gst_object_ref_sink(src));
    if (sink)
      gst_object_unref(gst_object_ref_sink(sink));
    return 1;
  }
  gst_bin_add_many(GST_BIN(pipeline.get()), src, sink, nullptr);
  gst_element_link(src, sink);

  GstCaps *caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "BGR", "width", G_TYPE_INT, first.cols,
                                      "height", G_TYPE_INT, first.rows, "framerate", GST_TYPE_FRACTION, fps_n, 1,
                                      nullptr);
  // A live source: appsrc stamps each frame with the running time at which
  // it is pushed (do-timestamp), as a camera source stamps its capture time.
  // block: push waits while the appsrc holds 8 frames (the sink's own queue
  // bound, max-queued-frames, then holds the rest).
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", TRUE, "do-timestamp", TRUE, "block", TRUE,
               "max-buffers", (guint64)8, nullptr);
  gst_caps_unref(caps);
  g_object_set(sink, "bucket", bucket ? bucket : "demo", "stream-name", stream ? stream : "opencv", "batch-size",
               (guint)batch_size, "object-name", "{stream}/{run}/{index:08}.{ext}", nullptr);
  gst_util_set_object_arg(G_OBJECT(sink), "image-format", format ? format : "jpeg");
  if (endpoint)
    g_object_set(sink, "endpoint", endpoint, nullptr);

  BusPtr bus(gst_element_get_bus(pipeline.get()));
  gcsframes::BatchReader reader;
  Totals totals;
  int status = 0;
  try {
    if (gst_element_set_state(pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      MessagePtr msg(gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR));
      if (msg)
        handle(reader, msg.get(), totals);
      std::fprintf(stderr, "The pipeline cannot start\n");
      gst_element_set_state(pipeline.get(), GST_STATE_NULL);
      return 1;
    }
    cv::Mat frame = first;
    for (gint i = 0; i < frames && !totals.error; i++) {
      if (i > 0) {
        // A new Mat each time: read() writes into a Mat's pixels whenever its
        // size and type match, even while a buffer pushed before shares them.
        frame = cv::Mat();
        if (!capture.read(frame) || frame.empty()) {
          std::fprintf(stderr, "The camera ended after %d frames\n", i);
          break;
        }
        frame = scaled(frame);
      }
      // The buffer goes to the streaming thread as it is: written only here,
      // through GStreamer's own calls, never after the push.
      if (gst_app_src_push_buffer(GST_APP_SRC(src), wrap_mat(frame)) != GST_FLOW_OK)
        break;
      // Print the batches that settled meanwhile.
      while (MessagePtr msg{gst_bus_pop(bus.get())})
        handle(reader, msg.get(), totals);
    }
    frame = cv::Mat();
    first = cv::Mat();
    capture.release();
    // EOS: the sink uploads what it holds, posts the last batch, then EOS.
    gst_app_src_end_of_stream(GST_APP_SRC(src));
    while (!totals.eos && !totals.error) {
      MessagePtr msg(gst_bus_timed_pop(bus.get(), 60 * GST_SECOND));
      if (!msg) {
        std::fprintf(stderr, "No EOS after 60 s\n");
        status = 1;
        break;
      }
      handle(reader, msg.get(), totals);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    status = 1;
  }
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  std::fprintf(stderr, "%" PRIu64 " batches, %" PRIu64 " frames, %" PRIu64 " uploaded\n", totals.batches,
               totals.frames, totals.uploaded);
  if (totals.error || totals.frames != static_cast<uint64_t>(frames) || totals.uploaded != totals.frames)
    status = 1;
  return status;
}
