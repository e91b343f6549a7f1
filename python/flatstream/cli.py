"""The ``flatstream`` command: the demo and tools for journals on disk."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn, Optional

import click

from . import _kernels
from .wire.checksums import CHECKSUMS
from .errors import FlatstreamError
from .io.recovery import RecoveryEnd, recover_file
from .io.scanning import count as count_frames
from .io.scanning import scan as scan_frames

CHECKSUM_NAMES = sorted([*CHECKSUMS, "xxhash64"])

checksum_option = click.option(
    "-c",
    "--checksum",
    type=click.Choice(CHECKSUM_NAMES),
    default=None,
    help="Checksum algorithm the stream was written with (default: the journal "
    "header's; a raw stream without -c is read as 'none').",
)

#: Exit codes, the same for every subcommand.
EXIT_CLEAN, EXIT_CORRUPT, EXIT_TORN, EXIT_USAGE = 0, 1, 2, 3
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
def demo(count: int, checksum: Optional[str], output: Optional[Path], progress: bool) -> None:
    """Write a telemetry capture, replay and verify it, decode a sample."""
    from .demo import run

    if checksum is None:
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
    summary = _or_exit(lambda: count_frames(path, _or_auto(checksum), max_frame_len))
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
    summary = _or_exit(lambda: count_frames(path, _or_auto(checksum), max_frame_len))
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
@click.option("--dry-run", is_flag=True, help="With --truncate: say what would be cut; cut nothing.")
def recover(
    path: Path, checksum: Optional[str], max_frame_len: Optional[int], truncate: bool,
    dry_run: bool,
) -> None:
    """Find where the good frames end; with --truncate, cut a torn tail.

    Truncation runs only when the checksum is known (the journal header's, or
    -c), the first frame verifies with it, and what is cut is a torn tail with
    nothing valid after it. Exit 0 clean or cut, 1 corrupt, 2 torn (not cut),
    3 refused or usage error."""
    checksum = _checksum_to_trust(path, checksum, truncate)
    with open(path, "r+b" if truncate and not dry_run else "rb") as file:
        report = _or_exit(
            lambda: recover_file(file, checksum=checksum, max_frame_len=max_frame_len), path
        )
        size = path.stat().st_size
        click.echo(f"{report.frames} frames, last good offset {report.last_good_offset}, "
                   f"{report.end.name}")
        if report.end is not RecoveryEnd.TORN_TAIL:
            return
        cut = size - report.last_good_offset
        if not truncate:
            click.echo(f"torn tail: {cut} bytes after byte {report.last_good_offset}; "
                       "--truncate cuts them (--dry-run to see first)", err=True)
            sys.exit(EXIT_TORN)
        if dry_run:
            click.echo(f"would cut {cut} bytes: {size} -> {report.last_good_offset} bytes")
            sys.exit(EXIT_TORN)
        file.truncate(report.last_good_offset)
        click.echo(f"cut {cut} bytes: truncated to {report.last_good_offset} bytes")


@main.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@checksum_option
@limit_option
def salvage(src: Path, dst: Path, checksum: Optional[str], max_frame_len: Optional[int]) -> None:
    """Copy every valid frame of SRC into a new file DST, skipping damage.
    Needs the checksum (the journal header's, or -c). SRC is never changed.
    Exit 0 if nothing was damaged, 1 if damage was skipped, 3 on refusal."""
    from .io.salvage import salvage as salvage_frames

    try:
        report = salvage_frames(src, dst, checksum=checksum, max_frame_len=max_frame_len)
    except ValueError as error:
        _refuse(src, str(error))
    except FileExistsError:
        _refuse(dst, "exists already; salvage writes a new file")
    click.echo(f"{report.frames} frames kept, {len(report.skipped)} damaged range(s) skipped, "
               f"{report.bytes_lost} bytes lost")
    for start, end in report.skipped:
        click.echo(f"  skipped bytes {start}..{end}", err=True)
    if report.skipped:
        sys.exit(EXIT_CORRUPT)


def _checksum_to_trust(path: Path, checksum: Optional[str], truncate: bool) -> str:
    """The checksum to read ``path`` with; for a truncation, only one that is
    known (header or -c) and that the first frame verifies with."""
    import mmap

    from .journal.detect import NotAJournal, plausible_widths, sniff

    with open(path, "rb") as file:
        size = path.stat().st_size
        with (mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else _empty()) as buf:
            try:
                header_checksum: Optional[str] = sniff(buf).checksum.name
            except NotAJournal:
                header_checksum = None
            fits = plausible_widths(buf)
    if checksum is None:
        checksum = header_checksum
    if checksum is None:
        if truncate:
            _refuse(path, "the checksum is not known (no journal header and no -c), so a torn "
                    f"tail cannot be told from a misread file; pass -c. {_fits_text(fits)}")
        return "none"
    name = fs_checksum_name(checksum)
    if truncate and size:
        first_frame_ok = any(f.split(" ")[0] == name for f in fits)
        checked_others = [f for f in fits if not f.startswith("none ")]
        if not first_frame_ok or (name == "none" and checked_others):
            _refuse(path, f"the first frame does not verify as -c {checksum}, so this is not "
                    f"a stream written that way; nothing was cut. {_fits_text(fits)}")
    return name


def fs_checksum_name(checksum: str) -> str:
    from .wire.checksums import resolve_checksum

    return resolve_checksum(checksum).name


def _fits_text(fits: list) -> str:
    if not fits:
        return "Its first frame verifies with no checksum."
    return "Its first frame verifies as: " + ", ".join(fits) + "."


class _empty:  # stands in for a map of an empty file
    def __enter__(self) -> bytes:
        return b""

    def __exit__(self, *exc: object) -> None:
        return None


def _refuse(path: Path, why: str) -> NoReturn:
    click.echo(f"error: {path}: refused: {why}", err=True)
    sys.exit(EXIT_USAGE)


@main.command()
@path_argument
@checksum_option
@limit_option
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True)
def dump(path: Path, checksum: str, max_frame_len: Optional[int], limit: int) -> None:
    """List frames: offset, payload length and the first payload bytes."""
    index = _or_exit(lambda: scan_frames(path, _or_auto(checksum), max_frame_len))
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


def _or_exit(action, path=None):  # type: ignore[no-untyped-def]
    """Run ``action``; a flatstream error becomes one line and exit 1 (corrupt),
    an OS error one line and exit 3 (input error): never a traceback."""
    where = f"{path}: " if path is not None else ""
    try:
        return action()
    except FlatstreamError as error:
        click.echo(f"error: {where}{error}", err=True)
        sys.exit(EXIT_CORRUPT)
    except OSError as error:
        click.echo(f"error: {where}{error.strerror or error}", err=True)
        sys.exit(EXIT_USAGE)


def _or_auto(checksum: Optional[str]) -> str:
    """-c as given, or: the journal header's checksum, else none."""
    from .io.scanning import AUTO

    return AUTO if checksum is None else checksum


if __name__ == "__main__":  # pragma: no cover
    main()
