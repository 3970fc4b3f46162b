/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The gcsframesink authors */
/* rtsp-test-camera: a local RTSP test camera for gcsframesink's demo, tests
 * and benchmarks.
 *
 * Serves a live test pattern with a running clock overlay at
 * rtsp://127.0.0.1:PORT/MOUNT from one shared media pipeline (every client
 * sees the same frames). On start it prints exactly one line, the URL, to
 * stdout; it serves until SIGINT or SIGTERM.
 *
 *   rtsp-test-camera --port 0 --width 1280 --height 720 --framerate 25
 *
 * The default codec is JPEG over RTP (jpegenc and rtpjpegpay, both in
 * gst-plugins-good; a receiver needs only rtspsrc ! decodebin). --codec h264
 * uses x264enc when installed, else openh264enc.
 */

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <glib-unix.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  GMainLoop *loop;
  int signal_number;
} App;

static gboolean on_signal(gpointer user_data, int signum)
{
  App *app = user_data;
  app->signal_number = signum;
  g_main_loop_quit(app->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean on_sigint(gpointer user_data)
{
  return on_signal(user_data, SIGINT);
}

static gboolean on_sigterm(gpointer user_data)
{
  return on_signal(user_data, SIGTERM);
}

static GstRTSPFilterResult remove_client(GstRTSPServer *server, GstRTSPClient *client, gpointer user_data)
{
  (void)server;
  (void)client;
  (void)user_data;
  return GST_RTSP_FILTER_REMOVE;
}

static gboolean have_element(const gchar *name)
{
  GstElementFactory *f = gst_element_factory_find(name);
  if (!f)
    return FALSE;
  gst_object_unref(f);
  return TRUE;
}

/* Returns the encoder and payloader part of the launch line, or NULL (with a
 * message on stderr) when the codec's elements are missing. */
static gchar *encoder_launch(const gchar *codec, guint framerate)
{
  if (g_ascii_strcasecmp(codec, "jpeg") == 0) {
    if (!have_element("jpegenc") || !have_element("rtpjpegpay")) {
      g_printerr("jpegenc or rtpjpegpay not found: install gstreamer1.0-plugins-good\n");
      return NULL;
    }
    /* RTP/JPEG carries 4:2:0 or 4:2:2 baseline JPEG; I420 gives 4:2:0. */
    return g_strdup("video/x-raw,format=I420 ! jpegenc quality=85 ! rtpjpegpay name=pay0 pt=26");
  }
  if (g_ascii_strcasecmp(codec, "h264") == 0) {
    guint gop = framerate > 0 ? framerate : 30;
    if (!have_element("rtph264pay")) {
      g_printerr("rtph264pay not found: install gstreamer1.0-plugins-good\n");
      return NULL;
    }
    if (have_element("x264enc"))
      return g_strdup_printf("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%u ! "
                             "rtph264pay name=pay0 pt=96 config-interval=-1",
                             gop);
    if (have_element("openh264enc"))
      return g_strdup_printf("openh264enc gop-size=%u ! video/x-h264,profile=constrained-baseline ! "
                             "rtph264pay name=pay0 pt=96 config-interval=-1",
                             gop);
    g_printerr("no H.264 encoder found: install gstreamer1.0-plugins-ugly (x264enc) or "
               "gstreamer1.0-plugins-bad (openh264enc), or use --codec jpeg\n");
    return NULL;
  }
  g_printerr("unknown codec \"%s\": use jpeg or h264\n", codec);
  return NULL;
}

int main(int argc, char **argv)
{
  gint port = 8554;
  gchar *mount = NULL;
  gchar *address = NULL;
  gchar *codec = NULL;
  gchar *pattern = NULL;
  gint width = 640, height = 480, framerate = 30;
  GError *error = NULL;

  GOptionEntry entries[] = {
      {"port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port to listen on; 0 picks a free port (default 8554)", "PORT"},
      {"mount", 'm', 0, G_OPTION_ARG_STRING, &mount, "Mount point (default /camera)", "PATH"},
      {"address", 'a', 0, G_OPTION_ARG_STRING, &address, "Address to listen on (default 127.0.0.1)", "ADDR"},
      {"width", 'W', 0, G_OPTION_ARG_INT, &width, "Frame width (default 640)", "PIXELS"},
      {"height", 'H', 0, G_OPTION_ARG_INT, &height, "Frame height (default 480)", "PIXELS"},
      {"framerate", 'f', 0, G_OPTION_ARG_INT, &framerate, "Frames per second (default 30)", "FPS"},
      {"codec", 'c', 0, G_OPTION_ARG_STRING, &codec, "jpeg (default) or h264", "CODEC"},
      {"pattern", 0, 0, G_OPTION_ARG_STRING, &pattern, "videotestsrc pattern (default ball)", "NAME"},
      {NULL},
  };

  GOptionContext *ctx = g_option_context_new("- serve a live test pattern over RTSP");
  g_option_context_set_summary(ctx, "Prints the stream's URL (rtsp://HOST:PORT/MOUNT) as its only line on stdout, "
                                    "then serves until SIGINT or SIGTERM.");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    g_printerr("%s\n", error->message);
    g_clear_error(&error);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);

  if (port < 0 || port > 65535) {
    g_printerr("--port must be between 0 and 65535\n");
    return 2;
  }
  if (width < 16 || height < 16 || width > 4096 || height > 4096) {
    g_printerr("--width and --height must be between 16 and 4096\n");
    return 2;
  }
  if (framerate < 1 || framerate > 240) {
    g_printerr("--framerate must be between 1 and 240\n");
    return 2;
  }
  if (!mount)
    mount = g_strdup("/camera");
  if (mount[0] != '/') {
    gchar *m = g_strconcat("/", mount, NULL);
    g_free(mount);
    mount = m;
  }
  if (!address)
    address = g_strdup("127.0.0.1");
  if (!codec)
    codec = g_strdup("jpeg");
  if (!pattern)
    pattern = g_strdup("ball");

  gchar *enc = encoder_launch(codec, (guint)framerate);
  if (!enc)
    return 1;
  /* clockoverlay (the pango plugin, in Debian's gstreamer1.0-x) stamps the
   * wall-clock time on each frame; without it the pattern still moves. */
  const gchar *overlay = "clockoverlay ! ";
  if (!have_element("clockoverlay")) {
    g_printerr("clockoverlay not found (gstreamer1.0-x): serving the pattern without the clock\n");
    overlay = "";
  }
  gchar *launch = g_strdup_printf("( videotestsrc is-live=true pattern=%s ! "
                                  "video/x-raw,width=%d,height=%d,framerate=%d/1 ! "
                                  "%svideoconvert ! %s )",
                                  pattern, width, height, framerate, overlay, enc);
  g_free(enc);

  App app = {0};
  app.loop = g_main_loop_new(NULL, FALSE);

  GstRTSPServer *server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server, address);
  gchar *service = g_strdup_printf("%d", port);
  gst_rtsp_server_set_service(server, service);
  g_free(service);

  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory, launch);
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server);
  gst_rtsp_mount_points_add_factory(mounts, mount, factory); /* takes the factory */
  g_object_unref(mounts);

  int status = 1;
  guint sigint_source = 0, sigterm_source = 0;
  guint server_source = gst_rtsp_server_attach(server, NULL);
  if (server_source == 0) {
    g_printerr("cannot listen on %s port %d (in use, or not a local address?)\n", address, port);
    goto out;
  }
  int bound = gst_rtsp_server_get_bound_port(server);
  if (bound <= 0) {
    g_printerr("cannot read the bound port\n");
    goto out;
  }

  sigint_source = g_unix_signal_add(SIGINT, on_sigint, &app);
  sigterm_source = g_unix_signal_add(SIGTERM, on_sigterm, &app);

  /* A wildcard address is reachable at the loopback one. */
  const gchar *host = address;
  if (g_strcmp0(address, "0.0.0.0") == 0)
    host = "127.0.0.1";
  else if (g_strcmp0(address, "::") == 0)
    host = "::1";
  gboolean v6 = strchr(host, ':') != NULL;
  printf("rtsp://%s%s%s:%d%s\n", v6 ? "[" : "", host, v6 ? "]" : "", bound, mount);
  fflush(stdout);
  g_printerr("serving %dx%d@%d %s: %s\n", width, height, framerate, codec, launch);

  g_main_loop_run(app.loop);

  g_printerr("stopping (signal %d)\n", app.signal_number);
  /* Closes every client connection; their media pipelines go to NULL. */
  gst_rtsp_server_client_filter(server, remove_client, NULL);
  status = 0;

out:
  if (sigint_source)
    g_source_remove(sigint_source);
  if (sigterm_source)
    g_source_remove(sigterm_source);
  if (server_source)
    g_source_remove(server_source);
  g_object_unref(server);
  g_main_loop_unref(app.loop);
  g_free(launch);
  g_free(mount);
  g_free(address);
  g_free(codec);
  g_free(pattern);
  gst_deinit();
  return status;
}
