// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// String assertions for Check-based tests (unit and element tests alike).
// Include it after <check.h> or <gst/check/gstcheck.h> (which bundles its own
// Check), whichever the test uses: it needs ck_assert_msg.
#pragma once

#include <string>

// ck_assert_str_eq keeps a pointer past the end of the full expression, so a
// temporary std::string's text would be gone: these compare copies.
[[maybe_unused]] static std::string copy_str(const char *s) { return s ? s : "(null)"; }
[[maybe_unused]] static std::string copy_str(const std::string &s) { return s; }
#define STR_EQ(a, b)                                                                      \
  do {                                                                                    \
    std::string _a = copy_str(a), _b = copy_str(b);                                       \
    ck_assert_msg(_a == _b, "%s == \"%s\", expected \"%s\"", #a, _a.c_str(), _b.c_str()); \
  } while (0)
#define STR_CONTAINS(hay, needle)                                                                              \
  do {                                                                                                         \
    std::string _h = copy_str(hay), _n = copy_str(needle);                                                     \
    ck_assert_msg(_h.find(_n) != std::string::npos, "\"%s\" does not contain \"%s\"", _h.c_str(), _n.c_str()); \
  } while (0)
