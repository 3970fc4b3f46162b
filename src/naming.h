// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Object naming: the `object-name` template, GCS name rules and URL encoding.
#pragma once

#include "status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gcsfs {

// What a template can refer to, for one frame.
struct NameFields {
  uint64_t index = 0;
  uint64_t batch = 0;
  std::string_view stream;
  uint64_t pts_ns = kTimeNone;        // presentation time, ns; kTimeNone = unknown
  int64_t capture_unix_us = 0;        // capture wall-clock time, microseconds since the epoch (UTC)
  std::string_view ext;               // "jpg", "png", "webp"
  std::string_view run;               // the run's id ({run}), see make_run_id()
  std::string_view stream_id;         // the upstream stream-id ({stream-id}); empty = {stream} instead
};

// A parsed `object-name` template.
//
// Placeholders: {index} {index:08} {batch} {stream} {stream-id} {run} {pts}
// {pts-ms} {date} {utc:STRFTIME} {ext} {hash}; a width such as `:08` (zero-padded) or `:8`
// applies to the numeric ones. `{{` and `}}` are literal braces. For
// compatibility with multifilesink, printf `%d` / `%05d` mean {index} and
// `%%` is a literal percent sign; any other `%` is refused.
class NameTemplate {
 public:
  // Parses `text`; on failure returns false and says why in `error`.
  bool parse(std::string_view text, std::string *error);
  std::string expand(const NameFields &f) const;
  bool uses_hash() const { return uses_hash_; }

 private:
  enum class Kind { Literal, Index, Batch, Stream, StreamId, Run, Pts, PtsMs, Date, Utc, Ext, Hash };
  struct Part {
    Kind kind;
    std::string text;  // literal text, or the strftime format of {utc:...}
    int width = 0;
    bool zero_pad = false;
  };
  void expand_into(std::string &out, const NameFields &f, std::string_view hash) const;
  std::vector<Part> parts_;
  bool uses_hash_ = false;
};

// The id of a run ({run}): its start time, UTC, to the second, and 16
// random bits against two runs starting in the same second, e.g.
// "20261201T110605Z-3fa9". Sorted by name, runs come in start order.
std::string make_run_id(int64_t unix_us, uint32_t random);
constexpr size_t kRunIdLength = 21;

// GCS bucket naming rules (3-63 characters per dot-separated name, lowercase
// letters, digits, '-', '_' and '.', begins and ends with a letter or digit,
// not an IP address, no "goog" prefix). Dotted names may be up to 222.
bool validate_bucket_name(std::string_view name, std::string *why);

// GCS object naming rules: 1-1024 bytes of valid UTF-8, no CR or LF, not "."
// or "..", not starting with ".well-known/acme-challenge/". Stricter than
// GCS: no other control character (bytes below 0x20 and 0x7f) either.
bool validate_object_name(std::string_view name, std::string *why);

}  // namespace gcsfs
