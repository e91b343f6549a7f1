"""The differential check of our verifier against the official C++ one: shared
by tests/test_verifier_diff.py (a moderate count) and the long campaign
``python -m fuzz.verifier_diff`` (see FUZZING.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, List, Tuple

from conformance_cases import Case, flatc_binary
from cpp_verifier import CppVerifier
from mutations import mutations

import flatstream as fs


@dataclass
class Disagreements:
    """Buffers where the verdicts differ: ``looser`` (we accept, C++
    refuses), ``stricter`` (we refuse, C++ accepts), and ``decoded`` (C++
    refuses, yet ``decode(verify=True)`` returned an object)."""

    checked: int = 0
    looser: List[bytes] = field(default_factory=list)
    stricter: List[Tuple[bytes, str]] = field(default_factory=list)
    decoded: List[bytes] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.looser) + len(self.stricter) + len(self.decoded)


def seeds(case: Case, workdir: Path) -> List[bytes]:
    """The sample buffers of a case: flatc's build of each JSON sample and
    our encoder's build of the same object."""
    codec = fs.load_schema(case.fbs, include=case.include).codec()
    out = []
    for sample in case.samples:
        official = flatc_binary(case, sample, workdir)
        out += [official, codec.encode(codec.decode(official))]
    return out


def compare(codec: Any, oracle: CppVerifier, buffers: Iterable[bytes], found: Disagreements) -> None:
    """Run every buffer through C++ and ``codec.verify``; record disagreements."""
    batch = list(buffers)
    for data, accepted in zip(batch, oracle.verdicts(batch)):
        found.checked += 1
        try:
            codec.verify(data)
        except fs.VerificationError as refusal:
            if accepted:
                found.stricter.append((data, refusal.reason))
            continue
        if not accepted:
            found.looser.append(data)
            try:
                codec.decode(data, verify=True)
            except (fs.VerificationError, fs.DecodeError):
                pass
            else:
                found.decoded.append(data)


def campaign(codec: Any, oracle: CppVerifier, seed_buffers: List[bytes], count: int, seed: int) -> Disagreements:
    """``count`` mutations of each seed buffer compared, in batches."""
    found = Disagreements()
    for index, payload in enumerate(seed_buffers):
        batch: List[bytes] = []
        for data in mutations(payload, count, seed + index):
            batch.append(data)
            if len(batch) >= 5000:
                compare(codec, oracle, batch, found)
                batch = []
        compare(codec, oracle, batch, found)
    return found
