#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
"""manifest_consumer: follow a camera's batches from another machine.

With manifest-name, gcsframesink writes one JSON manifest object per batch
to the bucket once every frame of the batch is settled. A consumer anywhere
(an inference worker, a batch job) needs only the bucket: it lists the
manifests under a prefix, reads them in batch order, and gets each batch's
frames in frame order with their URLs, sizes, checksums and statuses. This
one polls the listing (a production consumer would start from the bucket's
Pub/Sub object notifications instead) and prints each batch as it comes:

    batch B (first-index F, count C, uploaded U, failed X)
      INDEX STATUS URL SIZE

    /usr/bin/python3 examples/python/manifest_consumer.py --endpoint http://127.0.0.1:9023 \\
        --bucket demo --prefix manifests/cam1/ --frames 30

It waits for batch 0 of the first run it finds, then for each next batch in
turn (manifests can be stored out of order), until FRAMES frames were
printed or TIMEOUT seconds passed. Exit status 0 when every frame printed
was uploaded, 1 otherwise (or on timeout), 2 on bad usage. Only the
standard library: no GStreamer, no Google client library (against Cloud
Storage, add an Authorization header).
"""

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request


def list_names(endpoint, bucket, prefix):
    names, token = [], None
    while True:
        query = {"prefix": prefix}
        if token:
            query["pageToken"] = token
        url = f"{endpoint}/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            page = json.load(r)
        names += [item["name"] for item in page.get("items", [])]
        token = page.get("nextPageToken")
        if not token:
            return names


def read_object(endpoint, bucket, name):
    url = f"{endpoint}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def main(argv):
    parser = argparse.ArgumentParser(description="Follow gcsframesink's manifest objects in a bucket.")
    parser.add_argument("--endpoint", required=True, help="e.g. the emulator's http://127.0.0.1:9023")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", required=True, help="where the manifests are, e.g. manifests/cam1/")
    parser.add_argument("--frames", type=int, required=True, help="stop after this many frames")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait in all (default 60)")
    args = parser.parse_args(argv)

    deadline = time.monotonic() + args.timeout
    run, next_batch, seen, uploaded = None, 0, 0, 0
    batches = {}  # batch number -> manifest, of the run followed
    names_read = set()
    while seen < args.frames:
        if time.monotonic() > deadline:
            print(f"timed out waiting for batch {next_batch}", file=sys.stderr)
            return 1
        for name in sorted(list_names(args.endpoint, args.bucket, args.prefix)):
            if name in names_read:
                continue
            names_read.add(name)
            manifest = read_object(args.endpoint, args.bucket, name)
            if run is None:
                run = manifest["run"]  # the first run listed (names sort by run)
            if manifest["run"] == run:
                batches[manifest["batch"]] = manifest
        while next_batch in batches and seen < args.frames:
            m = batches[next_batch]
            print(f"batch {m['batch']} (first-index {m['first-index']}, count {m['count']}, "
                  f"uploaded {m['uploaded']}, failed {m['failed']})")
            for f in m["frames"]:
                print(f"  {f['index']} {f['status']} {f['url']} {f['size']}")
                seen += 1
                uploaded += f["status"] == "uploaded"
            next_batch += 1
        sys.stdout.flush()
        time.sleep(0.2)
    return 0 if uploaded == seen else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
