// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Fuzz target: the bundled emulator's parsing of a request (routing, query,
// multipart upload body, metadata JSON, retry-test instructions, JWT
// segments). The input is "METHOD\nTARGET\nCONTENT-TYPE\nBODY".
#include "gcs-emulator.h"

#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  std::string_view in(reinterpret_cast<const char *>(data), size);
  std::string field[3];
  for (auto &f : field) {
    size_t nl = in.find('\n');
    f = std::string(in.substr(0, nl));
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  }
  if (field[0].find('\0') != std::string::npos || field[1].find('\0') != std::string::npos ||
      field[2].find('\0') != std::string::npos)
    return 0;  // HTTP request lines and headers carry no NUL
  gcsemu::parse_request(field[0], field[1].empty() ? "/" : field[1], field[2], in);
  return 0;
}
