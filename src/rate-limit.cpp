// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "rate-limit.h"

#include <algorithm>
#include <cerrno>
#include <memory>

namespace gcsfs {

RateLimit::RateLimit(uint64_t bytes_per_second) : rate_(std::max<uint64_t>(1, bytes_per_second)) {}

gint64 RateLimit::reserve(uint64_t bytes, gint64 now_us)
{
  std::lock_guard<std::mutex> lk(mutex_);
  const gint64 start = std::max(now_us, next_free_us_);
  next_free_us_ = start + gint64(bytes * G_USEC_PER_SEC / rate_);
  return start;
}

void RateLimit::release(gint64 start_us, uint64_t bytes, gint64 now_us)
{
  std::lock_guard<std::mutex> lk(mutex_);
  if (start_us > now_us)  // the reservations after it move up by its time
    next_free_us_ = std::max(now_us, next_free_us_ - gint64(bytes * G_USEC_PER_SEC / rate_));
}

bool max_rate_from_environment(uint64_t *bytes_per_second, std::string *problem)
{
  *bytes_per_second = 0;
  const char *env = g_getenv("GCSFRAMESINK_MAX_UPLOAD_RATE");
  if (!env)
    return true;
  char *end = nullptr;
  errno = 0;
  uint64_t v = g_ascii_isdigit(env[0]) ? g_ascii_strtoull(env, &end, 10) : 0;
  const bool digits = end != nullptr && end != env;
  uint64_t unit = 1;
  if (digits && *end && !end[1]) {
    switch (*end) {
      case 'k': unit = 1000; end++; break;
      case 'M': unit = 1000 * 1000; end++; break;
      case 'G': unit = 1000 * 1000 * 1000; end++; break;
      default: break;
    }
  }
  if (errno != 0 || !digits || *end != '\0' || v > UINT64_MAX / unit / G_USEC_PER_SEC) {
    *problem = "GCSFRAMESINK_MAX_UPLOAD_RATE=\"" + std::string(env) +
               "\" is not a rate in bytes per second: unset it (no limit) or set a number, with k, M or G for "
               "thousands, millions or billions, for example 20M";
    return false;
  }
  *bytes_per_second = v * unit;
  return true;
}

RateLimit *RateLimit::process()
{
  // Made once and never destroyed, like the upload threads that use it.
  static RateLimit *limit = []() -> RateLimit * {
    uint64_t rate = 0;
    std::string ignored;  // the sessions refuse to open with a bad value
    if (!max_rate_from_environment(&rate, &ignored) || rate == 0)
      return nullptr;
    return std::make_unique<RateLimit>(rate).release();
  }();
  return limit;
}

}  // namespace gcsfs
