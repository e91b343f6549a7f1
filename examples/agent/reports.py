"""What the capture agent tells its operator and its clients: JSON lines of
counters, and acknowledgements of what is durable.

Both write whole lines with one ``os.write`` on an ``O_APPEND`` descriptor, so
a line is never interleaved with another and is in the file (or pipe) the
moment the call returns: a reader after ``kill -9`` sees every line the agent
wrote, at worst a torn last one.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional

__all__ = ["LatencyHistogram", "LineSink"]


class LatencyHistogram:
    """Latencies in log-spaced buckets (8 per power of two, ~9% wide), from 1 µs
    up: constant memory however long the agent runs, percentiles to within a
    bucket. ``max`` is exact."""

    _PER_OCTAVE = 8
    _BUCKETS = 8 * 28  # 1 µs .. 2**28 µs (~4.5 minutes); slower lands in the last

    def __init__(self) -> None:
        self.counts: List[int] = [0] * self._BUCKETS
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        micros = seconds * 1e6
        k = 0 if micros <= 1.0 else int(math.log2(micros) * self._PER_OCTAVE) + 1
        self.counts[min(k, self._BUCKETS - 1)] += 1
        self.count += 1
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q: float) -> Optional[float]:
        """The upper edge (seconds) of the bucket holding the ``q`` quantile (0..1)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for k, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(float(2.0 ** (k / self._PER_OCTAVE)) / 1e6, self.max)
        return self.max  # pragma: no cover - the counts add up to count

    def summary_ms(self) -> Dict[str, Any]:
        """``{"n", "p50", "p99", "max"}`` in milliseconds (None without samples)."""

        def ms(value: Optional[float]) -> Optional[float]:
            return None if value is None else round(value * 1e3, 3)

        return {"n": self.count, "p50": ms(self.percentile(0.5)), "p99": ms(self.percentile(0.99)),
                "max": ms(self.max if self.count else None)}


class LineSink:
    """JSON lines to a path (appended; its directory made if missing) or to an
    inherited descriptor (2 = stderr)."""

    def __init__(self, target: Any) -> None:
        if isinstance(target, int):
            self._fd, self._owned = target, False
        else:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            self._fd = os.open(os.fspath(target), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._owned = True

    def emit(self, record: Dict[str, Any]) -> None:
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        while data:  # a pipe may take it in parts
            data = data[os.write(self._fd, data):]

    def close(self) -> None:
        if self._owned:
            os.close(self._fd)
            self._owned = False
