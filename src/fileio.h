// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Small POSIX file helpers shared by the spool and the manifest.
#pragma once

#include <cstddef>
#include <string>

namespace gcsfs {

// Writes all `n` bytes to `fd`, going on after EINTR and short writes.
// False (errno set) on an error.
bool write_all(int fd, const void *data, size_t n);

// Makes a folder's entries durable (after a create, rename or unlink in it).
bool fsync_dir(const std::string &dir);

}  // namespace gcsfs
