// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "bucket-manifest.h"

#include <chrono>

namespace gcsfs {

BucketManifests::BucketManifests(ObjectStore &store, NameTemplate tmpl, std::string bucket, std::string stream,
                                 std::string run, FailureFn on_failure)
    : store_(store), tmpl_(std::move(tmpl)), bucket_(std::move(bucket)), stream_(std::move(stream)),
      run_(std::move(run)), on_failure_(std::move(on_failure))
{
  started_ = true;
  for (unsigned i = 0; i < kThreads; i++) {
    GThread *t = g_thread_try_new("gcsfs-manifest", &BucketManifests::run_thread, this, nullptr);
    if (!t) {
      started_ = false;
      break;
    }
    threads_.push_back(t);
  }
}

BucketManifests::~BucketManifests()
{
  stop();
}

void BucketManifests::submit(const SettledBatch &b)
{
  NameFields nf;
  const Frame *first = b.frames.empty() ? nullptr : &b.frames.front().frame;
  nf.index = b.first_index;
  nf.batch = b.batch;
  nf.stream = stream_;
  nf.run = run_;
  nf.ext = "json";
  if (first) {
    nf.pts_ns = first->pts;
    nf.capture_unix_us = first->capture_unix_us;
    if (first->stream_id)
      nf.stream_id = *first->stream_id;
  }
  Item item;
  item.name = tmpl_.expand(nf);
  item.batch = b.batch;
  std::string why;
  if (!validate_object_name(item.name, &why)) {
    failed_++;
    on_failure_(item.name, b.batch, "not a valid object name: " + why);
    return;
  }
  item.json = batch_manifest_json(b, bucket_, stream_, run_);
  bool stopping;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    stopping = stopping_;
    if (!stopping && queue_.size() < kMaxQueued) {
      queue_.push_back(std::move(item));
      work_cond_.notify_one();
      return;
    }
  }
  failed_++;
  on_failure_(item.name, b.batch,
              stopping ? std::string("the element stopped before it was stored")
                       : std::to_string(kMaxQueued) + " manifests were already waiting to be stored");
}

gpointer BucketManifests::run_thread(gpointer self)
{
  auto *m = static_cast<BucketManifests *>(self);
  m->work();
  m->store_.end_thread();
  return nullptr;
}

void BucketManifests::work()
{
  std::unique_lock<std::mutex> lk(mutex_);
  for (;;) {
    work_cond_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty())
      return;  // stopping, nothing left
    Item item = std::move(queue_.front());
    queue_.pop_front();
    busy_++;
    lk.unlock();
    UploadResult r = store_.insert(item.name, "application/json", reinterpret_cast<const uint8_t *>(item.json.data()),
                                   item.json.size());
    if (r.status == FrameStatus::Uploaded) {
      uploaded_++;
    } else {
      failed_++;
      on_failure_(item.name, item.batch, r.message);
    }
    lk.lock();
    busy_--;
    idle_cond_.notify_all();
  }
}

DrainEnd BucketManifests::drain_until(int64_t deadline_us)
{
  std::unique_lock<std::mutex> lk(mutex_);
  auto settled = [this] { return flushing_ || (queue_.empty() && busy_ == 0); };
  while (!settled()) {
    if (deadline_us == 0) {
      idle_cond_.wait(lk);
      continue;
    }
    const int64_t left = deadline_us - g_get_monotonic_time();
    if (left <= 0)
      return DrainEnd::TimedOut;
    idle_cond_.wait_for(lk, std::chrono::microseconds(left));
  }
  return flushing_ ? DrainEnd::Interrupted : DrainEnd::Done;
}

void BucketManifests::set_flushing(bool flushing)
{
  std::lock_guard<std::mutex> lk(mutex_);
  flushing_ = flushing;
  idle_cond_.notify_all();
}

void BucketManifests::stop()
{
  std::deque<Item> left;
  {
    std::lock_guard<std::mutex> lk(mutex_);
    if (stopping_ && threads_.empty())
      return;
    stopping_ = true;
    left.swap(queue_);
    work_cond_.notify_all();
  }
  store_.abort_all();  // what is in flight returns aborted: counted failed by its thread
  for (GThread *t : threads_)
    g_thread_join(t);
  threads_.clear();
  for (const Item &item : left) {
    failed_++;
    on_failure_(item.name, item.batch, "the element stopped before it was stored");
  }
}

}  // namespace gcsfs
