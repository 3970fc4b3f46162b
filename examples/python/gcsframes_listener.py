#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""gcsframes_listener: an application embedding gcsframesink, in Python.

Builds a pipeline from a gst-launch-1.0 description, runs it and prints every
GstGcsFrameSinkBatch message the sink posts on the bus, in batch order: one
line per batch followed by one line per frame with its index, status and URL.
It prints the same lines as the C example (examples/gcsframes-listener.c).

    GST_PLUGIN_PATH=build/gst python3 examples/python/gcsframes_listener.py
    GST_PLUGIN_PATH=build/gst python3 examples/python/gcsframes_listener.py --check-order \
        'videotestsrc num-buffers=50 ! jpegenc ! gcsframesink bucket=demo endpoint=http://127.0.0.1:9023'

SIGINT or SIGTERM sends EOS so that the sink uploads the frames it holds and
posts its last batch; a second one stops at once (exit status 130).
Exit status: 0 after EOS, 1 on an error or a failed check, 2 on bad usage.

Needs PyGObject and GStreamer's introspection data (Debian: python3-gi and
gir1.2-gstreamer-1.0). The interpreter is Debian's /usr/bin/python3, the one
python3-gi is installed for.
"""

import argparse
import signal
import sys
import warnings

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

DEFAULT_PIPELINE = (
    "videotestsrc num-buffers=100 ! video/x-raw,width=320,height=240 ! jpegenc ! "
    "gcsframesink name=sink bucket=demo"
)
MAX_WARNINGS_SHOWN = 10


def value_array(structure, field):
    """A GstValueArray field as a Python list (works with and without the
    gst-python overrides)."""
    ok, array = structure.get_array(field)
    if not ok or array is None:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [array.get_nth(i) for i in range(array.n_values)]


def structure_uint(structure, field, getter):
    ok, value = getter(field)
    return value if ok else 0


def frame_sinks(pipeline):
    """Every gcsframesink of the pipeline, nested bins included."""
    sinks = []
    it = pipeline.iterate_recurse()
    while True:
        result, element = it.next()
        if result == Gst.IteratorResult.OK:
            factory = element.get_factory()
            if factory is not None and factory.get_name() == "gcsframesink":
                sinks.append(element)
        elif result == Gst.IteratorResult.RESYNC:
            sinks.clear()
            it.resync()
        else:
            break
    return sinks


class FrameLimit:
    """Ends one sink's stream after `limit` frames: at the next buffer it sends
    EOS into the sink (which uploads what it holds and posts its last batch)
    and drops that buffer."""

    def __init__(self, sink, limit):
        self.sink = sink
        self.limit = limit
        self.seen = 0
        self.ended = False
        sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.probe)

    def probe(self, pad, info):
        if self.ended:
            return Gst.PadProbeReturn.DROP
        if self.seen < self.limit:
            self.seen += 1
            return Gst.PadProbeReturn.OK
        self.ended = True
        print(f"{self.sink.get_name()}: {self.limit} frames taken: sending EOS", file=sys.stderr)
        pad.send_event(Gst.Event.new_eos())
        return Gst.PadProbeReturn.DROP


class Listener:
    def __init__(self, pipeline, args):
        self.pipeline = pipeline
        self.args = args
        self.loop = GLib.MainLoop()
        self.sinks = frame_sinks(pipeline)
        self.order = {}  # sink name -> (next batch, next first-index)
        self.batches = self.frames = self.uploaded = self.failed = 0
        self.warnings = 0
        self.eos = self.error = self.check_failed = False
        self.interrupts = 0
        self.limits = []  # FrameLimit objects, kept alive with their probes

    # -- bus ---------------------------------------------------------------
    def on_message(self, bus, msg):
        t = msg.type
        if t == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s is not None and s.has_name("GstGcsFrameSinkBatch"):
                self.on_batch(msg, s)
        elif t == Gst.MessageType.EOS:
            print("EOS: every batch has been posted", file=sys.stderr)
            self.eos = True
            self.loop.quit()
        elif t == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            self.print_problem("ERROR", msg, err, debug)
            self.error = True
            self.loop.quit()
        elif t == Gst.MessageType.WARNING:
            self.warnings += 1
            if self.warnings <= MAX_WARNINGS_SHOWN:
                err, debug = msg.parse_warning()
                self.print_problem("WARNING", msg, err, debug)
            if self.warnings == MAX_WARNINGS_SHOWN:
                print("(further warnings are counted, not shown)", file=sys.stderr)
        elif t == Gst.MessageType.CLOCK_LOST:
            self.pipeline.set_state(Gst.State.PAUSED)
            self.pipeline.set_state(Gst.State.PLAYING)
        return True

    @staticmethod
    def print_problem(kind, msg, err, debug):
        src = msg.src.get_path_string() if msg.src is not None else "?"
        print(f"{kind} from {src}: {err.message if err else '(no message)'}", file=sys.stderr)
        print(f"Debug: {debug or '(none)'}", file=sys.stderr)

    def on_batch(self, msg, s):
        batch = structure_uint(s, "batch", s.get_uint64)
        first = structure_uint(s, "first-index", s.get_uint64)
        count = structure_uint(s, "count", s.get_uint)
        uploaded = structure_uint(s, "uploaded", s.get_uint)
        failed = structure_uint(s, "failed", s.get_uint)
        upload_time = structure_uint(s, "upload-time", s.get_uint64)
        urls = value_array(s, "urls")
        status = value_array(s, "status")

        prefix = f"{msg.src.get_name()}: " if len(self.sinks) > 1 else ""
        lines = [
            f"{prefix}batch {batch} (first-index {first}, count {count}, uploaded {uploaded}, "
            f"failed {failed}, upload-time {upload_time / Gst.MSECOND:.1f} ms)"
        ]
        for i in range(count):
            st = status[i] if i < len(status) else ""
            url = urls[i] if i < len(urls) else ""
            lines.append(f"{prefix}  {first + i} {st} {url}")
        print("\n".join(lines), flush=True)

        self.batches += 1
        self.frames += count
        self.uploaded += uploaded
        self.failed += failed
        if self.args.check_order:
            self.check_order(msg.src, batch, first, count, s)

    def violation(self, sink, text):
        print(f"ORDER CHECK FAILED ({sink}): {text}", file=sys.stderr)
        self.check_failed = True

    def check_order(self, src, batch, first, count, s):
        name = src.get_name()
        if name not in self.order:
            # The first batch is batch 0 and starts at the sink's index property.
            start = src.get_property("index") if src.find_property("index") else 0
            self.order[name] = (0, start)
        want_batch, want_index = self.order[name]
        if batch != want_batch:
            self.violation(name, f"batch {batch} arrived, expected batch {want_batch}")
        if first != want_index:
            self.violation(name, f"batch {batch} starts at index {first}, expected {want_index}")
        if count == 0:
            self.violation(name, f"batch {batch} is empty")
        for field in ("uris", "urls", "object-names", "timestamps", "running-times", "status"):
            n = len(value_array(s, field))
            if n != count:
                self.violation(name, f"batch {batch} has {n} {field} for {count} frames")
        self.order[name] = (batch + 1, first + count)

    # -- signals -----------------------------------------------------------
    def on_interrupt(self):
        self.interrupts += 1
        if self.interrupts == 1:
            print(
                "Interrupted: sending EOS so that the last batch is uploaded "
                "(interrupt again to stop at once)",
                file=sys.stderr,
            )
            self.pipeline.send_event(Gst.Event.new_eos())
        else:
            print("Interrupted again: stopping without waiting for uploads", file=sys.stderr)
            self.loop.quit()
        return GLib.SOURCE_CONTINUE

    # -- run ---------------------------------------------------------------
    def run(self):
        if not self.sinks:
            print("Warning: the pipeline has no gcsframesink; no batch will be printed", file=sys.stderr)
        if self.args.max_frames > 0:
            self.limits = [FrameLimit(sink, self.args.max_frames) for sink in self.sinks]

        bus = self.pipeline.get_bus()
        watch = bus.add_watch(GLib.PRIORITY_DEFAULT, self.on_message)
        sources = [
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.on_interrupt),
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.on_interrupt),
        ]

        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            msg = bus.timed_pop_filtered(2 * Gst.SECOND, Gst.MessageType.ERROR)
            if msg is not None:
                err, debug = msg.parse_error()
                self.print_problem("ERROR", msg, err, debug)
            else:
                print("ERROR: the pipeline cannot start", file=sys.stderr)
            self.error = True
        else:
            self.loop.run()

        # Frames still in flight (after an error or a second interrupt) are
        # dropped while the sink stops, in READY->NULL, and their batches
        # posted; auto-flush-bus is off so that they can be read here.
        self.pipeline.set_state(Gst.State.NULL)
        while True:
            msg = bus.pop_filtered(Gst.MessageType.ELEMENT | Gst.MessageType.WARNING)
            if msg is None:
                break
            self.on_message(bus, msg)
        for sink in self.sinks:
            stats = sink.get_property("stats")
            if stats is not None:
                print(f"{sink.get_name()} stats: {stats.to_string()}", file=sys.stderr)
        for source in sources:
            GLib.source_remove(source)
        GLib.source_remove(watch)

        summary = (
            f"{self.batches} batches, {self.frames} frames: {self.uploaded} uploaded, {self.failed} failed"
        )
        if self.warnings > MAX_WARNINGS_SHOWN:
            summary += f" ({self.warnings} warnings, {self.warnings - MAX_WARNINGS_SHOWN} not shown)"
        print(summary, file=sys.stderr)

        status = 0
        if self.error:
            status = 1
        elif not self.eos:
            status = 130
        if self.args.expect_batches is not None and self.batches != self.args.expect_batches:
            print(
                f"BATCH COUNT CHECK FAILED: {self.batches} batches arrived, "
                f"expected {self.args.expect_batches}",
                file=sys.stderr,
            )
            status = status or 1
        if self.check_failed:
            status = status or 1
        if self.args.check_order and not self.check_failed and not self.error:
            print("Order check passed", file=sys.stderr)
        return status


def main(argv):
    parser = argparse.ArgumentParser(
        description="Run a pipeline and print gcsframesink's batches.",
        epilog="Exit status: 0 after EOS, 1 on an error or a failed check, 2 on bad usage, "
        "130 when interrupted twice.",
    )
    parser.add_argument("--expect-batches", type=int, metavar="N",
                        help="exit with status 1 unless exactly N batch messages arrive")
    parser.add_argument("--check-order", action="store_true",
                        help="exit with status 1 unless each sink's batches are numbered from 0 without "
                        "gaps and their frame indices follow one another")
    parser.add_argument("--max-frames", type=int, default=0, metavar="N",
                        help="end the stream of each gcsframesink after N frames (0 = no limit)")
    parser.add_argument("pipeline", nargs=argparse.REMAINDER,
                        help=f"gst-launch-1.0 description, as one argument or several "
                        f"(default: {DEFAULT_PIPELINE})")
    args = parser.parse_args(argv[1:])
    if args.expect_batches is not None and args.expect_batches < 0:
        parser.error("--expect-batches must be 0 or more")
    if args.max_frames < 0:
        parser.error("--max-frames must be 0 or more")

    Gst.init(None)
    try:
        if not args.pipeline:
            pipeline = Gst.parse_launch(DEFAULT_PIPELINE)
        elif len(args.pipeline) == 1:
            pipeline = Gst.parse_launch(args.pipeline[0])
        else:  # separate words, as gst-launch-1.0 takes them
            pipeline = Gst.parse_launchv(args.pipeline)
    except GLib.Error as e:
        print(f"Cannot build the pipeline: {e.message}", file=sys.stderr)
        if "gcsframesink" in e.message:
            print("(gcsframesink is in libgstgcsframes.so: set GST_PLUGIN_PATH to the directory that "
                  "holds it, for example build/gst)", file=sys.stderr)
        return 1
    if not isinstance(pipeline, Gst.Pipeline):
        wrapper = Gst.Pipeline.new(None)
        wrapper.add(pipeline)
        pipeline = wrapper
    pipeline.set_auto_flush_bus(False)
    return Listener(pipeline, args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
