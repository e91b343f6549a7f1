"""LOBSTER end to end (examples/lobster): a synthetic ZIP is ingested, the
streams verified and decoded, and the columns compared with pandas.read_csv of
the same CSVs; each kind of malformed CSV is refused with its file and line."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Callable, List

import numpy as np
import pytest
from click.testing import CliRunner

import flatstream as fs

ROOT = Path(__file__).resolve().parent.parent
if not (ROOT / "examples" / "lobster").is_dir():  # pragma: no cover - run outside the tree
    pytest.skip("examples/lobster is not here", allow_module_level=True)
sys.path.insert(0, str(ROOT))

from examples.lobster import ingest, storage, synth  # noqa: E402

LEVELS = 3
ROWS = 700


@pytest.fixture(scope="module")
def good_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "SYNTH_2012-06-21_34200000_57600000_3.zip"
    return synth.write_zip(path, ROWS, levels=LEVELS, seed=7)


def members(path: Path) -> List[str]:
    with zipfile.ZipFile(path) as zf:
        return sorted(zf.namelist())  # message first, then orderbook


def test_synthetic_book_is_realistic(good_zip: Path) -> None:
    pd = pytest.importorskip("pandas")
    msg_name, book_name = members(good_zip)
    with zipfile.ZipFile(good_zip) as zf:
        msgs = pd.read_csv(zf.open(msg_name), header=None)
        book = pd.read_csv(zf.open(book_name), header=None).to_numpy()
    assert msgs.shape == (ROWS, 6) and book.shape == (ROWS, 4 * LEVELS)
    assert set(msgs[1]) <= set(range(1, 8)) and set(msgs[5]) <= {-1, 1}
    assert (np.diff(msgs[0].to_numpy()) >= 0).all()
    assert (msgs[4] % 100 == 0).all()  # a one-cent tick
    ask, bid = book[:, 0], book[:, 2]
    both = (ask != synth.DUMMY_ASK) & (bid != synth.DUMMY_BID)
    assert both.mean() > 0.9 and (ask[both] > bid[both]).all()  # never crossed
    asks = book[:, 0::4]
    occupied = asks != synth.DUMMY_ASK
    assert (np.diff(occupied.astype(int), axis=1) <= 0).all()  # occupied levels come first
    pairs = occupied[:, 1:]
    assert (np.diff(asks, axis=1)[pairs] > 0).all()  # best (lowest) ask first
    assert ((book[:, 1::4] == 0) == ~occupied).all()  # sizes 0 exactly where unoccupied
    # consistent with the messages: a submission at the best ask adds its size there
    for k in range(1, ROWS):
        event, size, price, direction = msgs.iloc[k, [1, 3, 4, 5]]
        if event == 1 and direction == -1 and price == ask[k] and ask[k - 1] == price:
            assert book[k, 1] == book[k - 1, 1] + size
    # deterministic for a seed
    again = synth.write_zip(good_zip.with_name("again.zip"), ROWS, levels=LEVELS, seed=7)
    with zipfile.ZipFile(good_zip) as a, zipfile.ZipFile(again) as b:
        assert all(a.read(n) == b.read(n) for n in members(good_zip))


def test_ingest_verify_decode_equals_pandas(good_zip: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    result = CliRunner().invoke(ingest.main, [str(good_zip), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    msg_fs = tmp_path / f"{good_zip.stem}-message.fs"
    book_fs = tmp_path / f"{good_zip.stem}-orderbook.fs"
    for path in (msg_fs, book_fs):
        summary = fs.verify(path)
        assert summary.frames == ROWS and summary.end is fs.RecoveryEnd.CLEAN_EOF
    msg_name, book_name = members(good_zip)
    with zipfile.ZipFile(good_zip) as zf:
        want_msgs = pd.read_csv(zf.open(msg_name), header=None)
        want_book = pd.read_csv(zf.open(book_name), header=None)
    got = storage.decode_columns(msg_fs, storage.message_codec())
    frame = storage.message_frame(got)
    assert list(frame.columns) == list(storage.MESSAGE_COLUMNS)
    for i, name in enumerate(storage.MESSAGE_COLUMNS):
        np.testing.assert_array_equal(frame[name].to_numpy(), want_msgs[i].to_numpy(), err_msg=name)
    book = storage.book_frame(storage.decode_columns(book_fs, storage.book_codec()))
    np.testing.assert_array_equal(book["timestamp"].to_numpy(), got["timestamp"])
    np.testing.assert_array_equal(book.iloc[:, 1:].to_numpy(np.int64), want_book.to_numpy())
    # the outputs are never overwritten
    again = CliRunner().invoke(ingest.main, [str(good_zip), "--out", str(tmp_path)])
    assert again.exit_code == 3 and "exists" in again.output
    assert fs.verify(msg_fs).frames == ROWS


def rewrite(src: Path, dst: Path, member: int, edit: Callable[[List[str]], List[str]]) -> Path:
    """A copy of ``src`` whose ``member`` (0 message, 1 orderbook) lines are edited."""
    names = members(src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for i, name in enumerate(names):
            data = zin.read(name)
            if i == member:
                data = ("\n".join(edit(data.decode().splitlines())) + "\n").encode()
            zout.writestr(name, data)
    return dst


def set_line(k: int, fn: Callable[[str], str]) -> Callable[[List[str]], List[str]]:
    def edit(lines: List[str]) -> List[str]:
        lines[k - 1] = fn(lines[k - 1])
        return lines

    return edit


CASES = [
    # (member, edit, line, words in the message)
    (0, set_line(5, lambda s: s.rsplit(",", 1)[0]), 5, "expected 6 columns, found 5"),
    (1, set_line(9, lambda s: s + ",1"), 9, f"expected {4 * LEVELS} columns"),
    (0, set_line(12, lambda s: s.replace(",", ",x", 1)), 12, "is not an integer"),
    (0, set_line(3, lambda s: "abc" + s[s.index(","):]), 3, "time: 'abc' is not a number"),
    (1, set_line(400, lambda s: s.replace(",", ",1.5", 1)), 400, "is not an integer"),
    (0, set_line(20, lambda s: s.split(",", 1)[0] + ",9" + s.split(",", 1)[1][1:]), 20,
     "event type: 9 is outside 1..7"),
    (0, lambda lines: lines[:-1], ROWS, "has more rows than"),  # orderbook is longer
    (1, lambda lines: lines + [lines[-1]], ROWS + 1, "has more rows than"),
]


@pytest.mark.parametrize("member, edit, line, words", CASES)
def test_malformed_csv_names_file_and_line(
    good_zip: Path, tmp_path: Path, member: int, edit: Callable[[List[str]], List[str]],
    line: int, words: str,
) -> None:
    bad = rewrite(good_zip, tmp_path / "SYNTH_2012-06-21_34200000_57600000_3.zip", member, edit)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ingest.LobsterFormatError) as info:
        ingest.ingest_zip(bad, out)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, fs.FlatstreamError)
    names = members(bad)
    longer = names[1] if words.startswith("has more") and member == 0 else names[member]
    assert err.file == f"{bad}:{longer}" and err.line == line, str(err)
    assert words in str(err) and f"line {line}" in str(err)
    assert list(out.iterdir()) == []  # partial outputs removed
    result = CliRunner().invoke(ingest.main, [str(bad), "--out", str(out)])
    assert result.exit_code == 3
    assert f"{longer}, line {line}" in result.output and words in result.output
    assert "Traceback" not in result.output


def test_zip_without_lobster_members(tmp_path: Path) -> None:
    bad = tmp_path / "x.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("readme.txt", "hi")
    result = CliRunner().invoke(ingest.main, [str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 3 and "message_<L>.csv, found 0" in result.output
