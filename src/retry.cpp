// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "retry.h"

#include "status.h"

#include <algorithm>
#include <cmath>

namespace gcsfs {

bool is_retryable(const UploadResult &r)
{
  return r.status == FrameStatus::Failed && !r.aborted && is_retryable_kind(r.kind, r.http_status);
}

bool is_retryable_kind(ErrorKind kind, long http_status)
{
  switch (kind) {
    case ErrorKind::Http: return http_status == 408 || http_status == 429 || http_status >= 500;
    case ErrorKind::Timeout:
    case ErrorKind::ConnectionReset:
    case ErrorKind::ConnectionRefused:
    case ErrorKind::DnsFailure:
    case ErrorKind::TransportError:
    case ErrorKind::AbsentAfter412:
    case ErrorKind::TokenUnavailable: return true;
    default: return false;
  }
}

unsigned backoff_ms(const RetryPolicy &p, unsigned retry, unsigned retry_after_ms, std::mt19937_64 &rng)
{
  double cap = double(p.initial_backoff_ms) * std::pow(p.multiplier, double(retry > 0 ? retry - 1 : 0));
  cap = std::min(cap, double(p.max_backoff_ms));
  std::uniform_real_distribution<double> dist(0.0, cap);
  unsigned wait = unsigned(dist(rng));
  return std::max(wait, retry_after_ms);
}

}  // namespace gcsfs
