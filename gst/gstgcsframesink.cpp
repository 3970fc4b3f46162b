/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The gcsframesink authors */
/* gcsframesink: uploads video frames to Google Cloud Storage. */

/**
 * SECTION:element-gcsframesink
 * @title: gcsframesink
 *
 * Uploads each incoming encoded frame (JPEG, PNG or WebP) as one object to a
 * Google Cloud Storage bucket. Raw video (BGR, RGB, BGRx, RGBx, GRAY8, I420,
 * NV12) is encoded to #GstGcsFrameSink:image-format by the upload workers,
 * never on the streaming thread. Frames are grouped into batches of
 * #GstGcsFrameSink:batch-size frames (or what arrived within
 * #GstGcsFrameSink:batch-timeout of a batch's first frame) and uploaded
 * concurrently, at most #GstGcsFrameSink:max-concurrency at once, on upload
 * threads that keep their HTTP connections alive. The sinks of a process
 * share those threads (at most `GCSFRAMESINK_MAX_CONNECTIONS`, default 64,
 * started as frames come and ended when idle) and their connections, and
 * take turns for them, so a camera that sends more, or whose uploads are
 * slower, never starves the others (#GstGcsFrameSink:share-uploads). The streaming thread never waits for
 * the network; it only waits when #GstGcsFrameSink:max-queued-frames or
 * #GstGcsFrameSink:max-queued-bytes frames are still on their way, and then
 * goes on once a quarter of that bound has drained (or, with
 * #GstGcsFrameSink:leaky, drops a frame instead).
 *
 * Once every frame of a batch is settled (uploaded, failed, dropped,
 * spooled or unconfirmed) the element posts a `GstGcsFrameSinkBatch` element
 * message, always in batch order, with these fields:
 *
 * * `batch` (guint64): batch number, from 0
 * * `first-index` (guint64): index of the batch's first frame
 * * `count` (guint): frames in the batch
 * * `uris` (GstValueArray of string): `gs://bucket/object`, in frame order
 * * `urls` (GstValueArray of string): `<endpoint>/<bucket>/<object>`, in frame order
 * * `object-names` (GstValueArray of string): in frame order
 * * `timestamps` (GstValueArray of guint64): buffer PTS of each frame
 * * `running-times` (GstValueArray of guint64): running time of each frame
 * * `status` (GstValueArray of string): `uploaded`, `failed`, `dropped`, `spooled`
 *   or `unconfirmed` (its request was sent in full but no answer came: the
 *   object may or may not be stored)
 * * `uploaded`, `failed` (guint): frames with that status
 * * `upload-time` (guint64): ns from the batch's first frame entering the sink
 *   to the batch being settled
 *
 * With #GstGcsFrameSink:post-messages, a `GstGcsFrameSink` message is also
 * posted per frame, in frame order, with the fields of multifilesink's
 * message (`filename` = object name, `index`, `timestamp`, `stream-time`,
 * `running-time`, `duration`, `offset`, `offset-end`) plus `uri`, `url`,
 * `generation`, `size`, `crc32c`, `attempts`, `status` and `batch`.
 *
 * With #GstGcsFrameSink:spool-location, a frame whose upload fails after its
 * retries, whose request got no answer, or that a stop cuts short (or, with
 * #GstGcsFrameSink:spool-mode `always`, every frame before its upload) is
 * written to that folder and uploaded later, oldest first, also by a later
 * run; its status is then `spooled`, and a `GstGcsFrameSinkSpool` message
 * (`index`, `batch`, `filename`, `uri`, `url`, `run`, `timestamp`, `status`)
 * says when it is stored.
 *
 * A `GstGcsFrameSinkLink` message (`reachable`, `since`, `reason`) says when
 * uploads start failing on an outage and when they succeed again; with
 * #GstGcsFrameSink:stats-interval, a `GstGcsFrameSinkStats` message carries
 * the #GstGcsFrameSink:stats counters periodically.
 *
 * The API endpoint is #GstGcsFrameSink:endpoint; when unset, the
 * `STORAGE_EMULATOR_HOST` or `CLOUD_STORAGE_EMULATOR_ENDPOINT` environment
 * variable selects an emulator (anonymous access). Credentials are found as
 * Google's client libraries find them (#GstGcsFrameSink:credentials,
 * `GOOGLE_APPLICATION_CREDENTIALS`, the gcloud ADC file, the metadata server).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -e rtspsrc location=rtsp://camera/stream ! decodebin ! videoconvert ! jpegenc ! \
 *     gcsframesink bucket=my-frames stream-name=cam1 batch-size=10
 * ]| Uploads every frame of an RTSP camera as `cam1/<date>/<run>/<index:08>.jpg`.
 * |[
 * STORAGE_EMULATOR_HOST=127.0.0.1:9023 gst-launch-1.0 -e videotestsrc num-buffers=100 ! \
 *     video/x-raw,format=I420,width=640,height=480 ! gcsframesink bucket=test stream-name=raw image-format=webp quality=80
 * ]| Raw video, encoded to WebP by the sink's upload workers.
 * |[
 * STORAGE_EMULATOR_HOST=127.0.0.1:9023 gst-launch-1.0 -m videotestsrc num-buffers=100 ! jpegenc ! \
 *     gcsframesink bucket=test object-name="{hash}/{stream}/{utc:%Y/%m/%d/%H}/{run}/{index:08}.{ext}"
 * ]| Uploads 100 test frames to an emulator and prints the batch messages.
 * |[
 * gst-launch-1.0 -e rtspsrc location=rtsp://camera/stream ! decodebin ! videoconvert ! jpegenc ! \
 *     gcsframesink bucket=my-frames stream-name=cam1 spool-location=/var/spool/gcsframesink/cam1 spool-mode=always
 * ]| Keeps every frame on disk until it is stored: an outage, a stop or a crash loses none.
 *
 * Since: 0.1
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstgcsframesink.h"

#include "gcsframesink-messages.h"
#include "session.h"

#include <gst/video/video.h>

#include <atomic>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>

GST_DEBUG_CATEGORY(gst_gcs_frame_sink_debug);
#define GST_CAT_DEFAULT gst_gcs_frame_sink_debug

#define DEFAULT_POST_MESSAGES FALSE
#define DEFAULT_CHECKSUM GCS_FRAME_SINK_CHECKSUM_CRC32C

/* In the order of gcsfs::ChecksumMode, which it maps onto. */
enum GcsFrameSinkChecksum {
  GCS_FRAME_SINK_CHECKSUM_CRC32C = (int)gcsfs::ChecksumMode::Crc32c,
  GCS_FRAME_SINK_CHECKSUM_MD5 = (int)gcsfs::ChecksumMode::Md5,
  GCS_FRAME_SINK_CHECKSUM_BOTH = (int)gcsfs::ChecksumMode::Both,
  GCS_FRAME_SINK_CHECKSUM_NONE = (int)gcsfs::ChecksumMode::None,
};

enum {
  PROP_0,
  PROP_BUCKET,
  PROP_OBJECT_NAME,
  PROP_STREAM_NAME,
  PROP_INDEX,
  PROP_BATCH_SIZE,
  PROP_BATCH_TIMEOUT,
  PROP_MAX_CONCURRENCY,
  PROP_ENDPOINT,
  PROP_CREDENTIALS,
  PROP_CA_FILE,
  PROP_CONTENT_TYPE,
  PROP_METADATA,
  PROP_EXTRA_HEADERS,
  PROP_POST_MESSAGES,
  PROP_CHECKSUM,
  PROP_IF_EXISTS,
  PROP_SPOOL_LOCATION,
  PROP_SPOOL_MAX_SIZE,
  PROP_SPOOL_MODE,
  PROP_STATS_INTERVAL,
  PROP_LEAKY,
  PROP_DRAIN_TIMEOUT,
  PROP_IMAGE_FORMAT,
  PROP_QUALITY,
  PROP_REQUEST_TIMEOUT,
  PROP_MAX_RETRIES,
  PROP_RETRY_TIMEOUT,
  PROP_MAX_QUEUED_FRAMES,
  PROP_MAX_QUEUED_BYTES,
  PROP_MANIFEST_LOCATION,
  PROP_MANIFEST_MAX_SIZE,
  PROP_SHARE_UPLOADS,
  PROP_MANIFEST_NAME,
  PROP_STATS,
};

GType gst_gcs_frame_sink_checksum_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {GCS_FRAME_SINK_CHECKSUM_CRC32C, "CRC32C (Castagnoli), verified by the server", "crc32c"},
      {GCS_FRAME_SINK_CHECKSUM_MD5, "MD5, verified by the server", "md5"},
      {GCS_FRAME_SINK_CHECKSUM_BOTH, "CRC32C and MD5", "both"},
      {GCS_FRAME_SINK_CHECKSUM_NONE, "No integrity check", "none"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstGcsFrameSinkChecksum", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_gcs_frame_sink_if_exists_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)gcsfs::IfExists::Fail, "The frame fails (the object is kept)", "fail"},
      {(gint)gcsfs::IfExists::Overwrite, "The object is replaced", "overwrite"},
      {(gint)gcsfs::IfExists::Skip, "Uploaded if the object holds the same bytes, else the frame fails", "skip"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstGcsFrameSinkIfExists", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_gcs_frame_sink_spool_mode_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)gcsfs::SpoolMode::Fallback, "Frames whose upload failed after their retries", "fallback"},
      {(gint)gcsfs::SpoolMode::Always, "Every frame, before its upload (a crash loses nothing accepted)", "always"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstGcsFrameSinkSpoolMode", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_gcs_frame_sink_image_format_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)gcsfs::ImageFormat::Jpeg, "JPEG (quality applies)", "jpeg"},
      {(gint)gcsfs::ImageFormat::Png, "PNG (lossless)", "png"},
      {(gint)gcsfs::ImageFormat::Webp, "WebP (quality applies)", "webp"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstGcsFrameSinkImageFormat", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_gcs_frame_sink_leaky_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)gcsfs::Leaky::None, "Not leaky: render() waits at the queue bound (backpressure)", "none"},
      {(gint)gcsfs::Leaky::Upstream, "Leaky on upstream: the incoming frame is dropped", "upstream"},
      {(gint)gcsfs::Leaky::Downstream, "Leaky on downstream: the oldest frame not yet uploading is dropped",
       "downstream"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstGcsFrameSinkLeaky", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

namespace {

/* A GstStructure held by value: copying copies it, so Settings copies by
 * default and no field can be forgotten. */
class StructureHolder {
 public:
  StructureHolder() = default;
  StructureHolder(const StructureHolder &o) : s_(o.s_ ? gst_structure_copy(o.s_) : nullptr) {}
  StructureHolder &operator=(const StructureHolder &o)
  {
    if (this != &o)
      reset(o.s_ ? gst_structure_copy(o.s_) : nullptr);
    return *this;
  }
  ~StructureHolder() { reset(nullptr); }
  void reset(GstStructure *s)
  {
    if (s_)
      gst_structure_free(s_);
    s_ = s;
  }
  const GstStructure *get() const { return s_; }

 private:
  GstStructure *s_ = nullptr;
};

/* Settings, as set through properties; copied out at start(). Everything
 * but the two structures is the core's SinkConfig itself. */
struct Settings {
  gcsfs::SinkConfig core;
  StructureHolder metadata, extra_headers;
};

/* Keeps a GstBuffer mapped for as long as the core needs its bytes. */
struct BufferBytes : gcsfs::FrameBytes {
  GstBuffer *buffer;
  GstMapInfo map;
  bool mapped;

  explicit BufferBytes(GstBuffer *buf) : buffer(gst_buffer_ref(buf))
  {
    mapped = gst_buffer_map(buffer, &map, GST_MAP_READ);
    if (mapped) {
      data = map.data;
      size = map.size;
    }
  }
  ~BufferBytes() override
  {
    if (mapped)
      gst_buffer_unmap(buffer, &map);
    gst_buffer_unref(buffer);
  }
};

/* Keeps a raw video frame mapped (its planes and strides) until encoded. */
struct VideoFrameBytes : gcsfs::FrameBytes {
  GstVideoFrame frame;
  bool mapped;

  VideoFrameBytes(const GstVideoInfo *info, GstBuffer *buf)
  {
    mapped = gst_video_frame_map(&frame, info, buf, GST_MAP_READ);
    if (mapped) {
      data = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
      size = gst_buffer_get_size(buf);  /* what the frame holds in memory until encoded */
    }
  }
  ~VideoFrameBytes() override
  {
    if (mapped)
      gst_video_frame_unmap(&frame);
  }
};

/* GStreamer's raw formats the encoder takes. */
bool pixel_format(GstVideoFormat f, gcsfs::PixelFormat *out)
{
  switch (f) {
    case GST_VIDEO_FORMAT_BGR: *out = gcsfs::PixelFormat::BGR; return true;
    case GST_VIDEO_FORMAT_RGB: *out = gcsfs::PixelFormat::RGB; return true;
    case GST_VIDEO_FORMAT_BGRx: *out = gcsfs::PixelFormat::BGRx; return true;
    case GST_VIDEO_FORMAT_RGBx: *out = gcsfs::PixelFormat::RGBx; return true;
    case GST_VIDEO_FORMAT_GRAY8: *out = gcsfs::PixelFormat::GRAY8; return true;
    case GST_VIDEO_FORMAT_I420: *out = gcsfs::PixelFormat::I420; return true;
    case GST_VIDEO_FORMAT_NV12: *out = gcsfs::PixelFormat::NV12; return true;
    default: return false;
  }
}

struct Format {
  const char *media_type;
  const char *content_type;
  const char *ext;
};
const Format kFormats[] = {
    {"image/jpeg", "image/jpeg", "jpg"},
    {"image/png", "image/png", "png"},
    {"image/webp", "image/webp", "webp"},
};
/* video/x-raw, encoded to each image-format (in ImageFormat's order). */
const Format kRawFormats[] = {
    {"video/x-raw", "image/jpeg", "jpg"},
    {"video/x-raw", "image/png", "png"},
    {"video/x-raw", "image/webp", "webp"},
};

uint64_t from_clock_time(GstClockTime t)
{
  return GST_CLOCK_TIME_IS_VALID(t) ? t : gcsfs::kTimeNone;
}

/* Each field of a GstStructure as a string (for metadata and headers). */
gcsfs::Fields structure_fields(const GstStructure *s)
{
  gcsfs::Fields out;
  if (!s)
    return out;
  for (gint i = 0; i < gst_structure_n_fields(s); i++) {
    const gchar *name = gst_structure_nth_field_name(s, i);
    const GValue *v = gst_structure_get_value(s, name);
    if (G_VALUE_HOLDS_STRING(v)) {
      out.emplace_back(name, g_value_get_string(v) ? g_value_get_string(v) : "");
    } else {
      gchar *str = gst_value_serialize(v);
      out.emplace_back(name, str ? str : "");
      g_free(str);
    }
  }
  return out;
}

}  // namespace


struct GstGcsFrameSinkPrivate {
  std::mutex settings_lock;  // guards settings and started; never held while taking another lock
  Settings settings;
  bool started = false;  // from READY->PAUSED to PAUSED->READY settings are frozen

  /* The run, from READY->PAUSED to PAUSED->READY: its settings, listener and
   * session. Shutting down at PAUSED->READY posts the messages of a shutdown
   * before a pipeline going to NULL flushes its bus. */
  Settings running;
  std::unique_ptr<SinkListener> listener;  // per run: results to bus messages
  std::unique_ptr<gcsfs::Session> session;  // replaced under stats_lock
  const Format *format = nullptr;  // from caps; streaming thread only
  GstVideoInfo video_info;         // for video/x-raw caps (format is then one of kRawFormats)
  gcsfs::PixelFormat pixel_format = gcsfs::PixelFormat::BGR;
  bool caps_refused = false;  // streaming thread: the refusal of these caps is posted once per run
  std::shared_ptr<const std::string> stream_id;  // of the last STREAM_START; streaming thread only
  guint64 next_batch = 0;     // first batch number of the next run: batch numbers go on, as index does

  std::mutex stats_lock;    // guards session (against the stats property), last_stats and last_base
  gcsfs::Stats last_stats;  // of the last run, for the stats property after stop()
  BaseSinkCounts last_base;  // GstBaseSink's counters as it last left PLAYING (it resets them then)
};

struct _GstGcsFrameSink {
  GstBaseSink parent;
  GstGcsFrameSinkPrivate *priv;
};

#define gst_gcs_frame_sink_parent_class parent_class
G_DEFINE_TYPE(GstGcsFrameSink, gst_gcs_frame_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE(gcsframesink, "gcsframesink", GST_RANK_NONE, GST_TYPE_GCS_FRAME_SINK);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("image/jpeg; image/png; image/webp; "
                    "video/x-raw, format=(string){ BGR, RGB, BGRx, RGBx, GRAY8, I420, NV12 }, "
                    "width=(int)[ 1, MAX ], height=(int)[ 1, MAX ]"));

static void gst_gcs_frame_sink_init(GstGcsFrameSink *self)
{
  self->priv = new GstGcsFrameSinkPrivate();
  gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
  /* Holding the last frame would keep its memory alive past its upload. */
  gst_base_sink_set_last_sample_enabled(GST_BASE_SINK(self), FALSE);
}

static void gst_gcs_frame_sink_finalize(GObject *object)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(object);
  delete self->priv;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_gcs_frame_sink_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(object);
  std::lock_guard<std::mutex> lock(self->priv->settings_lock);
  if (self->priv->started) {
    GST_WARNING_OBJECT(self, "cannot change \"%s\" while the element is running; it keeps its value until the "
                             "next start: set it in the NULL or READY state", pspec->name);
    return;
  }
  Settings &st = self->priv->settings;
  gcsfs::SinkConfig &s = st.core;
  auto str = [&](std::string &dst) {
    const gchar *v = g_value_get_string(value);
    dst = v ? v : "";
  };
  auto structure = [&](StructureHolder &dst) {
    const GstStructure *v = gst_value_get_structure(value);
    dst.reset(v ? gst_structure_copy(v) : nullptr);
  };
  switch (prop_id) {
    case PROP_BUCKET: str(s.bucket); break;
    case PROP_OBJECT_NAME:
      str(s.object_name);
      if (s.object_name.empty())
        s.object_name = gcsfs::defaults::kObjectName;
      break;
    case PROP_STREAM_NAME: str(s.stream_name); break;
    case PROP_INDEX: s.index = g_value_get_uint64(value); break;
    case PROP_BATCH_SIZE: s.batch_size = g_value_get_uint(value); break;
    case PROP_BATCH_TIMEOUT: s.batch_timeout_ms = g_value_get_uint(value); break;
    case PROP_MAX_CONCURRENCY: s.max_concurrency = g_value_get_uint(value); break;
    case PROP_ENDPOINT: str(s.endpoint); break;
    case PROP_CREDENTIALS: str(s.credentials); break;
    case PROP_CA_FILE: str(s.ca_file); break;
    case PROP_CONTENT_TYPE: str(s.content_type); break;
    case PROP_METADATA: structure(st.metadata); break;
    case PROP_EXTRA_HEADERS: structure(st.extra_headers); break;
    case PROP_POST_MESSAGES: s.post_messages = g_value_get_boolean(value); break;
    case PROP_CHECKSUM: s.checksum = (gcsfs::ChecksumMode)g_value_get_enum(value); break;
    case PROP_IF_EXISTS: s.if_exists = (gcsfs::IfExists)g_value_get_enum(value); break;
    case PROP_SPOOL_LOCATION: str(s.spool_location); break;
    case PROP_SPOOL_MAX_SIZE: s.spool_max_bytes = g_value_get_uint64(value); break;
    case PROP_SPOOL_MODE: s.spool_mode = (gcsfs::SpoolMode)g_value_get_enum(value); break;
    case PROP_STATS_INTERVAL: s.stats_interval_ms = g_value_get_uint(value); break;
    case PROP_DRAIN_TIMEOUT: s.drain_timeout_ms = g_value_get_uint(value); break;
    case PROP_IMAGE_FORMAT: s.image_format = (gcsfs::ImageFormat)g_value_get_enum(value); break;
    case PROP_QUALITY: s.quality = g_value_get_int(value); break;
    case PROP_LEAKY: s.leaky = (gcsfs::Leaky)g_value_get_enum(value); break;
    case PROP_REQUEST_TIMEOUT: s.request_timeout_ms = g_value_get_uint(value); break;
    case PROP_MAX_RETRIES: s.max_retries = g_value_get_uint(value); break;
    case PROP_RETRY_TIMEOUT: s.retry_timeout_ms = g_value_get_uint(value); break;
    case PROP_MAX_QUEUED_FRAMES: s.max_queued_frames = g_value_get_uint(value); break;
    case PROP_MAX_QUEUED_BYTES: s.max_queued_bytes = g_value_get_uint64(value); break;
    case PROP_MANIFEST_LOCATION: str(s.manifest_location); break;
    case PROP_MANIFEST_MAX_SIZE: s.manifest_max_bytes = g_value_get_uint64(value); break;
    case PROP_SHARE_UPLOADS: s.share_uploads = g_value_get_boolean(value); break;
    case PROP_MANIFEST_NAME: str(s.manifest_name); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_gcs_frame_sink_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(object);
  GstGcsFrameSinkPrivate *priv = self->priv;
  if (prop_id == PROP_STATS) {
    std::lock_guard<std::mutex> lock(priv->stats_lock);
    g_value_take_boxed(value, priv->session ? stats_to_structure(priv->session->stats(), base_sink_counts(GST_ELEMENT(self)))
                                            : stats_to_structure(priv->last_stats, priv->last_base));
    return;
  }
  std::lock_guard<std::mutex> lock(priv->settings_lock);
  const Settings &st = priv->settings;
  const gcsfs::SinkConfig &s = st.core;
  auto str = [&](const std::string &v) { g_value_set_string(value, v.empty() ? nullptr : v.c_str()); };
  switch (prop_id) {
    case PROP_BUCKET: str(s.bucket); break;
    case PROP_OBJECT_NAME: str(s.object_name); break;
    case PROP_STREAM_NAME: str(s.stream_name); break;
    case PROP_INDEX: g_value_set_uint64(value, s.index); break;
    case PROP_BATCH_SIZE: g_value_set_uint(value, s.batch_size); break;
    case PROP_BATCH_TIMEOUT: g_value_set_uint(value, s.batch_timeout_ms); break;
    case PROP_MAX_CONCURRENCY: g_value_set_uint(value, s.max_concurrency); break;
    case PROP_ENDPOINT: str(s.endpoint); break;
    case PROP_CREDENTIALS: str(s.credentials); break;
    case PROP_CA_FILE: str(s.ca_file); break;
    case PROP_CONTENT_TYPE: str(s.content_type); break;
    case PROP_METADATA: gst_value_set_structure(value, st.metadata.get()); break;
    case PROP_EXTRA_HEADERS: gst_value_set_structure(value, st.extra_headers.get()); break;
    case PROP_POST_MESSAGES: g_value_set_boolean(value, s.post_messages); break;
    case PROP_CHECKSUM: g_value_set_enum(value, (gint)s.checksum); break;
    case PROP_IF_EXISTS: g_value_set_enum(value, (gint)s.if_exists); break;
    case PROP_SPOOL_LOCATION: str(s.spool_location); break;
    case PROP_SPOOL_MAX_SIZE: g_value_set_uint64(value, s.spool_max_bytes); break;
    case PROP_SPOOL_MODE: g_value_set_enum(value, (gint)s.spool_mode); break;
    case PROP_STATS_INTERVAL: g_value_set_uint(value, s.stats_interval_ms); break;
    case PROP_DRAIN_TIMEOUT: g_value_set_uint(value, s.drain_timeout_ms); break;
    case PROP_IMAGE_FORMAT: g_value_set_enum(value, (gint)s.image_format); break;
    case PROP_QUALITY: g_value_set_int(value, s.quality); break;
    case PROP_LEAKY: g_value_set_enum(value, (gint)s.leaky); break;
    case PROP_REQUEST_TIMEOUT: g_value_set_uint(value, s.request_timeout_ms); break;
    case PROP_MAX_RETRIES: g_value_set_uint(value, s.max_retries); break;
    case PROP_RETRY_TIMEOUT: g_value_set_uint(value, s.retry_timeout_ms); break;
    case PROP_MAX_QUEUED_FRAMES: g_value_set_uint(value, s.max_queued_frames); break;
    case PROP_MAX_QUEUED_BYTES: g_value_set_uint64(value, s.max_queued_bytes); break;
    case PROP_MANIFEST_LOCATION: str(s.manifest_location); break;
    case PROP_MANIFEST_MAX_SIZE: g_value_set_uint64(value, s.manifest_max_bytes); break;
    case PROP_SHARE_UPLOADS: g_value_set_boolean(value, s.share_uploads); break;
    case PROP_MANIFEST_NAME: str(s.manifest_name); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

/* READY->PAUSED: the settings are frozen and a session opens this run (the
 * core checks them, fetches a first token and starts the upload pool); a
 * refusal is posted as an error naming the fix. */
static gboolean gst_gcs_frame_sink_open(GstGcsFrameSink *self)
{
  GstGcsFrameSinkPrivate *priv = self->priv;
  {
    std::lock_guard<std::mutex> lock(priv->settings_lock);
    priv->running = priv->settings;
    priv->started = true;
  }
  gcsfs::SinkConfig cfg = priv->running.core;
  if (cfg.stream_name.empty()) {
    gchar *name = gst_object_get_name(GST_OBJECT(self));
    cfg.stream_name = name ? name : "stream";
    g_free(name);
  }
  cfg.metadata = structure_fields(priv->running.metadata.get());
  cfg.extra_headers = structure_fields(priv->running.extra_headers.get());
  priv->caps_refused = false;
  priv->listener = std::make_unique<SinkListener>(GST_ELEMENT(self), cfg.post_messages, cfg.stream_name);
  gcsfs::OpenProblem problem;
  std::unique_ptr<gcsfs::Session> session = gcsfs::Session::open(cfg, priv->next_batch, *priv->listener, &problem);
  if (!session) {
    const char *text = problem.message.c_str();
    switch (problem.kind) {
      case gcsfs::OpenError::NoCredentials:
        GST_ELEMENT_ERROR(self, RESOURCE, NOT_AUTHORIZED, ("No usable Google Cloud credentials."), ("%s", text));
        break;
      case gcsfs::OpenError::CredentialsRefused:
        GST_ELEMENT_ERROR(self, RESOURCE, NOT_AUTHORIZED, ("Google Cloud credentials were refused."), ("%s", text));
        break;
      case gcsfs::OpenError::Spool:
        GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("Cannot use the spool folder."), ("%s", text));
        break;
      case gcsfs::OpenError::Manifest:
        GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("Cannot open the manifest file."), ("%s", text));
        break;
      case gcsfs::OpenError::Pool:
        GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("Cannot start the upload pool."), ("%s", text));
        break;
      default:
        GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid gcsframesink settings."), ("%s", text));
        break;
    }
    priv->listener.reset();
    std::lock_guard<std::mutex> lock(priv->settings_lock);
    priv->started = false;
    return FALSE;
  }
  GST_INFO_OBJECT(self, "uploading to %s bucket %s as %s, %u uploads at once on %s threads, batches of %u",
                  session->endpoint().c_str(), cfg.bucket.c_str(), session->identity().c_str(), cfg.max_concurrency,
                  cfg.share_uploads ? "the process's shared" : "its own", cfg.batch_size);
  std::lock_guard<std::mutex> lock(priv->stats_lock);
  priv->session = std::move(session);
  return TRUE;
}

/* PAUSED->READY (streaming has stopped): aborts what is still in flight;
 * every frame settles (as dropped), its batch message is posted, and a
 * warning says how many were dropped. A later run goes on from the next
 * index and batch, as multifilesink's index does, instead of rewriting the
 * same names. */
static void gst_gcs_frame_sink_close(GstGcsFrameSink *self)
{
  GstGcsFrameSinkPrivate *priv = self->priv;
  if (!priv->session)
    return;
  priv->session->close();
  priv->listener->post_summary(priv->session->take_summary());
  std::unique_ptr<gcsfs::Session> session;
  {
    std::lock_guard<std::mutex> lock(priv->stats_lock);
    priv->last_stats = priv->session->stats();
    session = std::move(priv->session);
  }
  priv->next_batch = session->next_batch();
  std::lock_guard<std::mutex> lock(priv->settings_lock);
  priv->settings.core.index = session->next_index();
  priv->started = false;
  session.reset();
  priv->listener.reset();
}

static gboolean gst_gcs_frame_sink_stop(GstBaseSink *sink)
{
  gst_gcs_frame_sink_close(GST_GCS_FRAME_SINK(sink));
  return TRUE;
}

static GstStateChangeReturn gst_gcs_frame_sink_change_state(GstElement *element, GstStateChange transition)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !gst_gcs_frame_sink_open(self))
    return GST_STATE_CHANGE_FAILURE;
  if (transition == GST_STATE_CHANGE_PLAYING_TO_PAUSED) {  /* GstBaseSink resets them as it leaves PLAYING */
    std::lock_guard<std::mutex> lock(self->priv->stats_lock);
    self->priv->last_base = base_sink_counts(element);
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY || (transition == GST_STATE_CHANGE_READY_TO_PAUSED &&
                                                         ret == GST_STATE_CHANGE_FAILURE))
    gst_gcs_frame_sink_close(self);
  return ret;
}

static gboolean gst_gcs_frame_sink_set_caps(GstBaseSink *sink, GstCaps *caps)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(sink);
  GstGcsFrameSinkPrivate *priv = self->priv;
  const gchar *media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  for (const Format &f : kFormats) {
    if (g_str_equal(media, f.media_type)) {
      priv->format = &f;
      GST_DEBUG_OBJECT(self, "frames are %s", media);
      return TRUE;
    }
  }
  /* Raw video: encoded by the upload workers. The template lets through
   * only formats the encoder takes; sizes it cannot take are refused here. */
  std::string why;
  if (g_str_equal(media, "video/x-raw") && gst_video_info_from_caps(&priv->video_info, caps)) {
    gcsfs::RawImage probe;
    probe.width = GST_VIDEO_INFO_WIDTH(&priv->video_info);
    probe.height = GST_VIDEO_INFO_HEIGHT(&priv->video_info);
    if (pixel_format(GST_VIDEO_INFO_FORMAT(&priv->video_info), &probe.format)) {
      for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(&priv->video_info); p++) {
        probe.plane[p] = reinterpret_cast<const uint8_t *>(1);  /* the layout only: no bytes are read */
        probe.stride[p] = GST_VIDEO_INFO_PLANE_STRIDE(&priv->video_info, p);
      }
      if (gcsfs::check_raw_layout(probe, &why)) {
        priv->pixel_format = probe.format;
        priv->format = &kRawFormats[(int)priv->running.core.image_format];
        GST_DEBUG_OBJECT(self, "frames are raw %s %dx%d, encoded to %s on the upload workers",
                         gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&priv->video_info)), probe.width,
                         probe.height, priv->format->ext);
        return TRUE;
      }
    } else {
      why = std::string("the format ") + gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&priv->video_info)) +
            " is not one the element encodes (BGR, RGB, BGRx, RGBx, GRAY8, I420, NV12): put videoconvert before it";
    }
  } else {
    why = std::string("gcsframesink takes image/jpeg, image/png, image/webp or video/x-raw, not ") + media;
  }
  /* Upstream may offer the same caps again after a refusal: say it once. */
  if (!priv->caps_refused) {
    priv->caps_refused = true;
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Cannot take these frames."), ("%s", why.c_str()));
  } else {
    GST_DEBUG_OBJECT(self, "refusing %s again", media);
  }
  return FALSE;
}

/* The reference-timestamp caps a capture time may come with; made in
 * class_init, so that no frame pays for them or for registering the meta. */
static GstCaps *ntp_caps, *unix_caps;

static int64_t capture_time_us(GstBuffer *buf)
{
  if (GstReferenceTimestampMeta *m = gst_buffer_get_reference_timestamp_meta(buf, ntp_caps)) {
    const guint64 ntp_to_unix_s = G_GUINT64_CONSTANT(2208988800);
    if (m->timestamp / GST_SECOND > ntp_to_unix_s)
      return (int64_t)((m->timestamp - ntp_to_unix_s * GST_SECOND) / GST_USECOND);
  }
  if (GstReferenceTimestampMeta *m = gst_buffer_get_reference_timestamp_meta(buf, unix_caps))
    return (int64_t)(m->timestamp / GST_USECOND);
  return g_get_real_time();
}

static GstFlowReturn gst_gcs_frame_sink_render_frame(GstBaseSink *sink, GstBuffer *buf, bool *waited);

/* Times each render that did not wait at the queue bound, for the stats
 * (render-p50-us, render-p99-us: how long a frame holds the streaming
 * thread; waits at the bound are counted in backpressure-waits). */
static GstFlowReturn gst_gcs_frame_sink_render(GstBaseSink *sink, GstBuffer *buf)
{
  GstGcsFrameSinkPrivate *priv = GST_GCS_FRAME_SINK(sink)->priv;
  gint64 start = g_get_monotonic_time();
  bool waited = false;
  GstFlowReturn ret = gst_gcs_frame_sink_render_frame(sink, buf, &waited);
  if (priv->session && !waited)
    priv->session->record_handover_us(g_get_monotonic_time() - start);
  return ret;
}

static GstFlowReturn gst_gcs_frame_sink_render_frame(GstBaseSink *sink, GstBuffer *buf, bool *waited)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(sink);
  GstGcsFrameSinkPrivate *priv = self->priv;
  if (!priv->session) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, (nullptr), ("received a frame while not running"));
    return GST_FLOW_ERROR;
  }
  if (!priv->format) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("received a frame before caps were set"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  gcsfs::Frame f;
  /* A zero-byte buffer goes to the session without bytes: it is skipped
   * there (no index, no object), counted and warned about. */
  const bool raw = priv->format >= std::begin(kRawFormats) && priv->format < std::end(kRawFormats);
  if (gst_buffer_get_size(buf) > 0 && raw) {
    /* Raw: mapped as a video frame (its planes and strides, from the
     * buffer's GstVideoMeta where it has one), encoded by a worker. */
    auto bytes = std::make_unique<VideoFrameBytes>(&priv->video_info, buf);
    if (!bytes->mapped) {
      GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Cannot read a frame."),
                        ("gst_video_frame_map failed: the buffer does not match the caps"));
      return GST_FLOW_ERROR;
    }
    f.raw.format = priv->pixel_format;
    f.raw.width = GST_VIDEO_FRAME_WIDTH(&bytes->frame);
    f.raw.height = GST_VIDEO_FRAME_HEIGHT(&bytes->frame);
    f.raw.full_range = GST_VIDEO_INFO_COLORIMETRY(&priv->video_info).range == GST_VIDEO_COLOR_RANGE_0_255;
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&bytes->frame) && p < 3; p++) {
      f.raw.plane[p] = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&bytes->frame, p));
      f.raw.stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE(&bytes->frame, p);
    }
    f.bytes = std::move(bytes);
  } else if (gst_buffer_get_size(buf) > 0) {
    auto bytes = std::make_unique<BufferBytes>(buf);
    if (!bytes->mapped) {
      GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Cannot read a frame."), ("gst_buffer_map failed"));
      return GST_FLOW_ERROR;
    }
    f.bytes = std::move(bytes);
  }
  GstSegment *seg = &sink->segment;
  GstClockTime pts = GST_BUFFER_PTS(buf);
  f.pts = from_clock_time(pts);
  f.duration = from_clock_time(GST_BUFFER_DURATION(buf));
  if (seg->format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID(pts)) {
    f.running_time = from_clock_time(gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts));
    f.stream_time = from_clock_time(gst_segment_to_stream_time(seg, GST_FORMAT_TIME, pts));
  }
  f.offset = GST_BUFFER_OFFSET_IS_VALID(buf) ? GST_BUFFER_OFFSET(buf) : gcsfs::kTimeNone;
  f.offset_end = GST_BUFFER_OFFSET_END_IS_VALID(buf) ? GST_BUFFER_OFFSET_END(buf) : gcsfs::kTimeNone;
  f.capture_unix_us = capture_time_us(buf);
  f.stream_id = priv->stream_id;
  f.ext = priv->format->ext;
  const std::string &content_type = priv->running.core.content_type;
  f.content_type = content_type.empty() ? std::string_view(priv->format->content_type) : std::string_view(content_type);

  gcsfs::SubmitResult res;
  /* unlock() interrupts a wait at the queue bound for a flush, but also for
   * PLAYING->PAUSED: then wait for preroll (as basesink asks of render) and
   * hand the frame over once playing again. */
  while ((res = priv->session->submit(std::move(f), waited)) == gcsfs::SubmitResult::Flushing) {
    *waited = true;
    GstFlowReturn ret = gst_base_sink_wait_preroll(sink);
    if (ret != GST_FLOW_OK)
      return ret;
  }
  switch (res) {
    case gcsfs::SubmitResult::Flushing: return GST_FLOW_FLUSHING;
    /* The error is on the bus already, after the batch messages. */
    case gcsfs::SubmitResult::Fatal: return GST_FLOW_ERROR;
    case gcsfs::SubmitResult::Ok: return GST_FLOW_OK;
  }
  return GST_FLOW_ERROR;
}

/* EOS: basesink calls this (holding the preroll lock) before it lets EOS
 * go on. Close the last batch and wait until every batch message is posted,
 * so that the EOS message comes after them. A pause interrupts the wait: wait
 * for preroll as render() does and go on draining. A flush or a state change
 * to READY interrupts it too: then EOS must not go on (basesink would wait for
 * preroll again on a pad being deactivated, and the state change would never
 * finish), so return FLUSHING. */
static GstFlowReturn gst_gcs_frame_sink_wait_event(GstBaseSink *sink, GstEvent *event)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(sink);
  GstGcsFrameSinkPrivate *priv = self->priv;
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS && priv->session) {
    GST_DEBUG_OBJECT(self, "EOS: closing the last batch and waiting for every frame to settle");
    gcsfs::DrainEnd end;
    while ((end = priv->session->drain()) == gcsfs::DrainEnd::Interrupted) {
      GstFlowReturn ret = gst_base_sink_wait_preroll(sink);
      if (ret != GST_FLOW_OK) {
        GST_DEBUG_OBJECT(self, "EOS drain interrupted by a flush or a state change: %s", gst_flow_get_name(ret));
        return ret;
      }
    }
    priv->listener->post_summary(priv->session->take_summary(),
                                 end == gcsfs::DrainEnd::TimedOut ? priv->running.core.drain_timeout_ms : 0);
  }
  return GST_BASE_SINK_CLASS(parent_class)->wait_event(sink, event);
}

/* STREAM_START: the upstream stream-id, for {stream-id} and the messages'
 * stream-id of the frames that follow. */
static gboolean gst_gcs_frame_sink_event(GstBaseSink *sink, GstEvent *event)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(sink);
  if (GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START) {
    const gchar *id = nullptr;
    gst_event_parse_stream_start(event, &id);
    self->priv->stream_id = id ? std::make_shared<const std::string>(id) : nullptr;
    GST_DEBUG_OBJECT(self, "stream-id %s", id ? id : "(none)");
  }
  return GST_BASE_SINK_CLASS(parent_class)->event(sink, event);
}

static gboolean gst_gcs_frame_sink_unlock(GstBaseSink *sink)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(sink);
  if (self->priv->session)
    self->priv->session->set_flushing(true);
  return TRUE;
}

static gboolean gst_gcs_frame_sink_unlock_stop(GstBaseSink *sink)
{
  GstGcsFrameSink *self = GST_GCS_FRAME_SINK(sink);
  if (self->priv->session)
    self->priv->session->set_flushing(false);
  return TRUE;
}

static void gst_gcs_frame_sink_class_init(GstGcsFrameSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_gcs_frame_sink_debug, "gcsframesink", 0, "Google Cloud Storage frame sink");
  ntp_caps = gst_caps_new_empty_simple("timestamp/x-ntp");
  unix_caps = gst_caps_new_empty_simple("timestamp/x-unix");
  gst_reference_timestamp_meta_get_info();

  gobject_class->set_property = gst_gcs_frame_sink_set_property;
  gobject_class->get_property = gst_gcs_frame_sink_get_property;
  gobject_class->finalize = gst_gcs_frame_sink_finalize;

  const GParamFlags rw = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstGcsFrameSink:bucket:
   *
   * Name of the target bucket. Required: without it the element does not
   * start. Checked at start against GCS's bucket naming rules; the bucket must
   * exist (the element does not create it).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_BUCKET,
      g_param_spec_string("bucket", "Bucket", "Name of the target bucket (required), for example my-frames",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:object-name:
   *
   * Template of each object's name. Placeholders: `{index}` (with a width:
   * `{index:08}`), `{batch}`, `{stream}` (#GstGcsFrameSink:stream-name),
   * `{stream-id}` (the upstream stream-id of the last STREAM_START event; the
   * stream name while none came), `{run}`
   * (this run's id: its UTC start time and 16 random bits, new at each
   * READY->PAUSED), `{pts}` (ns), `{pts-ms}`, `{date}` (UTC `YYYY-MM-DD` of the
   * capture time), `{utc:STRFTIME}` (the capture time in UTC: the buffer's NTP or
   * UNIX reference timestamp, else the time the frame reached the sink), `{ext}`
   * (`jpg`, `png`, `webp`) and `{hash}` (six hex digits of a hash of the rest of
   * the name). `{{` and `}}` are literal braces; as in multifilesink, `%d` and
   * `%05d` mean the index and `%%` is a percent sign. An unknown placeholder, or
   * a first name that could never be stored, stops the start with an error.
   * An empty string restores the default, which never repeats a name across
   * runs.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_OBJECT_NAME,
      g_param_spec_string("object-name", "Object name template",
                          "Template of each object's name. Placeholders: {index} {index:08} {batch} {stream} {stream-id} {run} "
                          "{pts} {pts-ms} {date} {utc:STRFTIME} {ext} {hash}; printf %d / %05d mean {index}",
                          gcsfs::defaults::kObjectName, rw));

  /**
   * GstGcsFrameSink:stream-name:
   *
   * Value of `{stream}` in object names. Unset: the element's name.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_STREAM_NAME,
      g_param_spec_string("stream-name", "Stream name", "Value of {stream} in object names (default: the element's name)",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:index:
   *
   * Index of the first frame (`{index}`, and the `index` of the messages).
   * After a run it holds the index of the next frame, so that a later run goes
   * on instead of rewriting the same names. At most 2^63-1 at start.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_INDEX,
      g_param_spec_uint64("index", "Index", "Index of the first frame ({index} in object names); at most 2^63-1", 0, G_MAXUINT64,
                          0, rw));

  /**
   * GstGcsFrameSink:batch-size:
   *
   * Frames per batch: one `GstGcsFrameSinkBatch` message each.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint("batch-size", "Batch size", "Frames per batch (one GstGcsFrameSinkBatch message each)", 1,
                        G_MAXINT, gcsfs::defaults::kBatchSize, rw));

  /**
   * GstGcsFrameSink:batch-timeout:
   *
   * Milliseconds after its first frame a batch closes even if it holds fewer
   * than #GstGcsFrameSink:batch-size frames. 0: batches close on size only (and
   * at EOS).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_BATCH_TIMEOUT,
      g_param_spec_uint("batch-timeout", "Batch timeout",
                        "Milliseconds after its first frame a batch closes even if not full (0 = close on size only)",
                        0, G_MAXINT, gcsfs::defaults::kBatchTimeoutMs, rw));

  /**
   * GstGcsFrameSink:max-concurrency:
   *
   * Uploads of this sink in flight at once, each on an upload thread with a
   * kept-alive HTTP connection (the process's shared ones, see
   * #GstGcsFrameSink:share-uploads).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_MAX_CONCURRENCY,
      g_param_spec_uint("max-concurrency", "Maximum concurrency",
                        "Uploads of this sink in flight at once (each on an upload thread with a kept-alive "
                        "connection, shared with the process's other sinks unless share-uploads=false)", 1,
                        1024, gcsfs::defaults::kMaxConcurrency, rw));

  /**
   * GstGcsFrameSink:endpoint:
   *
   * The JSON API endpoint. Unset: `STORAGE_EMULATOR_HOST` or
   * `CLOUD_STORAGE_EMULATOR_ENDPOINT` (scheme optional, http assumed) when set,
   * with anonymous access, else `https://storage.googleapis.com`. Must be an
   * http or https URL without query, fragment or user information.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_ENDPOINT,
      g_param_spec_string("endpoint", "Endpoint",
                          "API endpoint (default https://storage.googleapis.com; when unset, STORAGE_EMULATOR_HOST "
                          "or CLOUD_STORAGE_EMULATOR_ENDPOINT selects an emulator)",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:credentials:
   *
   * Path of a service-account key or authorized-user JSON file, or
   * `anonymous`. Unset: anonymous for an emulator or a plain `http://` endpoint,
   * else Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, the
   * gcloud ADC file, the metadata server). The first token is fetched at start;
   * missing or refused credentials stop the start with an error.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_CREDENTIALS,
      g_param_spec_string("credentials", "Credentials",
                          "Path of a service-account key or authorized-user JSON file, or \"anonymous\"; unset = "
                          "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the gcloud ADC file, "
                          "the metadata server), or anonymous for an emulator or a plain http:// endpoint",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:ca-file:
   *
   * PEM file of the certificate authorities that verify the endpoint's and
   * the token servers' certificates, instead of the system's. Certificates are
   * always verified. A file without a PEM certificate stops the start.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_CA_FILE,
      g_param_spec_string("ca-file", "CA file",
                          "PEM file of the certificate authorities to verify the endpoint and token servers with "
                          "(default: the system's); certificates are always verified",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:content-type:
   *
   * Content-Type stored with each object. Unset: from the caps (for raw video,
   * from #GstGcsFrameSink:image-format).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_CONTENT_TYPE,
      g_param_spec_string("content-type", "Content type", "Content-Type of each object (default: from the caps)",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:metadata:
   *
   * Custom metadata of each object: each field of the structure (whose name is
   * ignored) becomes one key, its value as a string. For example
   * `metadata="m,camera=cam1,site=north"`.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_METADATA,
      g_param_spec_boxed("metadata", "Metadata",
                         "Custom metadata of each object, for example metadata=\"m,camera=cam1,site=north\"",
                         GST_TYPE_STRUCTURE, rw));

  /**
   * GstGcsFrameSink:extra-headers:
   *
   * Extra HTTP headers of each upload request, for example
   * `extra-headers="h,x-goog-user-project=my-project"`. `Authorization`,
   * `Content-Length`, `Content-Type`, `Host` and `Transfer-Encoding` are the
   * element's own and refused at start.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_EXTRA_HEADERS,
      g_param_spec_boxed("extra-headers", "Extra headers",
                         "Extra HTTP headers of each request, for example extra-headers=\"h,x-goog-user-project=my-project\"",
                         GST_TYPE_STRUCTURE, rw));

  /**
   * GstGcsFrameSink:post-messages:
   *
   * Also post a `GstGcsFrameSink` element message per frame, in frame order,
   * with the fields of multifilesink's message plus `uri`, `url`, `generation`,
   * `size`, `crc32c`, `attempts`, `status` and `batch`.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean("post-messages", "Post messages",
                           "Also post a GstGcsFrameSink message per frame, in frame order", DEFAULT_POST_MESSAGES,
                           (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  /**
   * GstGcsFrameSink:checksum:
   *
   * Integrity value sent with each upload and verified by the server; the
   * value the server reports is checked too.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_CHECKSUM,
      g_param_spec_enum("checksum", "Checksum", "Integrity value sent with each upload and verified by the server",
                        GST_TYPE_GCS_FRAME_SINK_CHECKSUM, DEFAULT_CHECKSUM, rw));

  /**
   * GstGcsFrameSink:if-exists:
   *
   * What an upload does when its object name is taken already: `fail` (the
   * frame fails, the object is kept), `overwrite` (the object is replaced) or
   * `skip` (uploaded when the object holds the same bytes, same size and
   * checksums, without storing them again; else failed).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_IF_EXISTS,
      g_param_spec_enum("if-exists", "If exists",
                        "When an object of the same name exists already: fail (the frame fails), overwrite, or skip "
                        "(uploaded when the object holds the same bytes, else failed)",
                        GST_TYPE_GCS_FRAME_SINK_IF_EXISTS, (gint)gcsfs::IfExists::Fail, rw));

  /**
   * GstGcsFrameSink:spool-location:
   *
   * A folder where frames that cannot be stored now are kept and uploaded from
   * later, oldest first, by a replay thread with a connection of its own: a
   * frame whose retries are spent, one whose request got no answer, one
   * #GstGcsFrameSink:leaky would drop, and every frame a stop or
   * #GstGcsFrameSink:drain-timeout cuts short. They are reported `spooled`; a
   * `GstGcsFrameSinkSpool` message says when each is stored. Frames left by an
   * earlier run are uploaded when the element starts. Unset: such frames fail
   * (or are dropped, or unconfirmed).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_SPOOL_LOCATION,
      g_param_spec_string("spool-location", "Spool location",
                          "Folder where frames that cannot be stored now (retries spent, no answer, dropped by leaky, "
                          "cut short by a stop or drain-timeout) are kept and uploaded from later, oldest first, also "
                          "after a restart (unset = no spool: such frames fail, or are dropped or unconfirmed)",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:spool-max-size:
   *
   * Bytes the spool may hold on disk. When it is full its oldest frames are
   * removed unstored, counted in `frames-evicted` and warned about at the 1st,
   * 10th, 100th...
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_SPOOL_MAX_SIZE,
      g_param_spec_uint64("spool-max-size", "Spool maximum size",
                          "Bytes the spool may hold on disk; when full, its oldest frames are removed (and warned "
                          "about)", 4096, G_MAXUINT64, gcsfs::defaults::kSpoolMaxBytes, rw));

  /**
   * GstGcsFrameSink:spool-mode:
   *
   * Which frames go to the spool: `fallback` (those listed under
   * #GstGcsFrameSink:spool-location) or `always` (write-ahead: every frame when
   * it is accepted, before its upload, its file removed once it is stored; a
   * stop or a crash loses nothing accepted).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_SPOOL_MODE,
      g_param_spec_enum("spool-mode", "Spool mode",
                        "Which frames go to the spool: fallback (those whose upload failed after their retries) or "
                        "always (every frame before its upload: a crash or a stop loses nothing accepted; a "
                        "frame's file is removed once it is stored)",
                        GST_TYPE_GCS_FRAME_SINK_SPOOL_MODE, (gint)gcsfs::SpoolMode::Fallback, rw));

  /**
   * GstGcsFrameSink:stats-interval:
   *
   * Milliseconds between `GstGcsFrameSinkStats` element messages (the
   * #GstGcsFrameSink:stats structure) while running. 0: none.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_STATS_INTERVAL,
      g_param_spec_uint("stats-interval", "Stats interval",
                        "Milliseconds between GstGcsFrameSinkStats element messages (the stats property's "
                        "fields) while running; 0 = none",
                        0, G_MAXINT, 0, rw));

  /**
   * GstGcsFrameSink:drain-timeout:
   *
   * Milliseconds EOS waits for the uploads under way. Then the frames not
   * settled are given up: kept in the spool with #GstGcsFrameSink:spool-location
   * (`spooled`), else `dropped`, or `unconfirmed` when the server already had
   * the request; their batch messages are posted, one warning counts them, and
   * EOS goes on. 0: EOS waits until every frame settles.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_DRAIN_TIMEOUT,
      g_param_spec_uint("drain-timeout", "Drain timeout",
                        "Milliseconds EOS waits for the uploads under way; then the frames not settled are given "
                        "up: kept in the spool with spool-location (spooled), else dropped, or unconfirmed when the "
                        "server already had the request; a warning counts them. 0 = wait until every frame settles",
                        0, G_MAXINT, gcsfs::defaults::kDrainTimeoutMs, rw));

  /**
   * GstGcsFrameSink:image-format:
   *
   * What raw video (`video/x-raw`) is encoded to by the upload workers (JPEG
   * with libjpeg-turbo, PNG and WebP with OpenCV); `{ext}` and the content type follow it. Encoded input is uploaded
   * as it comes.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_IMAGE_FORMAT,
      g_param_spec_enum("image-format", "Image format",
                        "What raw video (video/x-raw) is encoded to, by the upload workers (encoded input is "
                        "uploaded as it comes)",
                        GST_TYPE_GCS_FRAME_SINK_IMAGE_FORMAT, (gint)gcsfs::ImageFormat::Jpeg, rw));

  /**
   * GstGcsFrameSink:quality:
   *
   * JPEG and WebP quality of encoded raw video (PNG is lossless).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_QUALITY,
      g_param_spec_int("quality", "Quality", "JPEG and WebP quality of encoded raw video (PNG is lossless)", 1, 100,
                       gcsfs::defaults::kQuality, rw));

  /**
   * GstGcsFrameSink:leaky:
   *
   * What happens at the queue bound (#GstGcsFrameSink:max-queued-frames,
   * #GstGcsFrameSink:max-queued-bytes), as queue's leaky: `none` (render()
   * waits: backpressure), `upstream` (the incoming frame is dropped) or
   * `downstream` (the oldest frame not yet uploading is dropped). A dropped frame
   * is `dropped` in its batch message, counted in `frames-dropped` and warned
   * about at the 1st, 10th, 100th... drop. With #GstGcsFrameSink:spool-location
   * it is written to the spool instead.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_LEAKY,
      g_param_spec_enum("leaky", "Leaky",
                        "At the queue bound (max-queued-frames, max-queued-bytes): none (render() waits), upstream "
                        "(drop the incoming frame) or downstream (drop the oldest frame not yet uploading); a "
                        "dropped frame is reported dropped in its batch message and counted in frames-dropped; with "
                        "spool-location it goes to the spool instead",
                        GST_TYPE_GCS_FRAME_SINK_LEAKY, (gint)gcsfs::Leaky::None, rw));

  /**
   * GstGcsFrameSink:request-timeout:
   *
   * Milliseconds one upload attempt (or one token request) may take.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_REQUEST_TIMEOUT,
      g_param_spec_uint("request-timeout", "Request timeout",
                        "Milliseconds one upload attempt (or token request) may take", 1, G_MAXINT,
                        gcsfs::defaults::kRequestTimeoutMs, rw));

  /**
   * GstGcsFrameSink:max-retries:
   *
   * Attempts after the first for an upload that failed with 408, 429, 5xx, a
   * timeout, a connection error or no access token, with truncated exponential
   * backoff and full jitter (1 s doubling, capped at 32 s, or the server's
   * Retry-After). #GstGcsFrameSink:retry-timeout usually ends them first. 0: no
   * retries.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_MAX_RETRIES,
      g_param_spec_uint("max-retries", "Maximum retries",
                        "Attempts after the first for an upload that failed with 408, 429, 5xx, a timeout, a "
                        "connection error or no access token (exponential backoff with jitter from 1 s, capped at "
                        "32 s; 0 = no retries); retry-timeout usually ends them first",
                        0, 1000, gcsfs::defaults::kMaxRetries, rw));

  /**
   * GstGcsFrameSink:retry-timeout:
   *
   * Milliseconds after an upload's first attempt during which retries may
   * start; then the frame fails (or goes to the spool).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_RETRY_TIMEOUT,
      g_param_spec_uint("retry-timeout", "Retry timeout",
                        "Milliseconds after an upload's first attempt during which retries may start", 0, G_MAXINT,
                        gcsfs::defaults::kRetryTimeoutMs, rw));

  /**
   * GstGcsFrameSink:max-queued-frames:
   *
   * Frames accepted but not yet reported (uploading, or settled and waiting
   * for an earlier frame) before render() waits (backpressure, or
   * #GstGcsFrameSink:leaky). A waiting render() goes on once a quarter of the
   * bound has drained.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_MAX_QUEUED_FRAMES,
      g_param_spec_uint("max-queued-frames", "Maximum queued frames",
                        "Frames accepted but not yet reported (uploading, or settled behind an earlier frame) before "
                        "the streaming thread waits (backpressure, unless leaky); it goes on once a quarter of the "
                        "bound has drained", 1,
                        G_MAXINT, gcsfs::defaults::kMaxQueuedFrames, rw));

  /**
   * GstGcsFrameSink:max-queued-bytes:
   *
   * Bytes of frames accepted but not yet settled before render() waits
   * (backpressure, or #GstGcsFrameSink:leaky); a raw frame counts its raw size.
   * A waiting render() goes on once a quarter of the bound has drained.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_MAX_QUEUED_BYTES,
      g_param_spec_uint64("max-queued-bytes", "Maximum queued bytes",
                          "Bytes of frames accepted but not yet settled before the streaming thread waits "
                          "(backpressure, unless leaky); it goes on once a quarter of the bound has drained",
                          1, G_MAXUINT64, gcsfs::defaults::kMaxQueuedBytes, rw));
  /**
   * GstGcsFrameSink:manifest-location:
   *
   * A file to which one JSON line is appended per settled batch (the fields
   * of its GstGcsFrameSinkBatch message, with "message", "stream" and "run"),
   * and one per spooled frame stored later (GstGcsFrameSinkSpool's fields),
   * in the order of the bus messages, each fsynced: for programs that do not
   * read the bus, e.g. an application writing through cv2.VideoWriter, or
   * `tail -F` in a script. Existing lines are kept.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_MANIFEST_LOCATION,
      g_param_spec_string("manifest-location", "Manifest location",
                          "File to append one JSON line to per settled batch (the batch message's fields) and per "
                          "spooled frame stored later, fsynced, in bus-message order (unset = none)",
                          nullptr, rw));
  /**
   * GstGcsFrameSink:manifest-max-size:
   *
   * Bytes the manifest file may reach: before a line would take it past
   * this, the file is renamed to `<manifest-location>.1` (replacing the
   * previous one) and a new file is started, so the manifest takes at most
   * twice this on disk. 0 = never rotated.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_MANIFEST_MAX_SIZE,
      g_param_spec_uint64("manifest-max-size", "Manifest maximum size",
                          "Bytes the manifest file may reach before it is renamed to <manifest-location>.1 "
                          "(replacing the previous one) and a new one started; 0 = never",
                          0, G_MAXUINT64, gcsfs::defaults::kManifestMaxBytes, rw));
  /**
   * GstGcsFrameSink:share-uploads:
   *
   * Upload on the process's shared upload threads and connections (the
   * default): the sinks of a process take turns for at most
   * `GCSFRAMESINK_MAX_CONNECTIONS` (default 64) threads, each sink running at
   * most #GstGcsFrameSink:max-concurrency uploads at once, the sinks to one
   * endpoint reuse each other's connections, and the sinks with the same
   * credentials use one access token. FALSE gives this sink threads,
   * connections and a token of its own (at most
   * #GstGcsFrameSink:max-concurrency threads), outside that bound, for a
   * camera that must never wait for another.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_SHARE_UPLOADS,
      g_param_spec_boolean("share-uploads", "Share uploads",
                           "Upload on the process's shared threads, connections and token, taking turns with the "
                           "other sinks (at most GCSFRAMESINK_MAX_CONNECTIONS threads); FALSE = threads, connections "
                           "and token of this sink's own, outside that bound",
                           TRUE, rw));
  /**
   * GstGcsFrameSink:manifest-name:
   *
   * Template of a manifest object written to the bucket for each batch once
   * every frame of the batch is settled (after its GstGcsFrameSinkBatch
   * message): JSON with the batch's numbers, stream, stream-id and run, and
   * per frame in frame order its index, name, uri, url, status, size,
   * crc32c, md5, generation, timestamp and running time. The placeholders
   * of #GstGcsFrameSink:object-name, with `{index}` the batch's first index
   * and `{ext}` `json`, e.g. `{stream}/manifests/{run}/{batch:08}.{ext}`.
   * Uploaded by 4 threads of their own with the same retries and if-exists as
   * the frames; EOS waits for them (within #GstGcsFrameSink:drain-timeout).
   * Consumers on other machines can follow the bucket's object notifications
   * or a listing. Unset: none.
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_MANIFEST_NAME,
      g_param_spec_string("manifest-name", "Manifest object name",
                          "Template of a JSON manifest object per settled batch in the bucket (object-name's "
                          "placeholders, {ext} = json), e.g. {stream}/manifests/{run}/{batch:08}.{ext} (unset = none)",
                          nullptr, rw));

  /**
   * GstGcsFrameSink:stats:
   *
   * Counters of the current run, or of the last one once stopped, in a
   * `GstGcsFrameSinkStats` structure: frames-received, frames-uploaded,
   * frames-failed, frames-dropped, frames-spooled, frames-unconfirmed,
   * frames-replayed, frames-evicted, spool-bytes, frames-empty, frames-in-flight,
   * frames-undelivered, bytes-uploaded, bytes-queued, retries, batches-posted,
   * connections-opened, backpressure-waits, drain-waits (guint64),
   * endpoint-reachable (gboolean), endpoint-since (gint64, UNIX µs),
   * latency-mean-ms, latency-p50-ms, latency-p99-ms, render-p50-us and
   * render-p99-us (gdouble); and, as GstBaseSink's own stats property has
   * them (this one replaces it), average-rate (gdouble), dropped and rendered
   * (guint64).
   *
   * Since: 0.1
   */
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "Counters: frames-received, frames-uploaded, frames-failed, frames-dropped, frames-spooled, "
                         "frames-unconfirmed (sent, no answer: may be stored), frames-empty (zero-byte buffers "
                         "skipped), endpoint-reachable, endpoint-since, frames-replayed, frames-evicted, spool-bytes, "
                         "frames-in-flight (accepted, not settled), frames-undelivered (settled, waiting for an "
                         "earlier frame), bytes-uploaded, bytes-queued, retries, batches-posted, connections-opened, "
                         "backpressure-waits, drain-waits, manifests-uploaded, manifests-failed, latency-mean-ms, latency-p50-ms, latency-p99-ms, "
                         "render-p50-us, render-p99-us; and GstBaseSink's average-rate, dropped (late buffers "
                         "basesink skipped, sync=true) and rendered",
                         GST_TYPE_STRUCTURE, (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata(element_class, "Google Cloud Storage frame sink", "Sink/Network",
                                        "Uploads video frames (encoded images, or raw video it encodes) to "
                                        "Google Cloud Storage concurrently and posts their URLs in frame order, "
                                        "batch by batch",
                                        "gcsframesink developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);

  element_class->change_state = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_change_state);
  basesink_class->stop = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_set_caps);
  basesink_class->render = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_render);
  basesink_class->wait_event = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_wait_event);
  basesink_class->event = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_event);
  basesink_class->unlock = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_unlock);
  basesink_class->unlock_stop = GST_DEBUG_FUNCPTR(gst_gcs_frame_sink_unlock_stop);

  gst_type_mark_as_plugin_api(GST_TYPE_GCS_FRAME_SINK_CHECKSUM, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_GCS_FRAME_SINK_IF_EXISTS, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_GCS_FRAME_SINK_SPOOL_MODE, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_GCS_FRAME_SINK_IMAGE_FORMAT, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_GCS_FRAME_SINK_LEAKY, (GstPluginAPIFlags)0);
}
