// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Runs a fuzz target on every file of the given corpus folders (or files),
// without libFuzzer: the corpus stays a regression test in every build.
#include <glib.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool run_file(const std::string &path)
{
  gchar *text = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(path.c_str(), &text, &len, nullptr)) {
    fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  // A copy of exactly `len` bytes, so that a read past the end is caught.
  std::vector<uint8_t> bytes(text, text + len);
  g_free(text);
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return true;
}

int main(int argc, char **argv)
{
  unsigned ran = 0;
  for (int i = 1; i < argc; i++) {
    if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
      if (!run_file(argv[i]))
        return 1;
      ran++;
      continue;
    }
    GDir *dir = g_dir_open(argv[i], 0, nullptr);
    if (!dir)
      return 1;
    while (const gchar *name = g_dir_read_name(dir)) {
      gchar *path = g_build_filename(argv[i], name, nullptr);
      bool ok = run_file(path);
      g_free(path);
      if (!ok)
        return 1;
      ran++;
    }
    g_dir_close(dir);
  }
  printf("%u inputs ran without a crash\n", ran);
  return ran > 0 ? 0 : 1;
}
