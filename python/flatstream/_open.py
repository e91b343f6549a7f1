"""``flatstream.open``: a file path to a reader or writer in one call."""

from __future__ import annotations

import builtins
import os
from typing import Any, Dict, Optional, Union

from .errors import InvalidFrame
from .io.memory import MemoryPolicy
from .io.reader import StreamReader
from .io.recovery import RecoveryEnd, recover_file
from .io.writer import StreamWriter
from .wire.checksums import ChecksumLike, resolve_checksum
from .wire.framing import Deframer, Framer

__all__ = ["open"]

#: ``checksum`` not given: "rb" then sniffs for a journal header.
_UNSET: Any = object()

#: Frames per index frame of a journal, unless index_every= says otherwise.
DEFAULT_INDEX_EVERY = 4096

#: The write buffer of files opened for writing: large enough that small frames
#: cost a memcpy, not a syscall.
WRITE_BUFFER = 1 << 20


def _append(
    path: Any, checksum: ChecksumLike, max_frame_len: Optional[int],
    memory_policy: Optional[MemoryPolicy], buffering: int,
) -> Any:
    """Append to a journal, or to a raw stream proven intact; None if the file
    does not exist or is empty (a plain new stream)."""
    from .journal import JournalWriter, is_journal

    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with builtins.open(path, "rb") as probe:
        head = probe.read(64 * 1024)  # the header's frame; more is read if it is longer
        if len(head) >= 16 and head[4:16].find(b"FSJH") >= 0:
            probe.seek(0)
            head = probe.read()
    if is_journal(head):
        return JournalWriter.append(path, checksum=checksum, max_frame_len=max_frame_len)
    # A raw stream: prove it is one before appending; cut only a torn last frame.
    deframer = Deframer("none" if checksum is None else checksum, max_frame_len)
    with builtins.open(path, "r+b") as file:
        report = recover_file(file, deframer)
        if report.end is RecoveryEnd.TORN_TAIL:
            if checksum is None or resolve_checksum(checksum).width == 0 or report.frames == 0:
                raise InvalidFrame(
                    f"cannot append: {path} does not read as a flatstream raw stream with checksum "
                    f"{deframer.checksum.name!r} ({report.frames} frames, then a partial frame at byte "
                    f"{report.last_good_offset}); without a checksum flatstream cannot tell a torn tail "
                    "from a foreign file. The file is untouched"
                )
            file.truncate(report.last_good_offset)
    framer = Framer(deframer.checksum)
    if max_frame_len is not None:
        framer = framer.bounded(max_frame_len)
    out: Any = builtins.open(path, "ab", buffering=WRITE_BUFFER if buffering == -1 else buffering)
    try:
        writer = StreamWriter(out, framer, memory_policy=memory_policy, close_sink=True)
    except BaseException:
        out.close()
        raise
    writer.repaired = report if report.end is RecoveryEnd.TORN_TAIL else None  # type: ignore[attr-defined]
    return writer


def open(  # noqa: A001 - mirrors builtins.open on purpose
    path: Union[str, "os.PathLike[str]"],
    mode: str = "rb",
    *,
    checksum: Any = _UNSET,
    max_frame_len: Optional[int] = None,
    framer: Optional[Framer] = None,
    deframer: Optional[Deframer] = None,
    memory_policy: Optional[MemoryPolicy] = None,
    buffering: int = -1,
    format: Optional[str] = None,  # noqa: A002 - the name is the contract
    schema: Any = None,
    metadata: Optional[Dict[str, str]] = None,
    compression: Optional[str] = None,
    index_every: Optional[int] = None,
    key: Optional[str] = None,
    on_corruption: str = "raise",
    on_skip: Any = None,
) -> Any:
    """Open a stream file: ``"rb"`` gives a :class:`StreamReader`, ``"wb"``,
    ``"ab"`` and ``"xb"`` a :class:`StreamWriter`. Both own the file (closing
    them closes it) and work with ``with``. ``checksum`` and ``max_frame_len``
    build the framer or deframer unless you pass one; ``max_frame_len`` also
    bounds one you pass.

    Journals (``docs/journal-format.md``): ``format="journal"`` with ``"wb"``/
    ``"xb"`` writes one (``checksum`` defaults to ``"xxh3_64"``; ``schema``,
    ``metadata``, ``compression`` (None, ``"zstd"``, ``"lz4"``),
    ``index_every`` (frames per index frame) and ``key`` (a scalar field of
    the root table to index) go into it). ``"rb"`` without ``checksum`` reads a
    journal's header and gives a :class:`~flatstream.journal.JournalReader`; a
    raw stream then needs ``checksum=``. ``"ab"`` continues a journal, or a raw
    stream, after verifying its tail and cutting only a torn last frame
    (``w.repaired``).

    ``on_corruption="skip"`` (``"rb"``: a journal, or a raw stream with a
    checksum) reads through damaged frames: each skipped byte range goes to
    ``on_skip(start, end)`` and reading goes on from the next frame that
    verifies (:mod:`flatstream.io.salvage`)."""
    if mode not in ("rb", "wb", "ab", "xb"):
        raise ValueError(f"mode must be 'rb', 'wb', 'ab' or 'xb', not {mode!r}")
    checksum_given: ChecksumLike = None if checksum is _UNSET else ("none" if checksum is None else checksum)
    if format not in (None, "raw", "journal"):
        raise ValueError(f"format must be 'raw' or 'journal', not {format!r}")
    journal_options = {"schema": schema, "metadata": metadata, "compression": compression,
                       "index_every": index_every, "key": key}
    if format != "journal" and mode in ("wb", "xb"):
        given = [name for name, value in journal_options.items() if value is not None]
        if given:
            raise TypeError(f"{', '.join(given)} need format='journal'")
    # "ab" with format="journal" on a missing or empty file starts a new journal.
    creating = mode in ("wb", "xb") or (
        mode == "ab" and format == "journal" and (not os.path.exists(path) or os.path.getsize(path) == 0)
    )
    if creating and format == "journal":
        if framer is not None or deframer is not None or memory_policy is not None:
            raise TypeError("a journal builds its own framer; pass checksum=")
        from .journal import JournalWriter

        jfile: Any = builtins.open(path, mode, buffering=WRITE_BUFFER if buffering == -1 else buffering)
        try:
            return JournalWriter(
                jfile,
                checksum="xxh3_64" if checksum_given is None else checksum_given,
                schema=schema,
                metadata=metadata,
                compression=compression,
                index_every=index_every or DEFAULT_INDEX_EVERY,
                key=key,
            )
        except BaseException:
            jfile.close()
            raise
    if on_corruption != "raise" and mode != "rb":
        raise TypeError("on_corruption='skip' is for reading: pass mode='rb'")
    if mode == "rb" and format != "raw" and checksum_given is None and framer is None and deframer is None:
        from .journal import JournalReader

        return JournalReader(path, max_frame_len=max_frame_len, on_corruption=on_corruption,
                             on_skip=on_skip)
    if mode == "ab" and format != "raw" and framer is None:
        if any(value is not None for value in journal_options.values()):
            raise TypeError("schema, metadata, compression, index_every and key are set when a journal is created")
        appended = _append(path, checksum_given, max_frame_len, memory_policy, buffering)
        if appended is not None:
            return appended
    checksum = "none" if checksum_given is None else checksum_given
    if mode == "rb":
        if framer is not None:
            raise TypeError("a framer is for writing; pass deframer= to read")
        if deframer is None:
            deframer = Deframer(checksum, max_frame_len)
        elif max_frame_len is not None:
            deframer = deframer.bounded(max_frame_len)  # a safety limit is never dropped
        file: Any = builtins.open(path, "rb", buffering=buffering)
        try:
            return StreamReader(
                file, deframer, memory_policy=memory_policy, close_source=True,
                on_corruption=on_corruption, on_skip=on_skip,
            )
        except BaseException:
            file.close()
            raise
    if deframer is not None:
        raise TypeError("a deframer is for reading; pass framer= to write")
    framer = framer if framer is not None else Framer(checksum)
    if max_frame_len is not None:
        framer = framer.bounded(max_frame_len)
    file = builtins.open(path, mode, buffering=WRITE_BUFFER if buffering == -1 else buffering)
    try:
        return StreamWriter(file, framer, memory_policy=memory_policy, close_sink=True)
    except BaseException:
        file.close()
        raise
