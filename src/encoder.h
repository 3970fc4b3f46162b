// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Raw video frames to image files: JPEG with libjpeg-turbo (from the YUV
// planes or packed pixels as they lie), PNG and WebP with OpenCV. What the
// upload workers run for video/x-raw input, off the streaming thread.
// GStreamer-free: the adapter describes the mapped buffer's planes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gcsfs {

enum class ImageFormat { Jpeg, Png, Webp };

// The raw layouts taken, named as GStreamer's video formats.
enum class PixelFormat { BGR, RGB, BGRx, RGBx, GRAY8, I420, NV12 };

// One raw frame as it lies in memory: up to three planes, each with its own
// stride (bytes per row, padding included). Nothing is owned.
struct RawImage {
  PixelFormat format = PixelFormat::BGR;
  int width = 0, height = 0;
  const uint8_t *plane[3] = {};
  int stride[3] = {};
  // I420 and NV12: the samples span 0-255 (as a JPEG decoder's output does)
  // rather than video's 16-235 (luma) and 16-240 (chroma).
  bool full_range = false;
};

struct EncodeOptions {
  ImageFormat format = ImageFormat::Jpeg;
  int quality = 90;  // 1..100: JPEG and WebP quality; PNG is lossless (quality is ignored)
};

const char *image_extension(ImageFormat f);     // "jpg", "png", "webp"
const char *image_content_type(ImageFormat f);  // "image/jpeg", ...

// Planes a layout has (1, 2 for NV12, 3 for I420) and the bytes each needs
// at least for `width` x `height` with the given strides; false when the
// layout cannot hold such an image (odd size for I420/NV12, a stride shorter
// than a row), with why in `error`.
bool check_raw_layout(const RawImage &img, std::string *error);

// Encodes `img` into `out`. JPEG reads every layout in place, strides
// respected (NV12's chroma is split into two planes first). PNG and WebP
// read BGR and GRAY8 in place with any stride, I420 and NV12 in place when
// the planes follow each other without padding, and convert other layouts
// to BGR first. At most one encode per processor runs at a time, process-
// wide (the others wait). False, with why in `error`, when the layout is
// refused or the encoder fails.
bool encode_raw(const RawImage &img, const EncodeOptions &opt, std::vector<uint8_t> *out, std::string *error);

}  // namespace gcsfs
