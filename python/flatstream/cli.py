"""The ``flatstream`` command: the demo and tools for journals on disk."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from . import _kernels
from .wire.checksums import CHECKSUMS
from .errors import FlatstreamError
from .wire.framing import Deframer
from .io.recovery import RecoveryEnd, recover_file
from .io.scanning import count as count_frames
from .io.scanning import scan as scan_frames

CHECKSUM_NAMES = sorted([*CHECKSUMS, "xxhash64"])

checksum_option = click.option(
    "-c",
    "--checksum",
    type=click.Choice(CHECKSUM_NAMES),
    default="none",
    show_default=True,
    help="Checksum algorithm the stream was written with (agreed out of band).",
)
limit_option = click.option(
    "--max-frame-len",
    type=click.IntRange(min=0),
    default=None,
    help="Refuse frames declaring more bytes than this (default 2 GiB).",
)
path_argument = click.argument(
    "path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


@click.group()
@click.version_option(package_name="flatstream")
def main() -> None:
    """Durable, replayable streams of FlatBuffers messages."""


@main.command()
@click.option("--events", "count", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@checksum_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keep the journal here (default: a temporary file).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def demo(count: int, checksum: str, output: Optional[Path], progress: bool) -> None:
    """Write a telemetry capture, replay and verify it, decode a sample."""
    from .demo import run

    if checksum == "none":
        checksum = "xxh3_64"
    click.echo(f"flatstream demo: {count:,} telemetry events, {_kernels.IMPLEMENTATION} kernels")
    report = run(count, checksum=checksum, path=output, progress=progress, echo=click.echo)
    if output is None:
        report.path.unlink()


@main.command()
@path_argument
@checksum_option
@limit_option
def count(path: Path, checksum: str, max_frame_len: Optional[int]) -> None:
    """Count the frames of a journal (checksums verified)."""
    summary = _or_exit(lambda: count_frames(path, checksum, max_frame_len))
    click.echo(f"{summary.frames} frames, {summary.payload_bytes} payload bytes")
    if summary.end is RecoveryEnd.TORN_TAIL:
        click.echo(f"torn tail after byte {summary.end_offset}", err=True)
        sys.exit(2)


@main.command()
@path_argument
@checksum_option
@limit_option
def verify(path: Path, checksum: str, max_frame_len: Optional[int]) -> None:
    """Check every frame. Exit 0 if clean, 1 if corrupt, 2 if the tail is torn."""
    summary = _or_exit(lambda: count_frames(path, checksum, max_frame_len))
    if summary.end is RecoveryEnd.TORN_TAIL:
        click.echo(
            f"torn tail: {summary.frames} good frames end at byte {summary.end_offset}; "
            "`flatstream recover --truncate` cuts it",
            err=True,
        )
        sys.exit(2)
    click.echo(f"ok: {summary.frames} frames, {summary.end_offset} bytes")


@main.command()
@path_argument
@checksum_option
@limit_option
@click.option("--truncate", is_flag=True, help="Cut a torn tail off the file.")
def recover(path: Path, checksum: str, max_frame_len: Optional[int], truncate: bool) -> None:
    """Find where the good frames end; with --truncate, cut a torn tail."""
    with open(path, "r+b" if truncate else "rb") as file:
        report = _or_exit(lambda: recover_file(file, Deframer(checksum, max_frame_len)))
        click.echo(f"{report.frames} frames, last good offset {report.last_good_offset}, "
                   f"{report.end.name}")
        if truncate and report.end is RecoveryEnd.TORN_TAIL:
            file.truncate(report.last_good_offset)
            click.echo(f"truncated to {report.last_good_offset} bytes")


@main.command()
@path_argument
@checksum_option
@limit_option
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True)
def dump(path: Path, checksum: str, max_frame_len: Optional[int], limit: int) -> None:
    """List frames: offset, payload length and the first payload bytes."""
    index = _or_exit(lambda: scan_frames(path, checksum, max_frame_len))
    with open(path, "rb") as file:
        for offset, length in zip(index.offsets[:limit], index.lengths[:limit]):
            file.seek(int(offset) + index.header_len)
            head = file.read(min(int(length), 16)).hex(" ")
            click.echo(f"{int(offset):>12}  {int(length):>10}  {head}")
    if len(index) > limit:
        click.echo(f"... {len(index) - limit} more frames")


@main.command()
@path_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(path: Path, as_json: bool) -> None:
    """Describe a journal: header, schema root type, metadata, frames, bytes,
    compression ratio, key range and state. Exit 0 clean, 2 open/torn, 1 corrupt."""
    import json

    from .journal import JournalState, inspect

    result = _or_exit(lambda: inspect(path))
    header = result.header
    ratio = result.payload_bytes / result.file_bytes if result.file_bytes else 0.0
    fields = {
        "path": str(path),
        "format_version": header.format_version,
        "checksum": header.checksum,
        "root_type": header.root_type,
        "schema": "bfbs" if header.record.schema_bfbs else ("fbs" if header.schema_fbs else None),
        "key_field": header.key_field,
        "metadata": header.metadata,
        "producer": f"{header.producer} {header.producer_version}".strip(),
        "created_unix_ns": header.created_unix_ns,
        "compression": header.compression,
        "frames": result.frames,
        "payload_bytes": result.payload_bytes,
        "file_bytes": result.file_bytes,
        "compression_ratio": round(ratio, 4),
        "metadata_frames": result.metadata_frames,
        "index_frames": result.index_frames,
        "blocks": result.blocks,
        "key_range": list(result.key_range) if result.key_range else None,
        "state": "corrupt" if result.error else result.state.value,
        "error": result.error,
    }
    if as_json:
        click.echo(json.dumps(fields))
    else:
        for name, value in fields.items():
            click.echo(f"{name + ':':<18} {value}")
    if result.error:
        sys.exit(1)
    if result.state is not JournalState.CLEAN:
        sys.exit(2)


def _or_exit(action):  # type: ignore[no-untyped-def]
    try:
        return action()
    except FlatstreamError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
