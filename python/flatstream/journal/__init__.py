"""Journals: flatstream's self-describing, indexed, appendable container.

An uncompressed journal is a valid raw stream (the Rust crate reads it); its
metadata frames (header, index, footer, compressed blocks) carry FlatBuffers
with reserved ``FSJ?`` file identifiers. ``docs/journal-format.md`` is the
normative spec. Open journals with ``fs.open(path, "wb", format="journal")``
and ``fs.open(path, "rb")``.
"""

from __future__ import annotations

from .detect import NotAJournal, is_journal, sniff
from .reader import JournalHeader, JournalReader, JournalState, inspect
from .writer import JournalWriter

__all__ = [
    "JournalHeader",
    "JournalReader",
    "JournalState",
    "JournalWriter",
    "NotAJournal",
    "inspect",
    "is_journal",
    "sniff",
]
