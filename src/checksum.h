// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Integrity values sent with each upload: CRC32C (Castagnoli) and MD5,
// encoded the way the GCS JSON API expects them (base64, CRC32C big-endian).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gcsfs {

// CRC32C of `len` bytes, continuing from `crc` (0 for a new checksum).
// Uses ISA-L, which picks the CPU's CRC32 instruction when it has one.
uint32_t crc32c(const void *data, size_t len, uint32_t crc = 0);

// The GCS form of a CRC32C: base64 of its 4 big-endian bytes.
std::string crc32c_to_base64(uint32_t crc);

// Base64 of the MD5 digest of the bytes (OpenSSL).
std::string md5_base64(const void *data, size_t len);

std::string base64_encode(const void *data, size_t len);

}  // namespace gcsfs
