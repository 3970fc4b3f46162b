// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Text encodings shared by the layers that build URLs and JSON.
#pragma once

#include <string>
#include <string_view>

namespace gcsfs {

// Percent-encodes every byte except the URL unreserved set (A-Z a-z 0-9 - . _ ~),
// so the result is one URL path segment or query value. With `keep_slash`,
// '/' is kept (for the public `endpoint/bucket/object` URL form).
std::string percent_encode(std::string_view s, bool keep_slash = false);

// `s` as a JSON string literal, quotes included (nlohmann-json's escaping;
// invalid UTF-8 is replaced).
std::string json_quote(const std::string &s);

}  // namespace gcsfs
