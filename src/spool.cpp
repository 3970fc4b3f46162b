// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "spool.h"

#include "checksum.h"
#include "fileio.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gcsfs {

namespace {

constexpr const char *kSuffix = ".frame";
constexpr const char *kTempPrefix = ".tmp-";

std::string seq_name(uint64_t seq)
{
  char buf[32];
  snprintf(buf, sizeof buf, "%020" PRIu64 "%s", seq, kSuffix);
  return buf;
}

// The sequence number of a spool file's name, or false for other names.
bool parse_seq(const char *name, uint64_t *seq)
{
  size_t len = strlen(name);
  if (len != 20 + strlen(kSuffix) || strcmp(name + 20, kSuffix) != 0)
    return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9')
      return false;
    v = v * 10 + uint64_t(name[i] - '0');
  }
  *seq = v;
  return true;
}

uint64_t file_size(const std::string &path)
{
  GStatBuf st;
  return g_stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

std::string errno_text(int e)
{
  return g_strerror(e);
}

nlohmann::json to_json(const SpoolRecord &r, size_t size, uint32_t crc)
{
  return {{"name", r.object_name}, {"content_type", r.content_type}, {"run", r.run}, {"index", r.index},
          {"batch", r.batch}, {"pts", r.pts}, {"duration", r.duration}, {"running_time", r.running_time},
          {"stream_time", r.stream_time}, {"offset", r.offset}, {"offset_end", r.offset_end},
          {"capture_unix_us", r.capture_unix_us}, {"size", uint64_t(size)}, {"crc32c", crc32c_to_base64(crc)}};
}

template <typename T>
bool get(const nlohmann::json &j, const char *key, T *out)
{
  auto it = j.find(key);
  if (it == j.end())
    return false;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string())
      return false;
    *out = it->get<std::string>();
  } else {
    if (!it->is_number_integer())
      return false;
    *out = it->get<T>();
  }
  return true;
}

}  // namespace

std::unique_ptr<Spool> Spool::open(const std::string &dir, uint64_t max_bytes, std::string *error)
{
  const std::string fix = "; set spool-location to a folder this process can create and write";
  if (g_mkdir_with_parents(dir.c_str(), 0700) != 0) {
    *error = "cannot create the spool folder \"" + dir + "\": " + errno_text(errno) + fix;
    return nullptr;
  }
  std::unique_ptr<Spool> s(new Spool());
  s->dir_ = dir;
  s->max_bytes_ = max_bytes;
  // Writable? A probe file written and removed the way frames are.
  std::string probe = dir + "/" + kTempPrefix + "probe";
  if (!s->write_file(probe, "", nullptr, 0, error)) {
    *error = "the spool folder \"" + dir + "\" is not writable: " + *error + fix;
    return nullptr;
  }
  g_unlink(probe.c_str());
  GDir *d = g_dir_open(dir.c_str(), 0, nullptr);
  if (!d) {
    *error = "cannot read the spool folder \"" + dir + "\"" + fix;
    return nullptr;
  }
  while (const gchar *name = g_dir_read_name(d)) {
    uint64_t seq = 0;
    std::string path = dir + "/" + name;
    if (g_str_has_prefix(name, kTempPrefix)) {
      g_unlink(path.c_str());  // a write a crash cut short: the frame was never accepted as spooled
    } else if (parse_seq(name, &seq)) {
      s->next_seq_ = std::max(s->next_seq_, seq + 1);
      s->used_ += file_size(path);
    }
  }
  g_dir_close(d);
  return s;
}

bool Spool::write_file(const std::string &path, const std::string &head, const uint8_t *data, size_t size,
                       std::string *error, bool durable) const
{
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = errno_text(errno);
    return false;
  }
  bool ok = write_all(fd, head.data(), head.size()) && (size == 0 || write_all(fd, data, size)) && (!durable || fsync(fd) == 0);
  int e = errno;
  ::close(fd);
  if (!ok) {
    *error = errno_text(e);
    g_unlink(path.c_str());
  }
  return ok;
}

bool Spool::put(const SpoolRecord &meta, const uint8_t *data, size_t size, std::vector<SpoolRecord> *evicted,
                std::string *error, bool durable, uint64_t *seq_out)
{
  std::string head = std::string(kMagic) + to_json(meta, size, crc32c(data, size)).dump() + "\n";
  uint64_t need = head.size() + size;
  if (need > max_bytes_) {
    *error = "the frame (" + std::to_string(need) + " bytes with its header) is larger than spool-max-size (" +
             std::to_string(max_bytes_) + " bytes)";
    return false;
  }
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    seq = next_seq_++;
  }
  // Make room: the oldest frames go first (the folder is listed only then).
  bool full;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    full = used_ + need > max_bytes_;
  }
  for (const SpoolEntry &e : full ? list() : std::vector<SpoolEntry>()) {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      if (used_ + need <= max_bytes_)
        break;
    }
    SpoolRecord old;
    std::string why;
    if (read(e, &old, &why)) {
      old.bytes.clear();
      evicted->push_back(std::move(old));
    }
    remove(e);
  }
  std::string tmp = dir_ + "/" + kTempPrefix + seq_name(seq);
  std::string path = dir_ + "/" + seq_name(seq);
  if (!write_file(tmp, head, data, size, error, durable)) {
    *error = "cannot write to the spool folder \"" + dir_ + "\": " + *error;
    return false;
  }
  if (g_rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot write to the spool folder \"" + dir_ + "\": " + errno_text(errno);
    g_unlink(tmp.c_str());
    return false;
  }
  if (durable)
    fsync_dir(dir_);  // the rename itself survives a power cut
  else
    unsynced_ = true;
  if (seq_out)
    *seq_out = seq;
  std::lock_guard<std::mutex> lk(mutex_);
  used_ += need;
  return true;
}

std::vector<SpoolEntry> Spool::list() const
{
  std::vector<SpoolEntry> out;
  GDir *d = g_dir_open(dir_.c_str(), 0, nullptr);
  if (!d)
    return out;
  while (const gchar *name = g_dir_read_name(d)) {
    SpoolEntry e;
    if (!parse_seq(name, &e.seq))
      continue;
    e.path = dir_ + "/" + name;
    e.size = file_size(e.path);
    out.push_back(std::move(e));
  }
  g_dir_close(d);
  std::sort(out.begin(), out.end(), [](const SpoolEntry &a, const SpoolEntry &b) { return a.seq < b.seq; });
  return out;
}

bool Spool::read(const SpoolEntry &e, SpoolRecord *out, std::string *why)
{
  gchar *text = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(e.path.c_str(), &text, &len, nullptr)) {
    *why = "cannot read " + e.path;
    return false;
  }
  std::string file(text, len);
  g_free(text);
  auto corrupt = [&](const std::string &what) {
    *why = "the spool file " + e.path + " " + what + "; it is moved to " + dir_ + "/corrupt/";
    std::string aside = dir_ + "/corrupt";
    g_mkdir_with_parents(aside.c_str(), 0700);
    std::string base = e.path.substr(e.path.rfind('/') + 1);
    if (g_rename(e.path.c_str(), (aside + "/" + base).c_str()) != 0)
      g_unlink(e.path.c_str());
    std::lock_guard<std::mutex> lk(mutex_);
    used_ -= std::min(used_, e.size);
    return false;
  };
  const size_t magic = strlen(kMagic);
  if (file.compare(0, magic, kMagic) != 0)
    return corrupt("is not a spool file (no \"GCSFS-SPOOL 1\" header)");
  size_t nl = file.find('\n', magic);
  if (nl == std::string::npos)
    return corrupt("is truncated (in its header)");
  nlohmann::json j = nlohmann::json::parse(file.begin() + magic, file.begin() + nl, nullptr, false);
  SpoolRecord r;
  uint64_t size = 0;
  std::string crc;
  if (!j.is_object() || !get(j, "name", &r.object_name) || !get(j, "content_type", &r.content_type) ||
      !get(j, "run", &r.run) || !get(j, "index", &r.index) || !get(j, "batch", &r.batch) ||
      !get(j, "pts", &r.pts) || !get(j, "duration", &r.duration) || !get(j, "running_time", &r.running_time) ||
      !get(j, "stream_time", &r.stream_time) || !get(j, "offset", &r.offset) ||
      !get(j, "offset_end", &r.offset_end) || !get(j, "capture_unix_us", &r.capture_unix_us) ||
      !get(j, "size", &size) || !get(j, "crc32c", &crc))
    return corrupt("has a malformed header");
  if (file.size() - nl - 1 != size)
    return corrupt("is truncated or has extra bytes (" + std::to_string(file.size() - nl - 1) + " bytes of " +
                   std::to_string(size) + ")");
  r.bytes = file.substr(nl + 1);
  if (crc32c_to_base64(crc32c(r.bytes.data(), r.bytes.size())) != crc)
    return corrupt("does not match its crc32c (altered on disk)");
  *out = std::move(r);
  return true;
}

void Spool::remove(const SpoolEntry &e)
{
  if (g_unlink(e.path.c_str()) == 0) {
    std::lock_guard<std::mutex> lk(mutex_);
    used_ -= std::min(used_, e.size);
  }
}

void Spool::sync()
{
  if (!unsynced_.exchange(false))
    return;  // every file written so far was fsynced
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  syncfs(fd);
  ::close(fd);
}

bool Spool::has(uint64_t seq) const
{
  return g_file_test((dir_ + "/" + seq_name(seq)).c_str(), G_FILE_TEST_EXISTS);
}

void Spool::remove_seq(uint64_t seq)
{
  SpoolEntry e;
  e.seq = seq;
  e.path = dir_ + "/" + seq_name(seq);
  e.size = file_size(e.path);
  remove(e);
}

void Spool::forget(const SpoolEntry &e)
{
  std::lock_guard<std::mutex> lk(mutex_);
  used_ -= std::min(used_, e.size);
}

uint64_t Spool::bytes_used() const
{
  std::lock_guard<std::mutex> lk(mutex_);
  return used_;
}

}  // namespace gcsfs
