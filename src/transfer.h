// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// One libcurl transfer on its own multi handle, which another thread can cut
// short: it sets the abort flag, then calls curl_multi_wakeup() on the multi
// handle so that the wait ends at once. Used by uploads and token requests.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <string>

namespace gcsfs {

enum class TransferEnd {
  Done,     // the transfer completed; *code says how
  Aborted,  // `abort` was seen set
  Failed,   // libcurl's multi interface failed; *error says why
};

// Adds `easy` to `multi`, runs it until one of the ends above, and removes it.
TransferEnd run_transfer(CURLM *multi, CURL *easy, const std::atomic<bool> &abort, CURLcode *code,
                         std::string *error);

}  // namespace gcsfs
