"""Follow latency: from the writer's ``flush()`` to the follower yielding the
frame, p50/p99, for each way of waiting (inotify wake-up vs ``os.stat``
polling at several intervals), in one run.

    .venv/bin/python -m benchmarks.follow [--frames 2000]
"""

from __future__ import annotations

import argparse
import os
import struct
import tempfile
import threading
import time
from typing import List, Tuple

import flatstream as fs


def measure(wait: str, poll_interval: float, frames: int) -> Tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f.fs")
        open(path, "wb").close()
        sent: List[float] = [0.0] * frames
        got: List[float] = [0.0] * frames
        ready = threading.Event()

        def writer() -> None:
            ready.wait()
            with fs.open(path, "ab") as w:
                for i in range(frames):
                    time.sleep(0.0007)  # frames arrive one at a time, the follower idle
                    w.write_payload(struct.pack("<I", i))
                    sent[i] = time.perf_counter()
                    w.flush()

        thread = threading.Thread(target=writer)
        thread.start()
        start = time.process_time()
        follower = fs.follow(path, poll_interval=poll_interval, timeout=2.0, wait=wait)
        ready.set()
        n = 0
        for payload in follower:
            got[struct.unpack("<I", payload)[0]] = time.perf_counter()
            n += 1
        cpu = time.process_time() - start
        thread.join()
        assert n == frames, (n, frames)
        lat = sorted((g - s) * 1e3 for g, s in zip(got, sent))
        return lat[len(lat) // 2], lat[int(len(lat) * 0.99)], cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    rows = [("inotify", "inotify", 0.05), ("inotify", "inotify", 0.01)]
    rows += [(f"poll {iv * 1e3:g} ms", "poll", iv) for iv in (0.01, 0.001, 0.0002)]
    print(f"{'wait':<16}{'p50 ms':>10}{'p99 ms':>10}{'CPU s':>8}  ({args.frames} frames)")
    for label, wait, interval in rows:
        if wait == "inotify":
            label = f"inotify/{interval * 1e3:g} ms"
        p50, p99, cpu = measure(wait, interval, args.frames)
        print(f"{label:<16}{p50:>10.3f}{p99:>10.3f}{cpu:>8.2f}")


if __name__ == "__main__":
    main()
