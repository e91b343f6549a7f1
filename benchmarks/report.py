"""BENCHMARKS.md: the machine, the headline, the targets, every table.

Only numbers from this run's rows appear here; the hand-written analysis
("Where the time goes") lives in ``benchmarks/where_the_time_goes.md`` and is
included as is, so regenerating the report never loses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import codecs, peers
from .background import SINK_DELAY
from .bulk import LONG_LIVED, MSGPACK_LONG_LIVED
from .harness import Row, Settings, Workload

__all__ = ["render", "Target", "targets"]

NOTES = os.path.join(os.path.dirname(__file__), "where_the_time_goes.md")
CHUNK = 256 * 1024  # flatstream.io.reader.DEFAULT_CHUNK_SIZE


# -- formatting -------------------------------------------------------------------


def fmt_time(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(rate: Optional[float]) -> str:
    if not rate:
        return "–"
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f} k"
    return f"{rate:.1f}"


def fmt_gbps(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def fmt_ratio(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}×" if value < 100 else f"{value:.0f}×"


def fmt_mib(kib: Optional[float]) -> str:
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def per_message(row: Row) -> str:
    if not row.measured or not row.messages:
        return "–"
    assert row.median_s is not None and row.min_s is not None and row.max_s is not None
    n = row.messages
    return f"{fmt_time(row.median_s / n)} [{fmt_time(row.min_s / n)} – {fmt_time(row.max_s / n)}]"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


# -- looking rows up ----------------------------------------------------------------


class Results:
    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = list(rows)

    def find(self, key: str, candidate: str, figure: Optional[str] = None) -> Optional[Row]:
        for row in self.rows:
            if row.extra.get("key") == key and row.candidate == candidate and row.measured:
                if figure is None or row.figure == figure:
                    return row
        return None

    def rate(self, key: str, candidate: str, figure: Optional[str] = None) -> Optional[float]:
        row = self.find(key, candidate, figure)
        return row.rate if row else None

    def ratio(
        self, key: str, a: str, b: str, figure: Optional[str] = None, figure_b: Optional[str] = None
    ) -> Optional[float]:
        """Throughput of ``a`` over throughput of ``b`` (> 1: ``a`` is faster)."""
        ra, rb = self.rate(key, a, figure), self.rate(key, b, figure_b or figure)
        return ra / rb if ra and rb else None


# -- targets --------------------------------------------------------------------------


@dataclass
class Target:
    issue: int
    text: str
    measured: str
    value: Optional[float]
    met: Optional[bool]
    note: str = ""
    unit: str = "ratio"  # how to print value: "ratio" (1.23×) or a unit name ("MiB", "µs", ...)


def _at_least(value: Optional[float], bound: float) -> Optional[bool]:
    return None if value is None else value >= bound


def targets(results: Results, settings: Settings) -> List[Target]:
    r = results
    out: List[Target] = []
    for kind in ("bytes", "mmap"):
        figure = f"read ({kind})"
        value = r.ratio("iterate-24b", "flatstream none native", peers.MSGPACK, figure)
        batches = r.ratio(
            "iterate-24b", "flatstream none native iter_batches(4096)", peers.MSGPACK, figure
        )
        out.append(
            Target(
                3,
                f"per-record iteration over 24-byte payloads from a {kind} source ≥ 1.5× msgpack Unpacker",
                f"{fmt_rate(r.rate('iterate-24b', 'flatstream none native', figure))} vs "
                f"{fmt_rate(r.rate('iterate-24b', peers.MSGPACK, figure))} records/s",
                value,
                _at_least(value, 1.5),
                f"iter_batches(4096): {fmt_ratio(batches)}",
            )
        )
    value = r.ratio(
        "iterate-24b", "flatstream xxh3_64 native", "flatstream none native", "read (bytes)"
    )
    out.append(
        Target(
            3,
            "with XXH3 verification ≥ 0.8× the no-checksum figure",
            "xxh3_64 / none, bytes source",
            value,
            _at_least(value, 0.8),
        )
    )
    bare = r.find("iterate-24b", peers.BARE_LOOP)
    fs_row = r.find("iterate-24b", "flatstream none native", "read (bytes)")
    value = (
        fs_row.median_s / bare.median_s
        if fs_row and bare and fs_row.median_s and bare.median_s
        else None
    )
    out.append(
        Target(
            3,
            "per-message iteration ≤ 1.5× the cost of a bare Python `for` loop over a list",
            f"{per_message(fs_row) if fs_row else '–'} vs {per_message(bare) if bare else '–'} per record (cost ratio)",
            value,
            None if value is None else value <= 1.5,
        )
    )
    rate = r.rate("scan-small", "flatstream xxh3_64 native", "verify/count")
    index_rate = r.rate("scan-small", "flatstream xxh3_64 native", "scan (index)")
    out.append(
        Target(
            3,
            "bulk scan+verify of small frames ≥ 50M frames/s",
            f"fs.verify xxh3_64: {fmt_rate(rate)} frames/s; fs.scan (index): {fmt_rate(index_rate)}",
            rate / 1e6 if rate else None,
            _at_least(rate, 50e6),
            unit="M frames/s",
        )
    )
    lib = "xxhash.xxh3_64_intdigest (1 core)"
    t1, t2 = "flatstream xxh3_64 native threads=1", "flatstream xxh3_64 native threads=2"
    same = ", same mapping"
    one = r.ratio("scan-1mib", t1 + same, lib, "verify")
    one_path = r.ratio("scan-1mib", t1, lib, "verify")
    two = r.ratio("scan-1mib", t2 + same, t1 + same, "verify")
    two_path = r.ratio("scan-1mib", t2, t1, "verify")
    gb = lambda c: fmt_gbps(getattr(r.find("scan-1mib", c, "verify"), "gbps", None))  # noqa: E731
    out.append(
        Target(
            3,
            "verify of 1 MiB frames ≥ 80% of XXH3's own single-core throughput",
            f"fs.verify(mapping, threads=1) {gb(t1 + same)} vs {gb(lib)} GB/s over the same mapping",
            one,
            _at_least(one, 0.8),
            f"fs.verify(path), which maps the file each call: {gb(t1)} GB/s = {fmt_ratio(one_path)}",
        )
    )
    out.append(
        Target(
            3,
            "… and more with two cores",
            f"threads=2 {gb(t2 + same)} vs threads=1 {gb(t1 + same)} GB/s (same mapping)",
            two,
            None if two is None else two > 1.05,
            f"met if > 1.05× (beyond noise); given the path: {fmt_ratio(two_path)}",
        )
    )
    value = r.ratio("write-many", LONG_LIVED, MSGPACK_LONG_LIVED, "write")
    fresh = r.ratio("write-many", "flatstream none native write_many", peers.MSGPACK, "write")
    out.append(
        Target(
            3,
            "`write_many` of small payloads ≥ 3× msgpack Packer (long-lived writers)",
            f"{fmt_rate(r.rate('write-many', LONG_LIVED))} vs "
            f"{fmt_rate(r.rate('write-many', MSGPACK_LONG_LIVED))} payloads/s",
            value,
            _at_least(value, 3.0),
            f"a new writer and Packer per batch: {fmt_ratio(fresh)}",
        )
    )
    for name in (
        "flatstream read file object, 1 MiB frames",
        "flatstream read file object (streaming)",
    ):
        row = r.find("bigfile", name)
        if row is None:
            out.append(
                Target(
                    3,
                    "streaming reader RSS ≤ largest frame + two read chunks",
                    "not measured",
                    None,
                    None,
                )
            )
            continue
        bound = row.extra["largest_frame"] / 1024 + 2 * CHUNK / 1024
        growth = row.extra["rss_growth_kib"]
        out.append(
            Target(
                3,
                f"streaming reader RSS ≤ largest frame + two read chunks ({'1 MiB' if 'MiB' in name else '1 KiB'} frames)",
                f"peak RSS growth {fmt_mib(growth)}, bound {fmt_mib(bound)}",
                growth / 1024,
                growth <= bound,
                "growth = VmHWM after − VmRSS before",
                unit="MiB",
            )
        )
    row = r.find("bigfile", "flatstream scan (index)")
    if row is not None:
        anon = row.extra["anon_growth_kib"]
        note = (
            ""
            if settings.big_file_mib >= 1024
            else f"file is {settings.big_file_mib} MiB, not 1 GiB"
        )
        verify = r.find("bigfile", "flatstream verify threads=2")
        extra = f"; fs.verify: {fmt_mib(verify.extra['anon_growth_kib'])}" if verify else ""
        out.append(
            Target(
                3,
                "an mmap scan of a 1 GiB file adds < 50 MiB RSS beyond the mapping",
                f"fs.scan: anonymous RSS +{fmt_mib(anon)} (mapped file pages +{fmt_mib(row.extra['file_growth_kib'])}){extra}",
                anon / 1024,
                anon < 50 * 1024,
                note,
                unit="MiB",
            )
        )
    row = r.find("background", "BackgroundWriter drop_newest, queue 65536")
    if row is None:
        why = next(
            (x.note for x in r.rows if x.extra.get("key") == "background" and x.note),
            "not measured",
        )
        out.append(
            Target(
                3, "background writer: capture loop never blocked by a slow sink", why, None, None
            )
        )
    else:
        block = r.find("background", "BackgroundWriter block, queue 65536")
        floor = r.find("background", "timer only (a no-op write)")
        floor_text = (
            f"; the same loop with a no-op write (no writer, no thread) on this machine: max "
            f"{floor.extra['max_us']:.0f} µs, {floor.extra['over_sink_delay']} calls > one sink sleep"
            if floor
            else ""
        )
        out.append(
            Target(
                3,
                "background writer: a capture loop of 1M small events never blocked by a slow sink "
                "for longer than one queue slot",
                f"drop_newest: p50 {row.extra['p50_us']:.2f} µs, p99 {row.extra['p99_us']:.2f} µs, "
                f"p99.9 {row.extra['p999_us']:.2f} µs, max {row.extra['max_us']:.0f} µs, "
                f"{row.extra['over_sink_delay']} calls > one sink sleep ({SINK_DELAY * 1e6:.0f} µs)"
                + (f"; block: max {block.extra['max_us']:.0f} µs" if block else "")
                + floor_text,
                row.extra["max_us"],
                row.extra["max_us"] < SINK_DELAY * 1e6,
                f"met if the slowest call < one sink sleep ({SINK_DELAY * 1e6:.0f} µs); "
                "value = slowest call",
                unit="µs",
            )
        )

    # issue 4
    key = "codec-telemetry-big"
    if r.find(key, codecs.CODEC) is None:
        why = next(
            (x.note for x in r.rows if x.extra.get("key") == key and x.candidate == codecs.CODEC),
            "not measured",
        )
        for text in (
            "telemetry encode ≥ 50× the official Builder",
            "decode of all fields ≥ 20× the generated accessors",
            "full cycle ≥ 1.0× msgpack Packer + Unpacker (stretch 1.5×)",
            "verifier on small messages ≤ 25% of a decode",
        ):
            out.append(Target(4, text, why or "not available", None, None))
        return out
    value = r.ratio(key, codecs.CODEC, codecs.OFFICIAL, "encode")
    out.append(
        Target(
            4,
            "telemetry encode ≥ 50× the official Builder",
            f"{fmt_rate(r.rate(key, codecs.CODEC, 'encode'))} vs {fmt_rate(r.rate(key, codecs.OFFICIAL, 'encode'))} events/s",
            value,
            _at_least(value, 50),
        )
    )
    value = r.ratio(key, codecs.CODEC, codecs.OFFICIAL, "decode")
    out.append(
        Target(
            4,
            "decode of all fields ≥ 20× the generated accessors",
            f"{fmt_rate(r.rate(key, codecs.CODEC, 'decode'))} vs {fmt_rate(r.rate(key, codecs.OFFICIAL, 'decode'))} events/s",
            value,
            _at_least(value, 20),
        )
    )
    per_message_cycle = r.ratio(key, codecs.CODEC, peers.MSGPACK, "cycle")
    batched = r.ratio(key, codecs.CODEC_BATCHED, peers.MSGPACK, "cycle")
    best = max((v for v in (per_message_cycle, batched) if v is not None), default=None)
    out.append(
        Target(
            4,
            "full cycle (encode, frame, read, decode) ≥ 1.0× msgpack Packer + Unpacker (stretch 1.5×)",
            f"per message (`write(obj)`, `typed_messages`): "
            f"{fmt_rate(r.rate(key, codecs.CODEC, 'cycle'))} = {fmt_ratio(per_message_cycle)}; "
            f"batched (`write_many`, `iter_batches` + `decode_many`): "
            f"{fmt_rate(r.rate(key, codecs.CODEC_BATCHED, 'cycle'))} = {fmt_ratio(batched)}; "
            f"msgpack {fmt_rate(r.rate(key, peers.MSGPACK, 'cycle'))} events/s",
            best,
            _at_least(best, 1.0),
            "value = the better of the two flatstream paths"
            + ("; stretch met" if best and best >= 1.5 else ""),
        )
    )
    verify, decode = r.find(key, codecs.CODEC, "verify"), r.find(key, codecs.CODEC, "decode")
    value = (
        verify.median_s / decode.median_s
        if verify and decode and verify.median_s and decode.median_s
        else None
    )
    out.append(
        Target(
            4,
            "the verifier on small messages costs ≤ 25% of a decode",
            f"verify {per_message(verify) if verify else '–'} vs decode {per_message(decode) if decode else '–'} per event (cost ratio)",
            value,
            None if value is None else value <= 0.25,
        )
    )
    return out


def _met(target: Target) -> str:
    return {True: "**met**", False: "**missed**", None: "not measured"}[target.met]


def _value(target: Target) -> str:
    if target.value is None:
        return "–"
    if target.unit == "ratio":
        return fmt_ratio(target.value)
    return f"{target.value:.3g} {target.unit}"


def targets_table(items: List[Target], issue: int) -> str:
    rows = [(t.text, t.measured, _value(t), _met(t), t.note) for t in items if t.issue == issue]
    return table(("target", "measured", "value", "result", "note"), rows)


# -- headline ---------------------------------------------------------------------------


def headline(results: Results) -> str:
    r = results
    rows: List[Tuple[str, str, str, str]] = []

    def add(
        label: str,
        key: str,
        a: str,
        b: str,
        figure: Optional[str],
        unit: str = "msg/s",
        figure_b: Optional[str] = None,
    ) -> None:
        ra, rb = r.find(key, a, figure), r.find(key, b, figure_b or figure)
        if ra is None or rb is None:
            return
        if unit == "GB/s":
            va, vb = f"{fmt_gbps(ra.gbps)} GB/s", f"{fmt_gbps(rb.gbps)} GB/s"
        else:
            va, vb = f"{fmt_rate(ra.rate)} {unit}", f"{fmt_rate(rb.rate)} {unit}"
        rows.append(
            (
                label,
                f"{a}: {va}",
                f"{b}: {vb}",
                fmt_ratio(ra.rate / rb.rate if ra.rate and rb.rate else None),
            )
        )

    add(
        "read 24-byte records (bytes)",
        "iterate-24b",
        "flatstream none native",
        peers.MSGPACK,
        "read (bytes)",
    )
    add(
        "read + XXH3 verify, 24-byte records",
        "iterate-24b",
        "flatstream xxh3_64 native",
        peers.MSGPACK,
        "read (bytes)",
    )
    add(
        "read 24-byte records, iter_batches(4096)",
        "iterate-24b",
        "flatstream none native iter_batches(4096)",
        peers.MSGPACK,
        "read (bytes)",
    )
    add(
        "read 24-byte records, pure-Python kernels",
        "iterate-24b",
        "flatstream none python",
        peers.NAIVE,
        "read (bytes)",
    )
    add(
        "write_many 24-byte payloads",
        "write-many",
        "flatstream none native write_many",
        peers.MSGPACK,
        "write",
    )
    add(
        "per-message write_payload, 24-byte",
        "frames-24b",
        "flatstream none native",
        peers.MSGPACK,
        "write",
    )
    add(
        "verify a file of small frames (XXH3)",
        "scan-small",
        "flatstream xxh3_64 native",
        peers.NAIVE + " (mmap)",
        "verify/count",
        "frames/s",
    )
    add(
        "verify 1 MiB frames, 1 thread (same mapping as the library)",
        "scan-1mib",
        "flatstream xxh3_64 native threads=1, same mapping",
        "xxhash.xxh3_64_intdigest (1 core)",
        "verify",
        "GB/s",
    )
    add(
        "verify 1 MiB frames, 2 threads (same mapping as the library)",
        "scan-1mib",
        "flatstream xxh3_64 native threads=2, same mapping",
        "xxhash.xxh3_64_intdigest (1 core)",
        "verify",
        "GB/s",
    )
    add(
        "big file: read through mmap + verify",
        "bigfile",
        "flatstream read mmap",
        peers.MSGPACK,
        "read",
        "GB/s",
    )
    add(
        "big file: write", "bigfile", "flatstream write_many (file)", peers.MSGPACK, "write", "GB/s"
    )
    key = "codec-telemetry-big"
    add("telemetry event: encode", key, codecs.CODEC, codecs.OFFICIAL, "encode")
    add("telemetry event: decode all fields", key, codecs.CODEC, codecs.OFFICIAL, "decode")
    add("telemetry event: encode", key, codecs.CODEC, peers.MSGPACK, "encode")
    add("telemetry event: decode", key, codecs.CODEC, peers.MSGPACK, "decode")
    add("telemetry event: full cycle, per message", key, codecs.CODEC, peers.MSGPACK, "cycle")
    add("telemetry event: full cycle, batched", key, codecs.CODEC_BATCHED, peers.MSGPACK, "cycle")
    if not rows:
        return "(no headline rows were measured in this run)\n"
    return table(("figure", "flatstream", "reference", "ratio"), rows)


# -- per-family tables -------------------------------------------------------------------


def _references(family: str) -> Tuple[str, str, str]:
    if family == "codec":
        return peers.MSGPACK, codecs.OFFICIAL, "× official"
    return peers.MSGPACK, peers.NAIVE, "× naive"


def _ratio_to(results: Results, row: Row, ref: str) -> str:
    key = row.extra.get("key", "")
    other = None
    for candidate in (ref, ref + " (mmap)"):
        other = next(
            (
                x
                for x in results.rows
                if x.extra.get("key") == key
                and x.workload == row.workload
                and x.candidate == candidate
                and x.figure == row.figure
                and x.measured
            ),
            None,
        )
        if other is not None:
            break
    if other is None or not row.rate or not other.rate:
        return "–"
    return fmt_ratio(row.rate / other.rate)


def throughput_table(results: Results, rows: List[Row], family: str) -> str:
    msgpack, other, other_label = _references(family)
    header = [
        "candidate",
        "figure",
        "time / msg: median [min – max]",
        "msg/s",
        "GB/s" if family != "codec" else "B/msg",
        "× msgpack",
        other_label,
    ]
    body = []
    figures: List[str] = []
    for row in rows:
        if row.figure not in figures:
            figures.append(row.figure)
    for figure in figures:
        for row in (x for x in rows if x.figure == figure):
            if not row.measured:
                body.append((row.candidate, row.figure, row.note, "–", "–", "–", "–"))
                continue
            size = (
                fmt_gbps(row.gbps)
                if family != "codec"
                else f"{row.extra.get('bytes_per_message', 0):.0f}"
            )
            name = row.candidate + (
                ""
                if row.mode != "python" or "python" in row.candidate or "pure" in row.candidate
                else " (pure kernels)"
            )
            body.append(
                (
                    name,
                    row.figure,
                    per_message(row),
                    fmt_rate(row.rate),
                    size,
                    _ratio_to(results, row, msgpack),
                    _ratio_to(results, row, other),
                )
            )
    return table(header, body)


def bigfile_table(rows: List[Row]) -> str:
    header = [
        "operation",
        "figure",
        "time: median [min – max]",
        "GB/s",
        "frames/s",
        "peak RSS growth",
        "anonymous growth",
        "file pages growth",
    ]
    body = []
    for row in rows:
        name = row.extra.get("operation", row.candidate)
        assert row.median_s is not None and row.min_s is not None and row.max_s is not None
        body.append(
            (
                name,
                row.figure,
                f"{fmt_time(row.median_s)} [{fmt_time(row.min_s)} – {fmt_time(row.max_s)}]",
                fmt_gbps(row.gbps),
                fmt_rate(row.rate),
                fmt_mib(row.extra["rss_growth_kib"]),
                fmt_mib(row.extra["anon_growth_kib"]),
                fmt_mib(row.extra["file_growth_kib"]),
            )
        )
    return table(header, body)


def background_table(rows: List[Row]) -> str:
    header = [
        "writer",
        "events",
        "p50",
        "p99",
        "p99.9",
        "max",
        "calls > one sink sleep",
        "dropped",
        "queue high-water",
        "loop rate (msg/s)",
    ]
    body = []
    for row in rows:
        if not row.measured:
            body.append((row.candidate, row.note) + ("–",) * 8)
            continue
        e = row.extra
        body.append(
            (
                row.candidate,
                f"{row.messages:,}",
                f"{e['p50_us']:.2f} µs",
                f"{e['p99_us']:.2f} µs",
                f"{e['p999_us']:.2f} µs",
                f"{e['max_us']:.0f} µs",
                str(e["over_sink_delay"]),
                str(e.get("dropped", "–")),
                str(e.get("high_water", "–")),
                fmt_rate(row.rate),
            )
        )
    return table(header, body)


# -- the document ------------------------------------------------------------------------

FAMILY_TITLES = {
    "framing": "Framing opaque payloads (write, read views, read + verify, cycle)",
    "bulk": "Bulk paths: iteration, iter_batches, scan/count/verify, write_many",
    "bigfile": "A large file on disk: write, read through mmap, verify; peak RSS",
    "codec": "Codecs: encode, decode, full cycle (issue 4)",
    "background": "Background writer",
}

FAMILY_NOTES = {
    "framing": (
        "Every candidate frames the same list of payloads into an `io.BytesIO` (write), visits "
        "every payload of the finished stream without copying where it can (read), and does both "
        "(cycle). The checksummed flatstream rows and the naive CRC loop verify as they read: "
        "their read column is read + verify. msgpack and pickle hand out copies (`bytes`); "
        "protobuf parses a `Blob` message per payload; pyarrow writes one record batch and reads "
        "the column back with `to_pylist()`; the official flatbuffers runtime writes size-prefixed "
        "buffers (its `int32` size prefix, then the payload) and walks them with "
        "`util.GetSizePrefix`, handing out memoryview slices; orjson is measured only in the "
        "codec workloads (JSON has no bytes type). "
        "GB/s counts payload bytes."
    ),
    "bulk": (
        "`iter_batches` rows still visit every payload in Python (`for batch in ...: for p in batch`). "
        "`fs.count` is the same function as `fs.verify`. The library rows hash each payload of the "
        "same mapped file with one call per payload, on one core."
    ),
    "codec": (
        "Time per message; B/msg is the encoded size. Decode means every field is a Python value "
        "(lazy accessors are made to read every field). The cycle goes through an in-memory "
        "stream: flatstream framing for the FlatBuffers candidates, each peer's own streaming idiom "
        "otherwise. × official compares with the official `Builder` + generated accessors."
    ),
}


def render(
    info: Dict[str, Any],
    settings: Settings,
    workloads: List[Workload],
    rows: List[Row],
    rss: Dict[str, int],
) -> str:
    results = Results(rows)
    found = targets(results, settings)
    out: List[str] = []
    w = out.append
    w("# Benchmarks\n")
    w(
        f"Generated by `{info['command']}` on {info['date']} in {info.get('elapsed_s', '?')} s "
        "(`benchmarks/`, see `python -m benchmarks --help`). Everything below except the section "
        '"Where the time goes" is written by the suite; rerun it rather than editing numbers.\n'
    )
    w(
        "**Read these as ratios measured in one run.** The machine is a shared "
        f"{info['nproc']}-core box where other work runs at the same time, so absolute numbers move "
        "from run to run; ratios between candidates measured side by side move much less. Each "
        "workload runs in its own process; inside it every candidate works on the same data, and "
        f"repeats are interleaved (repeat *r* runs every case once, starting at a rotating position). "
        f"Each case is timed {settings.repeats} times (the large-file and background-writer workloads "
        f"{min(settings.repeats, 5)} and {settings.repeats}), each sample at least {settings.min_time * 1e3:.0f} ms "
        "of repeated calls with the cyclic GC off; tables give the median with [min – max]. "
        "Timings are never asserted in tests.\n"
    )
    if settings.quick:
        w(
            "> **Quick run** (`--quick`): small sizes and short samples, a smoke test. Not for conclusions.\n"
        )
    w(
        'Kernel modes: "native" rows use the Rust kernels; "python" rows switch the same process to '
        "the pure-Python twins by swapping `flatstream._kernels`' functions (as `tests/conftest.py` "
        "does), interleaved with the native rows. In the large-file workload each operation is its own "
        "process, and its pure-Python rows run with `FLATSTREAM_PURE_PYTHON=1`. The schema "
        "codecs' rows switch the same way between the native codec twin and the generated "
        'pure-Python codec (`_kernels.TableCodec = None`); their pure rows say "[pure-Python '
        'kernels]".\n'
    )
    w("## Machine\n")
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    load = info.get("loadavg")
    load_end = info.get("loadavg_end")
    w(
        table(
            ("", ""),
            [
                (
                    "CPU",
                    f"{info['cpu_model']} — {info['nproc']} cores usable (nproc), {info['cpu_count']} online",
                ),
                ("OS", info["platform"]),
                ("Python", info["python"]),
                (
                    "flatstream kernels",
                    f"{info['kernel_mode']} (measured: {', '.join(info['kernel_modes_measured'])})",
                ),
                ("packages", versions),
                ("commit", info["git"]),
                (
                    "load average",
                    f"{tuple(round(x, 2) for x in load) if load else '?'} at start, {tuple(round(x, 2) for x in load_end) if load_end else '?'} at the end",
                ),
                ("command", f"`{info['command']}`"),
                ("date", info["date"]),
            ],
        )
    )
    w("## Headline\n")
    w("Ratios are throughput over the reference's throughput (> 1: flatstream is faster).\n")
    w(headline(results))
    w("\n## Targets\n")
    w("### Issue 3 (framing, bulk paths, background writer)\n")
    w(targets_table(found, 3))
    w("\n### Issue 4 (schema-compiled codecs)\n")
    w(targets_table(found, 4))
    if os.path.exists(NOTES):
        with open(NOTES) as f:
            w("\n" + f.read().strip() + "\n")
    by_family: Dict[str, List[Workload]] = {}
    for workload in workloads:
        by_family.setdefault(workload.family, []).append(workload)
    for family, members in by_family.items():
        w(f"\n## {FAMILY_TITLES.get(family, family)}\n")
        if family in FAMILY_NOTES:
            w(FAMILY_NOTES[family] + "\n")
        for workload in members:
            family_rows = [r for r in rows if r.extra.get("key") == workload.key]
            titles: List[str] = []
            for row in family_rows:
                if row.workload not in titles:
                    titles.append(row.workload)
            for title in titles:
                group = [r for r in family_rows if r.workload == title]
                peak = rss.get(workload.key)
                w(f"\n### {title}\n")
                if peak is not None and family not in ("bigfile",):
                    w(
                        f"Peak RSS of the workload's process (all its candidates and data): {fmt_mib(peak)}.\n"
                    )
                if family == "bigfile":
                    w(bigfile_table(group))
                elif family == "background":
                    w(background_table(group))
                else:
                    w(throughput_table(results, group, family))
            failed = [
                r
                for r in rows
                if r.extra.get("key") == workload.key and r.candidate == "(workload)"
            ]
            for row in failed:
                w(f"\n**{workload.title}: {row.note}**\n")
    if "bigfile" in by_family:
        w(
            "\nLarge-file RSS columns: *peak RSS growth* is the child's `ru_maxrss` (VmHWM) after the "
            "operation minus its RSS before it (counts the mapped file's pages as they are touched); "
            "*anonymous* and *file pages* are the peaks of `RssAnon` and `RssFile` sampled every 5 ms "
            '(`/proc/self/status`) minus their values before. "Beyond the mapping" is the anonymous growth. '
            "Each operation's peak is also read by the parent with `wait4` (the child's own `ru_maxrss`).\n"
        )
    return "\n".join(out)
