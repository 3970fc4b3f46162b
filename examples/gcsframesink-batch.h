/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The gcsframesink authors */
/* gcsframesink-batch.h: gcsframesink's bus messages as plain C++ structs.
 *
 * A header-only helper for C++ applications embedding gcsframesink. The sink
 * posts one GstGcsFrameSinkBatch element message per batch, in batch order,
 * with GstValueArray fields (uris, urls, object-names, timestamps,
 * running-times, status) in frame order. gcsframes::BatchReader turns it into
 * a gcsframes::Batch holding one gcsframes::Frame per frame:
 *
 *   gcsframes::BatchReader reader;
 *   // for every message popped from the pipeline's bus (any thread, any type):
 *   if (std::optional<gcsframes::Batch> b = reader.read(msg))
 *     for (const gcsframes::Frame &f : b->frames)
 *       std::printf("%" G_GUINT64_FORMAT " %s %s\n", f.index, f.status.c_str(), f.url.c_str());
 *
 * With the sink's post-messages=true it also posts one GstGcsFrameSink
 * message per frame, before its batch's message; the reader keeps their
 * size, generation, crc32c and attempts and fills them in when the batch
 * arrives (otherwise Frame::size and Frame::generation stay empty).
 *
 * Needs only gstreamer-1.0 and C++17. read() throws std::runtime_error for a
 * GstGcsFrameSinkBatch message without the fields the element posts (a
 * message from another element of that name, or from an incompatible version).
 */
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gcsframes {

/* One frame of a batch. */
struct Frame {
  uint64_t index = 0;          // the frame's index (the sink's index property counts from it)
  std::string name;            // object name
  std::string uri;             // gs://bucket/object
  std::string url;             // <endpoint>/<bucket>/<percent-encoded object>
  std::string status;          // uploaded, failed, dropped, spooled or unconfirmed
  GstClockTime pts = GST_CLOCK_TIME_NONE;           // buffer PTS
  GstClockTime running_time = GST_CLOCK_TIME_NONE;  // running time
  // From the frame's GstGcsFrameSink message (post-messages=true) only:
  std::optional<uint64_t> size;       // bytes stored (the encoded image for raw video)
  std::optional<int64_t> generation;  // the object's generation
  std::string crc32c;                 // base64 CRC32C the server confirmed
  unsigned attempts = 0;              // upload attempts

  bool uploaded() const { return status == "uploaded"; }
};

/* One GstGcsFrameSinkBatch message. */
struct Batch {
  std::string sink;           // name of the gcsframesink that posted it
  uint64_t number = 0;        // batch number, from 0 for each sink
  uint64_t first_index = 0;   // index of frames[0]
  unsigned uploaded = 0;      // frames with status uploaded
  unsigned failed = 0;        // frames with status failed
  GstClockTime upload_time = 0;  // first frame in to the batch settled (ns)
  std::vector<Frame> frames;  // in frame order: frames[i].index == first_index + i
};

namespace detail {

inline std::vector<const GValue *> array_field(const GstStructure *s, const char *field)
{
  const GValue *a = gst_structure_get_value(s, field);
  if (!a || !GST_VALUE_HOLDS_ARRAY(a))
    throw std::runtime_error(std::string("GstGcsFrameSinkBatch without the array field ") + field);
  std::vector<const GValue *> values;
  for (guint i = 0; i < gst_value_array_get_size(a); i++)
    values.push_back(gst_value_array_get_value(a, i));
  return values;
}

inline std::string string_value(const GValue *v)
{
  const gchar *s = G_VALUE_HOLDS_STRING(v) ? g_value_get_string(v) : nullptr;
  return s ? s : "";
}

inline GstClockTime time_value(const GValue *v)
{
  return G_VALUE_HOLDS_UINT64(v) ? g_value_get_uint64(v) : GST_CLOCK_TIME_NONE;
}

}  // namespace detail

/* Parses a GstGcsFrameSinkBatch message on its own (without the per-frame
 * details of post-messages=true); std::nullopt for any other message. */
inline std::optional<Batch> parse_batch(GstMessage *msg)
{
  if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ELEMENT)
    return std::nullopt;
  const GstStructure *s = gst_message_get_structure(msg);
  if (!s || !gst_structure_has_name(s, "GstGcsFrameSinkBatch"))
    return std::nullopt;
  Batch b;
  b.sink = GST_MESSAGE_SRC(msg) ? GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)) : "";
  guint count = 0;
  guint64 upload_time = 0;
  if (!gst_structure_get_uint64(s, "batch", &b.number) ||
      !gst_structure_get_uint64(s, "first-index", &b.first_index) || !gst_structure_get_uint(s, "count", &count) ||
      !gst_structure_get_uint(s, "uploaded", &b.uploaded) || !gst_structure_get_uint(s, "failed", &b.failed) ||
      !gst_structure_get_uint64(s, "upload-time", &upload_time))
    throw std::runtime_error("GstGcsFrameSinkBatch without batch, first-index, count, uploaded, failed or upload-time");
  b.upload_time = upload_time;
  const auto uris = detail::array_field(s, "uris"), urls = detail::array_field(s, "urls"),
             names = detail::array_field(s, "object-names"), status = detail::array_field(s, "status"),
             pts = detail::array_field(s, "timestamps"), rts = detail::array_field(s, "running-times");
  for (const auto *a : {&uris, &urls, &names, &status, &pts, &rts})
    if (a->size() != count)
      throw std::runtime_error("GstGcsFrameSinkBatch " + std::to_string(b.number) + ": an array field has " +
                               std::to_string(a->size()) + " values for " + std::to_string(count) + " frames");
  for (guint i = 0; i < count; i++) {
    Frame f;
    f.index = b.first_index + i;
    f.name = detail::string_value(names[i]);
    f.uri = detail::string_value(uris[i]);
    f.url = detail::string_value(urls[i]);
    f.status = detail::string_value(status[i]);
    f.pts = detail::time_value(pts[i]);
    f.running_time = detail::time_value(rts[i]);
    b.frames.push_back(std::move(f));
  }
  return b;
}

/* Reads every message of a bus and returns each batch when its message comes,
 * with the per-frame details of post-messages=true filled in. One reader
 * serves any number of sinks (details are kept per sink and index). Not
 * thread-safe: feed it from one thread. */
class BatchReader {
 public:
  std::optional<Batch> read(GstMessage *msg)
  {
    if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ELEMENT)
      return std::nullopt;
    const GstStructure *s = gst_message_get_structure(msg);
    if (s && gst_structure_has_name(s, "GstGcsFrameSink")) {
      keep_details(msg, s);
      return std::nullopt;
    }
    std::optional<Batch> b = parse_batch(msg);
    if (!b)
      return b;
    for (Frame &f : b->frames) {
      auto it = details_.find({b->sink, f.index});
      if (it == details_.end())
        continue;
      f.size = it->second.size;
      f.generation = it->second.generation;
      f.crc32c = std::move(it->second.crc32c);
      f.attempts = it->second.attempts;
      details_.erase(it);
    }
    return b;
  }

 private:
  struct Details {
    uint64_t size = 0;
    int64_t generation = 0;
    std::string crc32c;
    unsigned attempts = 0;
  };

  void keep_details(GstMessage *msg, const GstStructure *s)
  {
    guint64 index = 0;
    if (!gst_structure_get_uint64(s, "index", &index))
      return;
    Details d;
    guint64 size = 0;
    gint64 generation = 0;
    gst_structure_get_uint64(s, "size", &size);
    gst_structure_get_int64(s, "generation", &generation);
    gst_structure_get_uint(s, "attempts", &d.attempts);
    d.size = size;
    d.generation = generation;
    if (const gchar *c = gst_structure_get_string(s, "crc32c"))
      d.crc32c = c;
    std::string sink = GST_MESSAGE_SRC(msg) ? GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)) : "";
    details_[{std::move(sink), index}] = std::move(d);
  }

  std::map<std::pair<std::string, uint64_t>, Details> details_;
};

}  // namespace gcsframes
