// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Fuzz target: a token endpoint's answer (status from the first two bytes,
// body from the rest), and the credentials file parser on the same bytes.
#include "auth.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  long status = size >= 2 ? 100 + (data[0] | data[1] << 8) % 500 : 200;
  std::string body(reinterpret_cast<const char *>(data) + (size >= 2 ? 2 : 0), size >= 2 ? size - 2 : size);
  std::string token, error;
  int64_t expires = 0;
  gcsfs::TokenResult r = gcsfs::parse_token_answer("http://token.test/token", status, body, &token, &expires, &error);
  if (r == gcsfs::TokenResult::Ok && (token.empty() || expires < 1 || expires > gcsfs::kMaxTokenLifeS))
    abort();
  if (r != gcsfs::TokenResult::Ok && error.empty())
    abort();
  gcsfs::AuthHttp http;
  std::string why;
  std::unique_ptr<gcsfs::TokenSource> source = gcsfs::token_source_from_json(body, "fuzz.json", http, &why);
  if (!source && why.empty())
    abort();
  return 0;
}
