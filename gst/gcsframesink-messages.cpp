// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "gcsframesink-messages.h"

GST_DEBUG_CATEGORY_EXTERN(gst_gcs_frame_sink_debug);
#define GST_CAT_DEFAULT gst_gcs_frame_sink_debug

namespace {

guint64 to_clock_time(uint64_t v)
{
  return v == gcsfs::kTimeNone ? GST_CLOCK_TIME_NONE : v;
}

GstStructure *value_array_field(GstStructure *s, const char *name, GValue *array)
{
  gst_structure_take_value(s, name, array);
  return s;
}

}  // namespace

/* Posts the one fatal error of a run; later ones are only logged. */
void SinkListener::on_fatal(const gcsfs::UploadResult &r)
{
  GstElement *self = sink_;
  const std::string &message = r.message;
  if (error_posted_.exchange(true)) {
    GST_DEBUG_OBJECT(self, "further fatal error: %s", message.c_str());
    return;
  }
  GST_ELEMENT_ERROR_WITH_DETAILS(self, RESOURCE, WRITE, ("Cannot upload to Google Cloud Storage."),
                                 ("%s", message.c_str()),
                                 ("http-status", G_TYPE_INT, (gint)r.http_status, "reason", G_TYPE_STRING,
                                  r.reason.c_str(), NULL));
}

void SinkListener::on_frame(const gcsfs::SettledFrame &f, bool warn)
{
  const gcsfs::UploadResult &r = f.result;
  GstElement *self = sink_;
  if (r.status == gcsfs::FrameStatus::Uploaded) {
    GST_LOG_OBJECT(self, "frame %" G_GUINT64_FORMAT " stored as %s (generation %" G_GINT64_FORMAT ")",
                   f.frame.index, f.uri.c_str(), r.generation);
  } else if (r.status == gcsfs::FrameStatus::Failed) {
    if (r.fatal || r.stopped_by_fatal) {
      /* The run's error (on_fatal, after the batch messages) says it. */
      GST_INFO_OBJECT(self, "frame %" G_GUINT64_FORMAT " (%s) failed: %s", f.frame.index, f.uri.c_str(),
                      r.message.c_str());
    } else if (!warn) {  /* past the first few: in the summary */
      GST_WARNING_OBJECT(self, "frame %" G_GUINT64_FORMAT " (%s) failed: %s", f.frame.index, f.uri.c_str(),
                         r.message.c_str());
    } else {
      GST_ELEMENT_WARNING_WITH_DETAILS(
          self, RESOURCE, WRITE, ("A frame could not be uploaded."),
          ("frame %" G_GUINT64_FORMAT " (%s): %s", f.frame.index, f.uri.c_str(), r.message.c_str()),
          ("http-status", G_TYPE_INT, (gint)r.http_status, "reason", G_TYPE_STRING, r.reason.c_str(),
           "object-name", G_TYPE_STRING, f.frame.object_name.c_str(), "index", G_TYPE_UINT64,
           (guint64)f.frame.index, NULL));
    }
  } else if (r.status == gcsfs::FrameStatus::Unconfirmed) {
    if (!warn) {  /* cut short by a stop (in the summary), or past the first few */
      GST_WARNING_OBJECT(self, "frame %" G_GUINT64_FORMAT " (%s) unconfirmed: %s", f.frame.index, f.uri.c_str(),
                         r.message.c_str());
    } else {
      GST_ELEMENT_WARNING_WITH_DETAILS(
          self, RESOURCE, WRITE, ("A frame may or may not have been uploaded: its answer never came."),
          ("frame %" G_GUINT64_FORMAT " (%s): %s", f.frame.index, f.uri.c_str(), r.message.c_str()),
          ("reason", G_TYPE_STRING, r.reason.c_str(), "object-name", G_TYPE_STRING, f.frame.object_name.c_str(),
           "index", G_TYPE_UINT64, (guint64)f.frame.index, NULL));
    }
  } else if (r.status == gcsfs::FrameStatus::Dropped) {
    GST_INFO_OBJECT(self, "frame %" G_GUINT64_FORMAT " dropped: %s", f.frame.index, r.message.c_str());
  }
  if (!post_frames_)
    return;
  const gcsfs::Frame &fr = f.frame;
  GstStructure *s = gst_structure_new(
      "GstGcsFrameSink", "filename", G_TYPE_STRING, fr.object_name.c_str(), "index", G_TYPE_UINT64,
      (guint64)fr.index, "timestamp", G_TYPE_UINT64, to_clock_time(fr.pts), "stream-time", G_TYPE_UINT64,
      to_clock_time(fr.stream_time), "running-time", G_TYPE_UINT64, to_clock_time(fr.running_time),
      "duration", G_TYPE_UINT64, to_clock_time(fr.duration), "offset", G_TYPE_UINT64,
      to_clock_time(fr.offset), "offset-end", G_TYPE_UINT64, to_clock_time(fr.offset_end), "uri",
      G_TYPE_STRING, f.uri.c_str(), "url", G_TYPE_STRING, f.url.c_str(), "generation", G_TYPE_INT64,
      (gint64)r.generation, "size", G_TYPE_UINT64, (guint64)fr.size, "crc32c", G_TYPE_STRING,
      r.crc32c.c_str(), "attempts", G_TYPE_UINT, r.attempts, "status", G_TYPE_STRING,
      gcsfs::frame_status_name(r.status), "batch", G_TYPE_UINT64, (guint64)fr.batch, "stream-name", G_TYPE_STRING,
      stream_name_.c_str(), "stream-id", G_TYPE_STRING, fr.stream_id ? fr.stream_id->c_str() : "", NULL);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

void SinkListener::on_batch(const gcsfs::SettledBatch &b)
{
  GValue uris = G_VALUE_INIT, urls = G_VALUE_INIT, names = G_VALUE_INIT, pts = G_VALUE_INIT,
         rts = G_VALUE_INIT, status = G_VALUE_INIT;
  for (GValue *a : {&uris, &urls, &names, &pts, &rts, &status})
    g_value_init(a, GST_TYPE_ARRAY);
  for (const gcsfs::SettledFrame &f : b.frames) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, f.uri.c_str());
    gst_value_array_append_value(&uris, &v);
    g_value_set_string(&v, f.url.c_str());
    gst_value_array_append_value(&urls, &v);
    g_value_set_string(&v, f.frame.object_name.c_str());
    gst_value_array_append_value(&names, &v);
    g_value_set_static_string(&v, gcsfs::frame_status_name(f.result.status));
    gst_value_array_append_value(&status, &v);
    g_value_unset(&v);
    g_value_init(&v, G_TYPE_UINT64);
    g_value_set_uint64(&v, to_clock_time(f.frame.pts));
    gst_value_array_append_value(&pts, &v);
    g_value_set_uint64(&v, to_clock_time(f.frame.running_time));
    gst_value_array_append_value(&rts, &v);
    g_value_unset(&v);
  }
  GstStructure *s = gst_structure_new("GstGcsFrameSinkBatch", "batch", G_TYPE_UINT64, (guint64)b.batch,
                                      "first-index", G_TYPE_UINT64, (guint64)b.first_index, "count",
                                      G_TYPE_UINT, (guint)b.frames.size(), NULL);
  value_array_field(s, "uris", &uris);
  value_array_field(s, "urls", &urls);
  value_array_field(s, "object-names", &names);
  value_array_field(s, "timestamps", &pts);
  value_array_field(s, "running-times", &rts);
  value_array_field(s, "status", &status);
  const gcsfs::Frame *first = b.frames.empty() ? nullptr : &b.frames.front().frame;
  gst_structure_set(s, "uploaded", G_TYPE_UINT, b.uploaded, "failed", G_TYPE_UINT, b.failed, "upload-time",
                    G_TYPE_UINT64, (guint64)b.upload_time_ns, "stream-name", G_TYPE_STRING, stream_name_.c_str(),
                    "stream-id", G_TYPE_STRING, first && first->stream_id ? first->stream_id->c_str() : "", NULL);
  GST_DEBUG_OBJECT(sink_, "batch %" G_GUINT64_FORMAT " settled: %u uploaded, %u failed, %zu frames",
                   b.batch, b.uploaded, b.failed, b.frames.size());
  gst_element_post_message(GST_ELEMENT(sink_), gst_message_new_element(GST_OBJECT(sink_), s));
}

void SinkListener::on_notice(gcsfs::Notice notice, const std::string &message)
{
  switch (notice) {
    case gcsfs::Notice::TokenUnavailable:
      GST_ELEMENT_WARNING(sink_, RESOURCE, NOT_AUTHORIZED,
                          ("No access token yet: the token server is unavailable."), ("%s", message.c_str()));
      break;
    case gcsfs::Notice::TokenRefreshFailed:
      GST_ELEMENT_WARNING(sink_, RESOURCE, NOT_AUTHORIZED,
                          ("Refreshing the access token failed; the current token is still used."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::SpoolEvictedEach:
      GST_WARNING_OBJECT(sink_, "%s", message.c_str());
      break;
    case gcsfs::Notice::SpoolEvicted:
      GST_ELEMENT_WARNING(sink_, RESOURCE, NO_SPACE_LEFT, ("The spool is full: frames were lost."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::QueueFullDrops:
      GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("Frames were dropped: the upload queue is full."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::QueueFullSpooled:
      GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("Frames went to the spool: the upload queue is full."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::SpoolWriteFailed:
      GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("A frame could not be written to the spool."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::SpoolCorrupt:
      GST_ELEMENT_WARNING(sink_, RESOURCE, READ, ("A spool file is damaged: skipped."), ("%s", message.c_str()));
      break;
    case gcsfs::Notice::ReplayFailed:
      GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("A spooled frame could not be uploaded."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::ManifestWriteFailed:
      GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("A line could not be written to the manifest."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::ManifestUploadFailed:
      GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("A manifest object could not be stored."),
                          ("%s", message.c_str()));
      break;
    case gcsfs::Notice::EmptyBuffers:
      GST_ELEMENT_WARNING(sink_, STREAM, FORMAT, ("Skipped an empty buffer: a frame with no bytes is not stored."),
                          ("%s", message.c_str()));
      break;
  }
}

void SinkListener::post_summary(const gcsfs::Summary &sum, unsigned drain_timeout_ms)
{
  const guint64 dropped = sum.dropped, unconfirmed = sum.unconfirmed_at_stop, spooled = sum.spooled_at_stop;
  if (dropped > 0 || unconfirmed > 0 || spooled > 0) {
    std::string what;
    auto add = [&what](guint64 n, const std::string &text) {
      if (n > 0)
        what += std::string(what.empty() ? "" : ", ") + std::to_string(n) + " frames " + text;
    };
    add(dropped, "were dropped");
    add(unconfirmed, "are unconfirmed (sent in full with no answer yet: the objects may exist)");
    add(spooled, "were kept in the spool, to be uploaded from there (at the next start, after a stop)");
    const std::string why =
        drain_timeout_ms > 0
            ? "because drain-timeout=" + std::to_string(drain_timeout_ms) + " ms passed at EOS before their uploads "
              "finished"
            : "because the element stopped before their uploads finished; send EOS before stopping "
              "(gst-launch-1.0 -e) and let it finish to upload every frame";
    gchar *text = g_strdup_printf("%s %s", what.c_str(), why.c_str());
    GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("Some frames were not uploaded."), ("%s", text));
    /* gst-launch-1.0 stopped by Ctrl-C without -e, like any application
     * taking its pipeline straight to NULL, never reads it: the pipeline
     * flushes its bus at READY->NULL. Say it where its user looks then. */
    if (!bus_will_be_read())
      g_message("%s: %s", GST_OBJECT_NAME(sink_), text);
    g_free(text);
  }
  if (sum.unwarned > 0)
    GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("Some frames could not be uploaded."),
                        ("%" G_GUINT64_FORMAT " frames failed or were unconfirmed in all, %" G_GUINT64_FORMAT
                         " more than the warnings posted; see the batch messages' status and GST_DEBUG=gcsframesink:4",
                         sum.failed, sum.unwarned));
}

bool SinkListener::bus_will_be_read() const
{
  GstObject *top = GST_OBJECT(gst_object_ref(sink_));
  while (GstObject *parent = gst_object_get_parent(top)) {
    gst_object_unref(top);
    top = parent;
  }
  bool read = true;
  if (GstBus *bus = gst_element_get_bus(GST_ELEMENT(top))) {
    GST_OBJECT_LOCK(bus);
    read = !GST_OBJECT_FLAG_IS_SET(bus, GST_BUS_FLUSHING);
    GST_OBJECT_UNLOCK(bus);
    gst_object_unref(bus);
  } else {
    read = false;
  }
  if (read && GST_IS_PIPELINE(top) && gst_pipeline_get_auto_flush_bus(GST_PIPELINE(top))) {
    GST_OBJECT_LOCK(top);
    read = GST_STATE_TARGET(top) != GST_STATE_NULL;
    GST_OBJECT_UNLOCK(top);
  }
  gst_object_unref(top);
  return read;
}

/* A spooled frame is stored now: its index, name, uri and url. */
void SinkListener::on_replayed(const gcsfs::SpoolRecord &r, const std::string &uri, const std::string &url)
{
  GST_INFO_OBJECT(sink_, "spooled frame %" G_GUINT64_FORMAT " stored as %s", r.index, uri.c_str());
  GstStructure *s = gst_structure_new(
      "GstGcsFrameSinkSpool", "index", G_TYPE_UINT64, (guint64)r.index, "batch", G_TYPE_UINT64, (guint64)r.batch,
      "filename", G_TYPE_STRING, r.object_name.c_str(), "uri", G_TYPE_STRING, uri.c_str(), "url", G_TYPE_STRING,
      url.c_str(), "run", G_TYPE_STRING, r.run.c_str(), "timestamp", G_TYPE_UINT64, to_clock_time(r.pts),
      "status", G_TYPE_STRING, "uploaded", "stream-name", G_TYPE_STRING, stream_name_.c_str(), NULL);
  gst_element_post_message(sink_, gst_message_new_element(GST_OBJECT(sink_), s));
}

/* The endpoint stopped answering, or answers again: a GstGcsFrameSinkLink
 * message each time, and one warning when it goes down (not one per frame). */
void SinkListener::on_link(bool up, const std::string &reason)
{
  if (!up)
    GST_ELEMENT_WARNING(sink_, RESOURCE, WRITE, ("Uploads are failing: the endpoint is unreachable or failing."),
                        ("%s; frames go on being retried%s", reason.c_str(),
                         " (and spooled when spool-location is set); a GstGcsFrameSinkLink message says when "
                         "uploads succeed again"));
  else
    GST_INFO_OBJECT(sink_, "%s", reason.c_str());
  gst_element_post_message(
      sink_, gst_message_new_element(GST_OBJECT(sink_),
                                     gst_structure_new("GstGcsFrameSinkLink", "reachable", G_TYPE_BOOLEAN, up,
                                                       "since", G_TYPE_INT64, (gint64)g_get_real_time(), "reason",
                                                       G_TYPE_STRING, reason.c_str(), NULL)));
}

/* stats-interval: the stats property's structure as an element message. */
void SinkListener::on_stats(const gcsfs::Stats &stats)
{
  gst_element_post_message(sink_, gst_message_new_element(GST_OBJECT(sink_), stats_to_structure(stats, base_sink_counts(sink_))));
}

BaseSinkCounts base_sink_counts(GstElement *sink)
{
  BaseSinkCounts c;
  GstStructure *base = gst_base_sink_get_stats(GST_BASE_SINK(sink));
  gst_structure_get(base, "average-rate", G_TYPE_DOUBLE, &c.average_rate, "dropped", G_TYPE_UINT64, &c.dropped,
                    "rendered", G_TYPE_UINT64, &c.rendered, NULL);
  gst_structure_free(base);
  return c;
}

GstStructure *stats_to_structure(const gcsfs::Stats &s, const BaseSinkCounts &base)
{
  return gst_structure_new(
      "GstGcsFrameSinkStats", "average-rate", G_TYPE_DOUBLE, base.average_rate, "dropped", G_TYPE_UINT64,
      base.dropped, "rendered", G_TYPE_UINT64, base.rendered,
      "frames-received", G_TYPE_UINT64, (guint64)s.frames_received, "frames-uploaded",
      G_TYPE_UINT64, (guint64)s.frames_uploaded, "frames-failed", G_TYPE_UINT64, (guint64)s.frames_failed,
      "frames-dropped", G_TYPE_UINT64, (guint64)s.frames_dropped, "frames-spooled", G_TYPE_UINT64,
      (guint64)s.frames_spooled, "frames-unconfirmed", G_TYPE_UINT64, (guint64)s.frames_unconfirmed, "frames-empty", G_TYPE_UINT64, (guint64)s.frames_empty, "endpoint-reachable", G_TYPE_BOOLEAN,
      (gboolean)s.endpoint_reachable, "endpoint-since", G_TYPE_INT64, (gint64)s.endpoint_since_unix_us, "frames-replayed", G_TYPE_UINT64,
      (guint64)s.frames_replayed, "frames-evicted", G_TYPE_UINT64, (guint64)s.frames_evicted, "spool-bytes",
      G_TYPE_UINT64, (guint64)s.spool_bytes, "frames-in-flight", G_TYPE_UINT64, (guint64)s.frames_in_flight,
      "frames-undelivered", G_TYPE_UINT64, (guint64)s.frames_undelivered,
      "bytes-uploaded", G_TYPE_UINT64, (guint64)s.bytes_uploaded, "bytes-queued", G_TYPE_UINT64,
      (guint64)s.bytes_queued, "retries", G_TYPE_UINT64, (guint64)s.retries, "batches-posted", G_TYPE_UINT64,
      (guint64)s.batches_posted, "connections-opened", G_TYPE_UINT64, (guint64)s.connections_opened,
      "connections-open", G_TYPE_UINT64, (guint64)s.connections_open, "upload-threads", G_TYPE_UINT64,
      (guint64)s.upload_threads, "upload-threads-peak", G_TYPE_UINT64, (guint64)s.upload_threads_peak,
      "backpressure-waits", G_TYPE_UINT64, (guint64)s.backpressure_waits, "drain-waits", G_TYPE_UINT64,
      (guint64)s.drain_waits, "manifests-uploaded", G_TYPE_UINT64, (guint64)s.manifests_uploaded,
      "manifests-failed", G_TYPE_UINT64, (guint64)s.manifests_failed, "latency-mean-ms", G_TYPE_DOUBLE,
      s.latency_mean_ms, "latency-p50-ms", G_TYPE_DOUBLE, s.latency_p50_ms, "latency-p99-ms", G_TYPE_DOUBLE,
      s.latency_p99_ms, "render-p50-us", G_TYPE_DOUBLE, s.render_p50_us, "render-p99-us", G_TYPE_DOUBLE,
      s.render_p99_us, NULL);
}

