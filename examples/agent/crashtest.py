"""The agent's kill -9 test: run it, SIGKILL it at a random moment, start it
again, over and over; every frame it acknowledged must still be there.

    python -m examples.agent.crashtest --runs 100            # per fsync policy
    python -m examples.agent.crashtest --runs 20 --policy frame --json

Each policy gets its own directory. A run starts the agent (a real
subprocess; sensors at ``--rate``, small segments so kills land in rotations
too) and kills it after a random delay, counted from its ``started`` line in
three runs of four (the kill lands while it samples, maybe in a rotation)
and from its spawn otherwise (maybe in its start-up, or in its recovery of
the previous kill). After the
last run, one more start stops cleanly (SIGTERM). Checked:

* each start's recovery report (``started`` line) finds the capture ending at
  or after every seq acknowledged so far: no acknowledged frame was cut;
* at the end, every segment is a cleanly closed journal that reads and
  verifies, the frames' ``seq`` are exactly 0..N-1 (none lost in the middle,
  none twice), N covers the last acknowledgement, and appending to the last
  segment then reading it back works.

The suite's fast version is ``tests/test_agent.py``; it calls :func:`crash_runs`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set

import click

if __package__ in (None, ""):  # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import flatstream as fs  # noqa: E402
from examples.agent.agent import SensorReading  # noqa: E402
from flatstream.journal import JournalReader, JournalState  # noqa: E402
from flatstream.rotating import list_segments  # noqa: E402

__all__ = ["CrashResult", "crash_runs", "check_capture", "agent_command", "agent_env", "read_lines", "POLICIES"]

POLICIES = ("none", "interval:20", "frame")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrashResult:
    policy: str
    runs: int = 0
    started: int = 0  # runs that got as far as sampling before the kill
    torn_tails_cut: int = 0  # recoveries that cut a torn last frame
    open_segments_closed: int = 0  # recoveries that closed a segment without a footer
    empty_segments_removed: int = 0
    cut_bytes: int = 0
    acknowledged: int = 0  # frames acknowledged durable (the highest seq + 1)
    frames: int = 0  # frames on disk at the end
    segments: int = 0
    violations: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> Dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def agent_command(out: Path, *options: str) -> List[str]:
    return [sys.executable, "-m", "examples.agent", "--out", str(out), *options]


def read_lines(path: Path) -> List[Dict[str, Any]]:
    """The JSON lines of ``path``; a torn last line (killed mid-write) is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def agent_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def crash_runs(
    directory: Path, policy: str, runs: int, *, seed: int = 0, rate: float = 20_000,
    max_delay: float = 0.7, rotate_bytes: int = 100_000,
) -> CrashResult:
    """``runs`` start-and-SIGKILL cycles of the agent in ``directory``, then a
    clean stop, then the checks of the module docstring."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out, acks, stats = directory / "segments", directory / "acks.jsonl", directory / "stats.jsonl"
    options = ["--fsync", policy, "--rate", str(rate), "--rotate-bytes", str(rotate_bytes),
               "--ack-file", str(acks), "--stats-file", str(stats), "--stats-interval", "0.1"]
    result = CrashResult(policy)
    for _ in range(runs):
        child = subprocess.Popen(agent_command(out, *options), env=agent_env(), cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if rng.random() >= 0.25:  # mostly while sampling; else also in start-up and recovery
            _wait_for_event(stats, "started", child)
        time.sleep(rng.uniform(0.0, max_delay))
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=60)
        if child.returncode != -signal.SIGKILL:
            result.violations.append(f"run {result.runs}: exited {child.returncode} before the kill: "
                                     f"{err.decode(errors='replace')[-500:]}")
        result.runs += 1
    final = subprocess.Popen(agent_command(out, *options), env=agent_env(), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_event(stats, "started", final)
    final.send_signal(signal.SIGTERM)
    _, err = final.communicate(timeout=60)
    if final.returncode != 0:
        result.violations.append(f"the clean run exited {final.returncode}: {err.decode(errors='replace')[-500:]}")

    # Each start's recovery against what the runs before it acknowledged.
    ack_lines = read_lines(acks)
    starts = [r for r in read_lines(stats) if r.get("event") == "started"]
    result.started = sum(1 for r in starts if r["pid"] != final.pid)
    earlier: Set[int] = set()
    for record in starts:
        recovered = record["recovered"]
        result.empty_segments_removed += len(recovered["removed"])
        if recovered["state"] == "torn":
            result.torn_tails_cut += 1
        elif recovered["state"] == "open":
            result.open_segments_closed += 1
        result.cut_bytes += recovered["cut_bytes"]
        acked = max((int(a["last_seq"]) for a in ack_lines if a["pid"] in earlier), default=-1)
        last_on_disk = int(record["first_seq"]) - 1  # after this start's recovery
        if last_on_disk < acked:
            result.violations.append(f"the start of pid {record['pid']} found the capture ending at seq "
                                     f"{last_on_disk}, but seq {acked} had been acknowledged")
        earlier.add(record["pid"])
    result.acknowledged = max((int(a["last_seq"]) for a in ack_lines), default=-1) + 1
    check_capture(out, result)
    return result


def _wait_for_event(stats: Path, event: str, child: "subprocess.Popen[bytes]") -> None:
    """Until ``child`` has written ``event`` (or exited)."""
    deadline = time.monotonic() + 60  # a hang guard, not a measurement
    while not any(r.get("event") == event and r.get("pid") == child.pid for r in read_lines(stats)):
        if child.poll() is not None or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def check_capture(out: Path, result: CrashResult) -> None:
    paths = list_segments(out, "capture")
    result.segments = len(paths)
    for path in paths:
        with JournalReader(path) as reader:
            if reader.state is not JournalState.CLEAN:
                result.violations.append(f"{os.path.basename(path)} is {reader.state.value}, not clean")
    codec = fs.codec(SensorReading)
    try:
        seqs = [r.seq for r in fs.open_segments(out, checksum=None).typed_messages(codec)]
    except (fs.FlatstreamError, ValueError, EOFError) as error:
        result.violations.append(f"the segments do not read: {error}")
        return
    result.frames = len(seqs)
    if seqs != list(range(len(seqs))):
        gaps = next(i for i, s in enumerate(seqs) if s != i)
        result.violations.append(f"seq is not 0..N-1: frame {gaps} carries seq {seqs[gaps]}")
    if result.frames < result.acknowledged:
        result.violations.append(f"{result.frames} frames on disk, {result.acknowledged} acknowledged")
    if paths:  # appending then reading works
        extra = codec.encode(SensorReading(len(seqs), 0, 0, 0.0))
        with fs.open(paths[-1], "ab") as writer:
            writer.write_payload(extra)
        with fs.open(paths[-1], "rb") as reader:
            if reader.state is not JournalState.CLEAN or bytes(reader[len(reader) - 1]) != bytes(extra):
                result.violations.append("appending to the last segment did not read back")


@click.command()
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Kills per fsync policy.")
@click.option("--policy", "policies", multiple=True, default=POLICIES, show_default=True)
@click.option("--rate", type=float, default=20_000, show_default=True)
@click.option("--max-delay", type=float, default=0.7, show_default=True,
              help="Each kill comes after a uniform random delay up to this (seconds).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the captures go (default: a temporary directory, removed after).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per policy.")
def main(runs: int, policies: Sequence[str], rate: float, max_delay: float, seed: int,
         directory: Optional[Path], as_json: bool) -> None:
    """SIGKILL the capture agent at random points; check every acknowledged frame survives."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="agent-crashtest-") as scratch:
        base = directory if directory is not None else Path(scratch)
        failed = False
        for k, policy in enumerate(policies):
            started = time.monotonic()
            result = crash_runs(base / policy.replace(":", "-"), policy, runs, seed=seed + k,
                                rate=rate, max_delay=max_delay)
            failed |= not result.ok
            if as_json:
                click.echo(json.dumps({**result.to_json(), "seconds": round(time.monotonic() - started, 1)}))
                continue
            click.echo(
                f"{policy:>12}: {result.runs} kills ({result.started} while sampling), "
                f"{result.torn_tails_cut} torn tails cut ({result.cut_bytes} bytes), "
                f"{result.open_segments_closed} open segments closed, "
                f"{result.empty_segments_removed} empty removed; {result.acknowledged} frames acknowledged, "
                f"{result.frames} on disk in {result.segments} clean segments; "
                f"{'OK' if result.ok else 'VIOLATIONS'} ({time.monotonic() - started:.1f} s)"
            )
            for violation in result.violations:
                click.echo(f"    {violation}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
