/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The gcsframesink authors */
/* gcsframesink: uploads encoded video frames to Google Cloud Storage. */
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_GCS_FRAME_SINK (gst_gcs_frame_sink_get_type())
G_DECLARE_FINAL_TYPE(GstGcsFrameSink, gst_gcs_frame_sink, GST, GCS_FRAME_SINK, GstBaseSink)

#define GST_TYPE_GCS_FRAME_SINK_CHECKSUM (gst_gcs_frame_sink_checksum_get_type())
GType gst_gcs_frame_sink_checksum_get_type(void);
#define GST_TYPE_GCS_FRAME_SINK_IF_EXISTS (gst_gcs_frame_sink_if_exists_get_type())
GType gst_gcs_frame_sink_if_exists_get_type(void);
#define GST_TYPE_GCS_FRAME_SINK_SPOOL_MODE (gst_gcs_frame_sink_spool_mode_get_type())
GType gst_gcs_frame_sink_spool_mode_get_type(void);
#define GST_TYPE_GCS_FRAME_SINK_LEAKY (gst_gcs_frame_sink_leaky_get_type())
GType gst_gcs_frame_sink_leaky_get_type(void);
#define GST_TYPE_GCS_FRAME_SINK_IMAGE_FORMAT (gst_gcs_frame_sink_image_format_get_type())
GType gst_gcs_frame_sink_image_format_get_type(void);

GST_ELEMENT_REGISTER_DECLARE(gcsframesink);

G_END_DECLS
