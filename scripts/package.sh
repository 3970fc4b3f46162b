#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# Builds the Debian package (debian/) from this tree, installs it, checks that
# GStreamer finds the installed plugin with no GST_PLUGIN_PATH, then removes
# it again. Installs the packaging tools and build dependencies when missing.
# The .deb and the build log are left in build-deb/.
# Usage: scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# The packaging tools, then whatever debian/control's Build-Depends still lack.
TOOLS=(dpkg-dev debhelper fakeroot build-essential)
missing=()
for p in "${TOOLS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing missing packages: ${missing[*]}"
  apt_install "${missing[@]}"
fi
if ! dpkg-checkbuilddeps 2>/dev/null; then
  echo "Installing the missing build dependencies of debian/control"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get build-dep -y -qq --no-install-recommends ./
fi

PKG=gstreamer1.0-gcsframesink
VERSION=$(dpkg-parsechangelog -S Version)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
PLUGIN=/usr/lib/$MULTIARCH/gstreamer-1.0/libgstgcsframes.so
DEB=build-deb/${PKG}_${VERSION}_${ARCH}.deb

if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed"; then
  echo "FAIL: $PKG is installed already; remove it first ($SUDO apt-get remove $PKG)" >&2
  exit 1
fi

# dpkg-buildpackage works on a clean copy of the tree: the files git tracks (or
# would track), without build directories, so neither the checkout nor its
# parent directory gets the build's files.
SRC=build-deb/src/gcsframesink-$VERSION
rm -rf build-deb
mkdir -p "$SRC"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar -cf - --null -T - | tar -xf - -C "$SRC"
else
  tar -cf - --exclude='./build*' --exclude=./fuzz-out --exclude='*.pyc' . | tar -xf - -C "$SRC"
fi

echo "Building $DEB (log: build-deb/build.log)"
if ! (cd "$SRC" && dpkg-buildpackage -us -uc -b) >build-deb/build.log 2>&1; then
  tail -n 40 build-deb/build.log >&2
  echo "FAIL: dpkg-buildpackage failed; see build-deb/build.log" >&2
  exit 1
fi
mv build-deb/src/*.deb build-deb/src/*.buildinfo build-deb/src/*.changes build-deb/
rm -rf build-deb/src
contents=$(dpkg-deb -c "$DEB")
grep -q " \.$PLUGIN\$" <<<"$contents" || {
  echo "FAIL: $DEB does not install $PLUGIN" >&2
  exit 1
}
dpkg-deb -f "$DEB" Package Version Architecture Depends

# Install, check, remove: the package leaves nothing behind, whatever happens.
installed=no
cleanup() {
  if [ "$installed" = yes ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq "$PKG" >/dev/null
  fi
  [ -z "${REG_DIR:-}" ] || rm -rf "$REG_DIR"
}
trap cleanup EXIT
installed=yes
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "./$DEB" \
    >build-deb/install.log 2>&1; then
  cat build-deb/install.log >&2
  echo "FAIL: apt-get install ./$DEB failed" >&2
  exit 1
fi

# Only the system plugin directories, and a registry of their own.
REG_DIR=$(mktemp -d)
inspect=$(env -u GST_PLUGIN_PATH -u GST_PLUGIN_PATH_1_0 -u GST_PLUGIN_SYSTEM_PATH -u GST_PLUGIN_SYSTEM_PATH_1_0 \
  GST_REGISTRY_1_0="$REG_DIR/registry.bin" gst-inspect-1.0 gcsframesink) || {
  echo "FAIL: gst-inspect-1.0 gcsframesink does not find the installed plugin" >&2
  exit 1
}
file=$(sed -nE 's/^ +Filename +//p' <<<"$inspect")
version=$(sed -nE 's/^ +Version +//p' <<<"$inspect")
# (a merged /usr makes it /lib/... or /usr/lib/..., whichever GStreamer was loaded from)
if [ "$(readlink -f "$file")" != "$(readlink -f "$PLUGIN")" ] || [ "$version" != "${VERSION%%-*}" ]; then
  echo "FAIL: gst-inspect-1.0 gcsframesink found '$file' version '$version', expected $PLUGIN version ${VERSION%%-*}" >&2
  exit 1
fi
grep -E '^ +(Filename|Version|License|Source module|Binary package|Origin URL) ' <<<"$inspect"

DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq "$PKG" >/dev/null
installed=no
[ ! -e "$PLUGIN" ] || { echo "FAIL: $PLUGIN is still there after removing $PKG" >&2; exit 1; }
echo "OK: $DEB built, installed ($PLUGIN, found by gst-inspect-1.0 gcsframesink) and removed again"
