"""What a pass over a whole stream found: plain data, shared by recovery,
scanning and the readers above them (so none of them imports another for it)."""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["RecoveryEnd", "RecoveryReport"]


class RecoveryEnd(enum.Enum):
    #: The stream ends on a frame boundary.
    CLEAN_EOF = "clean_eof"
    #: The stream ends inside a frame; truncating to ``last_good_offset`` is safe.
    TORN_TAIL = "torn_tail"


class RecoveryReport(NamedTuple):
    #: Complete, valid frames from the start.
    frames: int
    #: Offset just past the last good frame.
    last_good_offset: int
    end: RecoveryEnd
