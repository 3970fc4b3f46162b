// Checks of settings that can never work, made once when a run starts so
// that the element refuses them with a message naming the fix instead of
// failing every frame. Each returns false with the reason in `why`.
#pragma once

#include <cstdint>
#include <string>

namespace gcsfs {

class NameTemplate;

// The largest `index` of a first frame: far enough below 2^64 that
// {index} never wraps around in a run.
constexpr uint64_t kMaxFirstIndex = (uint64_t(1) << 63) - 1;

// `value` of the setting `name` is valid UTF-8 (GObject strings are).
bool check_utf8(const char *name, const std::string &value, std::string *why);

// An `extra-headers` field: a token name, a value without control
// characters, and not a header the element sets itself (Authorization,
// Content-Length, Content-Type, Host, Transfer-Encoding).
bool check_extra_header(const std::string &name, const std::string &value, std::string *why);

// `content-type`: a printable value.
bool check_content_type(const std::string &value, std::string *why);

// `ca-file`: a readable file holding at least one PEM certificate.
bool check_ca_file(const std::string &path, std::string *why);

// `index`: at most kMaxFirstIndex.
bool check_first_index(uint64_t index, std::string *why);

// The name `tmpl` gives the first frame (index `index`, batch `batch`,
// stream `stream`, extension `ext`, capture time now) is a valid object
// name: one that is not can never be stored (too long, "." or "..",
// control characters from stream-name...).
bool check_first_name(const NameTemplate &tmpl, const std::string &stream, uint64_t index, uint64_t batch,
                      const char *ext, std::string *why);

}  // namespace gcsfs
