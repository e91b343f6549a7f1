"""``info``, ``verify``, ``count``, ``dump``, ``recover`` and ``salvage``:
what is in a file, is it intact, and making a damaged one usable."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional

import click

from ..io.recovery import RecoveryEnd, recover_file
from ..io.scanning import ScanSummary
from ..io.scanning import count as count_frames
from ..io.scanning import scan as scan_frames
from ..io.scanning import verify as verify_frames
from .common import (
    EXIT_CORRUPT,
    EXIT_TORN,
    EXIT_USAGE,
    checksum_option,
    emit_json,
    guard,
    in_background,
    json_option,
    limit_option,
    or_auto,
    or_exit,
    path_argument,
    progress_enabled,
    progress_option,
)


def _kind(path: Path) -> Dict[str, Any]:
    """``format`` and ``checksum`` of the file (journal header, else raw)."""
    from ..io.scanning import mapped
    from ..journal.detect import NotAJournal, sniff

    with mapped(path) as buf:
        try:
            return {"format": "journal", "checksum": sniff(buf).checksum.name}
        except NotAJournal:
            return {"format": "raw", "checksum": None}


def _summary_fields(path: Path, checksum: Optional[str], summary: ScanSummary) -> Dict[str, Any]:
    fields = {"path": str(path), **_kind(path)}
    if checksum is not None:
        from ..wire.checksums import resolve_checksum

        fields["checksum"] = resolve_checksum(checksum).name
    elif fields["checksum"] is None:
        fields["checksum"] = "none"
    torn = summary.end is RecoveryEnd.TORN_TAIL
    fields.update(frames=summary.frames, payload_bytes=summary.payload_bytes,
                  end_offset=summary.end_offset, file_bytes=path.stat().st_size,
                  state="torn" if torn else "clean", error=None)
    return fields


@click.command()
@path_argument
@checksum_option
@limit_option
@json_option
@progress_option
def count(path: Path, checksum: Optional[str], max_frame_len: Optional[int], as_json: bool,
          progress: Optional[bool]) -> None:
    """Count the frames of a stream or journal (checksums verified; a cleanly
    closed journal is counted from its footer). Exit 0 clean, 1 corrupt, 2 torn."""
    with guard(path, as_json=as_json):
        summary = in_background(progress_enabled(progress), "counting",
                                lambda: count_frames(path, or_auto(checksum), max_frame_len),
                                path.stat().st_size)
    if as_json:
        emit_json(_summary_fields(path, checksum, summary))
    else:
        click.echo(f"{summary.frames} frames, {summary.payload_bytes} payload bytes")
    if summary.end is RecoveryEnd.TORN_TAIL:
        if not as_json:
            click.echo(f"torn tail after byte {summary.end_offset}", err=True)
        sys.exit(EXIT_TORN)


@click.command()
@path_argument
@checksum_option
@limit_option
@json_option
@progress_option
def verify(path: Path, checksum: Optional[str], max_frame_len: Optional[int], as_json: bool,
           progress: Optional[bool]) -> None:
    """Check every frame (a journal's footer is checked against its frames,
    never trusted alone). Exit 0 if clean, 1 if corrupt, 2 if the tail is torn."""
    with guard(path, as_json=as_json):
        summary = in_background(progress_enabled(progress), "verifying",
                                lambda: verify_frames(path, or_auto(checksum), max_frame_len,
                                                      allow_torn_tail=True),
                                path.stat().st_size)
    torn = summary.end is RecoveryEnd.TORN_TAIL
    if as_json:
        emit_json(_summary_fields(path, checksum, summary))
    elif torn:
        click.echo(
            f"torn tail: {summary.frames} good frames end at byte {summary.end_offset}; "
            "`flatstream recover --truncate` cuts it",
            err=True,
        )
    else:
        click.echo(f"ok: {summary.frames} frames, {summary.end_offset} bytes")
    if torn:
        sys.exit(EXIT_TORN)


@click.command()
@path_argument
@checksum_option
@limit_option
@click.option("--truncate", is_flag=True, help="Cut a torn tail off the file.")
@click.option("--dry-run", is_flag=True, help="With --truncate: say what would be cut; cut nothing.")
@json_option
@progress_option
def recover(
    path: Path, checksum: Optional[str], max_frame_len: Optional[int], truncate: bool,
    dry_run: bool, as_json: bool, progress: Optional[bool],
) -> None:
    """Find where the good frames end; with --truncate, cut a torn tail.

    Truncation runs only when the checksum is known (the journal header's, or
    -c), the first frame verifies with it, and what is cut is a torn tail with
    nothing valid after it. Frames are counted as the stream has them (a
    journal's header, index and footer frames included). Exit 0 clean or cut,
    1 corrupt, 2 torn (not cut), 3 refused or usage error."""
    checksum = _checksum_to_trust(path, checksum, truncate, as_json)
    fields: Dict[str, Any] = {"path": str(path), "checksum": checksum}
    with guard(path, as_json=as_json, fields=fields):
        with open(path, "r+b" if truncate and not dry_run else "rb") as file:
            report = in_background(
                progress_enabled(progress), "scanning",
                lambda: recover_file(file, checksum=checksum, max_frame_len=max_frame_len),
                path.stat().st_size,
            )
            size = path.stat().st_size
            torn = report.end is RecoveryEnd.TORN_TAIL
            cut = size - report.last_good_offset if torn else 0
            truncated = torn and truncate and not dry_run
            if truncated:
                file.truncate(report.last_good_offset)
    fields.update(frames=report.frames, last_good_offset=report.last_good_offset, file_bytes=size,
                  end=report.end.name, state="torn" if torn else "clean", cut_bytes=cut,
                  truncated=truncated, dry_run=dry_run, error=None)
    if as_json:
        emit_json(fields)
    else:
        click.echo(f"{report.frames} frames, last good offset {report.last_good_offset}, "
                   f"{report.end.name}")
        if torn and not truncate:
            click.echo(f"torn tail: {cut} bytes after byte {report.last_good_offset}; "
                       "--truncate cuts them (--dry-run to see first)", err=True)
        elif torn and dry_run:
            click.echo(f"would cut {cut} bytes: {size} -> {report.last_good_offset} bytes")
        elif truncated:
            click.echo(f"cut {cut} bytes: truncated to {report.last_good_offset} bytes")
    if torn and not truncated:
        sys.exit(EXIT_TORN)


@click.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@checksum_option
@limit_option
@json_option
@progress_option
def salvage(src: Path, dst: Path, checksum: Optional[str], max_frame_len: Optional[int],
            as_json: bool, progress: Optional[bool]) -> None:
    """Copy every valid frame of SRC into a new file DST, skipping damage.
    Needs the checksum (the journal header's, or -c). SRC is never changed.
    Exit 0 if nothing was damaged, 1 if damage was skipped, 3 on refusal."""
    from ..io.salvage import salvage as salvage_frames

    try:
        report = in_background(
            progress_enabled(progress), "salvaging",
            lambda: salvage_frames(src, dst, checksum=checksum, max_frame_len=max_frame_len),
            src.stat().st_size,
        )
    except FileExistsError:
        _refuse(dst, "exists already; salvage writes a new file", as_json)
    except ValueError as error:
        _refuse(src, str(error), as_json)
    except OSError as error:
        with guard(src, as_json=as_json):
            raise error
    if as_json:
        emit_json({"path": str(src), "dst": str(dst), "frames": report.frames,
                   "skipped": [list(r) for r in report.skipped], "bytes_lost": report.bytes_lost,
                   "state": "corrupt" if report.skipped else "clean", "error": None})
    else:
        click.echo(f"{report.frames} frames kept, {len(report.skipped)} damaged range(s) skipped, "
                   f"{report.bytes_lost} bytes lost")
        for start, end in report.skipped:
            click.echo(f"  skipped bytes {start}..{end}", err=True)
    if report.skipped:
        sys.exit(EXIT_CORRUPT)


def _checksum_to_trust(path: Path, checksum: Optional[str], truncate: bool, as_json: bool) -> str:
    """The checksum to read ``path`` with; for a truncation, only one that is
    known (header or -c) and that the first frame verifies with."""
    from ..journal.detect import NotAJournal, plausible_widths, sniff
    from ..wire.checksums import resolve_checksum

    with open(path, "rb") as file:
        size = path.stat().st_size
        with (mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else _Empty()) as buf:
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
                    f"tail cannot be told from a misread file; pass -c. {_fits_text(fits)}",
                    as_json)
        return "none"
    name = resolve_checksum(checksum).name
    if truncate and size:
        first_frame_ok = any(f.split(" ")[0] == name for f in fits)
        checked_others = [f for f in fits if not f.startswith("none ")]
        if not first_frame_ok or (name == "none" and checked_others):
            _refuse(path, f"the first frame does not verify as -c {checksum}, so this is not "
                    f"a stream written that way; nothing was cut. {_fits_text(fits)}", as_json)
    return name


def _fits_text(fits: List[str]) -> str:
    if not fits:
        return "Its first frame verifies with no checksum."
    return "Its first frame verifies as: " + ", ".join(fits) + "."


class _Empty:  # stands in for a map of an empty file
    def __enter__(self) -> bytes:
        return b""

    def __exit__(self, *exc: object) -> None:
        return None


def _refuse(path: Path, why: str, as_json: bool = False) -> NoReturn:
    click.echo(f"error: {path}: refused: {why}", err=True)
    if as_json:
        emit_json({"path": str(path), "state": "refused",
                   "error": {"type": "Refused", "message": why, "offset": None, "frame_index": None}})
    sys.exit(EXIT_USAGE)


@click.command()
@path_argument
@checksum_option
@limit_option
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True)
def dump(path: Path, checksum: Optional[str], max_frame_len: Optional[int], limit: int) -> None:
    """List frames: offset, payload length and the first payload bytes."""
    index = or_exit(lambda: scan_frames(path, or_auto(checksum), max_frame_len), path)
    with open(path, "rb") as file:
        for offset, length in zip(index.offsets[:limit], index.lengths[:limit]):
            file.seek(int(offset) + index.header_len)
            head = file.read(min(int(length), 16)).hex(" ")
            click.echo(f"{int(offset):>12}  {int(length):>10}  {head}")
    if len(index) > limit:
        click.echo(f"... {len(index) - limit} more frames")
    if index.end is RecoveryEnd.TORN_TAIL:
        click.echo(f"torn tail after byte {index.end_offset}", err=True)
        sys.exit(EXIT_TORN)


@click.command()
@path_argument
@json_option
def info(path: Path, as_json: bool) -> None:
    """Describe a journal: header, schema root type, metadata, frames, bytes,
    compression ratio, key range and state. Exit 0 clean, 2 open/torn, 1 corrupt
    or not a journal."""
    from ..journal import JournalState, inspect

    with guard(path, as_json=as_json):
        result = inspect(path)
    header = result.header
    ratio = result.payload_bytes / result.file_bytes if result.file_bytes else 0.0
    fields: Dict[str, Any] = {
        "path": str(path),
        "format": "journal",
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
        "error": None if result.error is None else {
            "type": "CorruptionDetected", "message": result.error, "offset": None,
            "frame_index": None},
    }
    if as_json:
        emit_json(fields)
    else:
        for name, value in fields.items():
            if name == "error" and value is not None:
                value = result.error
            click.echo(f"{name + ':':<18} {value}")
    if result.error:
        sys.exit(EXIT_CORRUPT)
    if result.state is not JournalState.CLEAN:
        sys.exit(EXIT_TORN)
