// gcs-emulator: the bundled GCS emulator for tests, demo and benchmarks as a
// standalone program. Prints "listening on http://HOST:PORT" once ready and
// serves until SIGINT/SIGTERM.
#include <glib-unix.h>
#include <glib.h>

#include <csignal>
#include <cstdio>

#include "gcs-emulator.h"

int main(int argc, char** argv) {
  g_autofree gchar* host = nullptr;
  g_autofree gchar* root_dir = nullptr;
  g_auto(GStrv) buckets = nullptr;
  gint port = 0, latency = 0, jitter = 0;
  gboolean verbose = FALSE;
  GOptionEntry entries[] = {
      {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on (default 127.0.0.1)", "HOST"},
      {"port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port; 0 picks a free one (default)", "PORT"},
      {"latency-ms", 0, 0, G_OPTION_ARG_INT, &latency, "Delay added before each storage response", "MS"},
      {"jitter-ms", 0, 0, G_OPTION_ARG_INT, &jitter, "Uniform +- jitter around the latency", "MS"},
      {"root-dir", 0, 0, G_OPTION_ARG_FILENAME, &root_dir, "Store objects as files under DIR (default: in memory)", "DIR"},
      {"bucket", 'b', 0, G_OPTION_ARG_STRING_ARRAY, &buckets, "Create bucket NAME (repeatable)", "NAME"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log each request to stderr", nullptr},
      {}};
  GOptionContext* ctx = g_option_context_new("- bundled GCS emulator for tests, demo and benchmarks");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) error = nullptr;
  gboolean parsed = g_option_context_parse(ctx, &argc, &argv, &error);
  g_option_context_free(ctx);
  if (!parsed) {
    fprintf(stderr, "gcs-emulator: %s\n", error->message);
    return 2;
  }
  if (port < 0 || port > 65535 || latency < 0 || jitter < 0) {
    fprintf(stderr, "gcs-emulator: --port must be 0..65535, --latency-ms/--jitter-ms >= 0\n");
    return 2;
  }

  gcsemu::Options opts;
  if (host) opts.host = host;
  opts.port = static_cast<unsigned>(port);
  opts.latency_ms = static_cast<unsigned>(latency);
  opts.jitter_ms = static_cast<unsigned>(jitter);
  if (root_dir) opts.root_dir = root_dir;
  for (gchar** b = buckets; b && *b; ++b) opts.buckets.emplace_back(*b);
  opts.verbose = verbose;

  // Signal handlers first, so a script may signal as soon as it read the line.
  GMainLoop* loop = g_main_loop_new(nullptr, FALSE);
  auto quit = [](gpointer l) -> gboolean {
    g_main_loop_quit(static_cast<GMainLoop*>(l));
    return G_SOURCE_REMOVE;
  };
  g_unix_signal_add(SIGINT, quit, loop);
  g_unix_signal_add(SIGTERM, quit, loop);

  gcsemu::Emulator emulator(opts);
  std::string err;
  if (!emulator.start(&err)) {
    fprintf(stderr, "gcs-emulator: %s\n", err.c_str());
    g_main_loop_unref(loop);
    return 1;
  }
  printf("listening on %s\n", emulator.endpoint().c_str());
  fflush(stdout);
  g_main_loop_run(loop);
  g_main_loop_unref(loop);
  emulator.stop();
  return 0;
}
