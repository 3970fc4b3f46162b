#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# Installs the Debian packages gcsframesink needs to build, test and run its
# demo, when any is missing, then configures and builds with meson.
# Usage: [EXTRA_PACKAGES="pkg ..."] scripts/deps.sh [BUILD_DIR [meson setup options...]]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  meson ninja-build pkg-config g++ git
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libcurl4-openssl-dev libjson-glib-dev nlohmann-json3-dev libssl-dev libisal-dev libsoup-3.0-dev check
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libturbojpeg0-dev
  libopencv-videoio-dev python3-opencv python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-x
  libgstrtspserver-1.0-dev glib-networking curl bc jq ca-certificates
)
# Callers may ask for more (the benchmark's TLS front: nghttp2-proxy openssl).
read -r -a extra <<<"${EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing missing packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${1:-build}
shift || true
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" "$@"
fi
ninja -C "$BUILD_DIR"
