// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "transfer.h"

namespace gcsfs {

// Longest wait for socket activity before the loop looks at `abort` again;
// curl_multi_wakeup() ends a wait at once, so this only bounds a missed wake-up.
constexpr int kPollMs = 1000;

TransferEnd run_transfer(CURLM *multi, CURL *easy, const std::atomic<bool> &abort, CURLcode *code,
                         std::string *error)
{
  CURLMcode mc = curl_multi_add_handle(multi, easy);
  if (mc != CURLM_OK) {
    *error = std::string("libcurl could not start the request: ") + curl_multi_strerror(mc);
    return TransferEnd::Failed;
  }
  TransferEnd end = TransferEnd::Aborted;
  while (!abort) {
    int running = 0;
    mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      *error = std::string("libcurl failed: ") + curl_multi_strerror(mc);
      end = TransferEnd::Failed;
      break;
    }
    int left = 0;
    bool done = false;
    while (CURLMsg *msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) {
        *code = msg->data.result;
        done = true;
      }
    }
    if (done) {
      end = TransferEnd::Done;
      break;
    }
    curl_multi_poll(multi, nullptr, 0, kPollMs, nullptr);  // curl_multi_wakeup() ends it at once
  }
  curl_multi_remove_handle(multi, easy);
  return end;
}

}  // namespace gcsfs
