// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// gcs-emulator: the bundled GCS emulator for tests, demo and benchmarks as a
// standalone program. Prints "listening on http://HOST:PORT" (https:// with
// --tls-cert/--tls-key) once ready and serves until SIGINT/SIGTERM.
#include <glib-unix.h>
#include <glib.h>

#include <csignal>
#include <cstdio>

#include "gcs-emulator.h"

int main(int argc, char** argv) {
  g_autofree gchar* host = nullptr;
  g_autofree gchar* root_dir = nullptr;
  g_auto(GStrv) buckets = nullptr;
  gint port = 0, latency = 0, jitter = 0, answer_delay = 0;
  gboolean verbose = FALSE;
  g_autofree gchar* oauth_key = nullptr;
  g_autofree gchar* client_id = nullptr;
  g_autofree gchar* client_secret = nullptr;
  g_autofree gchar* refresh_token = nullptr;
  g_autofree gchar* tls_cert = nullptr;
  g_autofree gchar* tls_key = nullptr;
  gint token_lifetime = 3600, token_failures = 0;
  gboolean google_aud = FALSE, metadata = FALSE, require_auth = FALSE;
  GOptionEntry entries[] = {
      {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on (default 127.0.0.1)", "HOST"},
      {"port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port; 0 picks a free one (default)", "PORT"},
      {"latency-ms", 0, 0, G_OPTION_ARG_INT, &latency, "Delay added before each storage response", "MS"},
      {"jitter-ms", 0, 0, G_OPTION_ARG_INT, &jitter, "Uniform +- jitter around the latency", "MS"},
      {"answer-delay-ms", 0, 0, G_OPTION_ARG_INT, &answer_delay, "Store each upload at once but hold its answer MS (a server that stalls after storing)", "MS"},
      {"root-dir", 0, 0, G_OPTION_ARG_FILENAME, &root_dir, "Store objects as files under DIR (default: in memory)", "DIR"},
      {"bucket", 'b', 0, G_OPTION_ARG_STRING_ARRAY, &buckets, "Create bucket NAME (repeatable)", "NAME"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log each request to stderr", nullptr},
      {"oauth-public-key", 0, 0, G_OPTION_ARG_FILENAME, &oauth_key, "PEM public key verifying JWT-bearer assertions at POST /token", "FILE"},
      {"accept-google-audience", 0, 0, G_OPTION_ARG_NONE, &google_aud, "Also accept aud=https://oauth2.googleapis.com/token", nullptr},
      {"oauth-client-id", 0, 0, G_OPTION_ARG_STRING, &client_id, "Client id of the refresh-token grant", "ID"},
      {"oauth-client-secret", 0, 0, G_OPTION_ARG_STRING, &client_secret, "Client secret of the refresh-token grant", "SECRET"},
      {"oauth-refresh-token", 0, 0, G_OPTION_ARG_STRING, &refresh_token, "Refresh token of the refresh-token grant", "TOKEN"},
      {"token-lifetime", 0, 0, G_OPTION_ARG_INT, &token_lifetime, "Lifetime of issued access tokens (default 3600)", "SECONDS"},
      {"token-failures", 0, 0, G_OPTION_ARG_INT, &token_failures, "The first N token requests answer 503 (a token server outage)", "N"},
      {"metadata-server", 0, 0, G_OPTION_ARG_NONE, &metadata, "Serve the GCE metadata server's token endpoint", nullptr},
      {"require-auth", 0, 0, G_OPTION_ARG_NONE, &require_auth, "Storage requests need a bearer token issued here", nullptr},
      {"tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert, "PEM certificate (chain): serve HTTPS", "FILE"},
      {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, "PEM private key of --tls-cert", "FILE"},
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
  if (port < 0 || port > 65535 || latency < 0 || jitter < 0 || answer_delay < 0 || token_lifetime < 1 || token_failures < 0) {
    fprintf(stderr, "gcs-emulator: --port must be 0..65535, --latency-ms/--jitter-ms/--answer-delay-ms/--token-failures >= 0, "
                    "--token-lifetime >= 1\n");
    return 2;
  }
  gchar* pem = nullptr;
  if (oauth_key && !g_file_get_contents(oauth_key, &pem, nullptr, &error)) {
    fprintf(stderr, "gcs-emulator: %s\n", error->message);
    return 2;
  }

  gcsemu::Options opts;
  if (host) opts.host = host;
  opts.port = static_cast<unsigned>(port);
  opts.latency_ms = static_cast<unsigned>(latency);
  opts.jitter_ms = static_cast<unsigned>(jitter);
  opts.answer_delay_ms = static_cast<unsigned>(answer_delay);
  if (root_dir) opts.root_dir = root_dir;
  for (gchar** b = buckets; b && *b; ++b) opts.buckets.emplace_back(*b);
  opts.verbose = verbose;
  if (pem) opts.oauth_public_key_pem = pem;
  g_free(pem);
  opts.accept_google_audience = google_aud;
  if (client_id) opts.oauth_client_id = client_id;
  if (client_secret) opts.oauth_client_secret = client_secret;
  if (refresh_token) opts.oauth_refresh_token = refresh_token;
  opts.token_lifetime_s = static_cast<unsigned>(token_lifetime);
  opts.token_failures = static_cast<unsigned>(token_failures);
  opts.metadata_server = metadata;
  opts.require_auth = require_auth;
  if (tls_cert) opts.tls_cert_file = tls_cert;
  if (tls_key) opts.tls_key_file = tls_key;

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
