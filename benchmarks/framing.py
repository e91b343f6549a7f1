"""Framing workloads: opaque payloads written, read back (views), verified.

Every candidate frames the same list of ``bytes`` payloads into an in-memory
sink (write), visits every payload of the stream (read; the checksummed
flatstream candidates and the naive CRC loop verify as they read), and does
both (cycle: write, take the stream's bytes, read). Payload bytes per second
count payload bytes only, not headers.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Callable, Dict, List, Sequence, Tuple

from . import peers, schemas
from .harness import MODES, Case, Row, Settings, Workload, kernel_mode, run_cases

__all__ = ["workloads", "telemetry_flatbuffers", "records24", "payload_sets"]


def telemetry_flatbuffers(n: int) -> List[bytes]:
    """``n`` telemetry events built by the official ``flatbuffers.Builder``."""
    import flatbuffers

    module = peers.generated().fb["TelemetryEvent"]
    builder = flatbuffers.Builder(64)
    out = []
    for device_id, timestamp, value in schemas.samples(schemas.TELEMETRY, n):
        builder.Clear()
        module.Start(builder)
        module.AddDeviceId(builder, device_id)
        module.AddTimestamp(builder, timestamp)
        module.AddValue(builder, value)
        builder.Finish(module.End(builder))
        out.append(bytes(builder.Output()))
    return out


def records24(n: int) -> List[bytes]:
    """The telemetry event's three fields packed as 24 bytes (``<QQd``): issue 3's small payload."""
    pack = struct.Struct("<QQd").pack
    return [pack(*v) for v in schemas.samples(schemas.TELEMETRY, n)]


def strings16(n: int) -> List[bytes]:
    """``n`` 16-byte ASCII strings (hex of random bytes), as bytes."""
    return [os.urandom(8).hex().encode() for _ in range(n)]


def blobs(n: int, size: int) -> List[bytes]:
    """``n`` random payloads of ``size`` bytes (distinct objects, so no run shares a cache line by luck)."""
    return [os.urandom(size) for _ in range(n)]


def payload_sets(settings: Settings) -> Dict[str, Tuple[str, Callable[[], List[bytes]]]]:
    """The framing workloads: id -> (title, payload factory)."""
    big, kib, mib = (
        settings.size(100_000, 10_000),
        settings.size(10_000, 1_000),
        settings.size(64, 4),
    )
    return {
        "frames-telemetry-100": ("telemetry FlatBuffer x100", lambda: telemetry_flatbuffers(100)),
        "frames-telemetry-big": (
            f"telemetry FlatBuffer x{big:,}",
            lambda: telemetry_flatbuffers(big),
        ),
        "frames-24b": (f"24-byte record x{big:,}", lambda: records24(big)),
        "frames-str16": (f"16-byte string x{big:,}", lambda: strings16(big)),
        "frames-1kib": (f"1 KiB payload x{kib:,}", lambda: blobs(kib, 1024)),
        "frames-1mib": (f"1 MiB payload x{mib}", lambda: blobs(mib, 1 << 20)),
    }


def _check(candidate: peers.Framing, payloads: Sequence[bytes]) -> Any:
    data = candidate.stream_bytes(candidate.write(payloads))
    got = candidate.payloads(data)
    if got != list(payloads):
        raise AssertionError(f"{candidate.name} did not read back what it wrote")
    return data


def _cases(workload: str, payloads: List[bytes]) -> List[Case]:
    n, nbytes = len(payloads), sum(map(len, payloads))
    cases = []
    for candidate in peers.framing_candidates(MODES):
        with kernel_mode(candidate.mode):
            data = _check(candidate, payloads)

        def write(c: peers.Framing = candidate) -> None:
            c.write(payloads)

        def read(c: peers.Framing = candidate, data: Any = data) -> None:
            c.read(data)

        def cycle(c: peers.Framing = candidate) -> None:
            c.read(c.stream_bytes(c.write(payloads)))

        for figure, fn in (("write", write), ("read", read), ("cycle", cycle)):
            extra = {"verifies": candidate.verifies}
            cases.append(
                Case(workload, candidate.name, figure, fn, n, nbytes, candidate.mode, extra=extra)
            )

    def bare(payloads: List[bytes] = payloads) -> None:
        for _ in payloads:
            pass

    cases.append(Case(workload, peers.BARE_LOOP, "read", bare, n, nbytes))
    return cases


def workloads(settings: Settings) -> List[Workload]:
    """One workload per payload set; all candidates of one share a process and the data."""
    out = []
    for key, (title, factory) in payload_sets(settings).items():

        def run(settings: Settings, title: str = title, factory: Any = factory) -> List[Row]:
            return run_cases(_cases(title, factory()), settings)

        out.append(Workload(key, "framing", title, run))
    return out
