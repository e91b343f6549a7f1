"""A durable capture agent: samples synthetic sensors, one FlatBuffer per
reading, into rotating journal segments through a background writer.

    python -m examples.agent --out captures --sensors 16 --rate 100000 --fsync interval:50
    python examples/agent/agent.py --out captures --duration 60 --ack-file acks.jsonl

The sampling loop encodes each reading (``SensorReading``) and hands it to an
``fs.BackgroundWriter``, whose I/O thread writes batches into
``fs.RotatingWriter(..., format="journal")`` segments
(``{prefix}-{seq}-{time}Z.fs``, each a journal with the schema in its header,
rotated by ``--rotate-bytes`` / ``--rotate-seconds``). It never waits on the
disk unless the queue is full; then ``--overflow block`` waits (nothing is
dropped, the sampler falls behind and counts ``missed`` samples when over a
second late) and ``--overflow drop_newest`` refuses the reading and counts it.

Durability, by ``--fsync`` policy. "Acknowledged" means the agent wrote an
acknowledgement line (``--ack-file``: ``{"last_seq": S, "durable": ..., "pid": P}``)
after the flush (and fsync) that covered frame ``S`` and every frame before it
returned:

``none``
    Frames are flushed to the operating system at least every ``--flush-ms``
    (100 ms), at rotation and at shutdown, never fsynced. Acknowledged frames
    (``"durable": "os"``) survive the agent being killed (``kill -9``, a
    crash): they are in the page cache. A power loss or kernel crash may lose
    an unknown recent part of the capture.
``interval:T``
    Every T ms, frames written so far are flushed and fsynced (and each
    segment as it is closed, with its directory entry). Acknowledged frames
    (``"durable": "disk"``) survive a power loss (as far as the device honours
    fsync); at most the frames accepted in the last T ms plus one fsync are
    lost, on a crash of the agent or of the machine.
``frame``
    Every batch the I/O thread writes is flushed and fsynced before the next
    is written (group commit: whatever was queued during one fsync goes into
    the next, so the rate is not bounded by the fsync latency). Every frame
    is acknowledged (``"disk"``) as soon as its fsync returns; a crash loses
    only frames not yet acknowledged (queued, or in the batch being synced).

Under every policy, SIGINT/SIGTERM stop sampling, write every accepted frame,
close the segment (its footer is the clean-close mark), fsync it unless
``none``, report, and exit 0; nothing accepted is lost. A second signal exits
at once, like a crash. After a crash, the next start repairs the last segment
(``recovery.py``: cuts only a torn last frame, reports what it cut) and the
capture goes on in a new segment, ``seq`` continuing from the last frame on
disk. A write error (a full disk: ``ENOSPC``) stops the I/O thread at once (no
retry loop), is reported as an ``error`` line, and the agent exits 74
(``EX_IOERR``); the segments hold everything written before it, with at most
a torn last frame that the next start repairs. Other exit codes: 0 stopped
(duration reached or signal), 1 a segment the agent refuses to repair.

Reports (``--stats-file``, default stderr) are JSON lines: ``started`` (with
what recovery did), ``stats`` every ``--stats-interval`` seconds (written,
dropped, missed, bytes, queued, high_water, flushes, fsyncs, fsync latency
p50/p99/max in ms over the interval and overall, segments), ``error``, and
``stopped`` with the final counters.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import click

if __package__ in (None, ""):  # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import flatstream as fs  # noqa: E402
from examples.agent.recovery import recover  # noqa: E402
from examples.agent.reports import LatencyHistogram, LineSink  # noqa: E402

__all__ = ["SensorReading", "FsyncPolicy", "AgentConfig", "Agent", "main", "EXIT_IO_ERROR"]

#: Exit status after a write error (sysexits' EX_IOERR).
EXIT_IO_ERROR = 74
#: Exit status when recovery refuses a damaged segment.
EXIT_REFUSED = 1


@fs.table(name="SensorReading", namespace="flatstream.agent")
class SensorReading:
    """One sample. ``seq`` numbers the capture's frames 0, 1, 2, ... across
    restarts (a dropped sample gets none; the timestamps show the gap)."""

    seq: fs.u64
    sensor: fs.u32
    timestamp_ns: fs.u64
    value: fs.f64


@dataclass(frozen=True)
class FsyncPolicy:
    """``none``, ``interval:T`` (T in ms) or ``frame``; see the module docstring."""

    kind: str
    interval_ms: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "FsyncPolicy":
        if text in ("none", "frame"):
            return cls(text)
        name, _, value = text.partition(":")
        if name == "interval":
            try:
                ms = float(value)
            except ValueError:
                ms = -1.0
            if ms > 0 and math.isfinite(ms):
                return cls("interval", ms)
        raise ValueError(f"fsync policy must be 'none', 'interval:T' (T ms > 0) or 'frame', not {text!r}")

    def writer_options(self, flush_ms: float) -> Dict[str, Any]:
        """The BackgroundWriter arguments that implement the policy."""
        if self.kind == "none":
            return {"fsync": False, "flush_interval": flush_ms / 1e3}
        if self.kind == "interval":
            return {"fsync": True, "flush_interval": self.interval_ms / 1e3}
        return {"fsync": True, "flush_every": 1}

    def __str__(self) -> str:
        return f"interval:{self.interval_ms:g}" if self.kind == "interval" else self.kind


@dataclass
class AgentConfig:
    out: Path
    sensors: int = 16
    rate: float = 10_000.0  # readings per second, all sensors together
    duration: Optional[float] = None  # seconds; None: until SIGINT/SIGTERM
    prefix: str = "capture"
    rotate_bytes: Optional[int] = 64 << 20
    rotate_seconds: Optional[float] = None
    fsync: FsyncPolicy = FsyncPolicy("interval", 100.0)
    flush_ms: float = 100.0  # the flush bound of the "none" policy
    overflow: str = "block"
    queue_size: int = 65536
    checksum: str = "xxh3_64"
    stats_interval: float = 1.0
    stats_file: Any = 2  # a path, or a descriptor (2: stderr)
    ack_file: Optional[Path] = None


class Agent:
    """One run of the agent: :meth:`run` recovers, samples until the duration
    or :meth:`stop`, shuts down cleanly, and returns the exit status."""

    #: Seconds between looks at the clock when the sampler is ahead.
    TICK = 0.001

    def __init__(self, config: AgentConfig) -> None:
        if config.sensors < 1 or config.rate <= 0:
            raise ValueError("sensors must be >= 1 and rate > 0")
        self.config = config
        self.codec = fs.codec(SensorReading)
        self._stop = threading.Event()
        self._stop_reason = "duration"
        self._reports = LineSink(config.stats_file)
        self._acks = LineSink(config.ack_file) if config.ack_file is not None else None
        self._first_seq = 0
        self._acked = 0
        self._durable = "os" if config.fsync.kind == "none" else "disk"
        self._fsync_all = LatencyHistogram()
        self._fsync_interval = LatencyHistogram()
        self.missed = 0
        self.writer: Optional[fs.BackgroundWriter] = None

    # -- control -------------------------------------------------------------

    def stop(self, reason: str = "stop") -> None:
        """Ask the sampling loop to end (safe from a signal handler)."""
        self._stop_reason = reason
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            if self._stop.is_set():
                os._exit(128 + signum)  # a second signal: out now, like a crash
            self.stop(signal.Signals(signum).name)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    # -- the I/O thread's callback ---------------------------------------------

    def _on_flush(self, frames: int, fsync_seconds: Optional[float]) -> None:
        if fsync_seconds is not None:
            self._fsync_all.add(fsync_seconds)
            self._fsync_interval.add(fsync_seconds)
        if frames > self._acked and self._acks is not None:
            self._acks.emit({"last_seq": self._first_seq + frames - 1, "durable": self._durable,
                             "pid": os.getpid()})
        self._acked = max(self._acked, frames)

    # -- reports ---------------------------------------------------------------

    def _counters(self) -> Dict[str, Any]:
        assert self.writer is not None
        stats = self.writer.stats
        return {
            "written": stats.written, "dropped": stats.dropped, "missed": self.missed,
            "bytes": stats.bytes, "queued": stats.queued, "high_water": stats.high_water,
            "flushes": stats.flushes, "fsyncs": stats.fsyncs, "acknowledged": self._acked,
            "segments": len(self._segments.segments),
        }

    def _report_loop(self, started: float) -> None:
        interval = self.config.stats_interval
        previous = 0
        while not self._stop.wait(interval):
            assert self.writer is not None
            record = {"event": "stats", "t": round(time.monotonic() - started, 3), **self._counters()}
            record["rate"] = round((record["written"] - previous) / interval, 1)
            previous = record["written"]
            window, self._fsync_interval = self._fsync_interval, LatencyHistogram()
            record["fsync_ms"] = window.summary_ms()
            record["fsync_ms_all"] = self._fsync_all.summary_ms()
            error = self.writer.error
            record["error"] = None if error is None else str(error)
            self._reports.emit(record)

    # -- the run -----------------------------------------------------------------

    def run(self) -> int:
        config = self.config
        try:
            recovered = recover(config.out, config.prefix, self.codec)
        except (fs.FlatstreamError, ValueError, EOFError) as error:
            self._reports.emit({"event": "refused", "error": str(error),
                                "hint": "flatstream salvage copies the frames that verify"})
            return EXIT_REFUSED
        self._first_seq = 0 if recovered.last_seq is None else recovered.last_seq + 1
        self._segments = fs.RotatingWriter(
            config.out, config.prefix, rotate_bytes=config.rotate_bytes,
            rotate_seconds=config.rotate_seconds, checksum=config.checksum, format="journal",
            schema=SensorReading, metadata={"agent": "examples.agent", "fsync": str(config.fsync)},
            fsync=config.fsync.kind != "none",
        )
        self.writer = fs.BackgroundWriter(
            self._segments, close_sink=True, queue_size=config.queue_size, overflow=config.overflow,
            on_flush=self._on_flush, **config.fsync.writer_options(config.flush_ms),
        )
        started = time.monotonic()
        self._reports.emit({
            "event": "started", "pid": os.getpid(), "first_seq": self._first_seq,
            "fsync": str(config.fsync), "overflow": config.overflow, "rate": config.rate,
            "sensors": config.sensors, "segment": os.path.basename(self._segments.path),
            "recovered": recovered.to_json(),
        })
        reporter = threading.Thread(target=self._report_loop, args=(started,), daemon=True)
        reporter.start()
        status = 0
        try:
            self._sample(started)
        except OSError as error:
            status = EXIT_IO_ERROR
            self._report_error(error)
        try:
            self.writer.close()  # drains, flushes, fsyncs; the segment's footer
        except OSError as error:
            if status == 0:
                self._report_error(error)
            status = EXIT_IO_ERROR
        self._stop.set()
        reporter.join()
        self._reports.emit({"event": "stopped", "reason": "error" if status else self._stop_reason,
                            "status": status, "first_seq": self._first_seq, **self._counters(),
                            "fsync_ms_all": self._fsync_all.summary_ms()})
        self._reports.close()
        if self._acks is not None:
            self._acks.close()
        return status

    def _report_error(self, error: OSError) -> None:
        self._reports.emit({"event": "error", "errno": error.errno, "error": str(error),
                            **self._counters()})

    def _sample(self, started: float) -> None:
        """Generate readings on schedule until told to stop; each is encoded
        here and handed to the background writer (which may refuse it)."""
        config = self.config
        assert self.writer is not None
        write = self.writer.write
        encode = self.codec.encode
        sensors, rate = config.sensors, config.rate
        # Each sensor a sine of its own period around its own level.
        levels = [20.0 + 3.0 * k for k in range(sensors)]
        omegas = [2 * math.pi / (1.0 + 0.37 * k) for k in range(sensors)]
        end = None if config.duration is None else started + config.duration
        epoch_ns = time.time_ns() - int(started * 1e9)
        seq = self._first_seq
        taken = 0  # samples taken (written or dropped), the schedule's position
        stop = self._stop
        while not stop.is_set():
            now = time.monotonic()
            if end is not None and now >= end:
                break
            due = int((now - started) * rate) - taken - self.missed
            if due > rate:  # over a second late (the writer blocked): skip, count
                self.missed += due - int(rate)
                due = int(rate)
            if due <= 0:
                time.sleep(self.TICK)
                continue
            for _ in range(min(due, 4096)):  # look at the stop flag and clock now and then
                at = started + (taken + self.missed) / rate
                sensor = taken % sensors
                value = levels[sensor] + math.sin(omegas[sensor] * at)
                reading = SensorReading(seq, sensor, epoch_ns + int(at * 1e9), value)
                if write(encode(reading)):
                    seq += 1  # a dropped sample gets no number
                taken += 1


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory of the segments (created if missing).")
@click.option("--sensors", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=10_000.0,
              show_default=True, help="Readings per second, all sensors together.")
@click.option("--duration", type=click.FloatRange(min=0), default=None,
              help="Seconds to run (default: until SIGINT/SIGTERM).")
@click.option("--prefix", default="capture", show_default=True)
@click.option("--rotate-bytes", type=click.IntRange(min=1), default=64 << 20, show_default=True)
@click.option("--rotate-seconds", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--fsync", "fsync_text", default="interval:100", show_default=True,
              help="none | interval:T (ms) | frame; the guarantees are in the module docstring.")
@click.option("--flush-ms", type=click.FloatRange(min=0, min_open=True), default=100.0,
              show_default=True, help="How long frames wait for a flush under --fsync none.")
@click.option("--overflow", type=click.Choice(["block", "drop_newest"]), default="block",
              show_default=True)
@click.option("--queue-size", type=click.IntRange(min=1), default=65536, show_default=True)
@click.option("--checksum", default="xxh3_64", show_default=True)
@click.option("--stats-interval", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Seconds between stats lines.")
@click.option("--stats-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append the JSON lines here (default: stderr).")
@click.option("--ack-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append a line per acknowledgement: the last durable seq.")
def main(out: Path, sensors: int, rate: float, duration: Optional[float], prefix: str,
         rotate_bytes: int, rotate_seconds: Optional[float], fsync_text: str, flush_ms: float,
         overflow: str, queue_size: int, checksum: str, stats_interval: float,
         stats_file: Optional[Path], ack_file: Optional[Path]) -> None:
    """Sample synthetic sensors into rotating, crash-safe journal segments."""
    try:
        policy = FsyncPolicy.parse(fsync_text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--fsync") from None
    agent = Agent(AgentConfig(
        out=out, sensors=sensors, rate=rate, duration=duration, prefix=prefix,
        rotate_bytes=rotate_bytes, rotate_seconds=rotate_seconds, fsync=policy, flush_ms=flush_ms,
        overflow=overflow, queue_size=queue_size, checksum=checksum, stats_interval=stats_interval,
        stats_file=2 if stats_file is None else stats_file, ack_file=ack_file,
    ))
    agent.install_signal_handlers()
    sys.exit(agent.run())


if __name__ == "__main__":
    main()
