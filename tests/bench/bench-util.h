// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// What the benchmark programs share: the frames they upload and their own
// CPU time and memory.
#pragma once

#include <glib.h>
#include <sys/resource.h>

#include <string>
#include <vector>

namespace bench {

// DIR/f00000.jpg, DIR/f00001.jpg, ... until one is missing.
inline std::vector<std::string> load_frames(const std::string &dir)
{
  std::vector<std::string> frames;
  for (int i = 0;; i++) {
    gchar *path = g_strdup_printf("%s/f%05d.jpg", dir.c_str(), i);
    gchar *data = nullptr;
    gsize len = 0;
    bool ok = g_file_get_contents(path, &data, &len, nullptr);
    g_free(path);
    if (!ok)
      break;
    frames.emplace_back(data, len);
    g_free(data);
  }
  return frames;
}

// The process's CPU time so far, user and system, in seconds.
inline double cpu_seconds()
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The process's peak resident memory so far, in MB.
inline double peak_rss_mb()
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

}  // namespace bench
