"""The operator commands (cat, head, tail, tail -f, stats, convert) and the
--json / exit-code contract of every subcommand, run as a user would: through
click's runner and as real `python -m flatstream` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
from click.testing import CliRunner

import flatstream as fs
from flatstream.cli import main
from flatstream.schema import find_flatc
from flatstream.schema.json_values import to_json

SCHEMA = """
namespace demo;
enum Color : ubyte { Red = 0, Green = 1, Blue = 2 }
enum Flags : ubyte (bit_flags) { A, B, C }
struct Vec3 { x: float; y: float; z: float; }
table Meta { name: string; tags: [string]; }
table Ping { seq: uint; }
union Body { Meta, Ping }
table Event {
  id: ulong;
  ts: ulong;
  color: Color = Green;
  flags: Flags;
  pos: Vec3;
  meta: Meta;
  values: [double];
  raw: [ubyte];
  body: Body;
  opt: int = null;
  val: float;
}
root_type Event;
"""
N = 60


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if find_flatc() is None:
        pytest.skip("flatc is not installed")
    path = tmp_path_factory.mktemp("schema") / "event.fbs"
    path.write_text(SCHEMA)
    return path


@pytest.fixture(scope="module")
def schema(schema_file: Path) -> Any:
    return fs.load_schema(schema_file)


def event(schema: Any, i: int) -> Any:
    T = schema.python_type("demo.Event")
    Meta, Vec3, Ping = (schema.python_type(n) for n in ("demo.Meta", "demo.Vec3", "demo.Ping"))
    return T(id=i, ts=1_000_000_000 + i * 1_000_000, color=i % 3, flags=i % 8,
             pos=Vec3(i, 2, 3), meta=Meta(name=f"n{i}", tags=["a"] * (i % 3)),
             values=[i / 2] * (i % 4), raw=bytes([i % 256]),
             body=Ping(seq=i) if i % 2 else Meta(name="m"), opt=i if i % 5 == 0 else None,
             val=float(i))


def payloads(schema: Any) -> List[bytes]:
    codec = schema.codec("demo.Event")
    return [codec.encode(event(schema, i)) for i in range(N)]


def write_journal(path: Path, schema: Any, **options: Any) -> List[bytes]:
    items = payloads(schema)
    with fs.open(path, "wb", format="journal", schema=schema.codec("demo.Event"), **options) as w:
        for p in items:
            w.write_payload(p)
    return items


def write_raw(path: Path, items: List[bytes], checksum: str = "crc32") -> None:
    with fs.open(path, "wb", checksum=checksum) as w:
        for p in items:
            w.write_payload(p)


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(*args: Any) -> Ran:
    """The command through click's runner, stdout and stderr apart (click 8.0/8.1
    need mix_stderr=False for that; 8.2 keeps them apart always)."""
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def expected_lines(schema: Any, items: List[bytes]) -> List[Dict[str, Any]]:
    codec = schema.codec("demo.Event")
    return [to_json(schema, codec.decode(p)) for p in items]


def lines_of(output: str) -> List[Any]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# -- cat / head / tail ----------------------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_cat_decodes_a_journal_with_its_embedded_schema(tmp_path: Path, schema: Any,
                                                       compression: Any) -> None:
    path = tmp_path / "j.fs"
    items = write_journal(path, schema, compression=compression)
    result = run("cat", path)
    assert result.exit_code == 0, result.output
    got = lines_of(result.stdout)
    assert got == expected_lines(schema, items)
    # flatc --json conventions: enums by name, flags as names, unions as two keys
    assert got[2]["color"] == "Blue" and got[5]["flags"] == "A C"
    assert got[1]["body_type"] == "Ping" and got[1]["body"] == {"seq": 1}
    assert got[0]["raw"] == [0] and "opt" not in got[1] and got[5]["opt"] == 5


def test_cat_with_offsets_points_at_each_frame(tmp_path: Path, schema: Any) -> None:
    path = tmp_path / "j.fs"
    items = write_journal(path, schema)
    got = lines_of(run("cat", path, "--with-offsets").stdout)
    index = fs.scan(path)  # the journal's user frames
    assert [g["frame"] for g in got] == list(range(N))
    assert [g["offset"] for g in got] == index.offsets.tolist()
    data = path.read_bytes()
    hl = index.header_len
    for g, p in zip(got, items):
        assert data[g["offset"] + hl:g["offset"] + hl + len(p)] == p


def test_cat_raw_with_a_schema_file_and_hex(tmp_path: Path, schema: Any, schema_file: Path) -> None:
    path = tmp_path / "r.fs"
    items = payloads(schema)
    write_raw(path, items)
    result = run("cat", path, "-c", "crc32", "--schema", schema_file, "--root-type", "Event")
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout) == expected_lines(schema, items)
    hexed = run("cat", path, "-c", "crc32", "--hex")
    assert hexed.stdout.split() == [p.hex() for p in items]
    with_offsets = run("head", path, "-c", "crc32", "--hex", "--with-offsets", "-n", "2")
    first, second = with_offsets.stdout.splitlines()
    assert first == f"0 0 {items[0].hex()}"
    assert second == f"1 {4 + 4 + len(items[0])} {items[1].hex()}"


def test_cat_without_a_schema_says_what_to_pass(tmp_path: Path, schema: Any) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, payloads(schema))
    result = run("cat", path, "-c", "crc32")
    assert result.exit_code == 3
    assert result.stderr.strip().startswith("error:") and "--schema" in result.stderr
    assert "Traceback" not in result.output


def test_cat_a_journal_with_the_wrong_checksum_is_a_usage_error(tmp_path: Path, schema: Any) -> None:
    path = tmp_path / "j.fs"
    write_journal(path, schema)
    result = run("cat", path, "-c", "crc32")
    assert result.exit_code == 3 and "xxh3_64" in result.output


@pytest.mark.parametrize("kind", ["journal", "journal-zstd", "raw"])
def test_head_and_tail(tmp_path: Path, schema: Any, schema_file: Path, kind: str) -> None:
    path = tmp_path / "f.fs"
    if kind == "raw":
        items = payloads(schema)
        write_raw(path, items)
        extra = ["-c", "crc32", "--schema", str(schema_file)]
    else:
        items = write_journal(path, schema, compression="zstd" if kind.endswith("zstd") else None)
        extra = []
    want = expected_lines(schema, items)
    assert lines_of(run("head", path, "-n", 3, *extra).stdout) == want[:3]
    assert lines_of(run("tail", path, "-n", 4, *extra).stdout) == want[-4:]
    assert lines_of(run("tail", path, "-n", 1000, *extra).stdout) == want
    assert run("head", path, "-n", 0, *extra).stdout == ""
    tailed = lines_of(run("tail", path, "-n", 2, "--with-offsets", *extra).stdout)
    assert [t["frame"] for t in tailed] == [N - 2, N - 1]


def test_torn_files_print_their_good_frames_and_exit_2(tmp_path: Path, schema: Any) -> None:
    items = payloads(schema)
    raw = tmp_path / "r.fs"
    write_raw(raw, items)
    raw.write_bytes(raw.read_bytes()[:-3])
    result = run("cat", raw, "-c", "crc32", "--hex")
    assert result.exit_code == 2
    out, err = result.stdout.split(), result.stderr
    assert out == [p.hex() for p in items[:-1]]
    assert f"frame {N - 1} at byte" in err and len(err.strip().splitlines()) == 1
    tailed = run("tail", raw, "-c", "crc32", "--hex", "-n", 1)
    assert tailed.exit_code == 2 and tailed.stdout.split() == [items[-2].hex()]

    journal = tmp_path / "j.fs"
    write_journal(journal, schema)
    journal.write_bytes(journal.read_bytes()[:-3])  # the footer torn
    result = run("cat", journal)
    assert result.exit_code == 2 and "torn tail" in result.stderr
    assert lines_of(result.stdout) == expected_lines(schema, items)


def test_corrupt_frames_exit_1_naming_frame_and_offset(tmp_path: Path, schema: Any) -> None:
    items = payloads(schema)
    raw = tmp_path / "r.fs"
    write_raw(raw, items)
    data = bytearray(raw.read_bytes())
    offsets = fs.scan(raw, "crc32").offsets
    data[int(offsets[7]) + 20] ^= 0x10  # inside frame 7's payload
    raw.write_bytes(bytes(data))
    result = run("cat", raw, "-c", "crc32", "--hex")
    assert result.exit_code == 1
    assert result.stdout.split() == [p.hex() for p in items[:7]]
    assert f"frame 7 at byte {int(offsets[7])}" in result.stderr
    assert "Traceback" not in result.output
    verified = run("verify", raw, "-c", "crc32", "--json")
    assert verified.exit_code == 1
    report = json.loads(verified.stdout)
    assert report["state"] == "corrupt"
    assert report["error"]["frame_index"] == 7 and report["error"]["offset"] == int(offsets[7])
    assert report["error"]["type"] == "ChecksumMismatch"


def test_a_payload_that_does_not_decode_is_corrupt(tmp_path: Path, schema: Any, schema_file: Path) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, [payloads(schema)[0], b"\xff" * 9])
    result = run("cat", path, "-c", "crc32", "--schema", schema_file)
    assert result.exit_code == 1
    assert "frame 1 at byte" in result.stderr and "Traceback" not in result.output


# -- --json and exit codes of every subcommand ---------------------------------------------------


def test_json_output_has_the_same_keys_everywhere(tmp_path: Path, schema: Any) -> None:
    path = tmp_path / "j.fs"
    write_journal(path, schema)
    outputs = {
        "info": run("info", path, "--json"),
        "verify": run("verify", path, "--json"),
        "count": run("count", path, "--json"),
        "stats": run("stats", path, "--json"),
        "recover": run("recover", path, "--json"),
        "salvage": run("salvage", path, tmp_path / "copy.fs", "--json"),
    }
    for name, result in outputs.items():
        assert result.exit_code == 0, (name, result.output)
        report = json.loads(result.stdout)
        assert report["path"] == str(path), name
        assert report["state"] == "clean" and report["error"] is None, name
        # recovery and salvage work on frames, a journal's header, index and footer included
        assert report["frames"] == (N + 3 if name in ("recover", "salvage") else N), name
    assert json.loads(outputs["verify"].stdout)["format"] == "journal"
    assert json.loads(outputs["stats"].stdout)["checksum"] == "xxh3_64"


def test_recover_json_on_a_torn_raw_stream(tmp_path: Path) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, [bytes([i]) * 10 for i in range(20)], "xxh3_64")
    path.write_bytes(path.read_bytes()[:-4])
    size = path.stat().st_size
    dry = run("recover", path, "-c", "xxh3_64", "--truncate", "--dry-run", "--json")
    report = json.loads(dry.stdout)
    assert dry.exit_code == 2 and path.stat().st_size == size
    assert report["state"] == "torn" and report["frames"] == 19 and not report["truncated"]
    assert report["cut_bytes"] == size - report["last_good_offset"] == 22 - 4
    cut = run("recover", path, "-c", "xxh3_64", "--truncate", "--json")
    assert cut.exit_code == 0 and json.loads(cut.stdout)["truncated"] is True
    assert path.stat().st_size == report["last_good_offset"]
    refused = run("recover", path, "--truncate", "--json")  # no checksum known: never a guess
    assert refused.exit_code == 3 and json.loads(refused.stdout)["state"] == "refused"


def test_salvage_json_reports_what_was_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, [bytes([i]) * 30 for i in range(20)], "crc32")
    data = bytearray(path.read_bytes())
    data[5 * 38 + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    result = run("salvage", path, tmp_path / "out.fs", "-c", "crc32", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["state"] == "corrupt"
    assert report["frames"] == 19 and report["skipped"] == [[5 * 38, 6 * 38]]


def test_usage_errors_exit_3(tmp_path: Path) -> None:
    assert run("verify", tmp_path / "missing.fs").exit_code == 3
    assert run("cat", tmp_path / "missing.fs").exit_code == 3
    assert run("verify", "--no-such-option", tmp_path).exit_code == 3
    assert run("no-such-command").exit_code == 3
    assert "Exit codes" in run("--help").output


# -- stats ------------------------------------------------------------------------------------


def test_stats_sizes_and_rate(tmp_path: Path, schema: Any) -> None:
    path = tmp_path / "j.fs"
    items = write_journal(path, schema)
    result = run("stats", path, "--json", "--key", "ts", "--key-unit", "ns", "--bins", 3)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    lengths = np.array([len(p) for p in items])
    sizes = report["sizes"]
    assert (sizes["min"], sizes["max"]) == (lengths.min(), lengths.max())
    assert sizes["p50"] == float(np.percentile(lengths, 50))
    assert sum(b["count"] for b in sizes["buckets"]) == N
    assert all(b["lo"] <= lengths.min() or b["count"] for b in sizes["buckets"])
    assert report["payload_bytes"] == int(lengths.sum())
    rate = report["rate"]
    # one event per millisecond: 59 intervals over 59 ms
    assert rate["span_seconds"] == pytest.approx(0.059)
    assert rate["events_per_second"] == pytest.approx(1000.0)
    assert sum(t["events"] for t in rate["timeline"]) == N and len(rate["timeline"]) == 3
    assert rate["first"] == 1_000_000_000 and rate["out_of_order"] == 0


def test_stats_table_and_raw_stream(tmp_path: Path, schema: Any, schema_file: Path) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, payloads(schema))
    result = run("stats", path, "-c", "crc32", "--key", "ts", "--schema", schema_file,
                 "--key-unit", "ms")
    assert result.exit_code == 0, result.output
    assert "frames" in result.output and "payload sizes" in result.output
    assert "rate over ts" in result.output
    torn = tmp_path / "t.fs"
    torn.write_bytes(path.read_bytes()[:-1])
    report = run("stats", torn, "-c", "crc32", "--json")
    assert report.exit_code == 2 and json.loads(report.stdout)["frames"] == N - 1


def test_stats_prints_plain_tables_without_rich(tmp_path: Path, kernel_mode: str) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, [b"x" * n for n in (1, 5, 9, 100)], "none")
    code = ("import sys; sys.modules['rich'] = None; from flatstream.cli import main; "
            f"main(['stats', {str(path)!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(kernel_mode))
    assert out.returncode == 0, out.stderr
    assert "frames" in out.stdout and "64..127" in out.stdout and "┃" not in out.stdout


# -- convert ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "zstd", "lz4"])
def test_convert_raw_to_journal_and_back(tmp_path: Path, schema: Any, schema_file: Path,
                                         compression: str) -> None:
    items = payloads(schema)
    raw = tmp_path / "r.fs"
    write_raw(raw, items, "xxh3_64")
    journal = tmp_path / "j.fsj"
    result = run("convert", raw, journal, "-c", "xxh3_64", "--to", "journal",
                 "--compression", compression, "--schema", schema_file)
    assert result.exit_code == 0, result.output
    with fs.open(journal) as r:
        assert r.header.compression == compression and r.header.root_type == "demo.Event"
        assert [bytes(p) for p in r] == items
    back = tmp_path / "back.fs"
    assert run("convert", journal, back, "--to", "raw").exit_code == 0
    assert back.read_bytes() == raw.read_bytes()  # same checksum: the very same bytes
    rechecked = tmp_path / "crc.fs"
    assert run("convert", journal, rechecked, "--to", "raw", "--out-checksum", "crc32").exit_code == 0
    with fs.open(rechecked, "rb", checksum="crc32") as r:
        assert [bytes(p) for p in r] == items
    # journal -> journal keeps the schema and metadata, recompressing
    again = tmp_path / "again.fsj"
    assert run("convert", journal, again, "--to", "journal", "--compression", "zstd").exit_code == 0
    assert lines_of(run("cat", again).stdout) == expected_lines(schema, items)


def test_convert_to_parquet_arrow_and_csv(tmp_path: Path, schema: Any) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    path = tmp_path / "j.fs"
    write_journal(path, schema, compression="lz4")
    expected = fs.read_arrow([bytes(p) for p in payloads(schema)], schema.codec("demo.Event"),
                             ["id", "ts", "color", "pos", "values", "val", "opt"])
    result = run("convert", path, tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    assert "leaves out meta, body" in result.stderr
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == N
    for name in expected.column_names:
        assert table.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert run("convert", path, tmp_path / "out.arrow", "--columns", "id,pos.x").exit_code == 0
    arrow = pa.ipc.open_file(tmp_path / "out.arrow").read_all()
    assert arrow.column_names == ["id", "pos.x"] and arrow.column("id").to_pylist() == list(range(N))
    assert run("convert", path, tmp_path / "out.csv").exit_code == 0
    csv = pcsv.read_csv(tmp_path / "out.csv")
    assert csv.column("ts").to_pylist() == expected.column("ts").to_pylist()
    assert "values" not in csv.column_names  # CSV has no lists


def test_convert_jsonl_to_journal_and_cat_back(tmp_path: Path, schema: Any, schema_file: Path) -> None:
    lines = [json.dumps(obj) for obj in expected_lines(schema, payloads(schema))]
    lines[3] = json.dumps({"id": 3, "val": "nan", "flags": "A B", "color": "Red"})
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n\n")
    dst = tmp_path / "out.fsj"
    result = run("convert", src, dst, "--schema", schema_file, "--root-type", "demo.Event")
    assert result.exit_code == 0, result.output
    got = run("cat", dst).stdout.splitlines()
    want = [json.loads(line) for line in lines]
    want[3] = {"id": 3, "ts": 0, "color": "Red", "flags": "A B", "val": "nan"}  # defaults written
    assert [json.loads(line) for line in got] == want
    jsonl = tmp_path / "again.jsonl"
    assert run("convert", dst, jsonl).exit_code == 0
    assert jsonl.read_text().splitlines() == got


def test_convert_never_overwrites_without_force(tmp_path: Path, schema: Any, schema_file: Path) -> None:
    src = tmp_path / "j.fs"
    items = write_journal(src, schema)
    dst = tmp_path / "out.fs"
    dst.write_bytes(b"precious")
    refused = run("convert", src, dst, "--to", "raw")
    assert refused.exit_code == 3 and "exists" in refused.output
    assert dst.read_bytes() == b"precious"
    assert run("convert", src, dst, "--to", "raw", "--force").exit_code == 0
    with fs.open(dst, "rb", checksum="xxh3_64") as r:
        assert [bytes(p) for p in r] == items


def test_a_failed_convert_leaves_nothing(tmp_path: Path, schema: Any, schema_file: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1}\n{"id": 2, "nope": 3}\n')
    dst = tmp_path / "out.fs"
    result = run("convert", src, dst, "--schema", schema_file)
    assert result.exit_code == 3 and "line 2" in result.output and "nope" in result.output
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl"]  # no DST, no temporary file
    # a torn source is refused, not converted in part
    raw = tmp_path / "r.fs"
    write_raw(raw, payloads(schema))
    raw.write_bytes(raw.read_bytes()[:-1])
    torn = run("convert", raw, dst, "-c", "crc32", "--to", "journal")
    assert torn.exit_code == 2 and "recover --truncate" in torn.output
    assert not dst.exists() and sorted(os.listdir(tmp_path)) == ["in.jsonl", "r.fs"]
    # an existing DST survives a failed --force convert
    dst.write_bytes(b"keep")
    assert run("convert", src, dst, "--schema", schema_file, "--force").exit_code == 3
    assert dst.read_bytes() == b"keep"


# -- real processes ---------------------------------------------------------------------------


def _env(kernel_mode: str) -> Dict[str, str]:
    env = dict(os.environ)
    if kernel_mode == "python":
        env["FLATSTREAM_PURE_PYTHON"] = "1"
    return env


def test_commands_as_real_processes(tmp_path: Path, schema: Any, kernel_mode: str) -> None:
    path = tmp_path / "j.fs"
    items = write_journal(path, schema)
    cat = subprocess.run([sys.executable, "-m", "flatstream", "cat", str(path)],
                         capture_output=True, text=True, env=_env(kernel_mode))
    assert cat.returncode == 0, cat.stderr
    assert lines_of(cat.stdout) == expected_lines(schema, items)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    verify = subprocess.run([sys.executable, "-m", "flatstream", "verify", "--json", str(path)],
                            capture_output=True, text=True, env=_env(kernel_mode))
    assert verify.returncode == 1
    assert json.loads(verify.stdout)["state"] == "corrupt"
    assert "Traceback" not in verify.stderr and len(verify.stderr.strip().splitlines()) == 1
    assert verify.stderr.startswith(f"error: {path}: ") and "at byte" in verify.stderr


WRITER = """
import sys, time
import flatstream as fs
path, count = sys.argv[1], int(sys.argv[2])
with fs.open(path, "wb", format="journal", index_every=4) as w:
    for i in range(count):
        w.write_payload(i.to_bytes(4, "little") * 3)
        w.flush()
        if i == 2:
            print("started", flush=True)
            sys.stdin.readline()  # until the follower has printed what was there
        time.sleep(0.005)
"""


def test_tail_follow_prints_every_frame_a_live_writer_appends(tmp_path: Path, kernel_mode: str) -> None:
    path = tmp_path / "live.fsj"
    env = _env(kernel_mode)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "120"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    follower = None
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        follower = subprocess.Popen(
            [sys.executable, "-m", "flatstream", "tail", "-f", "-n", "2", "--hex", "--with-offsets",
             "--timeout", "20", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        assert follower.stdout is not None
        first = [follower.stdout.readline(), follower.stdout.readline()]  # frames 1 and 2
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        rest, err = follower.communicate(timeout=60)
    finally:
        writer.wait(timeout=60)
        if follower is not None and follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    rows = [line.split() for line in first + rest.splitlines()]
    # the last two frames that were there, then every frame appended, each once,
    # ending at the journal's footer (long before the timeout)
    assert [int(r[0]) for r in rows] == list(range(1, 120))
    data = path.read_bytes()
    for number, offset, payload in rows:
        assert bytes.fromhex(payload) == int(number).to_bytes(4, "little") * 3
        assert data[int(offset) + 12:int(offset) + 24] == bytes.fromhex(payload)


def test_tail_follow_ends_on_timeout_for_a_raw_stream(tmp_path: Path, kernel_mode: str) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, [bytes([i]) for i in range(5)], "crc32")
    result = subprocess.run(
        [sys.executable, "-m", "flatstream", "tail", "-f", "-n", "3", "--hex", "-c", "crc32",
         "--timeout", "0.3", str(path)],
        capture_output=True, text=True, env=_env(kernel_mode), timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["02", "03", "04"]


def test_progress_can_be_forced_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "r.fs"
    write_raw(path, [b"x" * 100] * 1000, "crc32")
    result = run("verify", path, "-c", "crc32", "--progress")
    assert result.exit_code == 0 and result.stdout.startswith("ok: 1000 frames")
    assert "verifying" in result.stderr


ROTATING_WRITER = """
import os, sys, time
import flatstream as fs
directory, count, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def frame(i):
    return i.to_bytes(4, "little") * 2
if mode == "segments":
    w = fs.RotatingWriter(directory, "cap", rotate_bytes=200, checksum="crc32")
else:
    path = os.path.join(directory, "live.fs")
    w = fs.open(path, "wb", checksum="crc32")
for i in range(count):
    if mode == "rename" and i == count // 2:
        w.close()
        os.rename(path, path + ".1")  # rotated: a new file at the followed name
        w = fs.open(path, "wb", checksum="crc32")
    w.write_payload(frame(i))
    w.flush()
    if i == 9:
        print("started", flush=True)
        sys.stdin.readline()  # until the follower has printed what was there
    time.sleep(0.003)
w.close()
"""


@pytest.mark.parametrize("mode", ["segments", "rename"])
def test_tail_follow_goes_on_across_rotation(tmp_path: Path, kernel_mode: str, mode: str) -> None:
    env = _env(kernel_mode)
    writer = subprocess.Popen([sys.executable, "-c", ROTATING_WRITER, str(tmp_path), "90", mode],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    follower = None
    target = tmp_path if mode == "segments" else tmp_path / "live.fs"
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        follower = subprocess.Popen(
            [sys.executable, "-m", "flatstream", "tail", "-f", "-n", "3", "--hex", "-c", "crc32",
             "--timeout", "2", str(target)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        assert follower.stdout is not None
        first = [follower.stdout.readline() for _ in range(3)]
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        rest, err = follower.communicate(timeout=60)
    finally:
        writer.wait(timeout=60)
        if follower is not None and follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    if mode == "segments":
        assert len(list(tmp_path.glob("cap-*.fs"))) > 3  # it did rotate
    # the last 3 there, then every frame appended, each once, across the rotation
    got = [bytes.fromhex(line) for line in first + rest.splitlines()]
    assert got == [i.to_bytes(4, "little") * 2 for i in range(7, 90)]


def test_tail_of_segments_without_follow(tmp_path: Path, kernel_mode: str) -> None:
    with fs.RotatingWriter(tmp_path, "cap", rotate_bytes=50, checksum="crc32") as w:
        for i in range(30):
            w.write_payload(bytes([i]) * 5)
    result = run("tail", tmp_path, "-n", 12, "-c", "crc32", "--hex", "--with-offsets")
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert [int(r[0]) for r in rows] == list(range(18, 30))
    assert [bytes.fromhex(r[2]) for r in rows] == [bytes([i]) * 5 for i in range(18, 30)]
