// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "fileio.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace gcsfs {

bool write_all(int fd, const void *data, size_t n)
{
  const char *c = static_cast<const char *>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return false;
    if (w == 0) {
      errno = EIO;
      return false;
    }
    c += w;
    n -= size_t(w);
  }
  return true;
}

bool fsync_dir(const std::string &dir)
{
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool ok = fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace gcsfs
