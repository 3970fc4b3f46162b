#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# Runs a libFuzzer target over its corpus and then fuzzes on:
#   run-libfuzzer.sh TARGET CORPUS [libFuzzer options...]
# New inputs go to a temporary folder (the corpus in the source tree is
# never written); a crash leaves its input in the current folder and fails.
set -u
target=$1 corpus=$2
shift 2
new=$(mktemp -d)
# libFuzzer exits 77 on a crash by default, which meson reads as "skipped".
"$target" -seed=1 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 "$@" "$new" "$corpus"
rc=$?
rm -rf "$new"
exit $rc
