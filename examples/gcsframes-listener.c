/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The gcsframesink authors */
/* gcsframes-listener: an application embedding gcsframesink.
 *
 * Builds a pipeline from a gst-launch-1.0 description, runs it and prints
 * every GstGcsFrameSinkBatch message the sink posts on the bus, in batch
 * order: one line per batch followed by one line per frame with its index,
 * status and URL.
 *
 *   gcsframes-listener                        # 100 test frames to bucket "demo"
 *   gcsframes-listener --check-order \
 *       'rtspsrc location=rtsp://127.0.0.1:8554/camera ! decodebin ! videoconvert ! jpegenc ! \
 *        gcsframesink bucket=frames endpoint=http://127.0.0.1:9023'
 *
 * The pipeline stops on EOS or on an error (exit status 1). SIGINT or SIGTERM
 * sends EOS so that the sink uploads the frames it holds and posts its last
 * batch; a second one stops at once (exit status 130). --max-frames N ends
 * the stream of each gcsframesink after its N-th frame (handy with live
 * sources such as rtspsrc).
 *
 * Exit status: 0 after EOS, 1 on an error or a failed check, 2 on bad usage.
 */

#include <gst/gst.h>
#include <glib-unix.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_PIPELINE \
  "videotestsrc num-buffers=100 ! video/x-raw,width=320,height=240 ! jpegenc ! gcsframesink name=sink bucket=demo"

#define MAX_WARNINGS_SHOWN 10

typedef struct {
  guint64 next_batch;   /* batch number expected next */
  guint64 next_index;   /* first-index expected next */
  gboolean seen;        /* a batch of this sink arrived */
} SinkOrder;

/* Ends one sink's stream after max frames: see limit_frames(). */
typedef struct {
  guint64 max;
  guint64 seen;
  gboolean ended;
} FrameLimit;

typedef struct {
  GMainLoop *loop;
  GstElement *pipeline;
  GHashTable *order;    /* GstObject* (a gcsframesink) -> SinkOrder* */
  guint n_sinks;        /* gcsframesink elements in the pipeline */
  gboolean check_order;
  gint expect_batches;  /* -1 = not checked */
  guint64 batches;
  guint64 frames, uploaded, failed;
  guint warnings;       /* warning messages received */
  gboolean eos;
  gboolean error;
  gboolean check_failed;
  guint interrupts;
} App;

static gboolean is_frame_sink(GstElement *element)
{
  GstElementFactory *f = gst_element_get_factory(element);
  return f && g_strcmp0(GST_OBJECT_NAME(f), "gcsframesink") == 0;
}

/* Calls fn on every gcsframesink of the pipeline, nested bins included. */
static void foreach_frame_sink(GstElement *pipeline, void (*fn)(GstElement *, gpointer), gpointer data)
{
  if (!GST_IS_BIN(pipeline)) {
    if (is_frame_sink(pipeline))
      fn(pipeline, data);
    return;
  }
  GstIterator *it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue item = G_VALUE_INIT;
  gboolean done = FALSE;
  while (!done) {
    switch (gst_iterator_next(it, &item)) {
      case GST_ITERATOR_OK: {
        GstElement *e = g_value_get_object(&item);
        if (is_frame_sink(e))
          fn(e, data);
        g_value_reset(&item);
        break;
      }
      case GST_ITERATOR_RESYNC: gst_iterator_resync(it); break;
      case GST_ITERATOR_ERROR:
      case GST_ITERATOR_DONE: done = TRUE; break;
    }
  }
  g_value_unset(&item);
  gst_iterator_free(it);
}

static void count_sink(GstElement *sink, gpointer data)
{
  (void)sink;
  (*(guint *)data)++;
}

/* Lets the first max buffers through; at the next one, sends EOS into the sink
 * (the streaming thread may do so from a probe: the stream lock is
 * recursive) so that it uploads what it holds, posts its last batch and
 * reports EOS, and drops that buffer. Upstream then gets GST_FLOW_EOS. */
static GstPadProbeReturn limit_frames(GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  (void)info;
  FrameLimit *limit = user_data;
  if (limit->ended)
    return GST_PAD_PROBE_DROP;
  if (limit->seen < limit->max) {
    limit->seen++;
    return GST_PAD_PROBE_OK;
  }
  limit->ended = TRUE;
  GstObject *sink = gst_pad_get_parent(pad);
  g_printerr("%s: %" G_GUINT64_FORMAT " frames taken: sending EOS\n", sink ? GST_OBJECT_NAME(sink) : "sink",
             limit->max);
  if (sink)
    gst_object_unref(sink);
  gst_pad_send_event(pad, gst_event_new_eos());
  return GST_PAD_PROBE_DROP;
}

static void add_frame_limit(GstElement *sink, gpointer data)
{
  GstPad *pad = gst_element_get_static_pad(sink, "sink");
  if (!pad)
    return;
  FrameLimit *limit = g_new0(FrameLimit, 1);
  limit->max = *(guint64 *)data;
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, limit_frames, limit, g_free);
  gst_object_unref(pad);
}

static void print_stats(GstElement *sink, gpointer data)
{
  (void)data;
  GstStructure *stats = NULL;
  g_object_get(sink, "stats", &stats, NULL);
  if (!stats)
    return;
  gchar *str = gst_structure_to_string(stats);
  g_printerr("%s stats: %s\n", GST_OBJECT_NAME(sink), str);
  g_free(str);
  gst_structure_free(stats);
}

/* The n-th string of a GstValueArray field, or "" */
static const gchar *array_string(const GValue *array, guint n)
{
  if (!array || !GST_VALUE_HOLDS_ARRAY(array) || n >= gst_value_array_get_size(array))
    return "";
  const GValue *v = gst_value_array_get_value(array, n);
  return G_VALUE_HOLDS_STRING(v) && g_value_get_string(v) ? g_value_get_string(v) : "";
}

static void order_violation(App *app, const gchar *sink, const gchar *format, ...) G_GNUC_PRINTF(3, 4);

static void order_violation(App *app, const gchar *sink, const gchar *format, ...)
{
  va_list args;
  va_start(args, format);
  gchar *msg = g_strdup_vprintf(format, args);
  va_end(args);
  g_printerr("ORDER CHECK FAILED (%s): %s\n", sink, msg);
  g_free(msg);
  app->check_failed = TRUE;
}

static void check_batch_order(App *app, GstObject *src, guint64 batch, guint64 first_index, guint count,
                              const GstStructure *s)
{
  SinkOrder *o = g_hash_table_lookup(app->order, src);
  if (!o) {
    o = g_new0(SinkOrder, 1);
    g_hash_table_insert(app->order, gst_object_ref(src), o);
  }
  const gchar *name = GST_OBJECT_NAME(src);
  if (!o->seen) {
    /* The first batch is batch 0 and starts at the sink's index property. */
    guint64 start = 0;
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(src), "index"))
      g_object_get(src, "index", &start, NULL);
    o->next_batch = 0;
    o->next_index = start;
    o->seen = TRUE;
  }
  if (batch != o->next_batch)
    order_violation(app, name, "batch %" G_GUINT64_FORMAT " arrived, expected batch %" G_GUINT64_FORMAT, batch,
                    o->next_batch);
  if (first_index != o->next_index)
    order_violation(app, name,
                    "batch %" G_GUINT64_FORMAT " starts at index %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT,
                    batch, first_index, o->next_index);
  if (count == 0)
    order_violation(app, name, "batch %" G_GUINT64_FORMAT " is empty", batch);
  static const gchar *arrays[] = {"uris", "urls", "object-names", "timestamps", "running-times", "status"};
  for (guint i = 0; i < G_N_ELEMENTS(arrays); i++) {
    const GValue *a = gst_structure_get_value(s, arrays[i]);
    guint n = a && GST_VALUE_HOLDS_ARRAY(a) ? gst_value_array_get_size(a) : 0;
    if (n != count)
      order_violation(app, name, "batch %" G_GUINT64_FORMAT " has %u %s for %u frames", batch, n, arrays[i], count);
  }
  o->next_batch = batch + 1;
  o->next_index = first_index + count;
}

static void on_batch(App *app, GstMessage *msg, const GstStructure *s)
{
  guint64 batch = 0, first_index = 0, upload_time = 0;
  guint count = 0, uploaded = 0, failed = 0;
  gst_structure_get_uint64(s, "batch", &batch);
  gst_structure_get_uint64(s, "first-index", &first_index);
  gst_structure_get_uint(s, "count", &count);
  gst_structure_get_uint(s, "uploaded", &uploaded);
  gst_structure_get_uint(s, "failed", &failed);
  gst_structure_get_uint64(s, "upload-time", &upload_time);
  const GValue *urls = gst_structure_get_value(s, "urls");
  const GValue *status = gst_structure_get_value(s, "status");

  /* With several sinks in one pipeline, each line names its sink. */
  gchar *prefix = app->n_sinks > 1 ? g_strdup_printf("%s: ", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) : g_strdup("");
  printf("%sbatch %" G_GUINT64_FORMAT " (first-index %" G_GUINT64_FORMAT ", count %u, uploaded %u, failed %u, "
         "upload-time %.1f ms)\n",
         prefix, batch, first_index, count, uploaded, failed, (double)upload_time / GST_MSECOND);
  for (guint i = 0; i < count; i++)
    printf("%s  %" G_GUINT64_FORMAT " %s %s\n", prefix, first_index + i, array_string(status, i),
           array_string(urls, i));
  fflush(stdout);
  g_free(prefix);

  app->batches++;
  app->frames += count;
  app->uploaded += uploaded;
  app->failed += failed;
  if (app->check_order)
    check_batch_order(app, GST_MESSAGE_SRC(msg), batch, first_index, count, s);
}

static void print_error_or_warning(GstMessage *msg, const gchar *kind)
{
  GError *err = NULL;
  gchar *debug = NULL;
  if (kind[0] == 'E')
    gst_message_parse_error(msg, &err, &debug);
  else
    gst_message_parse_warning(msg, &err, &debug);
  gchar *src = GST_MESSAGE_SRC(msg) ? gst_object_get_path_string(GST_MESSAGE_SRC(msg)) : g_strdup("?");
  g_printerr("%s from %s: %s\n", kind, src, err ? err->message : "(no message)");
  g_printerr("Debug: %s\n", debug ? debug : "(none)");
  g_free(src);
  g_free(debug);
  g_clear_error(&err);
}

static gboolean on_bus_message(GstBus *bus, GstMessage *msg, gpointer user_data)
{
  (void)bus;
  App *app = user_data;
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure(msg);
      if (s && gst_structure_has_name(s, "GstGcsFrameSinkBatch"))
        on_batch(app, msg, s);
      break;
    }
    case GST_MESSAGE_EOS:
      g_printerr("EOS: every batch has been posted\n");
      app->eos = TRUE;
      g_main_loop_quit(app->loop);
      break;
    case GST_MESSAGE_ERROR:
      print_error_or_warning(msg, "ERROR");
      app->error = TRUE;
      g_main_loop_quit(app->loop);
      break;
    case GST_MESSAGE_WARNING:
      /* A failing endpoint gives one warning per frame: show the first few. */
      if (++app->warnings <= MAX_WARNINGS_SHOWN)
        print_error_or_warning(msg, "WARNING");
      if (app->warnings == MAX_WARNINGS_SHOWN)
        g_printerr("(further warnings are counted, not shown)\n");
      break;
    case GST_MESSAGE_CLOCK_LOST:
      /* A live source's clock went away: pick a new one. */
      gst_element_set_state(app->pipeline, GST_STATE_PAUSED);
      gst_element_set_state(app->pipeline, GST_STATE_PLAYING);
      break;
    default: break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean on_interrupt(gpointer user_data)
{
  App *app = user_data;
  app->interrupts++;
  if (app->interrupts == 1) {
    g_printerr("Interrupted: sending EOS so that the last batch is uploaded (interrupt again to stop at once)\n");
    gst_element_send_event(app->pipeline, gst_event_new_eos());
  } else {
    g_printerr("Interrupted again: stopping without waiting for uploads\n");
    g_main_loop_quit(app->loop);
  }
  return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
  gint expect_batches = -1;
  gint64 max_frames = 0;
  gboolean check_order = FALSE;
  gchar **rest = NULL;
  GError *error = NULL;

  GOptionEntry entries[] = {
      {"expect-batches", 'b', 0, G_OPTION_ARG_INT, &expect_batches,
       "Exit with status 1 unless exactly N batch messages arrive", "N"},
      {"check-order", 'c', 0, G_OPTION_ARG_NONE, &check_order,
       "Exit with status 1 unless each sink's batches are numbered from 0 without gaps and their frame indices "
       "follow one another",
       NULL},
      {"max-frames", 'n', 0, G_OPTION_ARG_INT64, &max_frames,
       "End the stream of each gcsframesink after N frames (0 = no limit)", "N"},
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL, "[PIPELINE-DESCRIPTION]"},
      {NULL},
  };
  GOptionContext *ctx = g_option_context_new("[PIPELINE-DESCRIPTION] - run a pipeline and print gcsframesink's batches");
  g_option_context_set_summary(ctx, "PIPELINE-DESCRIPTION is a gst-launch-1.0 description, as one argument or "
                                    "several; the default is\n  " DEFAULT_PIPELINE);
  g_option_context_set_description(ctx, "Exit status: 0 after EOS, 1 on an error or a failed check, 2 on bad usage, "
                                        "130 when interrupted twice.\n");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    g_printerr("%s\n", error->message);
    g_clear_error(&error);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);
  if (expect_batches < -1) {
    g_printerr("--expect-batches must be 0 or more\n");
    return 2;
  }
  if (max_frames < 0) {
    g_printerr("--max-frames must be 0 or more\n");
    return 2;
  }

  GstElement *pipeline = NULL;
  GstParseContext *pctx = gst_parse_context_new();
  guint n_rest = rest ? g_strv_length(rest) : 0;
  if (n_rest == 0)
    pipeline = gst_parse_launch_full(DEFAULT_PIPELINE, pctx, GST_PARSE_FLAG_FATAL_ERRORS, &error);
  else if (n_rest == 1)
    pipeline = gst_parse_launch_full(rest[0], pctx, GST_PARSE_FLAG_FATAL_ERRORS, &error);
  else
    pipeline = gst_parse_launchv_full((const gchar **)rest, pctx, GST_PARSE_FLAG_FATAL_ERRORS, &error);
  g_strfreev(rest);
  if (!pipeline || error) {
    g_printerr("Cannot build the pipeline: %s\n", error ? error->message : "unknown error");
    gchar **missing = gst_parse_context_get_missing_elements(pctx);
    for (guint i = 0; missing && missing[i]; i++) {
      if (g_strcmp0(missing[i], "gcsframesink") == 0)
        g_printerr("(gcsframesink is in libgstgcsframes.so: set GST_PLUGIN_PATH to the directory that holds it, "
                   "for example build/gst)\n");
    }
    g_strfreev(missing);
    gst_parse_context_free(pctx);
    g_clear_error(&error);
    if (pipeline)
      gst_object_unref(pipeline);
    return 1;
  }
  gst_parse_context_free(pctx);

  /* A description of one element gives that element: put it in a pipeline. */
  if (!GST_IS_PIPELINE(pipeline)) {
    GstElement *p = gst_pipeline_new(NULL);
    gst_bin_add(GST_BIN(p), pipeline);
    pipeline = p;
  }

  gst_pipeline_set_auto_flush_bus(GST_PIPELINE(pipeline), FALSE);

  App app = {0};
  app.loop = g_main_loop_new(NULL, FALSE);
  app.pipeline = pipeline;
  app.order = g_hash_table_new_full(g_direct_hash, g_direct_equal, gst_object_unref, g_free);
  app.check_order = check_order;
  app.expect_batches = expect_batches;
  foreach_frame_sink(pipeline, count_sink, &app.n_sinks);
  if (app.n_sinks == 0)
    g_printerr("Warning: the pipeline has no gcsframesink; no batch will be printed\n");
  if (max_frames > 0) {
    guint64 max = (guint64)max_frames;
    foreach_frame_sink(pipeline, add_frame_limit, &max);
  }

  GstBus *bus = gst_element_get_bus(pipeline);
  guint bus_watch = gst_bus_add_watch(bus, on_bus_message, &app);
  gst_object_unref(bus);
  guint sigint_source = g_unix_signal_add(SIGINT, on_interrupt, &app);
  guint sigterm_source = g_unix_signal_add(SIGTERM, on_interrupt, &app);

  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* The reason is on the bus as an error message; the watch prints it. */
    GstBus *b = gst_element_get_bus(pipeline);
    GstMessage *msg = gst_bus_timed_pop_filtered(b, 2 * GST_SECOND, GST_MESSAGE_ERROR);
    if (msg) {
      print_error_or_warning(msg, "ERROR");
      gst_message_unref(msg);
    } else {
      g_printerr("ERROR: the pipeline cannot start\n");
    }
    gst_object_unref(b);
    app.error = TRUE;
  } else {
    g_main_loop_run(app.loop);
  }

  /* Going to NULL stops the sinks: frames still in flight (only after an
   * error or a second interrupt) are dropped and their batches posted while
   * the sink stops, which is in READY->NULL; auto-flush-bus is off so that
   * those messages stay on the bus to be read here. */
  gst_element_set_state(pipeline, GST_STATE_NULL);
  GstBus *rest_bus = gst_element_get_bus(pipeline);
  GstMessage *late;
  while ((late = gst_bus_pop_filtered(rest_bus, GST_MESSAGE_ELEMENT | GST_MESSAGE_WARNING))) {
    on_bus_message(rest_bus, late, &app);
    gst_message_unref(late);
  }
  gst_object_unref(rest_bus);
  foreach_frame_sink(pipeline, print_stats, NULL);

  g_source_remove(sigint_source);
  g_source_remove(sigterm_source);
  g_source_remove(bus_watch);

  g_printerr("%" G_GUINT64_FORMAT " batches, %" G_GUINT64_FORMAT " frames: %" G_GUINT64_FORMAT
             " uploaded, %" G_GUINT64_FORMAT " failed",
             app.batches, app.frames, app.uploaded, app.failed);
  if (app.warnings > MAX_WARNINGS_SHOWN)
    g_printerr(" (%u warnings, %u not shown)", app.warnings, app.warnings - MAX_WARNINGS_SHOWN);
  g_printerr("\n");

  int status = 0;
  if (app.error) {
    status = 1;
  } else if (!app.eos) {
    status = 130;
  }
  if (app.expect_batches >= 0 && app.batches != (guint64)app.expect_batches) {
    g_printerr("BATCH COUNT CHECK FAILED: %" G_GUINT64_FORMAT " batches arrived, expected %d\n", app.batches,
               app.expect_batches);
    if (status == 0)
      status = 1;
  }
  if (app.check_failed && status == 0)
    status = 1;
  if (app.check_order && !app.check_failed && !app.error)
    g_printerr("Order check passed\n");

  g_hash_table_destroy(app.order);
  gst_object_unref(pipeline);
  g_main_loop_unref(app.loop);
  gst_deinit();
  return status;
}
