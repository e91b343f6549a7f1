"""Ingest LOBSTER ZIPs, as LOBSTER distributes them, into flatstream streams.

    python examples/lobster/ingest.py AMZN_2012-06-21_34200000_57600000_10.zip --out DIR
    python -m examples.lobster.ingest ZIP... --out DIR

Each ZIP holds ``<TICKER>_<date>_<start>_<end>_message_<L>.csv`` and
``..._orderbook_<L>.csv``; they become ``DIR/<zipstem>-message.fs``
(``lobster.MessageEvent``) and ``DIR/<zipstem>-orderbook.fs``
(``lobster.OrderBookSnapshot``: row k's snapshot carries message k's time, and
all L levels per side, unoccupied ones as LOBSTER's dummies, so the CSV
round-trips exactly). Both CSVs are read in step, row by row (constant
memory). A malformed CSV stops with the file and line (exit code 3).
"""

from __future__ import annotations

import csv
import io
import re
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import click
import numpy as np

if __package__ in (None, ""):  # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import flatstream as fs  # noqa: E402
from examples.lobster import storage  # noqa: E402

MEMBER = re.compile(
    r"^(?P<ticker>[^_/]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)"
    r"_(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$"
)
#: Rows encoded and written per batch (bounded memory, one native call each).
BATCH = 8192

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_I64 = 1 << 63


class LobsterFormatError(fs.FlatstreamError, ValueError):
    """A malformed LOBSTER file: ``file`` (``zip:member``) and 1-based ``line``."""

    def __init__(self, file: str, line: Optional[int], message: str) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.message = message

    def _describe(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        return f"{where}: {self.message}"


def find_members(zf: zipfile.ZipFile, label: str) -> Tuple[str, str, Dict[str, Any]]:
    """The message and orderbook member names of a LOBSTER ZIP, and what their
    names say (ticker, date, start, end, levels)."""
    found: Dict[str, List[Tuple[str, Dict[str, str]]]] = {"message": [], "orderbook": []}
    for name in zf.namelist():
        m = MEMBER.match(name.rsplit("/", 1)[-1])
        if m:
            found[m["kind"]].append((name, m.groupdict()))
    for kind in ("message", "orderbook"):
        if len(found[kind]) != 1:
            raise LobsterFormatError(
                label, None,
                f"expected one <TICKER>_<date>_<start>_<end>_{kind}_<L>.csv, found "
                f"{len(found[kind])}",
            )
    (msg_name, msg), (book_name, book) = found["message"][0], found["orderbook"][0]
    for key in ("ticker", "date", "start", "end", "levels"):
        if msg[key] != book[key]:
            raise LobsterFormatError(label, None, f"{msg_name} and {book_name} differ in {key}")
    info: Dict[str, Any] = {k: msg[k] for k in ("ticker", "date")}
    info.update(start_ms=int(msg["start"]), end_ms=int(msg["end"]), levels=int(msg["levels"]))
    if info["levels"] < 1:
        raise LobsterFormatError(label, None, f"{msg_name}: the number of levels must be >= 1")
    return msg_name, book_name, info


def _rows(raw: Any, label: str, width: int) -> Iterator[Tuple[int, List[str]]]:
    """(line number, cells) of each row, checking the column count."""
    reader = csv.reader(io.TextIOWrapper(raw, "utf-8", newline=""))
    try:
        for cells in reader:
            if len(cells) != width:
                if not cells:
                    raise LobsterFormatError(label, reader.line_num, "empty line")
                raise LobsterFormatError(
                    label, reader.line_num, f"expected {width} columns, found {len(cells)}"
                )
            yield reader.line_num, cells
    except (csv.Error, UnicodeDecodeError) as exc:
        raise LobsterFormatError(label, reader.line_num + 1, f"unreadable CSV: {exc}") from None


def _int(cell: str, label: str, line: int, column: str, lo: int, hi: int) -> int:
    try:
        value = int(cell)
    except ValueError:
        raise LobsterFormatError(label, line, f"{column}: {cell!r} is not an integer") from None
    if not lo <= value <= hi:
        raise LobsterFormatError(label, line, f"{column}: {value} is outside {lo}..{hi}")
    return value


def parse_message(cells: List[str], label: str, line: int) -> Tuple[Any, ...]:
    """A message row as (timestamp, event_type, order_id, size, price, direction)."""
    try:
        stamp = float(cells[0])
    except ValueError:
        raise LobsterFormatError(label, line, f"time: {cells[0]!r} is not a number") from None
    if not stamp == stamp or stamp in (float("inf"), float("-inf")):
        raise LobsterFormatError(label, line, f"time: {cells[0]!r} is not a finite number")
    return (
        stamp,
        _int(cells[1], label, line, "event type", 1, 7),
        _int(cells[2], label, line, "order id", 0, _U64),
        _int(cells[3], label, line, "size", 0, _U32),
        _int(cells[4], label, line, "price", -_I64, _I64 - 1),
        _int(cells[5], label, line, "direction", -1, 1),
    )


def parse_book(cells: List[str], label: str, line: int) -> List[int]:
    """An orderbook row as 4L integers (prices i64, sizes >= 0)."""
    out = []
    for i, cell in enumerate(cells):
        what = ("ask price", "ask size", "bid price", "bid size")[i % 4] + f" {i // 4 + 1}"
        if i % 2:
            out.append(_int(cell, label, line, what, 0, _U64))
        else:
            out.append(_int(cell, label, line, what, -_I64, _I64 - 1))
    return out


def ingest_zip(zip_path: Path, out_dir: Path, *, progress: Optional[bool] = None) -> Tuple[Path, Path]:
    """Ingest one ZIP; returns the message and orderbook stream paths. On a
    malformed CSV raises :class:`LobsterFormatError` and removes the partial
    outputs it created."""
    from tqdm import tqdm

    label = str(zip_path)
    msg_out = out_dir / f"{zip_path.stem}-message.fs"
    book_out = out_dir / f"{zip_path.stem}-orderbook.fs"
    with zipfile.ZipFile(zip_path) as zf:
        msg_name, book_name, info = find_members(zf, label)
        levels = info["levels"]
        msg_label, book_label = f"{label}:{msg_name}", f"{label}:{book_name}"
        metadata = dict(info, source=zip_path.name, message_csv=msg_name, orderbook_csv=book_name)
        mcodec, bcodec = storage.message_codec(), storage.book_codec()
        Message, Snapshot = mcodec.type, bcodec.type
        created: List[Path] = []
        try:
            with zf.open(msg_name) as msg_raw, zf.open(book_name) as book_raw, \
                    storage.open_output(msg_out, mcodec, dict(metadata, table="MessageEvent")) as mw:
                created.append(msg_out)
                with storage.open_output(book_out, bcodec, dict(metadata, table="OrderBookSnapshot")) as bw:
                    created.append(book_out)
                    bar = tqdm(
                        total=zf.getinfo(msg_name).file_size, unit="B", unit_scale=True,
                        desc=zip_path.name, disable=(not sys.stderr.isatty()) if progress is None
                        else not progress,
                    )
                    with bar:
                        _copy(msg_raw, book_raw, msg_label, book_label, levels, Message, Snapshot,
                              mw, bw, mcodec, bcodec, bar)
        except BaseException:
            for path in created:
                path.unlink(missing_ok=True)
            raise
    return msg_out, book_out


def _copy(msg_raw: Any, book_raw: Any, msg_label: str, book_label: str, levels: int,
          Message: Any, Snapshot: Any, mw: Any, bw: Any, mcodec: Any, bcodec: Any, bar: Any) -> None:
    msg_rows = _rows(msg_raw, msg_label, 6)
    book_rows = _rows(book_raw, book_label, 4 * levels)
    messages: List[Any] = []
    stamps: List[float] = []
    books: List[List[int]] = []
    line = 0
    done = 0
    while True:
        m = next(msg_rows, None)
        b = next(book_rows, None)
        if m is None or b is None:
            if m is not None or b is not None:
                longer, shorter = (msg_label, book_label) if m is not None else (book_label, msg_label)
                row = (m or b)[0]  # type: ignore[index]
                raise LobsterFormatError(
                    longer, row, f"has more rows than {shorter}, which ends after {line} rows"
                )
            break
        line = m[0]
        if b[0] != line:  # csv line numbers differ only for quoted newlines
            raise LobsterFormatError(book_label, b[0], f"row {done + 1} is not on line {line}")
        fields = parse_message(m[1], msg_label, line)
        messages.append(Message(*fields))
        stamps.append(fields[0])
        books.append(parse_book(b[1], book_label, line))
        done += 1
        if len(messages) >= BATCH:
            _flush(messages, stamps, books, levels, Snapshot, mw, bw, mcodec, bcodec)
            bar.update(msg_raw.tell() - bar.n)
    _flush(messages, stamps, books, levels, Snapshot, mw, bw, mcodec, bcodec)
    bar.update(bar.total - bar.n)  # the CSV reader closed the member at its end


def _flush(messages: List[Any], stamps: List[float], books: List[List[int]], levels: int,
           Snapshot: Any, mw: Any, bw: Any, mcodec: Any, bcodec: Any) -> None:
    if not messages:
        return
    mw.write_many(mcodec.encode_many(messages))
    # (rows, L, side, price/size): a side's levels as one Level struct array per row.
    grid = np.array(books, dtype=np.int64).reshape(len(books), levels, 2, 2)
    asks = np.ascontiguousarray(grid[:, :, 0, :]).view(storage.LEVEL_DTYPE).reshape(len(books), levels)
    bids = np.ascontiguousarray(grid[:, :, 1, :]).view(storage.LEVEL_DTYPE).reshape(len(books), levels)
    bw.write_many(bcodec.encode_many(
        [Snapshot(timestamp=t, asks=a, bids=b) for t, a, b in zip(stamps, asks, bids)]
    ))
    messages.clear()
    stamps.clear()
    books.clear()


@click.command()
@click.argument("zips", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for <zipstem>-message.fs and <zipstem>-orderbook.fs.")
@click.option("--progress/--no-progress", default=None, help="Default: on when stderr is a TTY.")
def main(zips: Sequence[str], out_dir: str, progress: Optional[bool]) -> None:
    """Ingest LOBSTER ZIPs into flatstream streams (exit code 3 on malformed input)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in zips:
        try:
            msg_out, book_out = ingest_zip(Path(name), out, progress=progress)
        except (LobsterFormatError, zipfile.BadZipFile, FileExistsError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(3)
        click.echo(f"{msg_out}\n{book_out}")


if __name__ == "__main__":
    main()
