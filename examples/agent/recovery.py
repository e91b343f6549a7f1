"""What the capture agent does before it writes: make the segments it left
behind whole again, and find where the capture goes on.

Only the last segment can be unfinished: the agent closes a segment (index,
footer, flush, and fsync under an fsync policy) before it creates the next.
So after a crash:

* a last segment of 0 bytes was created but never written to (the header
  waits in the write buffer until the first flush); it holds nothing and is
  removed;
* a last segment without a footer is continued with ``fs.open(path, "ab")``,
  which verifies it, cuts only a torn last frame (and reports what it cut),
  and closed at once, which writes its index and footer;
* anything else (damage in the middle, a file that is not a journal) is
  refused with the error: nothing that rewrites a file runs on a guess
  (``flatstream salvage`` is the tool for it).

The capture then goes on in a new segment, numbered after the last.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import flatstream as fs
from flatstream.journal import JournalReader, JournalState
from flatstream.rotating import list_segments

__all__ = ["Recovered", "recover"]


@dataclass
class Recovered:
    """What :func:`recover` found and did."""

    segments: int = 0  # segments in the directory after recovery
    removed: List[str] = field(default_factory=list)  # empty segments deleted
    repaired: Optional[str] = None  # the segment that was closed (footer written)
    state: Optional[str] = None  # its state before: "open" (no footer) or "torn"
    cut_bytes: int = 0  # bytes of a torn last frame cut from it
    kept_frames: int = 0  # user frames it holds
    last_seq: Optional[int] = None  # the seq field of the capture's last frame

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


def recover(directory: Any, prefix: str, codec: Any) -> Recovered:
    """Repair what a crash left in ``directory`` (see the module docstring);
    ``codec`` decodes a frame to read its ``seq``."""
    report = Recovered()
    segments = list_segments(directory, prefix)
    while segments and os.path.getsize(segments[-1]) == 0:
        os.remove(segments[-1])
        report.removed.append(os.path.basename(segments.pop()))
    report.segments = len(segments)
    if not segments:
        return report
    last = segments[-1]
    with JournalReader(last) as reader:
        state = reader.state  # raises on damage other than a torn tail
    if state is not JournalState.CLEAN:
        size = os.path.getsize(last)
        with fs.open(last, "ab") as writer:  # closing writes the index and the footer
            repaired = writer.repaired
            report.kept_frames = writer.frames_written
        report.repaired = os.path.basename(last)
        report.state = state.value
        report.cut_bytes = size - repaired.last_good_offset if repaired is not None else 0
    # The last frame of the capture: segments may hold none (header only).
    for path in reversed(segments):
        with JournalReader(path) as reader:
            if len(reader):
                report.last_seq = int(codec.decode(reader[len(reader) - 1]).seq)
                break
    return report
