// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Fuzz target: reading a spool file that a crash, a full disk or another
// program left in any state. A file read as a frame must be whole.
#include "checksum.h"
#include "spool.h"

#include <glib.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static std::unique_ptr<gcsfs::Spool> spool = [] {
    gchar *dir = g_dir_make_tmp("fuzz-spool-XXXXXX", nullptr);
    std::string err;
    auto s = gcsfs::Spool::open(dir, uint64_t(1) << 30, &err);
    g_free(dir);
    if (!s)
      abort();
    return s;
  }();
  gcsfs::SpoolEntry e;
  e.seq = 1;
  e.path = spool->dir() + "/00000000000000000001.frame";
  e.size = size;
  if (!g_file_set_contents(e.path.c_str(), reinterpret_cast<const char *>(data), gssize(size), nullptr))
    abort();
  gcsfs::SpoolRecord r;
  std::string why;
  if (spool->read(e, &r, &why)) {
    // Accepted: the bytes are exactly what the header's size and crc32c say.
    if (r.object_name.empty() && r.bytes.size() > size)
      abort();
    spool->remove(e);
  } else if (why.empty()) {
    abort();
  }
  return 0;
}
