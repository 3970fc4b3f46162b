// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// When and how long to wait before trying an upload again, as Google's
// client libraries do: truncated exponential backoff with full jitter, only
// for errors that can pass (408, 429, 5xx, timeouts, resets, refusals).
#pragma once

#include <cstdint>
#include <random>

namespace gcsfs {

struct UploadResult;
enum class ErrorKind;

struct RetryPolicy {
  unsigned max_retries = 10;          // attempts after the first
  unsigned retry_timeout_ms = 120000; // no new attempt starts later than this after the first
  unsigned initial_backoff_ms = 1000;
  unsigned max_backoff_ms = 32000;
  double multiplier = 2.0;
};

// True for a failure another attempt may cure: HTTP 408, 429 and 5xx, and
// transport failures (timeout, reset, refused connection, DNS), and a token
// server that is unavailable. Never for
// 400, 401, 403, 404, 412, an abort, or a success.
bool is_retryable(const UploadResult &r);
// The same judged on the kind of failure alone (whatever the frame's status
// became since, e.g. spooled).
bool is_retryable_kind(ErrorKind kind, long http_status);

// The wait before retry number `retry` (1 for the first retry): uniform in
// [0, min(max_backoff, initial * multiplier^(retry-1))], at least
// `retry_after_ms` when the server asked for it.
unsigned backoff_ms(const RetryPolicy &p, unsigned retry, unsigned retry_after_ms, std::mt19937_64 &rng);

}  // namespace gcsfs
