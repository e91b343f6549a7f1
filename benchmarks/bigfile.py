"""A file on disk: write it, read it through mmap, verify it, and peak RSS.

The file holds ``--big-file-mib`` MiB of 1 KiB payloads (1 GiB by default)
with XXH3 checksums, in a temporary directory deleted afterwards. Every
operation runs in a fresh child process (``python -m benchmarks.bigfile OP``),
so each run's peak RSS is its own; repeats interleave the operations. The
child reports its resident memory before the operation and the peaks during
it: ``ru_maxrss`` (which counts the file's pages mapped by mmap), and, sampled
every 5 ms from ``/proc/self/status``, anonymous memory (``RssAnon``: what the
operation allocated) and mapped file pages (``RssFile``). "Beyond the mapping"
is the anonymous growth.

Writes go to the page cache (no fsync) and reads find the file there (it was
just written): these figures are CPU cost, not disk speed.

A second, smaller file of 1 MiB frames measures the streaming reader (a plain
file object, no mmap) against its bound: largest frame + two read chunks.
"""

from __future__ import annotations

import json
import statistics
import mmap
import os
import struct
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

from .harness import Row, Settings, Workload, json_tail, log, run_child

__all__ = ["workloads", "OPERATIONS"]

PAYLOAD = 1024
POOL = 1024  # distinct payloads, cycled: generating 1 GiB of random bytes would dominate
CHECKSUM = "xxh3_64"


def _status() -> Dict[str, int]:
    """VmRSS, RssAnon, RssFile and VmHWM of this process, in KiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class _Sampler(threading.Thread):
    """Peak RssAnon and RssFile, sampled every 5 ms while the operation runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.anon = self.file = 0

    def run(self) -> None:
        while not self.stop.is_set():
            status = _status()
            self.anon = max(self.anon, status["RssAnon"])
            self.file = max(self.file, status["RssFile"])
            self.stop.wait(0.005)


def _payloads() -> List[bytes]:
    return [os.urandom(PAYLOAD) for _ in range(POOL)]


# -- the operations (run in the child) ----------------------------------------


def _write_flatstream(path: str, frames: int) -> int:
    import flatstream as fs

    pool = _payloads()
    with fs.open(path, "wb", checksum=CHECKSUM) as writer:
        for _ in range(frames // POOL):
            writer.write_many(pool)
        writer.write_many(pool[: frames % POOL])
    return frames


def _write_msgpack(path: str, frames: int) -> int:
    import msgpack

    pool = _payloads()
    packer = msgpack.Packer(autoreset=False)
    with open(path, "wb", buffering=1 << 20) as f:
        for start in range(0, frames, POOL):
            for payload in pool[: min(POOL, frames - start)]:
                packer.pack(payload)
            f.write(packer.getbuffer())
            packer.reset()
    return frames


def _count(iterable: Any) -> int:
    # A function of its own, so the last view dies with its frame and the
    # mapping can close (a live view keeps it exported).
    count = 0
    for _ in iterable:
        count += 1
    return count


def _count_batches(reader: Any) -> int:
    return sum(len(batch) for batch in reader.iter_batches(1024))


def _read_mmap(path: str, _frames: int) -> int:
    import flatstream as fs

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return _count(fs.StreamReader(mapped, fs.ChecksumDeframer(CHECKSUM)))


def _read_batches(path: str, _frames: int) -> int:
    import flatstream as fs

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return _count_batches(fs.StreamReader(mapped, fs.ChecksumDeframer(CHECKSUM)))


def _read_stream(path: str, _frames: int) -> int:
    import flatstream as fs

    with fs.open(path, "rb", checksum=CHECKSUM) as reader:
        return _count(reader)


def _read_naive(path: str, _frames: int) -> int:
    import xxhash

    header = struct.Struct("<IQ")
    unpack_from, digest = header.unpack_from, xxhash.xxh3_64_intdigest
    count = pos = 0
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        end = len(mapped)
        while pos < end:
            size, stored = unpack_from(mapped, pos)
            pos += 12
            if digest(view[pos : pos + size]) != stored:
                raise ValueError(f"checksum mismatch at {pos - 12}")
            pos += size
            count += 1
        view.release()
    return count


def _read_msgpack(path: str, _frames: int) -> int:
    import msgpack

    with open(path, "rb") as f:
        return _count(msgpack.Unpacker(f, read_size=1 << 20))


def _verify(threads: int) -> Callable[[str, int], int]:
    def run(path: str, _frames: int) -> int:
        import flatstream as fs

        return fs.verify(path, CHECKSUM, threads=threads).frames

    return run


def _scan(path: str, _frames: int) -> int:
    import flatstream as fs

    return len(fs.scan(path, CHECKSUM))


#: name -> (function, which file it reads or writes, extra environment)
OPERATIONS: Dict[str, Tuple[Callable[[str, int], int], str, Dict[str, str]]] = {
    "flatstream write_many (file)": (_write_flatstream, "out", {}),
    "msgpack Packer (file)": (_write_msgpack, "out", {}),
    "flatstream read mmap": (_read_mmap, "fs", {}),
    "flatstream read mmap iter_batches(1024)": (_read_batches, "fs", {}),
    "flatstream read mmap (pure Python)": (_read_mmap, "fs", {"FLATSTREAM_PURE_PYTHON": "1"}),
    "flatstream read file object (streaming)": (_read_stream, "fs", {}),
    "naive struct loop + xxhash over mmap": (_read_naive, "fs", {}),
    "msgpack Unpacker (file)": (_read_msgpack, "msgpack", {}),
    "flatstream verify threads=1": (_verify(1), "fs", {}),
    "flatstream verify threads=2": (_verify(2), "fs", {}),
    "flatstream verify (pure Python)": (_verify(1), "fs", {"FLATSTREAM_PURE_PYTHON": "1"}),
    "flatstream scan (index)": (_scan, "fs", {}),
    "flatstream read file object, 1 MiB frames": (_read_stream, "fs1m", {}),
}

FIGURES = {
    "flatstream write_many (file)": "write",
    "msgpack Packer (file)": "write",
    "flatstream verify threads=1": "verify",
    "flatstream verify threads=2": "verify",
    "flatstream verify (pure Python)": "verify",
    "flatstream scan (index)": "scan (index)",
}


def _child_main(argv: List[str]) -> None:
    name, path, frames = argv[0], argv[1], int(argv[2])
    function = OPERATIONS[name][0]
    import flatstream  # noqa: F401 - imported before the baseline, like every dependency

    if "msgpack" in name:
        import msgpack  # noqa: F401
    import xxhash  # noqa: F401

    sampler = _Sampler()
    sampler.start()  # before the baseline: its own thread's memory is not the operation's
    time.sleep(0.02)
    before = _status()
    start = time.perf_counter()
    count = function(path, frames)
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    after = _status()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "frames": count,
                "rss_before_kib": before["VmRSS"],
                "hwm_before_kib": before["VmHWM"],
                "hwm_after_kib": after["VmHWM"],
                "anon_before_kib": before["RssAnon"],
                "anon_peak_kib": max(sampler.anon, after["RssAnon"]),
                "file_before_kib": before["RssFile"],
                "file_peak_kib": max(sampler.file, after["RssFile"]),
            }
        )
    )


# -- the workload (runs in the workload's process) ------------------------------


def _run(settings: Settings) -> List[Row]:
    import flatstream as fs

    from .peers import MSGPACK

    mib = settings.big_file_mib
    frames = mib * 1024 * 1024 // PAYLOAD
    big_frames = min(mib, 256)
    title = f"{mib:,} MiB file of 1 KiB frames ({CHECKSUM})"
    repeats = min(settings.repeats, 5)
    samples: Dict[str, List[Dict[str, Any]]] = {name: [] for name in OPERATIONS}
    with tempfile.TemporaryDirectory(prefix="flatstream-bench-big-") as tmp:
        paths = {
            "fs": os.path.join(tmp, "data.fs"),
            "msgpack": os.path.join(tmp, "data.msgpack"),
            "fs1m": os.path.join(tmp, "data-1mib.fs"),
            "out": os.path.join(tmp, "out.bin"),
        }
        log(f"  writing {mib} MiB files in {tmp}")
        _write_flatstream(paths["fs"], frames)
        _write_msgpack(paths["msgpack"], frames)
        with fs.open(paths["fs1m"], "wb", checksum=CHECKSUM) as writer:
            big = os.urandom(1 << 20)
            for _ in range(big_frames):
                writer.write_payload(big)
        mapped_kib = os.path.getsize(paths["fs"]) // 1024
        names = list(OPERATIONS)
        # The two writes never run back to back (the rotation keeps them
        # apart): a write right after the other one's output was unlinked
        # reuses that gigabyte of freed page cache, while a write after a
        # read must first reclaim cached pages of the data files (measured:
        # the second of two adjacent writes ran 8x faster, whichever it was).
        names.insert(len(names) // 2, names.pop(names.index("msgpack Packer (file)")))
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                _, which, env_extra = OPERATIONS[name]
                target = paths[which]
                count = big_frames if which == "fs1m" else frames
                env = dict(os.environ, **env_extra)
                if which == "out":
                    # Each write starts with no dirty pages left by the setup
                    # or earlier writes (no write is throttled by another's).
                    os.sync()
                out, peak = run_child(
                    ["-m", "benchmarks.bigfile", name, target, str(count)], env=env
                )
                result = json_tail(out)
                result["ru_maxrss_kib"] = peak
                if result["frames"] != count:
                    raise AssertionError(f"{name}: {result['frames']} frames, expected {count}")
                samples[name].append(result)
                if which == "out":
                    os.unlink(target)
                size = count * ((1 << 20) if which == "fs1m" else PAYLOAD)
                log(f"  {name:<48} {size / result['seconds'] / 1e9:8.3f} GB/s")
    rows = []
    for name, runs in samples.items():
        which = OPERATIONS[name][1]
        count = big_frames if which == "fs1m" else frames
        size = count * ((1 << 20) if which == "fs1m" else PAYLOAD)
        times = [run["seconds"] for run in runs]
        extra = {
            "rss_growth_kib": max(run["hwm_after_kib"] - run["rss_before_kib"] for run in runs),
            "anon_growth_kib": max(run["anon_peak_kib"] - run["anon_before_kib"] for run in runs),
            "file_growth_kib": max(run["file_peak_kib"] - run["file_before_kib"] for run in runs),
            "ru_maxrss_kib": max(run["ru_maxrss_kib"] for run in runs),
            "rss_before_kib": min(run["rss_before_kib"] for run in runs),
            "mapped_kib": mapped_kib if which == "fs" else 0,
            "largest_frame": (1 << 20) if which == "fs1m" else PAYLOAD,
        }
        workload = (
            title if which != "fs1m" else f"{big_frames} MiB file of 1 MiB frames ({CHECKSUM})"
        )
        figure = FIGURES.get(name, "read")
        candidate = MSGPACK if name.startswith("msgpack") else name
        if candidate == MSGPACK:
            extra["operation"] = name
        mode = "python" if "pure" in name else ("native" if name.startswith("flatstream") else None)
        rows.append(
            Row(
                workload,
                candidate,
                figure,
                count,
                size,
                mode=mode,
                median_s=statistics.median(times),
                min_s=min(times),
                max_s=max(times),
                samples=times,
                loops=1,
                extra=extra,
            )
        )
    return rows


def workloads(settings: Settings) -> List[Workload]:
    return [
        Workload("bigfile", "bigfile", "a large file on disk: write, mmap read, verify, RSS", _run)
    ]


if __name__ == "__main__":
    _child_main(sys.argv[1:])
