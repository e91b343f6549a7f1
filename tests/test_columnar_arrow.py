"""fs.read_arrow / fs.read_arrow_batches: the Arrow form of decode_columns."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List

import numpy as np
import pytest

import flatstream as fs
from flatstream.schema.columnar import ColumnarDecodeError

from test_columnar import ROW, TELE, VAR, Color, Pair, Row, Tele, Var, Vec3

pa = pytest.importorskip("pyarrow")


def _var_objs() -> List[Var]:
    return [
        Var(1, "ab", b"\x01\x02", [1, -2], [0.5], [True]),
        Var(2, None, None, None, None, None),
        Var(3, "héllo", b"", [], [1.0, 2.0], [False]),
    ]


def test_read_arrow_equals_per_message_decode(tmp_path: Path) -> None:
    objs = _var_objs()
    path = tmp_path / "v.fs"
    with fs.StreamWriter(open(path, "wb"), close_sink=True) as w:
        for o in objs:
            w.write(VAR.encode(o))
    table = fs.read_arrow(str(path), VAR)
    assert table.column_names == ["id", "name", "raw", "ids", "doubles", "bools"]
    assert table.column("name").to_pylist() == [o.name for o in objs]
    assert table.column("raw").to_pylist() == [None if o.raw is None else list(o.raw) for o in objs]
    assert table.column("ids").to_pylist() == [o.ids for o in objs]
    assert table.column("doubles").to_pylist() == [o.doubles for o in objs]
    assert table.column("bools").to_pylist() == [o.bools for o in objs]
    assert table.schema.field("name").type == pa.large_string()
    df = table.to_pandas()
    assert df["id"].tolist() == [1, 2, 3]


def test_nullable_and_struct_columns() -> None:
    objs = [Row(opt=3, pos=Vec3(1.0, 2.0, 3.0), color=Color.Red), Row(pair=Pair(1, Vec3(0, 0, 0), 2.5))]
    table = fs.read_arrow([ROW.encode(o) for o in objs], ROW)
    assert table.column("opt").to_pylist() == [3, None]
    assert table.column("pos.y").to_pylist() == [2.0, None]
    assert table.column("pair.v.z").to_pylist() == [None, 0.0]
    assert table.column("pair.d").to_pylist() == [None, 2.5]
    assert table.column("color").to_pylist() == [0, 3]
    assert table.column("flag").type == pa.bool_()


def test_batches_stream_and_number_frames(tmp_path: Path) -> None:
    n = 1000
    cols = {"device_id": np.arange(n, dtype=np.uint64), "timestamp": np.arange(n, dtype=np.uint64),
            "value": np.arange(n) / 3}
    path = tmp_path / "t.fs"
    fs.write_columns(path, cols, TELE, checksum="crc32")
    reader = fs.read_arrow_batches(str(path), TELE, batch_size=300, checksum="crc32")
    sizes = [b.num_rows for b in reader]
    assert sizes == [300, 300, 300, 100]
    whole = fs.read_arrow(str(path), TELE, checksum="crc32")
    assert whole.equals(fs.read_arrow(str(path), TELE, batch_size=128, checksum="crc32"))
    assert np.array_equal(whole.column("value").to_numpy(), cols["value"])
    payloads = TELE.encode_columns(cols)
    assert fs.read_arrow(payloads, TELE, batch_size=256).equals(whole)
    payloads[700] = payloads[700][:5]
    with pytest.raises(ColumnarDecodeError) as info:
        fs.read_arrow(payloads, TELE, batch_size=256)
    assert info.value.frame == 700
    with pytest.raises(ColumnarDecodeError) as info:
        fs.read_arrow(payloads, TELE)
    assert info.value.frame == 700
    skipped = fs.read_arrow(payloads, TELE, on_error="skip")
    assert skipped.column("@valid").to_pylist().index(False) == 700
    sub = fs.read_arrow(str(path), TELE, ["value"], checksum="crc32")
    assert sub.column_names == ["value"] and math.isclose(sub.column("value")[3].as_py(), 1.0)


def test_zero_copy_for_numeric_columns() -> None:
    cols = TELE.decode_columns([TELE.encode(Tele(i, i, 1.0)) for i in range(10)])
    plan = fs.schema.columnar.plan_for(TELE)
    batch = fs.arrow.columns_to_arrow(plan, cols)
    assert batch.column(0).buffers()[1].address == cols["device_id"].ctypes.data


def test_a_journal_names_its_own_codec(tmp_path) -> None:
    # fs.read_arrow(path) with no codec: the journal's embedded schema decodes it.
    import flatstream as fs

    @fs.table
    class Reading:
        sensor: fs.u32
        value: fs.f64

    path = tmp_path / "readings.fsj"
    rows = [Reading(i % 5, i / 4) for i in range(300)]
    codec = fs.codec(Reading)
    with fs.open(path, "wb", format="journal", schema=codec, index_every=64) as w:
        for row in rows:
            w.write_payload(codec.encode(row))
    table = fs.read_arrow(path)
    assert table.column("sensor").to_pylist() == [r.sensor for r in rows]
    assert table.column("value").to_pylist() == [r.value for r in rows]
    with fs.read_arrow_batches(path, batch_size=100) as batches:
        assert [b.num_rows for b in batches] == [100, 100, 100]
    assert fs.codec(Reading).decode_columns(path)["sensor"].tolist() == [r.sensor for r in rows]
    with pytest.raises(TypeError, match="codec"):
        fs.read_arrow(b"")
