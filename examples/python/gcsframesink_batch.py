# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""gcsframesink_batch: gcsframesink's bus messages as plain Python objects.

The Python counterpart of examples/gcsframesink-batch.h. The sink posts one
GstGcsFrameSinkBatch element message per batch, in batch order, with
GstValueArray fields (uris, urls, object-names, timestamps, running-times,
status) in frame order. BatchReader.read() turns it into a Batch holding one
Frame per frame:

    reader = BatchReader()
    # for every message popped from the pipeline's bus:
    batch = reader.read(msg)
    if batch is not None:
        for f in batch.frames:
            print(f.index, f.status, f.url)

With the sink's post-messages=true it also posts one GstGcsFrameSink message
per frame, before its batch's message; the reader keeps their size,
generation, crc32c and attempts and fills them in when the batch arrives
(otherwise they stay None).

Needs PyGObject with GStreamer's introspection data and gst-python's
overrides, which read GstValueArray fields as lists (Debian: python3-gi,
gir1.2-gstreamer-1.0, python3-gst-1.0), run by Debian's /usr/bin/python3.
"""

from dataclasses import dataclass, field
from typing import List, Optional

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


@dataclass
class Frame:
    index: int  # the frame's index (the sink's index property counts from it)
    name: str  # object name
    uri: str  # gs://bucket/object
    url: str  # <endpoint>/<bucket>/<percent-encoded object>
    status: str  # uploaded, failed, dropped, spooled or unconfirmed
    pts: int  # buffer PTS, Gst.CLOCK_TIME_NONE where unknown
    running_time: int
    # From the frame's GstGcsFrameSink message (post-messages=true) only:
    size: Optional[int] = None
    generation: Optional[int] = None
    crc32c: Optional[str] = None
    attempts: Optional[int] = None

    @property
    def uploaded(self):
        return self.status == "uploaded"


@dataclass
class Batch:
    sink: str  # name of the gcsframesink that posted it
    number: int  # batch number, from 0 for each sink
    first_index: int
    uploaded: int
    failed: int
    upload_time: int  # ns, first frame in to the batch settled
    frames: List[Frame] = field(default_factory=list)  # frames[i].index == first_index + i


def _array(s, name, count):
    value = s.get_value(name)
    if value is None:
        raise ValueError(f"GstGcsFrameSinkBatch without the array field {name}")
    values = list(value)
    if len(values) != count:
        raise ValueError(f"GstGcsFrameSinkBatch: {name} has {len(values)} values for {count} frames")
    return values


def parse_batch(msg):
    """A GstGcsFrameSinkBatch message as a Batch (without the per-frame
    details of post-messages=true); None for any other message. Raises
    ValueError for a message of that name without the element's fields."""
    if msg.type != Gst.MessageType.ELEMENT:
        return None
    s = msg.get_structure()
    if s is None or not s.has_name("GstGcsFrameSinkBatch"):
        return None
    count = s.get_value("count")
    if count is None:
        raise ValueError("GstGcsFrameSinkBatch without count")
    columns = [_array(s, name, count)
               for name in ("object-names", "uris", "urls", "status", "timestamps", "running-times")]
    first = s.get_value("first-index")
    batch = Batch(sink=msg.src.get_name() if msg.src is not None else "", number=s.get_value("batch"),
                  first_index=first, uploaded=s.get_value("uploaded"), failed=s.get_value("failed"),
                  upload_time=s.get_value("upload-time"))
    for i, (name, uri, url, status, pts, rt) in enumerate(zip(*columns)):
        batch.frames.append(Frame(first + i, name, uri, url, status, pts, rt))
    return batch


class BatchReader:
    """Reads every message of a bus and returns each batch when its message
    comes, with the per-frame details of post-messages=true filled in. One
    reader serves any number of sinks."""

    def __init__(self):
        self._details = {}  # (sink name, index) -> GstGcsFrameSink structure fields

    def read(self, msg):
        if msg.type != Gst.MessageType.ELEMENT:
            return None
        s = msg.get_structure()
        if s is not None and s.has_name("GstGcsFrameSink"):
            sink = msg.src.get_name() if msg.src is not None else ""
            self._details[(sink, s.get_value("index"))] = {
                k: s.get_value(k) for k in ("size", "generation", "crc32c", "attempts")}
            return None
        batch = parse_batch(msg)
        if batch is None:
            return None
        for f in batch.frames:
            details = self._details.pop((batch.sink, f.index), None)
            if details is not None:
                f.size, f.generation = details["size"], details["generation"]
                f.crc32c, f.attempts = details["crc32c"], details["attempts"]
        return batch


def batch_lines(batch):
    """The lines the examples print for a batch: a header, then one line per
    frame with its index, status and URL."""
    lines = [f"batch {batch.number} (first-index {batch.first_index}, count {len(batch.frames)}, "
             f"uploaded {batch.uploaded}, failed {batch.failed})"]
    lines += [f"  {f.index} {f.status} {f.url}" for f in batch.frames]
    return "\n".join(lines)
