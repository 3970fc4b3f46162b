// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Helpers shared by the element tests.
#pragma once

#include <gst/check/gstcheck.h>

#include "../check-strings.h"

#include <string>
#include <utility>
#include <vector>

using Props = std::vector<std::pair<std::string, std::string>>;

// Each test sets its endpoint itself: the emulator variables of the machine
// running the tests would otherwise pick one (and anonymous credentials).
[[maybe_unused]] static void clear_emulator_env()
{
  g_unsetenv("STORAGE_EMULATOR_HOST");
  g_unsetenv("CLOUD_STORAGE_EMULATOR_ENDPOINT");
}

// A gcsframesink with `props` set as from a launch line.
[[maybe_unused]] static GstElement *make_sink(const Props &props)
{
  GstElement *sink = gst_element_factory_make("gcsframesink", nullptr);
  ck_assert(sink != nullptr);
  for (const auto &kv : props)
    gst_util_set_object_arg(G_OBJECT(sink), kv.first.c_str(), kv.second.c_str());
  return sink;
}

// "message | debug" of an error or warning message.
[[maybe_unused]] static std::string message_text(GstMessage *m)
{
  GError *err = nullptr;
  gchar *dbg = nullptr;
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR)
    gst_message_parse_error(m, &err, &dbg);
  else
    gst_message_parse_warning(m, &err, &dbg);
  std::string out = std::string(err->message) + " | " + (dbg ? dbg : "");
  g_error_free(err);
  g_free(dbg);
  return out;
}

// Takes `sink` to PAUSED, which must fail; returns the error and unrefs it.
[[maybe_unused]] static std::string start_error(GstElement *sink)
{
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(sink, bus);
  ck_assert_int_eq(gst_element_set_state(sink, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  ck_assert_msg(m != nullptr, "no error message");
  std::string out = message_text(m);
  gst_message_unref(m);
  gst_element_set_state(sink, GST_STATE_NULL);
  gst_element_set_bus(sink, nullptr);
  gst_object_unref(bus);
  gst_object_unref(sink);
  return out;
}

// Takes a sink with `props` to PAUSED, which must fail; returns the error.
[[maybe_unused]] static std::string start_error(const Props &props)
{
  return start_error(make_sink(props));
}
