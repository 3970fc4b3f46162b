#include "retry.h"

#include "gcs-client.h"

#include <algorithm>
#include <cmath>

namespace gcsfs {

bool is_retryable(const UploadResult &r)
{
  if (r.status != FrameStatus::Failed || r.aborted)
    return false;
  if (r.http_status == 0)
    return r.reason == "timeout" || r.reason == "connection-reset" || r.reason == "connection-refused" ||
           r.reason == "dns-failure" || r.reason == "transport-error" || r.reason == "absent-after-412" ||
           r.reason == "token-unavailable";
  return r.http_status == 408 || r.http_status == 429 || r.http_status >= 500;
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
