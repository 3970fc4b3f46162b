// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Fuzz target: reading a storage server's answer to an upload (an object
// resource or an error document; anything at all from a hostile server).
#include "gcs-client.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  std::string body(reinterpret_cast<const char *>(data), size);
  gcsfs::UploadResult r;
  gcsfs::parse_answer(body, r);
  if (r.status != gcsfs::FrameStatus::Failed)
    abort();  // parsing never decides the outcome by itself
  return 0;
}
