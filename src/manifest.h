// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// The manifest (manifest-location): one JSON line per settled batch, and one
// per spooled frame stored later, appended in the order the bus messages are
// posted and fsynced, so that a program that does not read the bus (an
// application writing through cv2.VideoWriter, a shell script) can follow
// what was stored, in frame order. Bounded: when a line would take the file
// past its bound, the file is renamed to `<path>.1` (replacing the one
// before) and a new one is started, as log rotation does.
#pragma once

#include "results.h"
#include "spool.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace gcsfs {

class Manifest {
 public:
  // Opens `path` for appending (created when missing; what it holds is
  // kept). `max_bytes` 0 = never rotated. Sinks of one process that name the
  // same file share it (its lock, size and rotation; the first one's
  // max_bytes applies); separate processes must not share a file. Null with
  // the cause and the fix in `error` when it cannot be opened for writing.
  static std::unique_ptr<Manifest> open(const std::string &path, uint64_t max_bytes, const std::string &stream,
                                        std::string *error);
  ~Manifest();
  Manifest(const Manifest &) = delete;
  Manifest &operator=(const Manifest &) = delete;

  // The line of a settled batch of run `run`: the fields of its
  // GstGcsFrameSinkBatch message, and "message", "stream" and "run".
  std::string batch_line(const SettledBatch &b, const std::string &run) const;
  // The line of a spooled frame stored now: the fields of its
  // GstGcsFrameSinkSpool message, and "message" and "stream".
  std::string spool_line(const SpoolRecord &r, const std::string &uri, const std::string &url) const;

  // Appends `line` and a newline and fsyncs, rotating first when needed.
  // Any thread; one line at a time per file (a leaf lock). False with the
  // cause in `error`: that line is not in the manifest (a later one may be);
  // what part of it was written is cut off again.
  bool append(const std::string &line, std::string *error);

  const std::string &path() const { return path_; }

 private:
  struct File;
  Manifest(std::string path, std::string stream) : path_(std::move(path)), stream_(std::move(stream)) {}

  const std::string path_, stream_;
  std::shared_ptr<File> file_;  // shared with the process's other sinks on the same path
};

// The manifest object (manifest-name) of a settled batch of stream
// `stream`, run `run`, in bucket `bucket`: the batch's numbers and, per
// frame in frame order, its index, name, uri, url, status, size, crc32c,
// md5, generation, timestamp and running time (unknown times null). Built
// beside the manifest file's lines, whose conventions it shares.
std::string batch_manifest_json(const SettledBatch &b, const std::string &bucket, const std::string &stream,
                                const std::string &run);

}  // namespace gcsfs
