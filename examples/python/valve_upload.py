#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""valve_upload: upload a camera's frames only while the application says so.

Runs

    rtspsrc location=CAMERA ! decodebin ! videoconvert ! valve name=valve drop=true ! jpegenc ! gcsframesink

and opens and closes the valve (its drop property) from the application, as
a motion detector or an alarm input would: frames are uploaded only while it
is open. The schedule is --schedule SECONDS,SECONDS,...: closed for the
first, open for the second, closed for the third... It must end open (an
even number of durations): a closed valve drops the EOS too. Then the
application sends EOS; the sink uploads what it holds and posts its last
batch.

It prints each batch's URLs in frame order and checks that what was stored
is exactly what the valve let through: a pad probe after the valve records
each frame's timestamp, and the batch messages must list the same
timestamps, in the same order, each uploaded; frames came through in as many
runs as the valve was opened, with a gap of frames dropped between two runs.

    GST_PLUGIN_PATH=build/gst /usr/bin/python3 examples/python/valve_upload.py \
        --camera rtsp://127.0.0.1:8554/camera --schedule 0.5,1,1,1 --bucket demo --endpoint http://127.0.0.1:9023

Exit status: 0 when the checks pass, 1 otherwise, 2 on bad usage.

Needs python3-gi, gir1.2-gstreamer-1.0 and python3-gst-1.0 (Debian), run by
Debian's /usr/bin/python3.
"""

import argparse
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

from gcsframesink_batch import BatchReader, batch_lines  # noqa: E402


class Passed:
    """Timestamps of the frames that left the valve (a probe on its source
    pad; the streaming thread writes, the main thread reads at the end)."""

    def __init__(self, pad):
        self.lock = threading.Lock()
        self.pts = []
        pad.add_probe(Gst.PadProbeType.BUFFER, self.probe)

    def probe(self, pad, info):
        with self.lock:
            self.pts.append(info.get_buffer().pts)
        return Gst.PadProbeReturn.OK


def runs(pts, gap):
    """Splits timestamps into runs of consecutive frames: a gap longer than
    `gap` ns starts a new run."""
    out = []
    for t in pts:
        if out and t - out[-1][-1] <= gap:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def main(argv):
    parser = argparse.ArgumentParser(description="Upload frames only while a valve is open.")
    parser.add_argument("--camera", required=True, help="RTSP URL")
    parser.add_argument("--schedule", default="0.5,1,1,1",
                        help="seconds closed, open, closed, open... ending open (default 0.5,1,1,1)")
    parser.add_argument("--bucket", default="demo")
    parser.add_argument("--endpoint", help="storage endpoint (default: STORAGE_EMULATOR_HOST, else GCS)")
    args = parser.parse_args(argv[1:])
    try:
        schedule = [float(s) for s in args.schedule.split(",")]
    except ValueError:
        parser.error("--schedule takes seconds separated by commas")
    if len(schedule) % 2 or any(s <= 0 for s in schedule) or min(schedule[0::2]) < 0.2:
        parser.error("--schedule needs an even number of positive durations (it must end open), "
                     "each closed one 0.2 s or more (the check tells runs apart by their gaps)")

    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"rtspsrc location={args.camera} latency=100 ! decodebin ! videoconvert ! "
        "valve name=valve drop=true ! jpegenc ! "
        "gcsframesink name=sink stream-name=valve object-name={stream}/{run}/{index:08}.{ext}")
    sink = pipeline.get_by_name("sink")
    sink.set_property("bucket", args.bucket)
    if args.endpoint:
        sink.set_property("endpoint", args.endpoint)
    valve = pipeline.get_by_name("valve")
    passed = Passed(valve.get_static_pad("src"))

    bus = pipeline.get_bus()
    reader = BatchReader()
    batches = []
    state = {"eos": False, "error": False}

    def handle(msg):
        if msg.type == Gst.MessageType.ELEMENT:
            batch = reader.read(msg)
            if batch is not None:
                print(batch_lines(batch), flush=True)
                batches.append(batch)
        elif msg.type == Gst.MessageType.EOS:
            state["eos"] = True
        elif msg.type in (Gst.MessageType.ERROR, Gst.MessageType.WARNING):
            err, debug = msg.parse_error() if msg.type == Gst.MessageType.ERROR else msg.parse_warning()
            print(f"{msg.type.first_value_nick.upper()} from {msg.src.get_name()}: {err.message}\n{debug}",
                  file=sys.stderr)
            state["error"] = state["error"] or msg.type == Gst.MessageType.ERROR

    def wait(seconds):
        """Handles bus messages for `seconds`."""
        end = time.monotonic() + seconds
        while not state["error"]:
            left = end - time.monotonic()
            if left <= 0:
                return
            msg = bus.timed_pop(int(left * Gst.SECOND))
            if msg is not None:
                handle(msg)

    pipeline.set_state(Gst.State.PLAYING)
    for i, seconds in enumerate(schedule):
        valve.set_property("drop", i % 2 == 0)
        print(f"valve {'closed' if i % 2 == 0 else 'open'} for {seconds} s", file=sys.stderr)
        wait(seconds)
    pipeline.send_event(Gst.Event.new_eos())  # the valve is open: EOS reaches the sink
    end = time.monotonic() + 60
    while not state["eos"] and not state["error"] and time.monotonic() < end:
        msg = bus.timed_pop(Gst.SECOND)
        if msg is not None:
            handle(msg)
    pipeline.set_state(Gst.State.NULL)

    frames = [f for b in batches for f in b.frames]
    with passed.lock:
        through = list(passed.pts)
    failures = []
    if not state["eos"]:
        failures.append("no EOS")
    if [f.pts for f in frames] != through:
        failures.append(f"{len(frames)} frames reported, {len(through)} came through the valve: "
                        "their timestamps differ")
    if any(not f.uploaded for f in frames):
        failures.append("not every frame was uploaded")
    opened = len(schedule) // 2
    # A closed valve leaves a gap of its duration; frames come 1/30 s apart.
    found = runs(through, int(min(schedule[0::2]) / 2 * Gst.SECOND))
    if len(found) != opened:
        failures.append(f"frames came through in {len(found)} runs, the valve was opened {opened} times")
    print(f"{len(through)} frames came through the valve in {len(found)} runs "
          f"({', '.join(str(len(r)) for r in found)} frames), {len(frames)} reported, "
          f"{sum(f.uploaded for f in frames)} uploaded", file=sys.stderr)
    for f in failures:
        print(f"CHECK FAILED: {f}", file=sys.stderr)
    return 1 if failures or state["error"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
