"""``cat``, ``head`` and ``tail``: payloads as JSON Lines (decoded with the
journal's schema or ``--schema``) or as hex (``tail -f`` follows, in
:mod:`.following`).

Journals are read by frame number (``len(r)``, ``r[i]``: ``head`` and
``tail`` touch only the frames they print); raw streams are read in order
(``cat``, ``head``) or indexed by one native scan (``tail``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import click

from ..io.recovery import RecoveryEnd
from .common import (
    EXIT_TORN,
    Frame,
    Input,
    checksum_option,
    guard,
    limit_option,
    load_codec,
    open_input,
    path_argument,
    usage_error,
)


def render_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that prints payloads takes."""
    for option in reversed([
        click.option("--hex", "as_hex", is_flag=True, help="Print each payload as one hex line."),
        click.option("--schema", "schema_path",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                     help="Decode with this schema (.fbs, through flatc, or .bfbs) instead of "
                     "the journal's own."),
        click.option("--root-type", default=None,
                     help="The table payloads hold (default: the schema's root_type)."),
        click.option("--with-offsets", is_flag=True,
                     help='Wrap each line as {"frame": i, "offset": byte, "message": ...} '
                     "(with --hex: 'frame offset hex')."),
    ]):
        fn = option(fn)
    return fn


class Renderer:
    """Turns frames into output lines: JSON objects through the codec's
    schema (:func:`flatstream.schema.json_values.to_json`) or hex."""

    def __init__(self, codec: Any, as_hex: bool, with_offsets: bool) -> None:
        self.as_hex = as_hex
        self.with_offsets = with_offsets
        self.codec = codec

    @classmethod
    def of(cls, source: Input, as_hex: bool, schema_path: Optional[Path], root_type: Optional[str],
           with_offsets: bool) -> "Renderer":
        """The renderer the options ask for (the codec from --schema or the journal)."""
        codec = None if as_hex else load_codec(source, schema_path, root_type)
        return cls(codec, as_hex, with_offsets)

    def message(self, frame: Frame) -> Any:
        """The JSON-safe value of a frame's payload (decode errors carry the
        frame's number and offset)."""
        from ..errors import FlatstreamError
        from ..schema.json_values import to_json

        index, offset, payload = frame
        codec = self.codec
        assert codec is not None
        try:
            return to_json(codec.schema, codec.decode(payload), codec.name)
        except (FlatstreamError, ValueError) as error:
            if isinstance(error, FlatstreamError):
                error.frame_index = index if error.frame_index is None else error.frame_index
                error.offset = offset if error.offset is None else error.offset
                raise
            raise _decode_failed(codec.name, str(error), index, offset) from error

    def line(self, frame: Frame) -> str:
        index, offset, payload = frame
        if self.as_hex:
            text = bytes(payload).hex()
            return f"{index} {offset if offset is not None else '-'} {text}" if self.with_offsets else text
        value = self.message(frame)
        if self.with_offsets:
            value = {"frame": index, "offset": offset, "message": value}
        return json.dumps(value, allow_nan=False)


def _decode_failed(name: str, why: str, index: int, offset: Optional[int]) -> Exception:
    from ..schema.errors import DecodeError

    error = DecodeError(f"frame does not decode as {name}: {why}")
    error.frame_index, error.offset = index, offset
    return error


def write_lines(lines: Iterator[str]) -> None:
    """Print lines; a closed pipe (``| head``) ends quietly."""
    out = click.get_text_stream("stdout")
    try:
        for text in lines:
            out.write(text + "\n")
        out.flush()
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull so the exit flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


# -- frames ---------------------------------------------------------------------------------


def journal_frames(source: Input, start: int, stop: int) -> Iterator[Frame]:
    """User frames ``start..stop`` of a journal, by number."""
    reader = source.journal
    layout = reader.layout()
    hl = source.header_len
    for i in range(start, stop):
        offset = None if layout.blocks else int(layout.user_offsets[i]) - hl
        yield i, offset, reader[i]


def stream_frames(source: Input, stop: Optional[int] = None) -> Iterator[Frame]:
    """Frames of a raw stream in order (a torn tail or damage raises after
    the good frames before it)."""
    from .._open import open as fs_open

    with fs_open(source.path, "rb", checksum=source.checksum,
                 max_frame_len=source.max_frame_len) as reader:
        index = 0
        while stop is None or index < stop:
            payload = reader.read_message()
            if payload is None:
                return
            yield index, reader.frame_offset, payload
            index += 1


def indexed_frames(source: Input, last: int, on_end: Callable[[Any], None]) -> Iterator[Frame]:
    """The last ``last`` frames of a raw stream, found by one native scan;
    ``on_end(index)`` gets the scan's result (its end: clean or torn)."""
    from ..io.scanning import mapped, scan

    with mapped(source.path) as buf:
        index = scan(buf, source.checksum, source.max_frame_len)
        on_end(index)
        hl = index.header_len
        for i in range(max(0, len(index) - last), len(index)):
            offset = int(index.offsets[i])
            yield i, offset, bytes(buf[offset + hl:offset + hl + int(index.lengths[i])])


def report_journal_end(source: Input) -> None:
    """After printing a journal's frames: a torn end says so and exits 2."""
    from ..journal import JournalState

    reader = source.journal
    if reader.state is JournalState.TORN:
        layout = reader.layout()
        click.echo(f"error: {source.path}: torn tail: {layout.frame_count} good frames end at "
                   f"byte {layout.end_offset}", err=True)
        sys.exit(EXIT_TORN)


# -- commands ---------------------------------------------------------------------------------


@click.command()
@path_argument
@checksum_option
@limit_option
@render_options
def cat(path: Path, checksum: Optional[str], max_frame_len: Optional[int], as_hex: bool,
        schema_path: Optional[Path], root_type: Optional[str], with_offsets: bool) -> None:
    """Print every payload: one JSON object per line, decoded with the
    journal's embedded schema or --schema/--root-type (enums by name, nested
    tables as objects, vectors as lists, as flatc --json writes them), or
    --hex. Exit 0 clean, 1 corrupt or undecodable, 2 torn."""
    with guard(path), open_input(path, checksum, max_frame_len) as source:
        render = Renderer.of(source, as_hex, schema_path, root_type, with_offsets)
        if source.journal is not None:
            frames = journal_frames(source, 0, len(source.journal))
            write_lines(map(render.line, frames))
            report_journal_end(source)
        else:
            write_lines(map(render.line, stream_frames(source)))


@click.command()
@path_argument
@click.option("-n", "--lines", "n", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many frames.")
@checksum_option
@limit_option
@render_options
def head(path: Path, n: int, checksum: Optional[str], max_frame_len: Optional[int], as_hex: bool,
         schema_path: Optional[Path], root_type: Optional[str], with_offsets: bool) -> None:
    """Print the first N payloads (as cat does)."""
    with guard(path), open_input(path, checksum, max_frame_len) as source:
        render = Renderer.of(source, as_hex, schema_path, root_type, with_offsets)
        if source.journal is not None:
            frames = journal_frames(source, 0, min(n, len(source.journal)))
        else:
            frames = stream_frames(source, stop=n)
        write_lines(map(render.line, frames))


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-n", "--lines", "n", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many frames.")
@click.option("-f", "--follow", is_flag=True,
              help="Then keep printing frames as a writer appends them (until the journal's "
              "clean-close footer, --timeout, or Ctrl-C). A file replaced at its name "
              "(rotated) is finished, then the new file followed; segments are followed "
              "one after another.")
@click.option("-F", "follow_name", is_flag=True,
              help="As -f, and a journal's footer does not end it: keep following the name "
              "into the file that replaces it (rotation), until --timeout or Ctrl-C.")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="With -f: stop after this many seconds without new data.")
@checksum_option
@limit_option
@render_options
def tail(path: Path, n: int, follow: bool, follow_name: bool, timeout: Optional[float],
         checksum: Optional[str], max_frame_len: Optional[int], as_hex: bool,
         schema_path: Optional[Path], root_type: Optional[str], with_offsets: bool) -> None:
    """Print the last N payloads (as cat does) of a file, or of a directory
    or glob of rotating segments as one stream; with -f, follow it. The
    last N are found without decoding what comes before (a native scan, or
    a journal's index). A half-written last frame is waited for with -f,
    never reported as damage. With --with-offsets, offsets are in the
    frame's own file (segment)."""
    from ..follow import is_segments
    from ..rotating import list_segments
    from .following import Start, followed_frames, last_frames, segments_start

    segments = is_segments(path)
    if segments:
        found = list_segments(path)
        if not found:
            usage_error(path, "no segments here (a directory or glob of fs.RotatingWriter segments)")
        first_file = Path(found[-1])
    elif not path.is_file():
        usage_error(path, "no such file, directory of segments or glob")
    else:
        first_file = path
    with guard(path), open_input(first_file, checksum, max_frame_len) as source:
        render = Renderer.of(source, as_hex, schema_path, root_type, with_offsets)
        if not (follow or follow_name or segments):
            print_last(source, render, n)
            return
        if segments:
            start = segments_start(found, source, n)
        else:
            offset, number, total = last_frames(path, source, n)
            start = Start(None, offset, number, max(0, total - n))
        live = follow or follow_name
        frames = followed_frames(source, path, start, timeout=timeout if live else 0.0,
                                 until_footer=not (follow_name or segments), torn_is_error=not live)
        try:
            write_lines(map(render.line, frames))
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a follow normally ends


def print_last(source: Input, render: Renderer, n: int) -> None:
    """``tail`` of one file without -f (a torn end exits 2 after the frames)."""
    if source.journal is not None:
        total = len(source.journal)
        write_lines(map(render.line, journal_frames(source, max(0, total - n), total)))
        report_journal_end(source)
        return
    ends: List[Any] = []
    write_lines(map(render.line, indexed_frames(source, n, ends.append)))
    if ends and ends[0].end is RecoveryEnd.TORN_TAIL:
        click.echo(f"error: {source.path}: torn tail: {len(ends[0])} good frames end at byte "
                   f"{ends[0].end_offset}", err=True)
        sys.exit(EXIT_TORN)
