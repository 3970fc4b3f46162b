#include "encoder.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
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
    if (opt.format == ImageFormat::Jpeg)
      params = {cv::IMWRITE_JPEG_QUALITY, q};
    else if (opt.format == ImageFormat::Webp)
      params = {cv::IMWRITE_WEBP_QUALITY, q};
    static_assert(std::is_same_v<uchar, uint8_t>, "OpenCV's bytes are ours");
    if (!cv::imencode(std::string(".") + image_extension(opt.format), src, *out, params)) {
      *error = std::string("OpenCV could not encode the frame as ") + image_extension(opt.format);
      return false;
    }
  } catch (const cv::Exception &e) {
    *error = std::string("OpenCV: ") + e.what();
    return false;
  }
  return true;
}

}  // namespace gcsfs
