#include "sink-config.h"

#include "naming.h"

#include <glib.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>
#include <memory>

namespace gcsfs {

namespace {

bool has_control_chars(const std::string &v)
{
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f)
      return true;
  return false;
}

bool valid_header_name(const std::string &n)
{
  if (n.empty())
    return false;
  for (unsigned char c : n)
    if (!(g_ascii_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c))))
      return false;
  return true;
}

// C escapes for control characters, so that a message shows them.
std::string escaped(const std::string &v)
{
  static const std::string non_ascii = [] {  // kept as they are: UTF-8
    std::string s;
    for (int c = 0x80; c <= 0xff; c++)
      s += char(c);
    return s;
  }();
  gchar *e = g_strescape(v.c_str(), non_ascii.c_str());
  std::string out(e);
  g_free(e);
  return out;
}

}  // namespace

bool check_utf8(const char *name, const std::string &value, std::string *why)
{
  const gchar *end = nullptr;
  if (g_utf8_validate(value.data(), gssize(value.size()), &end))
    return true;
  *why = std::string(name) + " is not valid UTF-8 (an invalid byte at offset " +
         std::to_string(end - value.data()) + "); set it from UTF-8 text";
  return false;
}

bool check_extra_header(const std::string &name, const std::string &value, std::string *why)
{
  if (!valid_header_name(name) || has_control_chars(value)) {
    *why = "extra-headers: \"" + name +
           "\" is not a valid HTTP header (name of token characters, value without control characters), "
           "for example extra-headers=\"h,x-goog-user-project=my-project\"";
    return false;
  }
  for (const char *owned : {"Authorization", "Content-Length", "Content-Type", "Host", "Transfer-Encoding"}) {
    if (g_ascii_strcasecmp(name.c_str(), owned) == 0) {
      *why = "extra-headers: the element sets " + std::string(owned) +
             " itself; remove it (for the stored object's type use content-type, for credentials use the "
             "credentials property)";
      return false;
    }
  }
  return true;
}

bool check_content_type(const std::string &value, std::string *why)
{
  if (!has_control_chars(value))
    return true;
  *why = "content-type \"" + value + "\" contains control characters; use a media type such as image/jpeg";
  return false;
}

bool check_ca_file(const std::string &path, std::string *why)
{
  const std::string fix = "; set it to a PEM bundle of the CAs that sign the endpoint's certificate";
  if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR)) {
    *why = "ca-file \"" + path + "\" is not a readable file" + fix;
    return false;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) {
    *why = "ca-file \"" + path + "\" cannot be read" + fix;
    ERR_clear_error();
    return false;
  }
  unsigned certs = 0;
  while (X509 *cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_free(cert);
    certs++;
  }
  ERR_clear_error();  // the read that ended the loop
  if (certs == 0) {
    *why = "ca-file \"" + path + "\" holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")" + fix;
    return false;
  }
  return true;
}

bool check_first_index(uint64_t index, std::string *why)
{
  if (index <= kMaxFirstIndex)
    return true;
  *why = "index " + std::to_string(index) + " would wrap around past 2^64; set it to at most " +
         std::to_string(kMaxFirstIndex);
  return false;
}

bool check_first_name(const NameTemplate &tmpl, const std::string &stream, uint64_t index, uint64_t batch,
                      const char *ext, std::string *why)
{
  NameFields f;
  f.index = index;
  f.batch = batch;
  f.stream = stream;
  f.pts_ns = 0;
  f.capture_unix_us = g_get_real_time();
  f.ext = ext;
  std::string name = tmpl.expand(f), reason;
  if (validate_object_name(name, &reason))
    return true;
  *why = "object-name with stream-name \"" + escaped(stream) + "\" gives names that can never be stored (\"" +
         escaped(name.size() > 80 ? name.substr(0, 80) + "..." : name) + "\": " + reason +
         "); change object-name or stream-name";
  return false;
}

}  // namespace gcsfs
