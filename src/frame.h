// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// A frame on its way to the bucket, as the core sees it: bytes plus timing.
#pragma once

#include "encoder.h"
#include "status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gcsfs {

// The bytes of one frame. The adapter subclasses this to keep its own buffer
// alive (mapped) for as long as the core needs the bytes, so they are never
// copied on the way to the socket. Destroyed once the frame is settled.
struct FrameBytes {
  virtual ~FrameBytes() = default;
  const uint8_t *data = nullptr;
  size_t size = 0;
};

// Bytes the core made itself (an encoded raw frame).
struct OwnedBytes : FrameBytes {
  std::vector<uint8_t> owned;
  explicit OwnedBytes(std::vector<uint8_t> v) : owned(std::move(v))
  {
    data = owned.data();
    size = owned.size();
  }
};

struct Frame {
  std::unique_ptr<FrameBytes> bytes;
  // For raw video: the planes of the frame `bytes` holds (pointing into it).
  // A worker encodes it (UploaderConfig::encode) before its upload; then
  // `bytes` holds the image and `raw` is cleared. width 0 = already encoded.
  RawImage raw;

  // Timing, as the producer knows it (kTimeNone where unknown); reported back
  // unchanged in the settled results.
  uint64_t pts = kTimeNone;
  uint64_t duration = kTimeNone;
  uint64_t running_time = kTimeNone;
  uint64_t stream_time = kTimeNone;
  uint64_t offset = kTimeNone;
  uint64_t offset_end = kTimeNone;
  int64_t capture_unix_us = 0;  // wall-clock capture time, for {date} and {utc:...}
  // The upstream stream-id (GStreamer's STREAM_START), shared by the frames
  // of one stream; null = none known. {stream-id}, and reported back.
  std::shared_ptr<const std::string> stream_id;

  // Format of the bytes. Both point to storage that outlives the uploader
  // (string literals or the adapter's settings).
  std::string_view content_type;  // "image/jpeg"
  std::string_view ext;           // "jpg"

  // Filled in by the uploader when the frame is accepted.
  uint64_t index = 0;
  uint64_t batch = 0;
  uint64_t size = 0;  // bytes->size, kept after the bytes are released
  std::string object_name;
  uint64_t spool_seq = kTimeNone;  // the spool file holding it (spool-mode=always), kTimeNone = none
};

// Encodes a raw frame in place: `bytes` becomes the image (the raw buffer is
// released) and `raw` is cleared. False, with why, when encoding fails (the
// frame is left as it was).
inline bool encode_frame(Frame &f, const EncodeOptions &opt, std::string *why)
{
  std::vector<uint8_t> image;
  if (!encode_raw(f.raw, opt, &image, why))
    return false;
  f.bytes = std::make_unique<OwnedBytes>(std::move(image));
  f.size = f.bytes->size;
  f.raw = RawImage();
  return true;
}

}  // namespace gcsfs
