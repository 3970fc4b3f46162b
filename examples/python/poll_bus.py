#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""poll_bus: gcsframesink from Python without a GLib main loop.

Runs

    rtspsrc location=CAMERA ! decodebin ! videoconvert ! gcsframesink image-format=webp

and, instead of a GLib.MainLoop with a bus watch, polls the bus from its own
loop with Gst.Bus.timed_pop_filtered(), as an application with a loop of its
own (a game loop, a worker, a CLI tool) would: between two polls the
application is free to do its own work. After N frames a pad probe on the
sink's pad sends EOS into it; the loop prints each batch's URLs in frame
order as its GstGcsFrameSinkBatch message arrives and ends at EOS.

    GST_PLUGIN_PATH=build/gst /usr/bin/python3 examples/python/poll_bus.py \
        --camera rtsp://127.0.0.1:8554/camera --frames 30 --bucket demo --endpoint http://127.0.0.1:9023

Exit status: 0 when every frame was uploaded, 1 otherwise, 2 on bad usage.

Needs python3-gi, gir1.2-gstreamer-1.0 and python3-gst-1.0 (Debian), run by
Debian's /usr/bin/python3.
"""

import argparse
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

from gcsframesink_batch import BatchReader, batch_lines  # noqa: E402

POLL = 100 * Gst.MSECOND  # longest wait for a message before the loop goes on


class FrameLimit:
    """Lets `limit` frames into the sink, then sends EOS into its pad (the
    sink uploads what it holds, posts its last batch and posts EOS) and drops
    every later frame."""

    def __init__(self, pad, limit):
        self.limit = limit
        self.seen = 0
        pad.add_probe(Gst.PadProbeType.BUFFER, self.probe)

    def probe(self, pad, info):
        if self.seen < self.limit:
            self.seen += 1
            return Gst.PadProbeReturn.OK
        if self.seen == self.limit:
            self.seen += 1
            pad.send_event(Gst.Event.new_eos())
        return Gst.PadProbeReturn.DROP


def main(argv):
    parser = argparse.ArgumentParser(description="Poll gcsframesink's bus without a GLib main loop.")
    parser.add_argument("--camera", required=True, help="RTSP URL")
    parser.add_argument("--frames", type=int, default=30, help="frames to upload (default 30)")
    parser.add_argument("--bucket", default="demo")
    parser.add_argument("--endpoint", help="storage endpoint (default: STORAGE_EMULATOR_HOST, else GCS)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds the pipeline may run (default 60)")
    args = parser.parse_args(argv[1:])
    if args.frames < 1:
        parser.error("--frames must be 1 or more")

    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"rtspsrc location={args.camera} latency=100 ! decodebin ! videoconvert ! "
        "gcsframesink name=sink image-format=webp quality=80 stream-name=poll "
        "object-name={stream}/{run}/{index:08}.{ext}")
    sink = pipeline.get_by_name("sink")
    sink.set_property("bucket", args.bucket)
    if args.endpoint:
        sink.set_property("endpoint", args.endpoint)
    limit = FrameLimit(sink.get_static_pad("sink"), args.frames)  # noqa: F841 (kept for its probe)

    bus = pipeline.get_bus()
    reader = BatchReader()
    frames = uploaded = polls = 0
    eos = error = False
    pipeline.set_state(Gst.State.PLAYING)
    deadline = time.monotonic() + args.timeout
    wanted = Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.WARNING
    while not eos and not error and time.monotonic() < deadline:
        msg = bus.timed_pop_filtered(POLL, wanted)
        polls += 1
        if msg is None:
            continue  # nothing within POLL: the application's own work goes here
        if msg.type == Gst.MessageType.ELEMENT:
            batch = reader.read(msg)
            if batch is not None:
                print(batch_lines(batch), flush=True)
                frames += len(batch.frames)
                uploaded += batch.uploaded
        elif msg.type == Gst.MessageType.EOS:
            eos = True
        else:
            err, debug = msg.parse_error() if msg.type == Gst.MessageType.ERROR else msg.parse_warning()
            print(f"{msg.type.first_value_nick.upper()} from {msg.src.get_name()}: {err.message}\n{debug}",
                  file=sys.stderr)
            error = msg.type == Gst.MessageType.ERROR
    if not eos and not error:
        print(f"No EOS within {args.timeout} s", file=sys.stderr)
    pipeline.set_state(Gst.State.NULL)
    print(f"{frames} frames, {uploaded} uploaded, {polls} polls", file=sys.stderr)
    return 0 if eos and frames == args.frames and uploaded == frames else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
