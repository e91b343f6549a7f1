"""``convert SRC DST``: raw stream <-> journal (recompressing, re-checksumming),
to JSON Lines, CSV, Parquet or Arrow IPC, and from JSON Lines with a schema.

DST is written to a temporary file beside it and moved into place only when
everything was written: a failed convert leaves no DST, and an existing DST
is never replaced without ``--force``. A torn or corrupt SRC is refused (exit
2 or 1) rather than converted in part: cut a torn tail with ``recover
--truncate`` or copy out what survives with ``salvage`` first."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import click

from ..errors import UnexpectedEof
from ..schema.model import BaseType
from .common import (
    CHECKSUM_NAMES,
    InputError,
    Input,
    bar,
    checksum_option,
    emit_json,
    guard,
    in_background,
    json_option,
    limit_option,
    load_codec,
    open_input,
    progress_enabled,
    progress_option,
    refuse,
)
from .reading import Renderer, journal_frames, stream_frames

FORMATS = ["journal", "raw", "jsonl", "csv", "parquet", "arrow"]
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet",
              ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow"}
TABULAR = ("csv", "parquet", "arrow")


@contextlib.contextmanager
def atomic_output(dst: Path, force: bool) -> Iterator[Path]:
    """A temporary path beside ``dst``; when the body succeeds it becomes
    ``dst`` (replacing it only with ``force``), when it fails it is removed."""
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a plain new file's mode, not mkstemp's 0600
    try:
        yield tmp
        if force:
            os.replace(tmp, dst)
        else:
            os.link(tmp, dst)  # fails if dst appeared meanwhile: nothing is replaced
            tmp.unlink()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def dst_format(dst: Path, given: Optional[str], src_kind: str) -> str:
    if given is not None:
        return given
    by_extension = EXTENSIONS.get(dst.suffix.lower())
    if by_extension is not None:
        return by_extension
    return "journal" if src_kind == "jsonl" else src_kind


@click.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="What to write (default: from DST's extension: .jsonl .csv .parquet .arrow; "
              "otherwise the kind SRC is, a journal for JSON Lines).")
@click.option("--from", "src_format", type=click.Choice(["auto", "journal", "raw", "jsonl"]),
              default="auto", show_default=True,
              help="What SRC is (auto: a journal by its header, JSON Lines by .jsonl/.ndjson, "
              "else a raw stream).")
@checksum_option
@click.option("--out-checksum", type=click.Choice(CHECKSUM_NAMES), default=None,
              help="Checksum of a journal or raw DST (default: SRC's; xxh3_64 from JSON Lines).")
@click.option("--compression", type=click.Choice(["none", "zstd", "lz4"]), default=None,
              help="Compression of a journal DST (default: SRC's, or none).")
@click.option("--schema", "schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Schema (.fbs or .bfbs): to read JSON Lines, to decode a raw SRC, "
              "or to embed in a journal DST (default: a journal SRC's own).")
@click.option("--root-type", default=None, help="The table payloads hold.")
@click.option("--columns", default=None,
              help="CSV/Parquet/Arrow: comma-separated fields (struct members as a.b) to write "
              "(default: every field a column can hold).")
@click.option("--force", is_flag=True, help="Replace DST if it exists.")
@limit_option
@json_option
@progress_option
def convert(src: Path, dst: Path, fmt: Optional[str], src_format: str, checksum: Optional[str],
            out_checksum: Optional[str], compression: Optional[str], schema_path: Optional[Path],
            root_type: Optional[str], columns: Optional[str], force: bool,
            max_frame_len: Optional[int], as_json: bool, progress: Optional[bool]) -> None:
    """Convert SRC into a new file DST (see the formats under --to).
    Exit 0 converted, 1 SRC corrupt, 2 SRC torn, 3 refused or usage error
    (DST exists without --force, a format that needs a schema without one)."""
    if dst.exists() and not force:
        refuse(dst, "exists already; pass --force to replace it")
    if dst.exists() and dst.is_dir():
        refuse(dst, "is a directory")
    if src_format == "auto" and src.suffix.lower() in (".jsonl", ".ndjson"):
        src_format = "jsonl"
    show = progress_enabled(progress)
    fields: Dict[str, Any] = {"path": str(src), "dst": str(dst)}
    with guard(src, as_json=as_json, fields=fields):
        if src_format == "jsonl":
            if schema_path is None:
                raise InputError("reading JSON Lines needs --schema FILE.fbs|.bfbs (and --root-type)")
            from ..schema import load_schema

            codec = load_schema(schema_path).codec(root_type)
            source: Any = JsonLines(src, codec)
            kind = "jsonl"
        else:
            if src_format == "raw" and checksum is None:
                checksum = "none"
            opened = open_input(src, checksum, max_frame_len)
            if src_format == "journal" and opened.journal is None:
                raise InputError(f"{src} has no journal header (it may be a raw stream: --from raw)")
            source = opened
            kind = opened.kind
        target = dst_format(dst, fmt, kind)
        fields["format"] = target
        try:
            with atomic_output(dst, force) as tmp:
                frames = write(source, target, tmp, out_checksum, compression, schema_path,
                               root_type, _columns(columns), show)
        except FileExistsError:
            refuse(dst, "appeared while converting; pass --force to replace it")
        finally:
            source.close()
    fields.update(frames=frames, bytes=dst.stat().st_size, state="clean", error=None)
    if as_json:
        emit_json(fields)
    else:
        click.echo(f"{frames} frames: {src} -> {dst} ({target}, {fields['bytes']} bytes)")


def _columns(text: Optional[str]) -> Optional[List[str]]:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InputError("--columns names no field")
    return names


class JsonLines:
    """A JSON Lines SRC: each non-blank line one object of ``codec``'s table."""

    kind = "jsonl"
    journal = None

    def __init__(self, path: Path, codec: Any) -> None:
        self.path = path
        self.codec = codec

    def payloads(self) -> Iterator[bytes]:
        from ..schema.json_values import from_json

        with open(self.path, encoding="utf-8") as lines:
            for number, text in enumerate(lines, 1):
                if not text.strip():
                    continue
                try:
                    yield self.codec.encode(from_json(self.codec.schema, json.loads(text), self.codec.name))
                except ValueError as error:  # bad JSON, a field the table lacks, a value out of range
                    raise InputError(f"{self.path}: line {number}: {error}") from None

    def close(self) -> None:
        return None


def check_whole(source: Input) -> None:
    """Refuse a torn SRC (its frames are counted by one native scan)."""
    if source.journal is not None:
        from ..journal import JournalState

        if source.journal.state is JournalState.TORN:
            layout = source.journal.layout()
            raise _torn(layout.frame_count, layout.end_offset)
        return
    from ..io.recovery import RecoveryEnd
    from ..io.scanning import count

    summary = count(source.path, source.checksum, source.max_frame_len)
    if summary.end is RecoveryEnd.TORN_TAIL:
        raise _torn(summary.frames, summary.end_offset)


def _torn(frames: int, end: int) -> UnexpectedEof:
    error = UnexpectedEof(f"torn tail after {frames} good frames; cut it with `flatstream recover "
                          "--truncate` (or copy out with salvage) before converting", offset=end)
    error.frame_index = frames
    return error


def payloads(source: Any, show: bool) -> Iterator[Any]:
    """Every payload of SRC in order, with a progress bar over its bytes."""
    if isinstance(source, JsonLines):
        with bar(show, source.path.stat().st_size, "converting", unit="B") as progress:
            for payload in source.payloads():
                progress.update(len(payload))
                yield payload
        return
    if source.journal is not None:
        frames = journal_frames(source, 0, len(source.journal))
        total = source.journal.payload_bytes
    else:
        frames = stream_frames(source)
        total = source.path.stat().st_size
    with bar(show, total, "converting", unit="B") as progress:
        for _, _, payload in frames:
            progress.update(len(payload))
            yield payload


def write(source: Any, target: str, tmp: Path, out_checksum: Optional[str],
          compression: Optional[str], schema_path: Optional[Path], root_type: Optional[str],
          columns: Optional[List[str]], show: bool) -> int:
    """Write SRC into ``tmp`` as ``target``; the number of frames."""
    from .._open import open as fs_open

    if not isinstance(source, JsonLines):
        in_background(show, "checking", lambda: check_whole(source))
    given_codec = source.codec if isinstance(source, JsonLines) else None
    if target in ("journal", "raw"):
        src_checksum = None if isinstance(source, JsonLines) else source.checksum
        checksum = out_checksum or src_checksum or "xxh3_64"
        if target == "raw":
            if compression not in (None, "none"):
                raise InputError("--compression is for a journal DST (--to journal)")
            writer = fs_open(tmp, "wb", checksum=checksum)
        else:
            options = journal_options(source, given_codec, schema_path, root_type, compression)
            writer = fs_open(tmp, "wb", format="journal", checksum=checksum, **options)
        frames = 0
        with writer:
            for payload in payloads(source, show):
                writer.write_payload(payload)
                frames += 1
        return frames
    codec = given_codec or load_codec(source, schema_path, root_type)
    if target == "jsonl":
        render = Renderer(codec, False, False)
        frames = 0
        with open(tmp, "w", encoding="utf-8") as out:
            for payload in payloads(source, show):
                out.write(render.line((frames, None, payload)) + "\n")
                frames += 1
        return frames
    table = in_background(show, "decoding", lambda: arrow_table(source, codec, columns, target))
    write_table(table, target, tmp)
    return int(table.num_rows)


def journal_options(source: Any, codec: Any, schema_path: Optional[Path], root_type: Optional[str],
                    compression: Optional[str]) -> Dict[str, Any]:
    """schema, metadata, key and compression of a journal DST: --schema's or
    the codec's, else a journal SRC's own (its .bfbs kept as stored)."""
    header = source.journal.header if getattr(source, "journal", None) is not None else None
    options: Dict[str, Any] = {"compression": None if compression in (None, "none") else compression}
    if compression is None and header is not None and header.compression not in ("", "none"):
        options["compression"] = header.compression
    if codec is None and schema_path is not None:
        from ..schema import load_schema

        codec = load_schema(schema_path).codec(root_type)
    if header is not None:
        options["metadata"] = header.metadata or None
    if codec is not None:
        options["schema"] = codec
    elif header is not None:
        bfbs = header.record.schema_bfbs
        if bfbs and header.schema is not None and header.schema.root_table == header.root_type:
            options["schema"] = bytes(bfbs)
        elif header.schema is not None and header.root_type:
            options["schema"] = header.schema.codec(header.root_type)
        if "schema" in options and header.key_field:
            options["key"] = header.key_field
    return options


def columnar_fields(codec: Any) -> Tuple[List[str], List[str]]:
    """(fields the columnar path reads, fields it cannot: nested tables,
    unions, vectors of tables or strings), asking the columnar planner."""
    from ..schema.columnar import plan_for
    from ..schema.model import BaseType, SchemaError

    readable: List[str] = []
    left_out: List[str] = []
    for fdef in codec.table.fields:
        if fdef.deprecated or fdef.type.base is BaseType.UTYPE:
            continue
        try:
            plan_for(codec, [fdef.name])
        except SchemaError:
            left_out.append(fdef.name)
        else:
            readable.append(fdef.name)
    return readable, left_out


def arrow_table(source: Any, codec: Any, columns: Optional[List[str]], target: str) -> Any:
    """SRC decoded into one ``pyarrow.Table`` (``fs.read_arrow``): the
    ``columns`` given, else every field the columnar path reads (for CSV,
    only those that are not lists); what is left out is said on stderr."""
    from ..arrow import read_arrow

    if columns is None:
        columns, left_out = columnar_fields(codec)
        if target == "csv":
            lists = [f.name for f in codec.table.fields if f.name in columns
                     and f.type.base is BaseType.VECTOR]
            columns = [c for c in columns if c not in lists]
            left_out += lists
        if left_out:
            click.echo(f"note: {target} leaves out {', '.join(left_out)}: no {target} column "
                       "holds them (--columns to choose; convert to jsonl keeps every field)",
                       err=True)
        if not columns:
            raise InputError(f"{codec.name} has no field a {target} column can hold")
    if isinstance(source, JsonLines):
        return read_arrow(list(source.payloads()), codec, columns)
    if source.journal is not None:
        # An uncompressed journal's path is indexed in place; a compressed
        # one's messages come out of its blocks.
        target_source = source.journal if source.journal.layout().blocks else source.path
        return read_arrow(target_source, codec, columns)
    return read_arrow(source.path, codec, columns, checksum=source.checksum,
                      max_frame_len=source.max_frame_len)


def write_table(table: Any, target: str, tmp: Path) -> None:
    import pyarrow as pa

    try:
        if target == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif target == "arrow":
            with pa.ipc.new_file(str(tmp), table.schema) as out:
                out.write_table(table)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, tmp)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        nested = [f.name for f in table.schema if pa.types.is_large_list(f.type) or pa.types.is_list(f.type)]
        hint = f" (CSV has no lists: columns {', '.join(nested)}; write parquet or arrow)" if nested and target == "csv" else ""
        raise InputError(f"cannot write {target}: {error}{hint}") from None

