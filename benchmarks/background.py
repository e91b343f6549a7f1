"""Background writer: how long does a capture loop's ``write()`` take when the
sink is slow?

A capture loop writes small events (24-byte records) as fast as it can, timing
every ``write`` call with ``time.perf_counter_ns``; the sink sleeps on every
``write`` call (a slow disk or network). Measured: the distribution of call
latencies (p50, p99, p99.9, max; the timer's own cost is measured alone, in
the "timer only" row), the loop's rate, and the writer's counters. For
reference, a plain ``StreamWriter`` on the same sink, over fewer events: each
of its writes waits for the sink.

The target (issue 3) is that the loop is never blocked by the sink for longer
than one queue slot: with ``drop_newest`` the loop must never wait for the
sink at all, so its slowest call must stay below one sink sleep.
"""

from __future__ import annotations

import statistics
import time
from array import array
from typing import Any, Callable, Dict, List, Tuple

import flatstream as fs

from .framing import records24
from .harness import Row, Settings, Workload, log, unavailable

__all__ = ["workloads", "SINK_DELAY"]

#: Seconds the sink sleeps in every write call.
SINK_DELAY = 0.002
TITLE = "background writer: write() latency, sink sleeps 2 ms per write"


class SleepySink:
    """A sink that sleeps in every ``write`` (and counts what it took)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.bytes = 0

    def write(self, data: Any) -> int:
        time.sleep(self.delay)
        self.calls += 1
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def _capture(write: Callable[[Any], Any], payloads: List[bytes]) -> Tuple[array, float]:
    """Call ``write`` on every payload; per-call latencies (ns) and the loop's seconds."""
    latencies = array("q", bytes(8 * len(payloads)))
    clock = time.perf_counter_ns
    start = clock()
    for i, payload in enumerate(payloads):
        t0 = clock()
        write(payload)
        latencies[i] = clock() - t0
    return latencies, (clock() - start) / 1e9


def _percentiles(latencies: array) -> Dict[str, float]:
    ordered = sorted(latencies)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1000.0

    return {
        "p50_us": at(0.50),
        "p99_us": at(0.99),
        "p999_us": at(0.999),
        "max_us": ordered[-1] / 1000.0,
        "over_100us": sum(1 for x in ordered if x > 100_000),
        "over_sink_delay": sum(1 for x in ordered if x > SINK_DELAY * 1e9),
    }


def _run(settings: Settings) -> List[Row]:
    writer_class = getattr(fs, "BackgroundWriter", None)
    n = settings.size(1_000_000, 100_000)
    if writer_class is None:
        return [
            unavailable(
                TITLE,
                "flatstream BackgroundWriter",
                "write latency",
                "not measured: flatstream.BackgroundWriter does not exist in this build",
            )
        ]
    payloads = records24(n)
    configs: Dict[str, Callable[[SleepySink], Any]] = {
        "BackgroundWriter block, queue 65536": lambda sink: writer_class(
            sink, queue_size=65536, overflow="block"
        ),
        "BackgroundWriter drop_newest, queue 65536": lambda sink: writer_class(
            sink, queue_size=65536, overflow="drop_newest"
        ),
        "BackgroundWriter drop_newest, queue 1024": lambda sink: writer_class(
            sink, queue_size=1024, overflow="drop_newest"
        ),
    }
    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in configs}
    runs["timer only (a no-op write)"] = []
    repeats = settings.repeats
    names = list(runs)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if name.startswith("timer"):
                latencies, seconds = _capture(lambda payload: None, payloads)
                runs[name].append({"seconds": seconds, **_percentiles(latencies)})
                continue
            sink = SleepySink(SINK_DELAY)
            writer = configs[name](sink)
            latencies, seconds = _capture(writer.write_payload, payloads)
            writer.close()
            stats = writer.stats
            if stats.written + stats.dropped != n or sink.bytes != stats.bytes:
                raise AssertionError(f"{name}: {stats} does not account for {n} messages")
            result = {"seconds": seconds, **_percentiles(latencies)}
            result.update(
                written=stats.written,
                dropped=stats.dropped,
                high_water=stats.high_water,
                sink_calls=sink.calls,
            )
            runs[name].append(result)
            log(
                f"  {name:<44} p50 {result['p50_us']:.2f} us  p99 {result['p99_us']:.2f} us  max {result['max_us']:.0f} us  dropped {stats.dropped}"
            )

    # The synchronous reference: every write reaches the sleeping sink.
    sync_n = settings.size(500, 100)
    sync = []
    for _ in range(min(repeats, 3)):
        sink = SleepySink(SINK_DELAY)
        latencies, seconds = _capture(fs.StreamWriter(sink).write_payload, payloads[:sync_n])
        sync.append({"seconds": seconds, **_percentiles(latencies)})
    runs["StreamWriter (synchronous) on the same sink"] = sync

    rows = []
    for name, results in runs.items():
        count = sync_n if name.startswith("StreamWriter") else n
        times = [r["seconds"] for r in results]
        extra: Dict[str, Any] = {
            key: statistics.median(r[key] for r in results)
            for key in ("p50_us", "p99_us", "p999_us")
        }
        extra["max_us"] = max(r["max_us"] for r in results)
        extra["over_sink_delay"] = max(r["over_sink_delay"] for r in results)
        extra["over_100us"] = max(r["over_100us"] for r in results)
        for key in ("dropped", "high_water", "sink_calls"):
            if key in results[0]:
                extra[key] = max(r[key] for r in results)
        extra["sink_delay_us"] = SINK_DELAY * 1e6
        rows.append(
            Row(
                TITLE,
                name,
                "write latency",
                count,
                24 * count,
                mode="native" if name.startswith(("Background", "StreamWriter")) else None,
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
    return [Workload("background", "background", TITLE, _run)]


def switch_intervals(intervals_ms: List[float], repeats: int = 2, n: int = 1_000_000) -> None:
    """The capture loop's slowest ``write`` calls (``drop_newest``, queue 65536)
    at each GIL switch interval: does the tail follow the interpreter's
    hand-off of the GIL between the loop and the I/O thread? For "Where the
    time goes"; not part of the suite (the interval is process-wide)."""
    import sys

    payloads = records24(n)
    default = sys.getswitchinterval()
    try:
        for ms in intervals_ms:
            sys.setswitchinterval(ms / 1000)
            for _ in range(repeats):
                sink = SleepySink(SINK_DELAY)
                writer = fs.BackgroundWriter(sink, queue_size=65536, overflow="drop_newest")
                latencies, _ = _capture(writer.write_payload, payloads)
                writer.close()
                p = _percentiles(latencies)
                print(
                    f"switch interval {ms:g} ms: slowest {p['max_us']:.0f} us, "
                    f"p99.9 {p['p999_us']:.1f} us, calls over one sink sleep: {p['over_sink_delay']}"
                )
    finally:
        sys.setswitchinterval(default)


if __name__ == "__main__":  # python -m benchmarks.background --switch-intervals
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.background", description=switch_intervals.__doc__)
    parser.add_argument("--switch-intervals", nargs="*", type=float, default=[5.0, 0.5], metavar="MS")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    switch_intervals(args.switch_intervals, args.repeats)
