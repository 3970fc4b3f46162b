// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "naming.h"

#include "checksum.h"

#include <glib.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace gcsfs {

namespace {

bool parse_width(std::string_view spec, int *width, bool *zero_pad)
{
  if (spec.empty() || spec.size() > 3)
    return false;
  int w = 0;
  for (char c : spec) {
    if (c < '0' || c > '9')
      return false;
    w = w * 10 + (c - '0');
  }
  *zero_pad = spec[0] == '0';
  *width = w;
  return w <= 64;
}

void append_number(std::string &out, uint64_t v, int width, bool zero_pad)
{
  char buf[96];
  int n = zero_pad ? snprintf(buf, sizeof buf, "%0*" PRIu64, width, v)
                   : snprintf(buf, sizeof buf, "%*" PRIu64, width, v);
  out.append(buf, static_cast<size_t>(n));
}

void append_time(std::string &out, const char *fmt, int64_t unix_us)
{
  time_t secs = static_cast<time_t>(unix_us / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  // strftime returns 0 both for an empty result and for a too small buffer.
  std::string buf(256, '\0');
  for (;;) {
    size_t n = strftime(&buf[0], buf.size(), fmt, &tm);
    if (n > 0 || buf.size() >= 65536) {
      out.append(buf.data(), n);
      return;
    }
    buf.resize(buf.size() * 4);
  }
}

}  // namespace

bool NameTemplate::parse(std::string_view t, std::string *error)
{
  parts_.clear();
  uses_hash_ = false;
  std::string lit;
  auto flush_literal = [&]() {
    if (!lit.empty()) {
      parts_.push_back({Kind::Literal, lit});
      lit.clear();
    }
  };
  auto fail = [&](const std::string &why) {
    *error = "object-name template \"" + std::string(t) + "\": " + why;
    parts_.clear();
    return false;
  };
  for (size_t i = 0; i < t.size(); i++) {
    char c = t[i];
    if (c == '{' && i + 1 < t.size() && t[i + 1] == '{') {
      lit += '{';
      i++;
    } else if (c == '}' && i + 1 < t.size() && t[i + 1] == '}') {
      lit += '}';
      i++;
    } else if (c == '}') {
      return fail("unmatched '}' at position " + std::to_string(i) + " (write '}}' for a literal brace)");
    } else if (c == '{') {
      size_t end = t.find('}', i);
      if (end == std::string_view::npos)
        return fail("unterminated '{' at position " + std::to_string(i));
      std::string_view body = t.substr(i + 1, end - i - 1);
      std::string_view name = body, spec;
      bool has_spec = false;
      size_t colon = body.find(':');
      if (colon != std::string_view::npos) {
        name = body.substr(0, colon);
        spec = body.substr(colon + 1);
        has_spec = true;
      }
      Part p{Kind::Literal, {}};
      bool numeric = false;
      if (name == "index") { p.kind = Kind::Index; numeric = true; }
      else if (name == "batch") { p.kind = Kind::Batch; numeric = true; }
      else if (name == "pts") { p.kind = Kind::Pts; numeric = true; }
      else if (name == "pts-ms") { p.kind = Kind::PtsMs; numeric = true; }
      else if (name == "stream") p.kind = Kind::Stream;
      else if (name == "stream-id") p.kind = Kind::StreamId;
      else if (name == "run") p.kind = Kind::Run;
      else if (name == "date") p.kind = Kind::Date;
      else if (name == "ext") p.kind = Kind::Ext;
      else if (name == "hash") p.kind = Kind::Hash;
      else if (name == "utc") p.kind = Kind::Utc;
      else
        return fail("unknown placeholder {" + std::string(body) +
                    "}; known: {index}, {index:08}, {batch}, {stream}, {stream-id}, {run}, {pts}, {pts-ms}, {date}, "
                    "{utc:FORMAT}, {ext}, {hash}");
      if (p.kind == Kind::Utc) {
        if (!has_spec || spec.empty())
          return fail("{utc} needs a strftime format, for example {utc:%Y/%m/%d/%H}");
        p.text = std::string(spec);
      } else if (has_spec) {
        if (!numeric || !parse_width(spec, &p.width, &p.zero_pad))
          return fail("bad format \"" + std::string(spec) + "\" in {" + std::string(body) +
                      "}; only numeric placeholders take a width, such as {index:08}");
      }
      flush_literal();
      uses_hash_ |= p.kind == Kind::Hash;
      parts_.push_back(std::move(p));
      i = end;
    } else if (c == '%' && i + 1 < t.size() && t[i + 1] == '%') {
      lit += '%';
      i++;
    } else if (c == '%') {
      // multifilesink compatibility: %d, %05d, %5d mean the index. Any other
      // printf conversion (%s, %x, %-5d, %lu...) is refused; a '%' that
      // starts none (as in "50%/") is literal.
      size_t j = i + 1;
      while (j < t.size() && strchr("-+#0123456789.hlLqjzt", t[j]) && t[j])
        j++;
      bool conversion = j < t.size() && t[j] && strchr("diouxXeEfFgGaAcspn", t[j]);
      std::string_view spec = t.substr(i + 1, j - i - 1);
      bool digits = spec.find_first_not_of("0123456789") == std::string_view::npos;
      if (!conversion) {
        lit += c;
      } else if (t[j] == 'd' && digits) {
        Part p{Kind::Index, {}};
        if (!spec.empty() && !parse_width(spec, &p.width, &p.zero_pad))
          return fail("bad printf width in \"" + std::string(t.substr(i, j - i + 1)) + "\"");
        flush_literal();
        parts_.push_back(std::move(p));
        i = j;
      } else {
        return fail("\"" + std::string(t.substr(i, j - i + 1)) + "\" at position " + std::to_string(i) +
                    ": of printf conversions only %d (with a width such as %05d: the index) is understood; "
                    "write %% for a literal percent sign, or use a placeholder such as {stream}");
      }
    } else {
      lit += c;
    }
  }
  flush_literal();
  if (parts_.empty())
    return fail("the template is empty");
  return true;
}

void NameTemplate::expand_into(std::string &out, const NameFields &f, std::string_view hash) const
{
  for (const Part &p : parts_) {
    switch (p.kind) {
      case Kind::Literal: out += p.text; break;
      case Kind::Index: append_number(out, f.index, p.width, p.zero_pad); break;
      case Kind::Batch: append_number(out, f.batch, p.width, p.zero_pad); break;
      case Kind::Pts: append_number(out, f.pts_ns == kTimeNone ? 0 : f.pts_ns, p.width, p.zero_pad); break;
      case Kind::PtsMs:
        append_number(out, f.pts_ns == kTimeNone ? 0 : f.pts_ns / 1000000, p.width, p.zero_pad);
        break;
      case Kind::Stream: out += f.stream; break;
      case Kind::StreamId: out += f.stream_id.empty() ? f.stream : f.stream_id; break;
      case Kind::Run: out += f.run; break;
      case Kind::Ext: out += f.ext; break;
      case Kind::Date: append_time(out, "%Y-%m-%d", f.capture_unix_us); break;
      case Kind::Utc: append_time(out, p.text.c_str(), f.capture_unix_us); break;
      case Kind::Hash: out += hash; break;
    }
  }
}

std::string NameTemplate::expand(const NameFields &f) const
{
  std::string out;
  out.reserve(96);
  expand_into(out, f, {});
  if (!uses_hash_)
    return out;
  // {hash}: six hex digits of the CRC32C of the name without it.
  char hex[9];
  snprintf(hex, sizeof hex, "%08x", crc32c(out.data(), out.size()));
  std::string hashed;
  hashed.reserve(out.size() + 8);
  expand_into(hashed, f, std::string_view(hex, 6));
  return hashed;
}

std::string make_run_id(int64_t unix_us, uint32_t random)
{
  std::string out;
  append_time(out, "%Y%m%dT%H%M%SZ", unix_us);
  char tail[8];
  snprintf(tail, sizeof tail, "-%04x", random & 0xffff);
  return out + tail;
}

bool validate_bucket_name(std::string_view n, std::string *why)
{
  auto fail = [&](const std::string &w) {
    *why = "invalid bucket name \"" + std::string(n) + "\": " + w +
           " (bucket names use 3-63 lowercase letters, digits, '-', '_' and '.', and start and end "
           "with a letter or digit)";
    return false;
  };
  if (n.empty())
    return fail("it is empty");
  bool dotted = n.find('.') != std::string_view::npos;
  if (n.size() < 3 || n.size() > (dotted ? 222u : 63u))
    return fail("it has " + std::to_string(n.size()) + " characters");
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok)
      return fail(std::string("it contains '") + c + "'");
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(n.front()) || !alnum(n.back()))
    return fail("it must start and end with a letter or digit");
  size_t start = 0;
  while (start <= n.size()) {
    size_t dot = n.find('.', start);
    size_t len = (dot == std::string_view::npos ? n.size() : dot) - start;
    if (len == 0 || len > 63)
      return fail("each dot-separated part must have 1-63 characters");
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  if (g_hostname_is_ip_address(std::string(n).c_str()))
    return fail("it looks like an IP address");
  if (n.substr(0, 4) == "goog")
    return fail("it starts with \"goog\"");
  return true;
}

bool validate_object_name(std::string_view n, std::string *why)
{
  auto fail = [&](const std::string &w) {
    *why = "invalid object name: " + w;
    return false;
  };
  if (n.empty())
    return fail("it is empty");
  if (n.size() > 1024)
    return fail("it has " + std::to_string(n.size()) + " bytes, more than 1024");
  if (!g_utf8_validate(n.data(), static_cast<gssize>(n.size()), nullptr))
    return fail("it is not valid UTF-8");
  for (unsigned char c : n)
    if (c < 0x20 || c == 0x7f)
      return fail(c == '\r' || c == '\n' ? "it contains a carriage return or line feed"
                                          : "it contains a control character (byte " + std::to_string(c) + ")");
  if (n == "." || n == "..")
    return fail("it is \".\" or \"..\"");
  if (n.substr(0, 27) == ".well-known/acme-challenge/")
    return fail("it starts with \".well-known/acme-challenge/\"");
  return true;
}

}  // namespace gcsfs
