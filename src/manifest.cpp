// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "manifest.h"

#include "fileio.h"
#include "status.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gcsfs {

namespace {

// kTimeNone (GStreamer's CLOCK_TIME_NONE) as JSON null.
nlohmann::json time_or_null(uint64_t t)
{
  return t == kTimeNone ? nlohmann::json(nullptr) : nlohmann::json(t);
}

std::string dir_of(const std::string &path)
{
  gchar *d = g_path_get_dirname(path.c_str());
  std::string dir = d;
  g_free(d);
  return dir;
}

}  // namespace

std::unique_ptr<Manifest> Manifest::open(const std::string &path, uint64_t max_bytes, const std::string &stream,
                                         std::string *error)
{
  std::unique_ptr<Manifest> m(new Manifest(path, max_bytes, stream));  // private constructor
  if (!m->reopen(error)) {
    *error = "manifest-location \"" + path + "\" cannot be opened for appending: " + *error +
             "; set it to a file in a folder that exists and that this process may write";
    return nullptr;
  }
  return m;
}

Manifest::~Manifest()
{
  if (fd_ >= 0)
    ::close(fd_);
}

bool Manifest::reopen(std::string *error)
{
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *error = g_strerror(errno);
    return false;
  }
  struct stat st;
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "it is not a regular file";
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  size_ = uint64_t(st.st_size);
  return true;
}

bool Manifest::rotate(std::string *error)
{
  const std::string old = path_ + ".1";
  if (g_rename(path_.c_str(), old.c_str()) != 0) {
    *error = "cannot rename it to " + old + ": " + g_strerror(errno);
    return false;
  }
  if (!reopen(error))
    return false;
  fsync_dir(dir_of(path_));  // both names are durable before lines go to the new file
  return true;
}

bool Manifest::append(const std::string &line, std::string *error)
{
  std::lock_guard<std::mutex> lk(mutex_);
  const uint64_t n = line.size() + 1;
  if (fd_ < 0 && !reopen(error))  // a rotation that failed half-way
    return false;
  if (max_bytes_ > 0 && size_ > 0 && size_ + n > max_bytes_ && !rotate(error))
    return false;
  std::string out = line;
  out += '\n';
  if (!write_all(fd_, out.data(), out.size()) || fdatasync(fd_) != 0) {
    *error = g_strerror(errno);
    // Cut off what part of the line got written, so the next line starts a line.
    if (ftruncate(fd_, off_t(size_)) != 0) {
      std::string ignored;
      reopen(&ignored);
    }
    return false;
  }
  size_ += n;
  return true;
}

std::string Manifest::batch_line(const SettledBatch &b, const std::string &run) const
{
  nlohmann::json uris = nlohmann::json::array(), urls = nlohmann::json::array(), names = nlohmann::json::array(),
                 pts = nlohmann::json::array(), rts = nlohmann::json::array(), status = nlohmann::json::array();
  for (const SettledFrame &f : b.frames) {
    uris.push_back(f.uri);
    urls.push_back(f.url);
    names.push_back(f.frame.object_name);
    pts.push_back(time_or_null(f.frame.pts));
    rts.push_back(time_or_null(f.frame.running_time));
    status.push_back(frame_status_name(f.result.status));
  }
  nlohmann::json j = {{"message", "GstGcsFrameSinkBatch"}, {"stream", stream_}, {"run", run},
                      {"batch", b.batch}, {"first-index", b.first_index}, {"count", b.frames.size()},
                      {"uris", std::move(uris)}, {"urls", std::move(urls)}, {"object-names", std::move(names)},
                      {"timestamps", std::move(pts)}, {"running-times", std::move(rts)},
                      {"status", std::move(status)}, {"uploaded", b.uploaded}, {"failed", b.failed},
                      {"upload-time", b.upload_time_ns},
                      {"stream-id", b.frames.empty() || !b.frames.front().frame.stream_id
                                        ? std::string()
                                        : *b.frames.front().frame.stream_id}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Manifest::spool_line(const SpoolRecord &r, const std::string &uri, const std::string &url) const
{
  nlohmann::json j = {{"message", "GstGcsFrameSinkSpool"}, {"stream", stream_}, {"run", r.run},
                      {"index", r.index}, {"batch", r.batch}, {"filename", r.object_name},
                      {"uri", uri}, {"url", url}, {"timestamp", time_or_null(r.pts)}, {"status", "uploaded"}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gcsfs
