#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""Runs one example of examples/ against the bundled GCS emulator and the RTSP
test camera, each started here on a free port, and checks what it printed and
what was stored:

- the example exits with status 0 (each one also checks its own part);
- its frame lines ("  INDEX STATUS URL [SIZE]") count EXPECTED frames (any
  number above 0 when EXPECTED is empty), with indices 0, 1, 2... in that
  order, each uploaded, each URL's object name starting with its index (the
  examples name objects {stream}/{run}/{index:08}...);
- its batch lines ("batch B (first-index F, count C, ...") number the batches
  0, 1, 2..., each one's first-index following the frames before it, and
  the frame lines under each batch header are that batch's frames;
- every URL serves an object from the emulator: an image of the URL's
  extension, of SIZE bytes when the line gives one; and the bucket holds no
  other object under the frames' folder.

    run-example.py NAME EXPECTED

Environment (set by tests/examples/meson.build): BUILD_DIR, SOURCE_ROOT,
PYTHON (the examples' interpreter), PYTHON_PRELOAD and PYTHON_ASAN_OPTIONS
(see there).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import cv2
import numpy

MAGIC = {"jpg": (b"\xff\xd8\xff",), "png": (b"\x89PNG\r\n\x1a\n",), "webp": (b"RIFF", b"WEBP")}
FRAME = re.compile(r"^  (\d+) (\S+) (\S+)(?: (\d+))?$")
# The OpenCV examples scale frames to this width: 322 * 3 bytes a BGR row, not
# a multiple of 4 (GStreamer's default stride), so the examples' GstVideoMeta
# strides are what the sink must read.
WIDTH = 322
BATCH = re.compile(r"^batch (\d+) \(first-index (\d+), count (\d+),")


class Failed(Exception):
    pass


def start(argv, work, name):
    """Starts a program that prints its address (http:// or rtsp://) on
    stdout; returns the process and the address once printed (polling its
    output for up to 10 s)."""
    out = open(os.path.join(work, name + ".out"), "w+")
    err = open(os.path.join(work, name + ".err"), "w+")
    proc = subprocess.Popen(argv, stdout=out, stderr=err)
    for _ in range(100):
        out.seek(0)
        m = re.search(r"(?:http|rtsp)://\S+", out.read())
        if m:
            return proc, m.group(0)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    err.seek(0)
    raise Failed(f"{argv[0]} did not start: {err.read()}")


def example_command(name, expected, build, src, endpoint, camera, work):
    python = [os.environ.get("PYTHON", "/usr/bin/python3")]
    common = ["--bucket", "demo", "--endpoint", endpoint]
    commands = {
        "opencv-cpp": [f"{build}/examples/opencv-upload", "--camera", camera, "--frames", expected,
                       "--width", str(WIDTH)] + common,
        "opencv-python": python + [f"{src}/examples/python/opencv_upload.py", "--camera", camera,
                                   "--frames", expected, "--image-format", "png", "--width", str(WIDTH)] + common,
        "embed": [f"{build}/examples/gcsframes-embed", "--frames", expected] + common,
        "poll-bus": python + [f"{src}/examples/python/poll_bus.py", "--camera", camera, "--frames", expected]
        + common,
        "videowriter": python + [f"{src}/examples/python/videowriter_manifest.py", "--camera", camera,
                                 "--frames", expected, "--manifest", f"{work}/frames.jsonl"] + common,
        "manifest-follow": [f"{src}/examples/manifest-follow.sh", camera, endpoint, "demo", expected],
        "tee": [f"{src}/examples/tee-record.sh", camera, endpoint, "demo", expected, f"{work}/recorded"],
        "snapshots": [f"{src}/examples/snapshots.sh", camera, endpoint, "demo", "1", expected],
        "valve": python + [f"{src}/examples/python/valve_upload.py", "--camera", camera,
                           "--schedule", "0.5,0.7,0.7,0.7"] + common,
    }
    if name not in commands:
        raise Failed(f"no example named {name}")
    env = dict(os.environ)
    if commands[name][0] == python[0]:
        # Only the interpreter gets the sanitizer runtime (meson.build says why).
        if os.environ.get("PYTHON_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["PYTHON_PRELOAD"]
        if os.environ.get("PYTHON_ASAN_OPTIONS"):
            env["ASAN_OPTIONS"] = os.environ["PYTHON_ASAN_OPTIONS"]
    return commands[name], env


def check_output(lines, expected):
    """The frames printed, as (index, status, url, size or None), after the
    order checks."""
    frames = []
    batch = None  # [number, first-index, count, frames seen]
    batches = 0
    for line in lines:
        m = BATCH.match(line)
        if m:
            if batch and batch[3] != batch[2]:
                raise Failed(f"batch {batch[0]} announced {batch[2]} frames, {batch[3]} printed")
            number, first, count = (int(g) for g in m.groups())
            if number != batches or first != len(frames):
                raise Failed(f"batch {number} at index {first}: expected batch {batches} at index {len(frames)}")
            batch = [number, first, count, 0]
            batches += 1
            continue
        m = FRAME.match(line)
        if not m:
            continue
        index, status, url, size = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        if batch is None:
            raise Failed(f"frame {index} printed before any batch line")
        if index != len(frames):
            raise Failed(f"frame line {len(frames)} has index {index}: not in frame order")
        if status != "uploaded":
            raise Failed(f"frame {index} is {status}")
        if not urllib.parse.unquote(url.rsplit("/", 1)[-1]).startswith(f"{index:08d}"):
            raise Failed(f"frame {index} has the URL of another frame: {url}")
        batch[3] += 1
        frames.append((index, status, url, int(size) if size else None))
    if batch and batch[3] != batch[2]:
        raise Failed(f"batch {batch[0]} announced {batch[2]} frames, {batch[3]} printed")
    if not frames:
        raise Failed("no frame lines printed")
    if expected and len(frames) != int(expected):
        raise Failed(f"{len(frames)} frames printed, expected {expected}")
    return frames


def check_stored(frames, endpoint, width):
    """Each URL serves the image it names; nothing else is in its folder."""
    for index, _, url, size in frames:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                data = r.read()
        except OSError as e:
            raise Failed(f"frame {index}: {url} is not stored ({e})") from None
        ext = url.rsplit(".", 1)[-1]
        magic = MAGIC.get(ext)
        if magic is None:
            raise Failed(f"frame {index}: unexpected extension in {url}")
        if not data.startswith(magic[0]) or (len(magic) > 1 and data[8:12] != magic[1]):
            raise Failed(f"frame {index}: {url} is not a {ext} image")
        if size is not None and len(data) != size:
            raise Failed(f"frame {index}: {len(data)} bytes stored, {size} reported")
        if width is not None:
            image = cv2.imdecode(numpy.frombuffer(data, numpy.uint8), cv2.IMREAD_UNCHANGED)
            if image is None or image.shape[1] != width:
                raise Failed(f"frame {index}: {url} is not an image {width} pixels wide")
    # The frames' folder ({stream}/{run}/) holds exactly the frames printed.
    bucket_and_object = frames[0][2][len(endpoint) + 1:]
    bucket, name = bucket_and_object.split("/", 1)
    prefix = urllib.parse.unquote(name).rsplit("/", 1)[0] + "/"
    query = urllib.parse.urlencode({"prefix": prefix})
    with urllib.request.urlopen(f"{endpoint}/storage/v1/b/{bucket}/o?{query}", timeout=10) as r:
        items = json.load(r).get("items", [])
    if len(items) != len(frames):
        raise Failed(f"{len(items)} objects under {prefix}, {len(frames)} frames printed")


def main(argv):
    name, expected = argv[1], argv[2]
    build, src = os.environ["BUILD_DIR"], os.environ["SOURCE_ROOT"]
    procs = []
    with tempfile.TemporaryDirectory() as work:
        try:
            emulator, endpoint = start([f"{build}/tests/emulator/gcs-emulator", "--port", "0", "--bucket", "demo"],
                                       work, "emulator")
            procs.append(emulator)
            camera_proc, camera = start([f"{build}/tests/tools/rtsp-test-camera", "--port", "0"], work, "camera")
            procs.append(camera_proc)
            print(f"emulator {endpoint}, camera {camera}", flush=True)
            argv, env = example_command(name, expected, build, src, endpoint, camera, work)
            print("running", " ".join(argv), flush=True)
            run = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True, timeout=50)
            print(run.stdout, end="", flush=True)
            if run.returncode != 0:
                raise Failed(f"the example exited with status {run.returncode}")
            frames = check_output(run.stdout.splitlines(), expected)
            check_stored(frames, endpoint, WIDTH if name.startswith("opencv") else None)
            print(f"run-example {name}: {len(frames)} frames printed in frame order, each stored in the emulator")
            return 0
        except (Failed, subprocess.TimeoutExpired) as e:
            print(f"run-example {name}: FAILED: {e}", file=sys.stderr)
            return 1
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
