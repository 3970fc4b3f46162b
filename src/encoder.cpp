// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "encoder.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <turbojpeg.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <cstring>
#include <type_traits>

namespace gcsfs {

const char *image_extension(ImageFormat f)
{
  switch (f) {
    case ImageFormat::Jpeg: return "jpg";
    case ImageFormat::Png: return "png";
    case ImageFormat::Webp: return "webp";
  }
  return "jpg";
}

const char *image_content_type(ImageFormat f)
{
  switch (f) {
    case ImageFormat::Jpeg: return "image/jpeg";
    case ImageFormat::Png: return "image/png";
    case ImageFormat::Webp: return "image/webp";
  }
  return "image/jpeg";
}

namespace {

int bytes_per_pixel(PixelFormat f)
{
  switch (f) {
    case PixelFormat::BGR:
    case PixelFormat::RGB: return 3;
    case PixelFormat::BGRx:
    case PixelFormat::RGBx: return 4;
    default: return 1;  // GRAY8, and the luma plane of I420 and NV12
  }
}

bool is_yuv(PixelFormat f)
{
  return f == PixelFormat::I420 || f == PixelFormat::NV12;
}

// A Mat over one plane, in place: rows of `row_bytes`, `stride` apart.
cv::Mat wrap(const uint8_t *data, int rows, int cols, int type, int stride)
{
  return cv::Mat(rows, cols, type, const_cast<uint8_t *>(data), size_t(stride));
}

// The planes of an I420 or NV12 frame as the single (height * 3/2) x width
// image OpenCV's conversions read: in place when they already lie that way,
// else copied row by row into `scratch`.
cv::Mat yuv_as_one_image(const RawImage &img, cv::Mat &scratch)
{
  const int w = img.width, h = img.height;
  const bool nv12 = img.format == PixelFormat::NV12;
  const int chroma_rows = h / 2;
  const int chroma_row_bytes = nv12 ? w : w / 2;
  const int planes = nv12 ? 2 : 3;
  bool contiguous = img.stride[0] == w && img.plane[1] == img.plane[0] + size_t(w) * h;
  for (int p = 1; p < planes && contiguous; p++)
    contiguous = img.stride[p] == chroma_row_bytes;
  if (contiguous && !nv12)
    contiguous = img.plane[2] == img.plane[1] + size_t(chroma_row_bytes) * chroma_rows;
  if (contiguous)
    return wrap(img.plane[0], h + h / 2, w, CV_8UC1, w);
  scratch.create(h + h / 2, w, CV_8UC1);
  uint8_t *dst = scratch.data;
  for (int y = 0; y < h; y++, dst += w)
    std::memcpy(dst, img.plane[0] + size_t(y) * img.stride[0], w);
  for (int p = 1; p < planes; p++)
    for (int y = 0; y < chroma_rows; y++, dst += chroma_row_bytes)
      std::memcpy(dst, img.plane[p] + size_t(y) * img.stride[p], chroma_row_bytes);
  return scratch;
}

// At most one encode per processor runs at once, process-wide, whatever the
// number of upload workers (max-concurrency) and sinks: more would only
// share the same cores, each encode's buffers evicting the others' from the
// caches (16 concurrent 720p encodes on 2 cores took twice the CPU per frame
// of 2). Workers past the limit wait here; their uploads are not held up.
class EncodeSlots {
 public:
  EncodeSlots() : free_(std::max(1u, std::thread::hardware_concurrency())) {}
  void acquire()
  {
    std::unique_lock<std::mutex> lk(mutex_);
    cv_.wait(lk, [this] { return free_ > 0; });
    free_--;
  }
  void release()
  {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      free_++;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mutex_;  // a leaf lock
  std::condition_variable cv_;
  unsigned free_;
};

EncodeSlots &encode_slots()
{
  static EncodeSlots slots;  // never destroyed before a worker's last encode: workers end with their sink
  return slots;
}

struct SlotHeld {
  SlotHeld() { encode_slots().acquire(); }
  ~SlotHeld() { encode_slots().release(); }
  SlotHeld(const SlotHeld &) = delete;
  SlotHeld &operator=(const SlotHeld &) = delete;
};

// One TurboJPEG compressor per thread (a worker encodes one frame at a
// time), freed when the thread ends.
tjhandle jpeg_compressor()
{
  struct Handle {
    tjhandle h = tjInitCompress();
    ~Handle()
    {
      if (h)
        tjDestroy(h);
    }
  };
  thread_local Handle handle;
  return handle.h;
}

// JPEG straight from the raw layout with libjpeg-turbo: I420 and NV12 as
// YUV planes (no conversion to RGB and back, as jpegenc does), packed RGB
// and gray as they lie, strides respected. Chroma 4:2:0, as jpegenc's.
// Video range (luma 16-235, chroma 16-240 around 128) to the full range
// JPEG (JFIF) samples use, one table per kind of plane.
struct RangeTables {
  uint8_t luma[256], chroma[256];
  RangeTables()
  {
    for (int v = 0; v < 256; v++) {
      luma[v] = uint8_t(std::clamp((v - 16) * 255 / 219.0 + 0.5, 0.0, 255.0));
      chroma[v] = uint8_t(std::clamp((v - 128) * 255 / 224.0 + 128.5, 0.0, 255.0));
    }
  }
};

// `rows` rows of `cols` samples from `src` (`stride` apart) into `dst`
// (packed), each through `table`.
void map_plane(const uint8_t *src, int stride, int cols, int rows, const uint8_t *table, uint8_t *dst)
{
  for (int y = 0; y < rows; y++) {
    const uint8_t *s = src + size_t(y) * stride;
    uint8_t *d = dst + size_t(y) * cols;
    for (int x = 0; x < cols; x++)
      d[x] = table[s[x]];
  }
}

bool encode_jpeg(const RawImage &img, int quality, std::vector<uint8_t> *out, std::string *error)
{
  tjhandle tj = jpeg_compressor();
  if (!tj) {
    *error = std::string("libjpeg-turbo: ") + tjGetErrorStr2(nullptr);
    return false;
  }
  const int w = img.width, h = img.height;
  unsigned char *jpeg = nullptr;
  unsigned long size = 0;
  int rc;
  if (img.format == PixelFormat::I420 || img.format == PixelFormat::NV12) {
    // JPEG's samples are full range: video-range planes are stretched
    // first (one table lookup per sample, into planes of our own), as a
    // decoder would otherwise show black as dark grey and white as light grey.
    static const RangeTables ranges;
    static const auto identity = [] {
      std::array<uint8_t, 256> t{};
      for (int v = 0; v < 256; v++)
        t[v] = uint8_t(v);
      return t;
    }();
    const uint8_t *luma = img.full_range ? identity.data() : ranges.luma;
    const uint8_t *chroma = img.full_range ? identity.data() : ranges.chroma;
    const unsigned char *planes[3] = {img.plane[0], img.plane[1], img.plane[2]};
    int strides[3] = {img.stride[0], img.stride[1], img.stride[2]};
    const int cw = w / 2, ch = h / 2;
    std::vector<uint8_t> own;  // stretched planes, or NV12's chroma split into U and V
    if (!img.full_range) {
      own.resize(size_t(w) * h + size_t(cw) * ch * 2);
      map_plane(img.plane[0], img.stride[0], w, h, luma, own.data());
      planes[0] = own.data();
      strides[0] = w;
    } else if (img.format == PixelFormat::NV12) {
      own.resize(size_t(w) * h + size_t(cw) * ch * 2);  // the luma part stays unused
    }
    uint8_t *u = nullptr, *v = nullptr;  // only where `own` holds the chroma planes
    if (!own.empty()) {
      u = own.data() + size_t(w) * h;
      v = u + size_t(cw) * ch;
    }
    if (img.format == PixelFormat::NV12) {
      for (int y = 0; y < ch; y++) {
        const uint8_t *row = img.plane[1] + size_t(y) * img.stride[1];
        for (int x = 0; x < cw; x++) {
          u[size_t(y) * cw + x] = chroma[row[2 * x]];
          v[size_t(y) * cw + x] = chroma[row[2 * x + 1]];
        }
      }
    } else if (!img.full_range) {
      map_plane(img.plane[1], img.stride[1], cw, ch, chroma, u);
      map_plane(img.plane[2], img.stride[2], cw, ch, chroma, v);
    }
    if (img.format == PixelFormat::NV12 || !img.full_range) {
      planes[1] = u;
      planes[2] = v;
      strides[1] = strides[2] = cw;
    }
    rc = tjCompressFromYUVPlanes(tj, planes, w, strides, h, TJSAMP_420, &jpeg, &size, quality, 0);
  } else {
    int pf = TJPF_BGR, samp = TJSAMP_420;
    switch (img.format) {
      case PixelFormat::BGR: pf = TJPF_BGR; break;
      case PixelFormat::RGB: pf = TJPF_RGB; break;
      case PixelFormat::BGRx: pf = TJPF_BGRX; break;
      case PixelFormat::RGBx: pf = TJPF_RGBX; break;
      default: pf = TJPF_GRAY; samp = TJSAMP_GRAY; break;
    }
    rc = tjCompress2(tj, img.plane[0], w, img.stride[0], h, pf, &jpeg, &size, samp, quality, 0);
  }
  std::unique_ptr<unsigned char, void (*)(unsigned char *)> held(jpeg, tjFree);  // freed on every path
  if (rc != 0) {
    *error = std::string("libjpeg-turbo: ") + tjGetErrorStr2(tj);
    return false;
  }
  out->assign(jpeg, jpeg + size);
  return true;
}

}  // namespace

bool check_raw_layout(const RawImage &img, std::string *error)
{
  if (img.width <= 0 || img.height <= 0) {
    *error = "the frame has no size (" + std::to_string(img.width) + "x" + std::to_string(img.height) + ")";
    return false;
  }
  if (is_yuv(img.format) && (img.width % 2 || img.height % 2)) {
    *error = "I420 and NV12 frames must have an even width and height (this one is " + std::to_string(img.width) +
             "x" + std::to_string(img.height) + "): scale or crop upstream, or convert to BGR";
    return false;
  }
  const int planes = img.format == PixelFormat::I420 ? 3 : img.format == PixelFormat::NV12 ? 2 : 1;
  for (int p = 0; p < planes; p++) {
    const int row = p == 0 ? img.width * bytes_per_pixel(img.format)
                           : img.format == PixelFormat::NV12 ? img.width : img.width / 2;
    if (!img.plane[p] || img.stride[p] < row) {
      *error = "plane " + std::to_string(p) + " has a stride of " + std::to_string(img.stride[p]) +
               " bytes, shorter than a row (" + std::to_string(row) + " bytes)";
      return false;
    }
  }
  return true;
}

bool encode_raw(const RawImage &img, const EncodeOptions &opt, std::vector<uint8_t> *out, std::string *error)
{
  if (!check_raw_layout(img, error))
    return false;
  const int w = img.width, h = img.height;
  SlotHeld slot;
  if (opt.format == ImageFormat::Jpeg) {
    try {
      return encode_jpeg(img, std::clamp(opt.quality, 1, 100), out, error);
    } catch (const std::bad_alloc &) {
      *error = "out of memory while encoding a " + std::to_string(w) + "x" + std::to_string(h) + " frame";
      return false;
    }
  }
  cv::Mat src, converted, scratch;
  try {
    switch (img.format) {
      case PixelFormat::BGR: src = wrap(img.plane[0], h, w, CV_8UC3, img.stride[0]); break;
      case PixelFormat::GRAY8: src = wrap(img.plane[0], h, w, CV_8UC1, img.stride[0]); break;
      case PixelFormat::RGB:
        cv::cvtColor(wrap(img.plane[0], h, w, CV_8UC3, img.stride[0]), converted, cv::COLOR_RGB2BGR);
        src = converted;
        break;
      case PixelFormat::BGRx:
        cv::cvtColor(wrap(img.plane[0], h, w, CV_8UC4, img.stride[0]), converted, cv::COLOR_BGRA2BGR);
        src = converted;
        break;
      case PixelFormat::RGBx:
        cv::cvtColor(wrap(img.plane[0], h, w, CV_8UC4, img.stride[0]), converted, cv::COLOR_RGBA2BGR);
        src = converted;
        break;
      case PixelFormat::I420:
        cv::cvtColor(yuv_as_one_image(img, scratch), converted, cv::COLOR_YUV2BGR_I420);
        src = converted;
        break;
      case PixelFormat::NV12:
        cv::cvtColor(yuv_as_one_image(img, scratch), converted, cv::COLOR_YUV2BGR_NV12);
        src = converted;
        break;
    }
    std::vector<int> params;
    const int q = std::clamp(opt.quality, 1, 100);
    if (opt.format == ImageFormat::Webp)
      params = {cv::IMWRITE_WEBP_QUALITY, q};
    static_assert(std::is_same_v<uchar, uint8_t>, "OpenCV's bytes are ours");
    if (!cv::imencode(std::string(".") + image_extension(opt.format), src, *out, params)) {
      *error = std::string("OpenCV could not encode the frame as ") + image_extension(opt.format);
      return false;
    }
  } catch (const cv::Exception &e) {
    *error = std::string("OpenCV: ") + e.what();
    return false;
  } catch (const std::bad_alloc &) {
    *error = "out of memory while encoding a " + std::to_string(w) + "x" + std::to_string(h) + " frame";
    return false;
  }
  return true;
}

}  // namespace gcsfs
