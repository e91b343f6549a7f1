"""``flatstream.open``: a file path to a reader or writer in one call."""

from __future__ import annotations

import builtins
import os
from typing import Any, Optional, Union

from .wire.checksums import ChecksumLike
from .wire.framing import Deframer, Framer
from .io.memory import MemoryPolicy
from .io.reader import StreamReader
from .io.writer import StreamWriter

__all__ = ["open"]

#: The write buffer of files opened for writing: large enough that small frames
#: cost a memcpy, not a syscall.
WRITE_BUFFER = 1 << 20


def open(  # noqa: A001 - mirrors builtins.open on purpose
    path: Union[str, "os.PathLike[str]"],
    mode: str = "rb",
    *,
    checksum: ChecksumLike = "none",
    max_frame_len: Optional[int] = None,
    framer: Optional[Framer] = None,
    deframer: Optional[Deframer] = None,
    memory_policy: Optional[MemoryPolicy] = None,
    buffering: int = -1,
) -> Any:
    """Open a stream file: ``"rb"`` gives a :class:`StreamReader`, ``"wb"``,
    ``"ab"`` and ``"xb"`` a :class:`StreamWriter`. Both own the file (closing
    them closes it) and work with ``with``. ``checksum`` and ``max_frame_len``
    build the framer or deframer unless you pass one; ``max_frame_len`` also
    bounds one you pass."""
    if mode not in ("rb", "wb", "ab", "xb"):
        raise ValueError(f"mode must be 'rb', 'wb', 'ab' or 'xb', not {mode!r}")
    if mode == "rb":
        if framer is not None:
            raise TypeError("a framer is for writing; pass deframer= to read")
        if deframer is None:
            deframer = Deframer(checksum, max_frame_len)
        elif max_frame_len is not None:
            deframer = deframer.bounded(max_frame_len)  # a safety limit is never dropped
        file: Any = builtins.open(path, "rb", buffering=buffering)
        try:
            return StreamReader(file, deframer, memory_policy=memory_policy, close_source=True)
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
