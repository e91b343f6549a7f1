"""The capture agent (examples/agent) as real subprocesses: SIGKILL at random
points, clean stops on SIGINT/SIGTERM, a real full disk (a 512 KiB tmpfs in a
mount namespace), and what its start-up repairs or refuses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

import flatstream as fs
from flatstream.journal import JournalReader, JournalState
from flatstream.rotating import list_segments

ROOT = Path(__file__).resolve().parents[1]
if not (ROOT / "examples" / "agent").is_dir():  # pragma: no cover - run outside the tree
    pytest.skip("examples/agent is not here", allow_module_level=True)
sys.path.insert(0, str(ROOT))

from examples.agent import crashtest  # noqa: E402
from examples.agent.agent import FsyncPolicy, SensorReading  # noqa: E402
from examples.agent.recovery import recover  # noqa: E402
from examples.agent.reports import LatencyHistogram  # noqa: E402



@pytest.fixture(autouse=True)
def kernel_mode() -> Any:
    """Once, not once per kernel mode (conftest's fixture of the same name):
    the agent is a subprocess that picks its own kernels."""
    yield "default"


CODEC = fs.codec(SensorReading)


def start_agent(out: Path, tmp: Path, *options: str) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        crashtest.agent_command(out, "--stats-file", str(tmp / "stats.jsonl"),
                                "--ack-file", str(tmp / "acks.jsonl"), "--stats-interval", "0.05",
                                *options),
        env=crashtest.agent_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def events(tmp: Path, name: str) -> List[Dict[str, Any]]:
    return [r for r in crashtest.read_lines(tmp / "stats.jsonl") if r.get("event") == name]


def wait_for(condition: Any, child: "subprocess.Popen[bytes]") -> None:
    """Poll until ``condition()``; a hang guard, not a timing assertion."""
    import time

    deadline = time.monotonic() + 60
    while not condition():
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else child.returncode
        assert time.monotonic() < deadline, "the agent never got there"
        time.sleep(0.01)


def seqs_on_disk(out: Path) -> List[int]:
    return [r.seq for r in fs.open_segments(out, checksum=None).typed_messages(CODEC)]


# -- crash test (the fast version of python -m examples.agent.crashtest) -------


@pytest.mark.parametrize("policy", crashtest.POLICIES)
def test_every_acknowledged_frame_survives_sigkill(tmp_path: Path, policy: str) -> None:
    result = crashtest.crash_runs(tmp_path, policy, runs=5, seed=crashtest.POLICIES.index(policy))
    assert result.violations == []
    assert result.runs == 5 and result.segments >= 2
    assert result.started >= 1  # at least one kill landed while it was sampling
    assert result.frames >= result.acknowledged > 0


def test_the_crash_check_catches_a_lost_acknowledged_frame(tmp_path: Path) -> None:
    """The check itself can fail: a capture missing a frame in the middle."""
    out = tmp_path / "segments"
    with fs.RotatingWriter(out, "capture", format="journal", schema=SensorReading) as w:
        for seq in (0, 1, 2, 4):
            w.write(SensorReading(seq, 0, 0, 0.0))
    result = crashtest.CrashResult("none", acknowledged=5)
    crashtest.check_capture(out, result)
    assert any("frame 3 carries seq 4" in v for v in result.violations)
    assert any("4 frames on disk, 5 acknowledged" in v for v in result.violations)


# -- clean shutdown --------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_cleanly_and_loses_nothing_accepted(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "segments"
    child = start_agent(out, tmp_path, "--rate", "20000", "--rotate-bytes", "200000", "--fsync", "none")
    wait_for(lambda: any(r["written"] > 5000 for r in events(tmp_path, "stats")), child)
    child.send_signal(signum)
    assert child.wait(60) == 0
    [stopped] = events(tmp_path, "stopped")
    assert stopped["reason"] == signal.Signals(signum).name and stopped["queued"] == 0
    paths = list_segments(out, "capture")
    assert len(paths) == stopped["segments"] >= 2
    for path in paths:  # every segment ends with its footer
        with JournalReader(path) as reader:
            assert reader.state is JournalState.CLEAN
    assert seqs_on_disk(out) == list(range(stopped["written"]))  # everything accepted, once
    acks = crashtest.read_lines(tmp_path / "acks.jsonl")
    assert acks[-1]["last_seq"] == stopped["written"] - 1
    # a restart finds nothing to repair and continues the numbering
    again = start_agent(out, tmp_path, "--rate", "20000", "--duration", "0.2")
    assert again.wait(60) == 0
    started = events(tmp_path, "started")[-1]
    assert started["recovered"]["repaired"] is None and started["first_seq"] == stopped["written"]
    assert seqs_on_disk(out) == list(range(events(tmp_path, "stopped")[-1]["first_seq"]
                                           + events(tmp_path, "stopped")[-1]["written"]))


# -- a full disk -------------------------------------------------------------------


def _can_mount_tmpfs(tmp: Path) -> bool:
    probe = tmp / "probe"
    probe.mkdir()
    done = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"],
                          capture_output=True)
    return done.returncode == 0


def test_a_full_disk_is_reported_and_what_was_written_recovers(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or not _can_mount_tmpfs(tmp_path):
        pytest.skip("no unprivileged mount namespace here to mount a small tmpfs in")
    disk, copy = tmp_path / "disk", tmp_path / "copy"
    disk.mkdir()
    agent = " ".join(crashtest.agent_command(
        disk / "segments", "--rate", "20000", "--duration", "60", "--fsync", "interval:20",
        "--rotate-bytes", "200000", "--stats-file", str(tmp_path / "stats.jsonl"),
        "--ack-file", str(tmp_path / "acks.jsonl"),
    ))
    # The tmpfs lives as long as the namespace: copy the segments out before it goes.
    script = (f"mount -t tmpfs -o size=512k tmpfs {disk} && {{ {agent}; echo $? > {tmp_path}/status; "
              f"cp -a {disk}/segments {copy}; }}")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=crashtest.agent_env(), cwd=ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    # It stopped by itself on ENOSPC (status 74), long before its 60 s: no retry loop.
    assert (tmp_path / "status").read_text().strip() == "74"
    [error] = events(tmp_path, "error")
    assert error["errno"] == 28 and "No space left" in error["error"]
    [stopped] = events(tmp_path, "stopped")
    assert stopped["reason"] == "error" and stopped["status"] == 74
    acked = max(a["last_seq"] for a in crashtest.read_lines(tmp_path / "acks.jsonl"))
    # With room again, the next start repairs the last segment and goes on.
    child = start_agent(copy, tmp_path, "--rate", "20000", "--duration", "0.2")
    assert child.wait(60) == 0
    recovered = events(tmp_path, "started")[-1]["recovered"]
    assert recovered["state"] in ("torn", "open") and recovered["last_seq"] >= acked
    result = crashtest.CrashResult("interval:20", acknowledged=acked + 1)
    crashtest.check_capture(copy, result)
    assert result.violations == []


# -- what start-up repairs, and what it refuses ------------------------------------


def test_recovery_removes_an_empty_segment_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    with fs.RotatingWriter(tmp_path, "capture", format="journal", schema=SensorReading) as w:
        for seq in range(100):
            w.write(SensorReading(seq, seq % 4, seq, 1.5))
        w.rotate()
        for seq in range(100, 150):
            w.write(SensorReading(seq, seq % 4, seq, 1.5))
    torn = w.segments[-1]
    with JournalReader(torn) as reader:
        last_payload = int(reader.layout().user_offsets[-1])
    os.truncate(torn, last_payload + 5)  # a crash: half the last frame, no index, no footer
    (tmp_path / "capture-0000000099-20250101T000000Z.fs").touch()  # created, never written
    report = recover(tmp_path, "capture", CODEC)
    assert report.removed == ["capture-0000000099-20250101T000000Z.fs"]
    assert report.state == "torn" and report.cut_bytes > 0 and report.repaired == os.path.basename(torn)
    assert (report.kept_frames, report.last_seq) == (49, 148)
    with JournalReader(torn) as reader:
        assert reader.state is JournalState.CLEAN
    assert seqs_on_disk(tmp_path) == list(range(report.last_seq + 1))


def test_a_damaged_segment_is_refused_and_left_untouched(tmp_path: Path) -> None:
    out = tmp_path / "segments"
    with fs.RotatingWriter(out, "capture", format="journal", schema=SensorReading,
                           checksum="crc32") as w:
        for seq in range(200):
            w.write(SensorReading(seq, 0, seq, 0.0))
    path = Path(w.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # corruption in the middle, not a torn tail
    path.write_bytes(bytes(data))
    child = start_agent(out, tmp_path, "--duration", "0.1")
    assert child.wait(60) == 1
    [refused] = events(tmp_path, "refused")
    assert "salvage" in refused["hint"] and refused["error"]
    assert path.read_bytes() == bytes(data)
    assert list_segments(out, "capture") == [str(path)]  # no new segment either


# -- the small parts ---------------------------------------------------------------


def test_fsync_policies_parse_and_map_to_the_writer() -> None:
    assert FsyncPolicy.parse("none").writer_options(50) == {"fsync": False, "flush_interval": 0.05}
    assert FsyncPolicy.parse("interval:20").writer_options(50) == {"fsync": True, "flush_interval": 0.02}
    assert FsyncPolicy.parse("frame").writer_options(50) == {"fsync": True, "flush_every": 1}
    assert str(FsyncPolicy.parse("interval:2.5")) == "interval:2.5"
    for bad in ("interval", "interval:0", "interval:x", "always", "interval:nan"):
        with pytest.raises(ValueError, match="fsync policy"):
            FsyncPolicy.parse(bad)


def test_a_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(crashtest.agent_command(tmp_path, "--fsync", "sometimes"),
                          env=crashtest.agent_env(), cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 2 and b"fsync policy" in done.stderr


def test_latency_histogram_percentiles_are_within_a_bucket() -> None:
    h = LatencyHistogram()
    assert h.summary_ms() == {"n": 0, "p50": None, "p99": None, "max": None}
    for micros in range(1, 1001):
        h.add(micros / 1e6)
    p50, p99 = h.percentile(0.5), h.percentile(0.99)
    assert p50 is not None and p99 is not None
    assert 500e-6 <= p50 <= 500e-6 * 1.1 and 990e-6 <= p99 <= 1000e-6
    assert h.max == 1e-3 and h.summary_ms()["n"] == 1000
