"""A smoke test of an installed flatstream, run from outside the source tree
by scripts/check-wheel.sh: the native kernels load, a journal of typed events
is written, replayed, verified and counted."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import flatstream as fs


@fs.table
class Event:
    device_id: fs.u64
    value: fs.f64


def main() -> None:
    assert fs.KERNELS == "native", f"expected the native kernels, got {fs.KERNELS}"
    assert "site-packages" in fs.__file__, f"imported from the source tree: {fs.__file__}"
    codec = fs.codec(Event)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.fs"
        with fs.open(path, "wb", checksum="xxh3_64") as w:
            w.write_many(Event(i, i / 2) for i in range(10_000))
        with fs.open(path, "rb", checksum="xxh3_64") as r:
            events = list(r.typed_messages(codec))
        assert [e.device_id for e in events] == list(range(10_000))
        assert fs.verify(path, "xxh3_64").frames == 10_000
        assert fs.count(path, "xxh3_64").frames == 10_000
    print(f"smoke test passed: flatstream {fs.__version__} ({fs.KERNELS}) from {fs.__file__}")


if __name__ == "__main__":
    sys.exit(main())
