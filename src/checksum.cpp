// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "checksum.h"

#include <glib.h>
#include <isa-l/crc.h>
#include <openssl/evp.h>

#include <climits>
#include <memory>

namespace gcsfs {

uint32_t crc32c(const void *data, size_t len, uint32_t crc)
{
  // ISA-L's crc32_iscsi works on the raw register: invert on the way in and out
  // to get the standard CRC32C (RFC 3720) and allow chaining.
  auto p = static_cast<const unsigned char *>(data);
  uint32_t reg = ~crc;
  while (len > 0) {
    int chunk = len > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(len);
    reg = crc32_iscsi(const_cast<unsigned char *>(p), chunk, reg);
    p += chunk;
    len -= static_cast<size_t>(chunk);
  }
  return ~reg;
}

std::string base64_encode(const void *data, size_t len)
{
  std::unique_ptr<gchar, decltype(&g_free)> b64(
      g_base64_encode(static_cast<const guchar *>(data), len), g_free);
  return b64.get();
}

std::string crc32c_to_base64(uint32_t crc)
{
  const unsigned char be[4] = {static_cast<unsigned char>(crc >> 24), static_cast<unsigned char>(crc >> 16),
                               static_cast<unsigned char>(crc >> 8), static_cast<unsigned char>(crc)};
  return base64_encode(be, sizeof be);
}

std::string md5_base64(const void *data, size_t len)
{
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (!EVP_Digest(data, len, digest, &dlen, EVP_md5(), nullptr))
    return {};
  return base64_encode(digest, dlen);
}

}  // namespace gcsfs
