// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "percentiles.h"

#include <algorithm>

namespace gcsfs {

SampleWindow::Summary SampleWindow::summary() const
{
  std::vector<int64_t> v;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    v = samples_;
  }
  Summary s;
  s.count = v.size();
  if (v.empty())
    return s;
  double sum = 0;
  for (int64_t x : v)
    sum += double(x);
  s.mean = sum / double(v.size());
  auto pct = [&](double p) {
    size_t k = std::min(v.size() - 1, size_t(p * double(v.size())));
    std::nth_element(v.begin(), v.begin() + long(k), v.end());
    return double(v[k]);
  };
  s.p50 = pct(0.50);
  s.p99 = pct(0.99);
  return s;
}

}  // namespace gcsfs
