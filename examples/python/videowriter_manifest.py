#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""videowriter_manifest: frames written through cv2.VideoWriter, their URLs
read back from the manifest.

An OpenCV program that writes frames with

    cv2.VideoWriter("appsrc ! videoconvert ! gcsframesink ... manifest-location=FILE",
                    cv2.CAP_GSTREAMER, 0, fps, (width, height))

never sees the pipeline's bus, so it cannot read the batch messages. With
manifest-location the sink appends one JSON line per settled batch to FILE
(fsynced, in batch order, the batch message's fields), and the program reads
the URLs from there: here after release() (which sends EOS and waits for
it), printing each batch's URLs in frame order; a program running for hours
would follow the file as it grows.

    GST_PLUGIN_PATH=build/gst /usr/bin/python3 examples/python/videowriter_manifest.py \
        --camera rtsp://127.0.0.1:8554/camera --frames 30 --bucket demo --endpoint http://127.0.0.1:9023

Exit status: 0 when every frame written was uploaded, 1 otherwise, 2 on bad
usage. Needs python3-opencv (Debian's OpenCV has the GStreamer and FFmpeg
backends), run by Debian's /usr/bin/python3.
"""

import argparse
import json
import os
import sys
import tempfile

import cv2


def main(argv):
    parser = argparse.ArgumentParser(description="cv2.VideoWriter into gcsframesink; URLs from the manifest.")
    parser.add_argument("--camera", required=True, help="RTSP URL")
    parser.add_argument("--frames", type=int, default=30, help="frames to write (default 30)")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--endpoint", default="", help="API endpoint, e.g. the emulator's (default: Google)")
    parser.add_argument("--manifest", default="", help="the manifest file (default: a new temporary file)")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    manifest = args.manifest or os.path.join(tempfile.mkdtemp(prefix="videowriter-"), "frames.jsonl")

    cap = cv2.VideoCapture(args.camera, cv2.CAP_FFMPEG)
    ok, frame = cap.read()
    if not ok:
        print(f"cannot read a frame from {args.camera}", file=sys.stderr)
        return 1
    height, width = frame.shape[:2]
    sink = (f"gcsframesink bucket={args.bucket} stream-name=videowriter object-name={{stream}}/{{run}}/{{index:08}}.{{ext}} "
            f"batch-size=10 manifest-location={manifest}")
    if args.endpoint:
        sink += f" endpoint={args.endpoint}"
    # BGR frames; rows of width * 3 bytes must match GStreamer's default
    # stride (a multiple of 4), as cv2.VideoWriter adds no GstVideoMeta.
    writer = cv2.VideoWriter(f"appsrc ! videoconvert ! {sink}", cv2.CAP_GSTREAMER, 0, 30.0, (width, height), True)
    if not writer.isOpened():
        print("cv2.VideoWriter did not open the pipeline (is GST_PLUGIN_PATH set?)", file=sys.stderr)
        return 1
    written = 0
    while written < args.frames and ok:
        writer.write(frame)
        written += 1
        ok, frame = cap.read()
    writer.release()  # EOS: the sink uploads what it holds and writes its last line
    cap.release()

    uploaded = 0
    with open(manifest) as f:
        for line in f:
            m = json.loads(line)
            if m["message"] != "GstGcsFrameSinkBatch":
                continue
            print(f"batch {m['batch']} (first-index {m['first-index']}, count {m['count']}, "
                  f"uploaded {m['uploaded']}, failed {m['failed']})")
            for i, (status, url) in enumerate(zip(m["status"], m["urls"])):
                print(f"  {m['first-index'] + i} {status} {url}")
                uploaded += status == "uploaded"
    print(f"{uploaded} of {written} frames uploaded; manifest: {manifest}")
    return 0 if uploaded == written == args.frames else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
