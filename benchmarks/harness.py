"""Timing, kernel modes, child processes and the machine description.

Every workload builds a list of :class:`Case` objects over one shared data set
and hands it to :func:`run_cases`, which times them in the same process with
interleaved repeats: repeat ``r`` runs every case once, starting at a rotating
position, so drift on a shared machine (other processes, frequency changes)
spreads over all candidates instead of landing on one. A sample runs the
case's function ``loops`` times with the cyclic garbage collector off (as
``timeit`` does) and records the time per call; ``loops`` is calibrated once
so that a sample lasts at least ``min_time``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from flatstream import _kernels

__all__ = [
    "Settings",
    "Case",
    "Row",
    "Workload",
    "run_cases",
    "unavailable",
    "kernel_mode",
    "MODES",
    "run_child",
    "machine",
    "log",
]

#: Kernel modes a flatstream candidate runs in ("python" = the pure twins).
MODES: Tuple[str, ...] = ("native", "python") if _kernels.native is not None else ("python",)


@dataclass
class Settings:
    """What one run measures and how long it samples."""

    quick: bool = False
    repeats: int = 7
    min_time: float = 0.05
    big_file_mib: int = 1024

    @classmethod
    def for_run(
        cls, quick: bool, repeats: Optional[int], big_file_mib: Optional[int]
    ) -> "Settings":
        settings = cls(quick=quick)
        if quick:
            # A smoke run: fewer repeats than the full run's >= 5.
            settings.repeats, settings.min_time, settings.big_file_mib = 3, 0.005, 32
        if repeats is not None:
            settings.repeats = repeats
        if big_file_mib is not None:
            settings.big_file_mib = big_file_mib
        return settings

    def size(self, full: int, quick: int) -> int:
        """A workload size: ``full`` in the full run, ``quick`` with --quick."""
        return quick if self.quick else full


@dataclass
class Case:
    """One candidate doing one figure of one workload.

    ``fn()`` does the whole workload once (``messages`` messages carrying
    ``nbytes`` payload bytes). ``mode`` names the flatstream kernels to run
    under ("native" or "python"), ``None`` for peers.
    """

    workload: str
    candidate: str
    figure: str
    fn: Callable[[], Any]
    messages: int
    nbytes: int
    mode: Optional[str] = None
    note: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    """A measured (or unavailable) case, as stored in the results JSON."""

    workload: str
    candidate: str
    figure: str
    messages: int
    nbytes: int
    mode: Optional[str] = None
    note: str = ""
    median_s: Optional[float] = None
    min_s: Optional[float] = None
    max_s: Optional[float] = None
    samples: List[float] = field(default_factory=list)
    loops: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return self.median_s is not None

    @property
    def rate(self) -> Optional[float]:
        """Messages per second at the median."""
        return self.messages / self.median_s if self.median_s else None

    @property
    def gbps(self) -> Optional[float]:
        """Payload gigabytes (1e9) per second at the median."""
        return self.nbytes / self.median_s / 1e9 if self.median_s else None

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Row":
        return cls(**data)


@dataclass
class Workload:
    """A set of cases over one data set, run in its own child process.

    ``key`` names it on the command line; ``family`` groups it in the report;
    ``run(settings)`` builds the data and the cases and returns the rows.
    """

    key: str
    family: str
    title: str
    run: Callable[["Settings"], List["Row"]]


def unavailable(workload: str, candidate: str, figure: str, why: str) -> Row:
    """A row saying a candidate could not be measured, and why."""
    return Row(workload, candidate, figure, 0, 0, note=why)


def log(message: str) -> None:
    """Progress on stderr (stdout of a child carries its results)."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def kernel_mode(mode: Optional[str]) -> Iterator[None]:
    """Run flatstream on the native kernels or on their pure-Python twins
    (``_kernels.selected``, the switch the test suite makes), in this process."""
    if mode is None or mode == _kernels.IMPLEMENTATION:
        yield
        return
    with _kernels.selected(mode):
        yield


def _sample(fn: Callable[[], Any], loops: int) -> float:
    """Seconds per call of ``fn`` over ``loops`` calls, GC off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        return (time.perf_counter() - start) / loops
    finally:
        if enabled:
            gc.enable()


def run_cases(cases: Sequence[Case], settings: Settings) -> List[Row]:
    """Time every case: calibrate each, then ``settings.repeats`` interleaved rounds."""
    loops: List[int] = []
    for case in cases:
        with kernel_mode(case.mode):
            first = _sample(case.fn, 1)  # warm-up: imports, caches, first allocations
            once = min(first, _sample(case.fn, 1))
        loops.append(max(1, math.ceil(settings.min_time / max(once, 1e-9))))
    gc.collect()
    samples: List[List[float]] = [[] for _ in cases]
    for r in range(settings.repeats):
        start = r % len(cases) if cases else 0
        for i in list(range(start, len(cases))) + list(range(start)):
            case = cases[i]
            with kernel_mode(case.mode):
                samples[i].append(_sample(case.fn, loops[i]))
    rows = []
    for case, times, n in zip(cases, samples, loops):
        row = Row(
            case.workload,
            case.candidate,
            case.figure,
            case.messages,
            case.nbytes,
            mode=case.mode,
            note=case.note,
            median_s=statistics.median(times),
            min_s=min(times),
            max_s=max(times),
            samples=times,
            loops=n,
            extra=dict(case.extra),
        )
        rate = f"{row.rate / 1e6:10.3f} M msg/s {row.gbps or 0:8.3f} GB/s" if row.rate else ""
        log(f"  {case.candidate:<48} {case.figure:<14} {rate}")
        rows.append(row)
    return rows


def run_child(
    args: Sequence[str], env: Optional[Dict[str, str]] = None, stdin: Optional[str] = None
) -> Tuple[str, int]:
    """Run ``python args...`` as a child; returns (its stdout, its peak RSS in KiB).

    The peak comes from the child's own rusage (``wait4``: the ``ru_maxrss``
    that ``getrusage(RUSAGE_CHILDREN)`` would fold into a maximum over all
    children), so each child is measured alone. stderr passes through.
    """
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed with exit code {proc.returncode}")
    return out, int(usage.ru_maxrss)


def json_tail(out: str) -> Any:
    """The JSON document a child printed last on its stdout."""
    return json.loads(out.strip().splitlines()[-1])


# -- the machine -----------------------------------------------------------

_PACKAGES = (
    "flatstream",
    "flatbuffers",
    "flatc",
    "xxhash",
    "crc32c",
    "numpy",
    "msgpack",
    "orjson",
    "protobuf",
    "grpcio-tools",
    "pyarrow",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def machine() -> Dict[str, Any]:
    """What the numbers were measured on."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        from google.protobuf.internal import api_implementation

        versions["protobuf"] += f" ({api_implementation.Type()} backend)"
    except ImportError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 1
    return {
        "nproc": affinity,
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "kernel_mode": _kernels.IMPLEMENTATION,
        "kernel_modes_measured": list(MODES),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "git": _git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
