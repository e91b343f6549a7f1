"""``stats``: frames, payload sizes (percentiles and a histogram) and the
event rate over time from a timestamp field, as a table or ``--json``.

Sizes come from the frame index (one native scan; a compressed journal's
sizes from its decompressed blocks); the key field is decoded as one numpy
column (``codec.decode_columns``), so no Python runs per frame either way."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import click
import numpy as np

from .common import (
    EXIT_TORN,
    Input,
    checksum_option,
    emit_json,
    guard,
    in_background,
    json_option,
    limit_option,
    load_codec,
    open_input,
    path_argument,
    progress_enabled,
    progress_option,
)

#: Seconds per unit of ``--key-unit``.
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def sizes_of(source: Input) -> Dict[str, Any]:
    """Payload lengths (numpy), the end offset and whether the file is torn."""
    if source.journal is not None:
        reader = source.journal
        layout = reader.layout()
        if layout.blocks:
            lengths = np.fromiter((len(p) for p in reader.messages()), dtype=np.uint64,
                                  count=layout.frame_count)
        else:
            lengths = layout.user_lengths.astype(np.uint64)
        return {"lengths": lengths, "end_offset": layout.end_offset, "torn": layout.torn}
    from ..io.recovery import RecoveryEnd
    from ..io.scanning import scan

    index = scan(source.path, source.checksum, source.max_frame_len)
    return {"lengths": index.lengths.astype(np.uint64), "end_offset": index.end_offset,
            "torn": index.end is RecoveryEnd.TORN_TAIL}


def size_summary(lengths: np.ndarray) -> Dict[str, Any]:
    """min/p50/p99/max/mean and power-of-two buckets ``[lo, hi)``."""
    if not len(lengths):
        return {"min": None, "p50": None, "p99": None, "max": None, "mean": None, "buckets": []}
    top = int(lengths.max())
    edges = [0, 1]
    while edges[-1] <= top:
        edges.append(edges[-1] * 2)
    counts, _ = np.histogram(lengths, bins=np.array(edges, dtype=np.float64))
    buckets = [{"lo": edges[i], "hi": edges[i + 1], "count": int(c)}
               for i, c in enumerate(counts) if c]
    return {
        "min": int(lengths.min()),
        "p50": float(np.percentile(lengths, 50)),
        "p99": float(np.percentile(lengths, 99)),
        "max": top,
        "mean": float(lengths.mean()),
        "buckets": buckets,
    }


def rate_summary(keys: np.ndarray, key: str, unit: str, bins: int) -> Dict[str, Any]:
    """Events per second over the key's span (the intervals between the first
    and last event: n - 1 events over the span), overall and in ``bins`` equal
    slices of it (the key read as a timestamp in ``unit``)."""
    out: Dict[str, Any] = {"key": key, "unit": unit, "first": None, "last": None, "min": None,
                           "max": None, "span_seconds": None, "events_per_second": None,
                           "timeline": [], "out_of_order": 0}
    if not len(keys):
        return out
    values = keys.astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    scale = UNITS[unit]
    span = (hi - lo) * scale
    out.update(first=keys[0].item(), last=keys[-1].item(), min=keys.min().item(),
               max=keys.max().item(), span_seconds=span,
               events_per_second=((len(keys) - 1) / span) if span > 0 else None,
               out_of_order=int((np.diff(values) < 0).sum()))
    if span > 0:
        edges = np.linspace(lo, hi, bins + 1)
        counts, _ = np.histogram(values, bins=edges)
        width = span / bins
        out["timeline"] = [
            {"start": float(edges[i]), "end": float(edges[i + 1]), "events": int(c),
             "per_second": float(c) / width}
            for i, c in enumerate(counts)
        ]
    return out


def key_column(source: Input, codec: Any, key: str) -> np.ndarray:
    """The key field of every message, as one numpy array."""
    table = codec.table
    fdef = table.field_named(key)
    if not fdef.type.is_scalar:
        raise click.BadParameter(f"{key} is a {fdef.type.base.name} field, not a scalar",
                                 param_hint="--key")
    if source.journal is not None:
        # An uncompressed journal's path is indexed in place (user frames
        # only); a compressed one's payloads come out of its blocks.
        target: Any = source.journal if source.journal.layout().blocks else source.path
        options: Dict[str, Any] = {}
    else:
        target = source.path
        options = {"checksum": source.checksum, "max_frame_len": source.max_frame_len}
    columns = codec.decode_columns(target, [key], **options)
    return np.asarray(columns[key])


@click.command()
@path_argument
@checksum_option
@limit_option
@click.option("--key", default=None,
              help="A scalar timestamp field of the root table: report events per second over "
              "its span.")
@click.option("--key-unit", type=click.Choice(list(UNITS)), default="ns", show_default=True,
              help="The unit of --key.")
@click.option("--bins", type=click.IntRange(min=1, max=1000), default=10, show_default=True,
              help="Slices of the key's span in the rate timeline.")
@click.option("--schema", "schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Schema for --key (default: the journal's own).")
@click.option("--root-type", default=None, help="The table payloads hold.")
@json_option
@progress_option
def stats(path: Path, checksum: Optional[str], max_frame_len: Optional[int], key: Optional[str],
          key_unit: str, bins: int, schema_path: Optional[Path], root_type: Optional[str],
          as_json: bool, progress: Optional[bool]) -> None:
    """Frames, bytes, payload size percentiles and histogram, and with --key
    the event rate over time. Exit 0 clean, 1 corrupt, 2 torn (stats of the
    good frames are still printed)."""
    fields: Dict[str, Any] = {"path": str(path)}
    with guard(path, as_json=as_json, fields=fields), open_input(path, checksum, max_frame_len) as source:
        fields.update(format=source.kind, checksum=source.checksum)
        show = progress_enabled(progress)
        found = in_background(show, "scanning", lambda: sizes_of(source), path.stat().st_size)
        lengths = found["lengths"]
        fields.update(frames=len(lengths), payload_bytes=int(lengths.sum()),
                      file_bytes=path.stat().st_size, end_offset=found["end_offset"],
                      sizes=size_summary(lengths), rate=None)
        if key is not None:
            codec = load_codec(source, schema_path, root_type)
            keys = in_background(show, "decoding keys", lambda: key_column(source, codec, key))
            fields["rate"] = rate_summary(keys, key, key_unit, bins)
        fields.update(state="torn" if found["torn"] else "clean", error=None)
    if as_json:
        emit_json(fields)
    else:
        print_table(fields)
    if found["torn"]:
        if not as_json:
            click.echo(f"error: {path}: torn tail after byte {found['end_offset']}", err=True)
        sys.exit(EXIT_TORN)


def print_table(fields: Dict[str, Any]) -> None:
    """The report as tables: with ``rich`` (the ``cli`` extra) when it is
    installed, else as aligned plain text."""
    sizes = fields["sizes"]
    overview = [
        ("file", fields["path"]), ("format", f"{fields['format']} ({fields['checksum']})"),
        ("frames", f"{fields['frames']:,}"), ("payload bytes", f"{fields['payload_bytes']:,}"),
        ("file bytes", f"{fields['file_bytes']:,}"), ("state", fields["state"]),
        ("size min / p50 / p99 / max",
         " / ".join("-" if sizes[k] is None else f"{sizes[k]:,.0f}" for k in ("min", "p50", "p99", "max"))),
    ]
    rate = fields["rate"]
    if rate is not None:
        eps = rate["events_per_second"]
        overview += [
            (f"{rate['key']} span", "-" if rate["span_seconds"] is None else f"{rate['span_seconds']:.6g} s"),
            ("events per second", "-" if eps is None else f"{eps:,.1f}"),
            ("out of order", f"{rate['out_of_order']:,}"),
        ]
    histogram = [(f"{b['lo']:,}..{b['hi'] - 1:,}", f"{b['count']:,}") for b in sizes["buckets"]]
    timeline = [] if rate is None else [
        (f"{t['start']:.0f}..{t['end']:.0f}", f"{t['events']:,}", f"{t['per_second']:,.1f}")
        for t in rate["timeline"]
    ]
    tables: List[Any] = [("", ["", ""], overview), ("payload sizes (bytes)", ["size", "frames"], histogram)]
    if timeline:
        tables.append((f"rate over {rate['key']} ({rate['unit']})", ["span", "events", "per second"],
                       timeline))
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for title, header, rows in tables:
            _plain(title, header, rows)
        return
    console = Console(file=click.get_text_stream("stdout"))
    for title, header, rows in tables:
        table = Table(title=title or None, show_header=bool(title))
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _plain(title: str, header: List[str], rows: List[Any]) -> None:
    if title:
        click.echo(f"\n{title}")
        rows = [tuple(header), *rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))] if rows else []
    for row in rows:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        click.echo("  ".join(cells).rstrip())
