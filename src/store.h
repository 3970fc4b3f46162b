// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Where the uploader stores objects: the interface between the upload pool
// and the storage client.
#pragma once

#include "status.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gcsfs {

// Where the uploader stores objects. GcsClient is the real one; tests may
// supply another to exercise ordering and failure paths.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Stores one object, blocking the calling thread; called from many threads at once.
  virtual UploadResult insert(const std::string &object_name, std::string_view content_type, const uint8_t *data,
                              size_t size) = 0;
  // Cuts every call in flight short (they return aborted) until resume().
  virtual void abort_all() = 0;
  virtual void resume() = 0;
  // Public URL of an object.
  virtual std::string object_url(const std::string &object_name) const = 0;
  // TCP connections opened so far, where the store knows.
  virtual uint64_t connections_opened() const { return 0; }
  // Connections open now (idle and in use), where the store knows.
  virtual unsigned connections_open() const { return 0; }
  // Called by an upload thread as it ends: frees what the libraries the store
  // uses keep per thread, before the thread reports itself gone.
  virtual void end_thread() {}
};

}  // namespace gcsfs
