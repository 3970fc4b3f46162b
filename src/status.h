// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// What every layer says about a frame: its status, why it failed, and the
// outcome of its upload. Plain types, no dependencies.
#pragma once

#include <cstdint>
#include <string>

namespace gcsfs {

constexpr uint64_t kTimeNone = UINT64_MAX;  // "unknown" for pts and similar

// Unconfirmed: the request was sent in full but no answer came (a timeout,
// a cut connection, a stop), so the object may or may not be stored.
enum class FrameStatus { Uploaded, Failed, Dropped, Spooled, Unconfirmed };

// The integrity value sent with each upload (the `checksum` setting).
enum class ChecksumMode { Crc32c, Md5, Both, None };

// What an upload does when its object name is already taken (the
// `if-exists` setting): refuse (the frame fails), replace the object, or
// count the frame as uploaded when the object holds the same bytes (same
// size and checksums; else the frame fails).
enum class IfExists { Fail, Overwrite, Skip };

// When frames go to the spool: only those whose upload failed after their
// retries (Fallback), or every frame before its upload starts (Always:
// write-ahead, so a crash loses nothing accepted).
enum class SpoolMode { Fallback, Always };

// What the queue bound does to a producer (the `leaky` setting, as queue's):
// wait (None), drop the incoming frame (Upstream), or drop the oldest frame
// whose upload has not started (Downstream).
enum class Leaky { None, Upstream, Downstream };

inline const char *frame_status_name(FrameStatus s)
{
  switch (s) {
    case FrameStatus::Uploaded: return "uploaded";
    case FrameStatus::Failed: return "failed";
    case FrameStatus::Dropped: return "dropped";
    case FrameStatus::Spooled: return "spooled";
    case FrameStatus::Unconfirmed: return "unconfirmed";
  }
  return "failed";
}

// Why an upload did not store its frame. Decisions (retry or not, fatal or
// not) are taken on this, never on the text of a reason.
enum class ErrorKind {
  None,               // no error
  Http,               // an HTTP error answer; UploadResult::reason holds the server's reason
  Redirect,           // a 3xx: the endpoint is not the storage server
  Timeout,            // request-timeout passed
  ConnectionReset,    // the connection broke mid-request
  ConnectionRefused,
  DnsFailure,
  TlsFailure,         // the endpoint's certificate does not verify
  TransportError,     // another libcurl failure
  ResponseTooLarge,   // an answer larger than any storage answer
  ClientError,        // the client itself could not run the request
  UnexpectedAnswer,   // a 2xx that is not the stored object
  ChecksumMismatch,   // stored, with a checksum other than the frame's
  AbsentAfter412,     // a retry got 412 but the object is not there: insert again
  TokenUnavailable,   // no access token: the token server is unavailable
  Credentials,        // no access token: the credentials were refused
  InvalidName,        // the object name breaks GCS's rules
  EncodeFailed,       // a raw frame could not be encoded
  Aborted,            // cut short by a stop
  QueueFull,          // dropped at the queue bound (leaky)
  Stopped,            // not tried: an earlier frame's fatal error stopped the run
};

// The short name of a kind, as `reason` in messages ("timeout", ...).
inline const char *error_kind_name(ErrorKind k)
{
  switch (k) {
    case ErrorKind::None: return "";
    case ErrorKind::Http: return "http";
    case ErrorKind::Redirect: return "redirect";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::ConnectionReset: return "connection-reset";
    case ErrorKind::ConnectionRefused: return "connection-refused";
    case ErrorKind::DnsFailure: return "dns-failure";
    case ErrorKind::TlsFailure: return "tls-failure";
    case ErrorKind::TransportError: return "transport-error";
    case ErrorKind::ResponseTooLarge: return "response-too-large";
    case ErrorKind::ClientError: return "client-error";
    case ErrorKind::UnexpectedAnswer: return "unexpected-answer";
    case ErrorKind::ChecksumMismatch: return "checksum-mismatch";
    case ErrorKind::AbsentAfter412: return "absent-after-412";
    case ErrorKind::TokenUnavailable: return "token-unavailable";
    case ErrorKind::Credentials: return "credentials";
    case ErrorKind::InvalidName: return "invalid-name";
    case ErrorKind::EncodeFailed: return "encode-failed";
    case ErrorKind::Aborted: return "aborted";
    case ErrorKind::QueueFull: return "queue-full";
    case ErrorKind::Stopped: return "stopped";
  }
  return "";
}

// The outcome of one object insert.
struct UploadResult {
  FrameStatus status = FrameStatus::Failed;
  ErrorKind kind = ErrorKind::None;
  long http_status = 0;      // 0 when no HTTP answer came (connection error, abort)
  std::string reason;        // the server's reason ("notFound", ...) for Http, else error_kind_name(kind)
  std::string message;       // human-readable cause, from the server or libcurl
  std::string bucket, name;  // of the object resource answered, as the server names it
  int64_t generation = 0;
  uint64_t size = 0;
  std::string crc32c;        // as stored (base64, big-endian)
  std::string md5;           // as stored (base64), when the server reports it
  unsigned attempts = 0;
  unsigned retry_after_ms = 0;  // the server's Retry-After, if any
  bool aborted = false;      // the transfer was cut short by abort_all()
  bool maybe_stored = false; // this attempt's request was sent in full and no answer came
  bool fatal = false;        // an error no later frame can avoid (credentials, permission, bucket)
  bool stopped_by_fatal = false;  // not uploaded because an earlier frame's fatal error stopped the run

  // Marks the result failed (or dropped, for Aborted and QueueFull) for `k`, with `reason`
  // set from it.
  void set_failure(ErrorKind k, std::string why)
  {
    status = k == ErrorKind::Aborted || k == ErrorKind::QueueFull ? FrameStatus::Dropped : FrameStatus::Failed;
    kind = k;
    aborted = k == ErrorKind::Aborted;
    reason = error_kind_name(k);
    message = std::move(why);
  }
};

}  // namespace gcsfs
