// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Every setting of a sink in plain C++ types, and the checks that refuse,
// once when a run starts, settings that can never work: each refusal is a
// ConfigError plus a message that names the fix.
#pragma once

#include "encoder.h"
#include "naming.h"
#include "status.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gcsfs {

// Defaults, shared with the element's property specs.
namespace defaults {
constexpr const char *kObjectName = "{stream}/{date}/{run}/{index:08}.{ext}";
constexpr unsigned kBatchSize = 10;
constexpr unsigned kBatchTimeoutMs = 1000;
constexpr unsigned kMaxConcurrency = 16;
constexpr unsigned kRequestTimeoutMs = 30000;
// Enough that retry-timeout is what ends the retries of an outage: 20
// full-jitter waits (1 s doubling, capped at 32 s) average about 255 s.
constexpr unsigned kMaxRetries = 20;
constexpr unsigned kDrainTimeoutMs = 60000;
constexpr int kQuality = 90;
constexpr unsigned kRetryTimeoutMs = 120000;
constexpr unsigned kMaxQueuedFrames = 200;
constexpr uint64_t kMaxQueuedBytes = 256ull << 20;
constexpr uint64_t kSpoolMaxBytes = 1ull << 30;
constexpr uint64_t kManifestMaxBytes = 64ull << 20;
}  // namespace defaults

constexpr const char *kDefaultEndpoint = "https://storage.googleapis.com";

// The largest `index` of a first frame: far enough below 2^64 that
// {index} never wraps around in a run.
constexpr uint64_t kMaxFirstIndex = (uint64_t(1) << 63) - 1;

using Fields = std::vector<std::pair<std::string, std::string>>;

struct SinkConfig {
  std::string bucket;
  std::string object_name = defaults::kObjectName;
  std::string stream_name;  // {stream}; must be set (the element uses its name when the property is unset)
  uint64_t index = 0;       // of the first frame
  unsigned batch_size = defaults::kBatchSize;
  unsigned batch_timeout_ms = defaults::kBatchTimeoutMs;  // 0 = batches close on size only
  unsigned max_concurrency = defaults::kMaxConcurrency;
  bool share_uploads = true;  // the process's upload threads and connections; false = the sink's own
  std::string endpoint;     // empty = STORAGE_EMULATOR_HOST, CLOUD_STORAGE_EMULATOR_ENDPOINT or Google
  std::string credentials;  // a key file, "anonymous", or empty = Application Default Credentials
  std::string ca_file;
  std::string content_type;  // empty = from the frames' format
  Fields metadata;           // custom object metadata
  Fields extra_headers;      // extra request headers
  bool post_messages = false;
  ChecksumMode checksum = ChecksumMode::Crc32c;
  IfExists if_exists = IfExists::Fail;
  unsigned request_timeout_ms = defaults::kRequestTimeoutMs;
  unsigned max_retries = defaults::kMaxRetries;
  unsigned retry_timeout_ms = defaults::kRetryTimeoutMs;
  unsigned max_queued_frames = defaults::kMaxQueuedFrames;
  uint64_t max_queued_bytes = defaults::kMaxQueuedBytes;
  std::string spool_location;  // a folder; empty = no spool
  SpoolMode spool_mode = SpoolMode::Fallback;
  unsigned stats_interval_ms = 0;  // > 0: on_stats() this often while the run is open
  Leaky leaky = Leaky::None;
  unsigned drain_timeout_ms = defaults::kDrainTimeoutMs;
  ImageFormat image_format = ImageFormat::Jpeg;  // raw input is encoded to this, on the workers
  int quality = defaults::kQuality;              // 1..100: JPEG and WebP quality
  uint64_t spool_max_bytes = defaults::kSpoolMaxBytes;
  std::string manifest_location;  // a file: one JSON line per settled batch; empty = none
  std::string manifest_name;      // template of a manifest object per settled batch; empty = none
  uint64_t manifest_max_bytes = defaults::kManifestMaxBytes;  // then renamed to <file>.1; 0 = never
};

enum class ConfigError {
  None,
  NoBucket,        // bucket unset
  BadBucket,       // breaks the bucket naming rules
  NotUtf8,         // a string setting that is not UTF-8
  BadTemplate,     // object-name does not parse
  IndexWraps,      // index past kMaxFirstIndex
  NameNeverValid,  // the first object name can never be stored
  BadContentType,  // content-type with control characters
  ZeroBound,       // batch-size, max-concurrency, max-queued-frames or request-timeout of 0
  BadEndpoint,     // endpoint (or an emulator variable) malformed
  BadHeader,       // an extra header that is no valid HTTP header
  OwnedHeader,     // an extra header the element sets itself
  BadCaFile,       // ca-file unreadable or without a PEM certificate
  BadEnvironment,  // GCSFRAMESINK_MAX_CONNECTIONS or GCSFRAMESINK_MAX_UPLOAD_RATE malformed
};

struct ConfigProblem {
  ConfigError kind = ConfigError::None;
  std::string message;  // the cause and the fix
};

// What the checks resolve for a run.
struct CheckedConfig {
  std::string endpoint;  // base URL, no trailing slash
  bool emulator = false;  // the endpoint came from an emulator variable
  NameTemplate object_name;
  NameTemplate manifest_name;  // parsed when manifest_name is set
};

// Checks every setting of `cfg` for a run whose first batch is number
// `first_batch`; fills `out`, or returns false with the first refusal.
bool check_config(const SinkConfig &cfg, uint64_t first_batch, CheckedConfig *out, ConfigProblem *problem);

// Resolves the API endpoint: the `endpoint` setting when set, else the
// emulator variables STORAGE_EMULATOR_HOST / CLOUD_STORAGE_EMULATOR_ENDPOINT
// (scheme optional, http assumed), else kDefaultEndpoint. Returns false with
// the cause and the fix in `error` when malformed (GLib's and libcurl's URL
// parsers must both accept it).
bool resolve_endpoint(const std::string &setting, std::string *base, bool *is_emulator, std::string *error);

// The single checks check_config() makes, each false with the reason in `why`.
bool check_utf8(const char *name, const std::string &value, std::string *why);
// A token name, a value without control characters, not one the element
// sets itself (Authorization, Content-Length, Content-Type, Host,
// Transfer-Encoding; `owned` then says so).
bool check_extra_header(const std::string &name, const std::string &value, std::string *why, bool *owned = nullptr);
bool check_content_type(const std::string &value, std::string *why);
// A readable file holding at least one PEM certificate.
bool check_ca_file(const std::string &path, std::string *why);
bool check_first_index(uint64_t index, std::string *why);
// The name `tmpl` gives the first frame (index `index`, batch `batch`,
// stream `stream`, extension `ext`, capture time now, a run id of the
// usual length) is a valid object name.
bool check_first_name(const NameTemplate &tmpl, const std::string &stream, uint64_t index, uint64_t batch,
                      const char *ext, std::string *why);

}  // namespace gcsfs
