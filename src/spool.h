// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// The spool: frames kept on disk to be uploaded later under the same name
// (store-and-forward). One file per frame, written atomically (a temporary
// file, fsync, rename, fsync of the folder), so a crash or power cut leaves
// either the whole frame or nothing. A file that is truncated or altered is
// detected (size and CRC32C) and moved aside, never read as a frame.
//
// File format (one frame):
//   "GCSFS-SPOOL 1\n"
//   one line of JSON: name, content_type, index, batch, run, the timing
//   fields, size and crc32c (base64) of the bytes, then "\n"
//   the frame's bytes (size of them, nothing after)
// Files are named <seq>.frame with a 20-digit sequence number, so that the
// names sort oldest first; the sequence goes on across runs.
#pragma once

#include "status.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gcsfs {

// What a spooled frame needs to be uploaded later as if it had not waited.
struct SpoolRecord {
  std::string object_name;
  std::string content_type;
  std::string run;
  uint64_t index = 0;
  uint64_t batch = 0;
  uint64_t pts = kTimeNone, duration = kTimeNone, running_time = kTimeNone, stream_time = kTimeNone;
  uint64_t offset = kTimeNone, offset_end = kTimeNone;
  int64_t capture_unix_us = 0;
  std::string bytes;  // filled by Spool::read()
};

struct SpoolEntry {
  uint64_t seq = 0;
  std::string path;
  uint64_t size = 0;  // of the file
};

class Spool {
 public:
  // Opens the folder `dir`, creating it if needed, holding at most
  // `max_bytes` of files. Removes temporary files a crash left behind.
  // Null with the cause and the fix in `error` when the folder cannot be
  // made or written.
  static std::unique_ptr<Spool> open(const std::string &dir, uint64_t max_bytes, std::string *error);

  // Writes one frame atomically. When the bound would be passed, the oldest
  // files are removed first (their records are appended to `evicted`, for the
  // caller to report); a frame larger than the bound is refused. False with
  // the cause in `error` when nothing was written.
  // With `durable` false, the file and the folder are not fsynced (a process
  // crash still keeps it; sync() later makes a batch of them survive a power
  // cut). `seq`, if given, is set to the frame's sequence number.
  bool put(const SpoolRecord &meta, const uint8_t *data, size_t size, std::vector<SpoolRecord> *evicted,
           std::string *error, bool durable = true, uint64_t *seq = nullptr);
  // Flushes every file written without fsync to the disk (syncfs); nothing
  // when there is none.
  void sync();
  // Removes the frame of sequence number `seq`.
  void remove_seq(uint64_t seq);
  // Whether the frame of sequence number `seq` is still on disk.
  bool has(uint64_t seq) const;

  // The frames on disk, oldest first.
  std::vector<SpoolEntry> list() const;
  // Reads one frame. False with the cause in `why` when the file is not a
  // whole spool file (truncated, altered, not one at all): it is then moved
  // to <dir>/corrupt/ so that it is never offered again.
  bool read(const SpoolEntry &e, SpoolRecord *out, std::string *why);
  // Removes a frame once its upload is confirmed.
  void remove(const SpoolEntry &e);
  // Stops counting a frame the caller moved out of the folder.
  void forget(const SpoolEntry &e);

  uint64_t bytes_used() const;
  const std::string &dir() const { return dir_; }

  static constexpr const char *kMagic = "GCSFS-SPOOL 1\n";

 private:
  Spool() = default;
  bool write_file(const std::string &path, const std::string &head, const uint8_t *data, size_t size,
                  std::string *error, bool durable = true) const;

  std::string dir_;
  uint64_t max_bytes_ = 0;
  mutable std::mutex mutex_;  // a leaf lock: guards next_seq_ and used_
  uint64_t next_seq_ = 0;
  uint64_t used_ = 0;
  std::atomic<bool> unsynced_{false};  // a file was written without fsync since the last sync()
};

}  // namespace gcsfs
