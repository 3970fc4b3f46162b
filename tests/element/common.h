// Helpers shared by the element tests.
#pragma once

#include <gst/check/gstcheck.h>

#include <string>
#include <utility>
#include <vector>

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

using Props = std::vector<std::pair<std::string, std::string>>;

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

// Takes a sink with `props` to PAUSED, which must fail; returns the error.
[[maybe_unused]] static std::string start_error(const Props &props)
{
  GstElement *sink = make_sink(props);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(sink, bus);
  ck_assert_int_eq(gst_element_set_state(sink, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  ck_assert_msg(m != nullptr, "no error message for settings with %zu properties", props.size());
  std::string out = message_text(m);
  gst_message_unref(m);
  gst_element_set_state(sink, GST_STATE_NULL);
  gst_element_set_bus(sink, nullptr);
  gst_object_unref(bus);
  gst_object_unref(sink);
  return out;
}
