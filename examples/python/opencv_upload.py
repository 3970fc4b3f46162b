#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""opencv_upload: frames read with OpenCV in Python uploaded by gcsframesink.

Reads N frames from a camera with cv2.VideoCapture, pushes each numpy frame
(BGR) into

    appsrc caps=video/x-raw,format=BGR,width=W,height=H,framerate=F/1 ! gcsframesink

(the sink's upload workers encode them, several at a time, to image-format),
then ends the stream and prints the URLs of each batch in frame order as its
GstGcsFrameSinkBatch message arrives. The same as examples/opencv-upload.cpp:

    GST_PLUGIN_PATH=build/gst /usr/bin/python3 examples/python/opencv_upload.py \
        --camera rtsp://127.0.0.1:8554/camera --frames 30 --bucket demo --endpoint http://127.0.0.1:9023

--width W scales each frame to W pixels wide (cv2.resize, keeping the aspect
ratio) before it is pushed, as an application that stores smaller frames
would. A frame's rows are width*3 bytes; GStreamer's default stride for BGR caps is
width*3 rounded up to a multiple of 4, so each buffer carries a GstVideoMeta
with the frame's own stride, which the sink reads.

Exit status: 0 when every frame was uploaded, 1 otherwise, 2 on bad usage.

Needs python3-opencv, python3-gi, gir1.2-gstreamer-1.0,
gir1.2-gst-plugins-base-1.0 and python3-gst-1.0 (Debian), run by Debian's
/usr/bin/python3.
"""

import argparse
import sys

import cv2
import gi
import numpy

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

from gcsframesink_batch import BatchReader, batch_lines  # noqa: E402


def numpy_buffer(frame):
    """A GstBuffer holding a copy of the frame's pixels, with their stride in
    a GstVideoMeta: BGR rows of width*3 bytes (a view into a larger array is
    made contiguous first)."""
    frame = numpy.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    buf = Gst.Buffer.new_wrapped(frame.tobytes())
    GstVideo.buffer_add_video_meta_full(buf, GstVideo.VideoFrameFlags.NONE, GstVideo.VideoFormat.BGR, width,
                                        height, 1, [0, 0, 0, 0], [frame.strides[0], 0, 0, 0])
    return buf


class Uploader:
    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.bus = pipeline.get_bus()
        self.reader = BatchReader()
        self.batches = self.frames = self.uploaded = 0
        self.eos = self.error = False

    def handle(self, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            batch = self.reader.read(msg)
            if batch is not None:
                print(batch_lines(batch), flush=True)
                self.batches += 1
                self.frames += len(batch.frames)
                self.uploaded += batch.uploaded
        elif msg.type == Gst.MessageType.EOS:
            self.eos = True
        elif msg.type in (Gst.MessageType.ERROR, Gst.MessageType.WARNING):
            err, debug = msg.parse_error() if msg.type == Gst.MessageType.ERROR else msg.parse_warning()
            print(f"{msg.type.first_value_nick.upper()} from {msg.src.get_name()}: {err.message}\n{debug}",
                  file=sys.stderr)
            self.error = self.error or msg.type == Gst.MessageType.ERROR

    def drain(self):
        """Handles the messages waiting on the bus."""
        while True:
            msg = self.bus.pop()
            if msg is None:
                return
            self.handle(msg)


def main(argv):
    parser = argparse.ArgumentParser(description="Upload frames read with OpenCV through gcsframesink.")
    parser.add_argument("--camera", required=True, help="camera URL or file cv2.VideoCapture opens")
    parser.add_argument("--frames", type=int, default=30, help="frames to upload (default 30)")
    parser.add_argument("--bucket", default="demo", help="bucket (default demo)")
    parser.add_argument("--endpoint", help="storage endpoint (default: STORAGE_EMULATOR_HOST, else GCS)")
    parser.add_argument("--stream-name", default="opencv-py", help="the objects' first folder (default opencv-py)")
    parser.add_argument("--image-format", default="jpeg", choices=["jpeg", "png", "webp"])
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--width", type=int, default=0,
                        help="scale frames to this width, keeping the aspect ratio (default: as read)")
    args = parser.parse_args(argv[1:])
    if args.frames < 1 or args.batch_size < 1 or args.width < 0:
        parser.error("--frames and --batch-size must be 1 or more, --width 0 or more")

    def scaled(frame):
        h, w = frame.shape[:2]
        if args.width in (0, w):
            return frame
        return cv2.resize(frame, (args.width, max(1, (h * args.width + w // 2) // w)), interpolation=cv2.INTER_AREA)

    Gst.init(None)
    # FFmpeg reads RTSP on its own (OpenCV's GStreamer backend would do too).
    capture = cv2.VideoCapture(args.camera, cv2.CAP_FFMPEG)
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok or first is None or first.ndim != 3 or first.shape[2] != 3:
        print(f"Cannot read BGR frames from {args.camera}", file=sys.stderr)
        return 1
    first = scaled(first)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = int(round(fps)) if 1 <= fps <= 240 else 30
    height, width = first.shape[:2]
    print(f"{args.camera}: {width}x{height} at {fps} fps (row stride {first.strides[0]} bytes)", file=sys.stderr)

    pipeline = Gst.Pipeline.new("opencv-upload")
    src = Gst.ElementFactory.make("appsrc", "src")
    sink = Gst.ElementFactory.make("gcsframesink", "sink")
    if sink is None:
        print("No gcsframesink element (set GST_PLUGIN_PATH to the directory of libgstgcsframes.so, "
              "e.g. build/gst)", file=sys.stderr)
        return 1
    pipeline.add(src)
    pipeline.add(sink)
    src.link(sink)
    src.set_property("caps", Gst.Caps.from_string(
        f"video/x-raw,format=BGR,width={width},height={height},framerate={fps}/1"))
    src.set_property("format", Gst.Format.TIME)
    # A live source: appsrc stamps each frame with the running time at which it
    # is pushed (do-timestamp), as a camera source stamps its capture time.
    src.set_property("is-live", True)
    src.set_property("do-timestamp", True)
    # block: push waits while the appsrc holds 8 frames.
    src.set_property("block", True)
    src.set_property("max-buffers", 8)
    sink.set_property("bucket", args.bucket)
    sink.set_property("stream-name", args.stream_name)
    sink.set_property("batch-size", args.batch_size)
    sink.set_property("object-name", "{stream}/{run}/{index:08}.{ext}")
    Gst.util_set_object_arg(sink, "image-format", args.image_format)
    if args.endpoint:
        sink.set_property("endpoint", args.endpoint)

    up = Uploader(pipeline)
    status = 0
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        up.drain()
        print("The pipeline cannot start", file=sys.stderr)
        pipeline.set_state(Gst.State.NULL)
        return 1
    frame = first
    for i in range(args.frames):
        if up.error:
            break
        if i > 0:
            ok, frame = capture.read()
            if not ok:
                print(f"The camera ended after {i} frames", file=sys.stderr)
                break
            frame = scaled(frame)
        if src.emit("push-buffer", numpy_buffer(frame)) != Gst.FlowReturn.OK:
            break
        up.drain()  # print the batches that settled meanwhile
    capture.release()
    # EOS: the sink uploads what it holds, posts the last batch, then EOS.
    src.emit("end-of-stream")
    while not up.eos and not up.error:
        msg = up.bus.timed_pop(60 * Gst.SECOND)
        if msg is None:
            print("No EOS after 60 s", file=sys.stderr)
            status = 1
            break
        up.handle(msg)
    pipeline.set_state(Gst.State.NULL)
    print(f"{up.batches} batches, {up.frames} frames, {up.uploaded} uploaded", file=sys.stderr)
    if up.error or up.frames != args.frames or up.uploaded != up.frames:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
