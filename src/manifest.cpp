// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "manifest.h"

#include "fileio.h"
#include "status.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <map>
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

// The upstream stream-id of a batch: its first frame's ("" when none).
std::string batch_stream_id(const SettledBatch &b)
{
  const Frame *first = b.frames.empty() ? nullptr : &b.frames.front().frame;
  return first && first->stream_id ? *first->stream_id : std::string();
}

}  // namespace

// One manifest file, shared by every sink of the process writing to the same
// path (streamiddemux branches, say): one lock, one size, one rotation.
struct Manifest::File {
  std::string path;
  uint64_t max_bytes = 0;
  std::mutex mutex;  // a leaf lock: fd
  int fd = -1;

  ~File()
  {
    if (fd >= 0)
      ::close(fd);
  }

  // (Re)opens `path`. Non-blocking, so that a FIFO without a reader fails
  // instead of hanging the start (no effect on a regular file).
  bool reopen(std::string *error)
  {
    if (fd >= 0)
      ::close(fd);
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
      *error = g_strerror(errno);
      return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      *error = "it is not a regular file";
      ::close(fd);
      fd = -1;
      return false;
    }
    return true;
  }

  // The file's size now, reopening it first when `path` names another file
  // than the one open (renamed or removed by someone else).
  bool current_size(uint64_t *size, std::string *error)
  {
    struct stat open_st, path_st;
    if (fd < 0 || fstat(fd, &open_st) != 0 || g_stat(path.c_str(), &path_st) != 0 ||
        open_st.st_ino != path_st.st_ino || open_st.st_dev != path_st.st_dev) {
      if (!reopen(error))
        return false;
      if (fstat(fd, &open_st) != 0) {
        *error = g_strerror(errno);
        return false;
      }
    }
    *size = uint64_t(open_st.st_size);
    return true;
  }

  bool append(const std::string &line, std::string *error)
  {
    std::lock_guard<std::mutex> lk(mutex);
    uint64_t size = 0;
    if (!current_size(&size, error))
      return false;
    std::string out;
    if (size > 0) {
      char last = '\n';
      if (pread(fd, &last, 1, off_t(size - 1)) == 1 && last != '\n')
        out += '\n';  // a line left unfinished (a crash, a failed cut): end it first
    }
    out += line;
    out += '\n';
    if (max_bytes > 0 && size > 0 && size + out.size() > max_bytes) {
      const std::string old = path + ".1";
      if (g_rename(path.c_str(), old.c_str()) != 0) {
        *error = "cannot rotate it to " + old + ": " + g_strerror(errno);
        return false;
      }
      if (!reopen(error)) {
        *error = "rotated to " + old + ", but cannot open a new file: " + *error;
        return false;
      }
      fsync_dir(dir_of(path));  // both names are durable before lines go to the new file
      size = 0;
      if (out[0] == '\n')
        out.erase(0, 1);
    }
    if (!write_all(fd, out.data(), out.size()) || fdatasync(fd) != 0) {
      *error = g_strerror(errno);
      // Cut off what part of the line got written; if that fails too, the
      // next line ends it first (above).
      if (ftruncate(fd, off_t(size)) != 0)
        g_debug("manifest %s: cannot cut a failed line off: %s", path.c_str(), g_strerror(errno));
      return false;
    }
    return true;
  }
};

std::unique_ptr<Manifest> Manifest::open(const std::string &path, uint64_t max_bytes, const std::string &stream,
                                         std::string *error)
{
  static std::mutex registry_mutex;  // a leaf lock: the files open in this process
  static std::map<std::string, std::weak_ptr<File>> registry;
  gchar *canonical = g_canonicalize_filename(path.c_str(), nullptr);
  const std::string key = canonical;
  g_free(canonical);
  std::shared_ptr<File> file;
  {
    std::lock_guard<std::mutex> lk(registry_mutex);
    file = registry[key].lock();
    if (!file) {
      file = std::make_shared<File>();
      file->path = path;
      file->max_bytes = max_bytes;
      std::lock_guard<std::mutex> flk(file->mutex);
      if (!file->reopen(error)) {
        *error = "manifest-location \"" + path + "\" cannot be opened for appending: " + *error +
                 "; set it to a file in a folder that exists and that this process may write";
        return nullptr;
      }
      registry[key] = file;
    }
  }
  std::unique_ptr<Manifest> m(new Manifest(path, stream));  // private constructor
  m->file_ = std::move(file);
  return m;
}

Manifest::~Manifest() = default;

bool Manifest::append(const std::string &line, std::string *error)
{
  return file_->append(line, error);
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
                      {"stream-id", batch_stream_id(b)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Manifest::spool_line(const SpoolRecord &r, const std::string &uri, const std::string &url) const
{
  nlohmann::json j = {{"message", "GstGcsFrameSinkSpool"}, {"stream", stream_}, {"run", r.run},
                      {"index", r.index}, {"batch", r.batch}, {"filename", r.object_name},
                      {"uri", uri}, {"url", url}, {"timestamp", time_or_null(r.pts)}, {"status", "uploaded"}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string batch_manifest_json(const SettledBatch &b, const std::string &bucket, const std::string &stream,
                                const std::string &run)
{
  nlohmann::json frames = nlohmann::json::array();
  for (const SettledFrame &f : b.frames) {
    const UploadResult &r = f.result;
    frames.push_back({{"index", f.frame.index}, {"name", f.frame.object_name}, {"uri", f.uri}, {"url", f.url},
                      {"status", frame_status_name(r.status)}, {"size", f.frame.size}, {"crc32c", r.crc32c},
                      {"md5", r.md5}, {"generation", r.generation}, {"timestamp", time_or_null(f.frame.pts)},
                      {"running-time", time_or_null(f.frame.running_time)}});
  }
  nlohmann::json j = {{"bucket", bucket}, {"stream", stream}, {"stream-id", batch_stream_id(b)},
                      {"run", run}, {"batch", b.batch}, {"first-index", b.first_index},
                      {"count", b.frames.size()}, {"uploaded", b.uploaded}, {"failed", b.failed},
                      {"upload-time", b.upload_time_ns}, {"frames", std::move(frames)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gcsfs
