"""The demo: a capture agent logs telemetry events as FlatBuffers with XXH3
checksums, then an analysis job replays, verifies and decodes the journal.

Run it with ``flatstream demo`` (or ``python -m flatstream demo``).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import flatbuffers
from tqdm import tqdm

import flatstream as fs

from ._generated.telemetry_generated import (
    TelemetryEvent,
    TelemetryEventAddDeviceId,
    TelemetryEventAddTimestamp,
    TelemetryEventAddValue,
    TelemetryEventEnd,
    TelemetryEventStart,
)

__all__ = ["Event", "DemoReport", "run", "events", "TelemetryEvent"]


@fs.table(name="TelemetryEvent", namespace="flatstream.demo")
class Event:
    """One telemetry reading: the schema of ``telemetry.fbs`` as a dataclass.

    ``StreamWriter.write(event)`` encodes it with its compiled codec (the
    bytes the official Builder makes, far faster); ``serialize`` is the same
    event through the official runtime, for comparison."""

    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64

    def serialize(self, builder: flatbuffers.Builder) -> None:
        TelemetryEventStart(builder)
        TelemetryEventAddDeviceId(builder, self.device_id)
        TelemetryEventAddTimestamp(builder, self.timestamp)
        TelemetryEventAddValue(builder, self.value)
        builder.Finish(TelemetryEventEnd(builder))


def events(count: int, *, devices: int = 64, start_ns: int = 1_700_000_000_000_000_000) -> Iterator[Event]:
    """A deterministic capture: ``devices`` sensors reporting round-robin every 10 µs."""
    for i in range(count):
        yield Event(i % devices, start_ns + 10_000 * i, ((i * 7919) % 100_000) / 100.0)


@dataclass
class DemoReport:
    path: Path
    events: int
    file_bytes: int
    checksum: str
    write_seconds: float
    replay_seconds: float
    verify_seconds: float
    replayed: int
    verified: int
    sample: List[Event]
    recovered_frames: int
    #: "native" or "python": the kernels that did the work.
    kernels: str

    def lines(self) -> List[str]:
        mb = self.file_bytes / 1e6
        return [
            f"journal      {self.path} ({self.checksum} checksums)",
            f"wrote        {self.events:,} events, {mb:,.1f} MB in {self.write_seconds:.2f} s "
            f"({self.events / self.write_seconds:,.0f} events/s, {mb / self.write_seconds:,.1f} MB/s)",
            f"replayed     {self.replayed:,} events (every checksum verified) in "
            f"{self.replay_seconds:.2f} s ({self.replayed / self.replay_seconds:,.0f} events/s)",
            f"bulk verify  {self.verified:,} frames in {self.verify_seconds:.3f} s "
            f"({self.verified / self.verify_seconds:,.0f} frames/s, "
            f"{mb / self.verify_seconds:,.0f} MB/s, {self.kernels} scan over mmap)",
            "decoded with the official FlatBuffers runtime (flatc-generated classes):",
            *(
                f"  device {e.device_id:>3}  t={e.timestamp}  value={e.value:.2f}"
                for e in self.sample
            ),
            f"crash drill  tore the last frame; recover() kept {self.recovered_frames:,} frames "
            "and truncated the torn tail",
        ]


def _decode(payload: Any) -> Event:
    event = TelemetryEvent.GetRootAs(payload, 0)
    return Event(event.DeviceId(), event.Timestamp(), event.Value())


def run(
    count: int = 1_000_000,
    *,
    checksum: str = "xxh3_64",
    path: Optional[Path] = None,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
) -> DemoReport:
    """Write ``count`` events to ``path`` (a temporary file unless given),
    replay and verify them, decode a sample, then tear and recover the tail."""
    if path is None:
        handle, name = tempfile.mkstemp(prefix="flatstream-demo-", suffix=".fs")
        os.close(handle)
        path = Path(name)
    path = Path(path)
    bar = tqdm(total=count, unit="ev", unit_scale=True, disable=not progress, desc="capture")
    started = time.perf_counter()
    encode = fs.codec(Event).encode
    with fs.open(path, "wb", checksum=checksum) as writer:
        batch: List[Any] = []
        for event in events(count):
            batch.append(encode(event))
            if len(batch) == 50_000:
                writer.write_many(batch)  # one native call frames the batch
                bar.update(len(batch))
                batch.clear()
        writer.write_many(batch)
    write_seconds = time.perf_counter() - started
    bar.update(count - bar.n)
    bar.close()

    started = time.perf_counter()
    replayed = 0
    with fs.open(path, "rb", checksum=checksum) as reader:
        for _payload in reader:
            replayed += 1
    replay_seconds = time.perf_counter() - started

    started = time.perf_counter()
    summary = fs.verify(path, checksum)
    verify_seconds = time.perf_counter() - started

    with fs.open(path, "rb", checksum=checksum) as reader:
        sample = [_decode(p) for _, p in zip(range(5), reader.messages())]

    # Crash drill: a writer died mid-append. Recovery finds the torn tail and
    # only then is truncating safe.
    with open(path, "r+b") as file:
        size = file.seek(0, os.SEEK_END)
        file.truncate(size - 3)
        report = fs.recover_file(file, fs.ChecksumDeframer(checksum))
        if report.end is fs.RecoveryEnd.TORN_TAIL:
            file.truncate(report.last_good_offset)

    result = DemoReport(
        path=path,
        events=count,
        file_bytes=summary.end_offset,
        checksum=checksum,
        write_seconds=write_seconds,
        replay_seconds=replay_seconds,
        verify_seconds=verify_seconds,
        replayed=replayed,
        verified=summary.frames,
        sample=sample,
        recovered_frames=report.frames,
        kernels=fs._kernels.IMPLEMENTATION,
    )
    for line in result.lines():
        echo(line)
    return result
