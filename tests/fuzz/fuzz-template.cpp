// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Fuzz target: the object-name template parser and expansion, and the
// object-name rules applied to what it expands to.
#include "naming.h"
#include "sink-config.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  // The first 8 bytes, if any, pick the numbers; the rest is the template.
  uint64_t n = 0;
  size_t head = size < 8 ? size : 8;
  if (head)  // an empty input may come with a null pointer
    memcpy(&n, data, head);
  std::string text(reinterpret_cast<const char *>(data) + head, size - head);
  gcsfs::NameTemplate tmpl;
  std::string error;
  if (!tmpl.parse(text, &error)) {
    if (error.empty())
      abort();  // a refusal always says why
    return 0;
  }
  gcsfs::NameFields f;
  f.index = n;
  f.batch = n >> 7;
  f.stream = "cam-1";
  f.pts_ns = n % 3 == 0 ? gcsfs::kTimeNone : n;
  f.capture_unix_us = int64_t(n % (uint64_t(4102444800) * 1000000));  // up to 2100
  f.ext = "jpg";
  std::string name = tmpl.expand(f);
  if (name != tmpl.expand(f))
    abort();  // expansion is deterministic ({hash} included)
  std::string why;
  gcsfs::validate_object_name(name, &why);
  gcsfs::check_first_name(tmpl, "cam\r1", n, 0, "png", &why);
  return 0;
}
