// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "codec.h"

#include <nlohmann/json.hpp>

namespace gcsfs {

std::string percent_encode(std::string_view s, bool keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2 + 8);
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string json_quote(const std::string &s)
{
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gcsfs
