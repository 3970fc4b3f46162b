// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Results of a run as bus messages and warnings: the batch and frame
// messages, the run's error, notices, the summary warning, and the stats
// structure. Adapter code: GStreamer types out, core results in.
#pragma once

#include "session.h"

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

#include <atomic>
#include <string>

/* Turns results into bus messages and warnings. Called on the uploader's
 * threads, one call at a time, in frame order. */
class SinkListener : public gcsfs::SessionListener {
 public:
  /* `stream_name`: the run's stream name, for the messages' stream-name. */
  SinkListener(GstElement *sink, bool post_frames, std::string stream_name) :
      sink_(sink), post_frames_(post_frames), stream_name_(std::move(stream_name)) {}
  void on_frame(const gcsfs::SettledFrame &f, bool warn) override;
  void on_batch(const gcsfs::SettledBatch &b) override;
  void on_fatal(const gcsfs::UploadResult &error) override;
  void on_notice(gcsfs::Notice notice, const std::string &message) override;
  void on_replayed(const gcsfs::SpoolRecord &frame, const std::string &uri, const std::string &url) override;
  void on_stats(const gcsfs::Stats &stats) override;
  void on_link(bool up, const std::string &reason) override;

  /* Posts one warning for what the per-frame warnings left out: frames
   * dropped by a shutdown, failures past the first few. */
  /* `drain_timeout_ms`: the frames it counts were given up at EOS after
   * that long (drain-timeout), not by a stop. */
  void post_summary(const gcsfs::Summary &sum, unsigned drain_timeout_ms = 0);

 private:
  /* Whether a message posted now can reach the application: the top-level
   * bin has a bus that is not flushing, and it is not a pipeline on its way
   * to NULL that will flush it (auto-flush-bus). */
  bool bus_will_be_read() const;

  GstElement *sink_;
  bool post_frames_;
  const std::string stream_name_;
  std::atomic<bool> error_posted_{false};  // the run's one fatal error is posted; later ones are only logged
};

// GstBaseSink's own counters (its stats property, which the element's replaces).
struct BaseSinkCounts {
  gdouble average_rate = 0;
  guint64 dropped = 0, rendered = 0;
};
BaseSinkCounts base_sink_counts(GstElement *sink);

// The stats property's value: the run's counters and GstBaseSink's.
GstStructure *stats_to_structure(const gcsfs::Stats &s, const BaseSinkCounts &base);
