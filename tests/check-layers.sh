#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# The include rules of docs/design.md ("Layers"), checked on the sources:
# gst/ reaches the core only through session.h; the core never includes
# GStreamer; the storage client knows nothing of object naming, the
# uploader or the session; the plain headers (status, codec) include no
# other project header.
#   check-layers.sh SOURCE_ROOT
set -u
root=$1
bad=0
fail() { echo "layering: $*" >&2; bad=1; }

core_headers=$(cd "$root/src" && ls *.h)
for f in "$root"/gst/*.cpp "$root"/gst/*.h; do
  for h in $(sed -n 's/^#include "\(.*\)"/\1/p' "$f"); do
    case " $(echo $core_headers) " in
      *" $h "*) [ "$h" = session.h ] || fail "$(basename "$f") includes core header $h (only session.h)" ;;
    esac
  done
done
grep -l '#include <gst/' "$root"/src/* 2>/dev/null | while read -r f; do fail "$f includes GStreamer"; done
grep -q '#include <gst/' "$root"/src/* && bad=1
for f in gcs-client.h gcs-client.cpp; do
  grep -Eq '#include "(naming|uploader|session|sink-config)\.h"' "$root/src/$f" &&
    fail "src/$f includes naming, the uploader, the session or the config"
done
for f in status.h codec.h encoder.h upload-service.h rate-limit.h; do
  grep -q '#include "' "$root/src/$f" && fail "src/$f includes a project header"
done
[ $bad -eq 0 ] && echo "layers: every include points down"
exit $bad
