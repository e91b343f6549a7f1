"""Where LOBSTER data meets flatstream: the schemas, and the two calls that
write and read the streams.

* :func:`open_output` opens an output journal (xxh3_64 checksums, the schema
  and the LOBSTER metadata in its header).
* :func:`decode_columns` turns a stream back into numpy columns: through the
  columnar kernel (``codec.decode_columns``) for messages; per message for
  order book snapshots, whose vectors of Level structs the kernel does not
  gather yet.
"""

from __future__ import annotations

import functools
import gc
import operator
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

import flatstream as fs

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
CHECKSUM = "xxh3_64"

MESSAGE_COLUMNS = ("timestamp", "event_type", "order_id", "size", "price", "direction")
MESSAGE_DTYPES = {
    "timestamp": np.float64, "event_type": np.uint8, "order_id": np.uint64,
    "size": np.uint32, "price": np.int64, "direction": np.int8,
}
#: A Level struct as numpy sees it (price i64, size u64: 16 bytes, no padding).
LEVEL_DTYPE = np.dtype([("price", "<i8"), ("size", "<u8")])

PathLike = Union[str, Path]


@functools.lru_cache(maxsize=None)
def message_codec() -> fs.Codec:
    """The codec of ``lobster.MessageEvent`` (examples/schemas/lobster_message.fbs)."""
    return fs.load_schema(SCHEMAS / "lobster_message.fbs").codec("MessageEvent")


@functools.lru_cache(maxsize=None)
def book_codec() -> fs.Codec:
    """The codec of ``lobster.OrderBookSnapshot`` (examples/schemas/order_book.fbs)."""
    return fs.load_schema(SCHEMAS / "order_book.fbs").codec("OrderBookSnapshot")


def open_output(path: PathLike, codec: fs.Codec, metadata: Mapping[str, Any]) -> Any:
    """A writer for ``path`` (``mode "xb"``: an existing file is never
    overwritten): a journal carrying the schema and the LOBSTER metadata, so
    readers need nothing else."""
    return fs.open(
        path, "xb", format="journal", checksum=CHECKSUM, schema=codec,
        metadata={key: str(value) for key, value in metadata.items()},
    )


def decode_columns(path: PathLike, codec: fs.Codec, batch: int = 65536) -> Dict[str, np.ndarray]:
    """Every message of ``path`` as numpy columns named by field; a vector of
    Level structs becomes ``"<field>.price"``/``"<field>.size"`` 2-D arrays
    (rows x levels). """
    from flatstream.schema import BaseType

    names = [f.name for f in codec.table.fields]
    vectors = {f.name for f in codec.table.fields if f.type.base is BaseType.VECTOR}
    if not vectors:  # scalars only (messages): the columnar kernel, no Python per message
        columns = codec.decode_columns(path, fields=names)
        return {name: columns[name].astype(MESSAGE_DTYPES[name], copy=False) for name in names}
    # Vectors of structs (the book's levels) are not columnar yet: one object each.
    values: Dict[str, list] = {name: [] for name in names}
    # The decoded objects hold no cycles; the cyclic collector would only walk
    # the growing lists again and again (a third of the time at 1M rows).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with fs.open(path, "rb") as reader:
            for payloads in reader.iter_batches(batch):
                objs = codec.decode_many(payloads)
                for name in names:
                    values[name].extend(map(operator.attrgetter(name), objs))
    finally:
        if was_enabled:
            gc.enable()
    out: Dict[str, np.ndarray] = {}
    for name in names:
        column = values.pop(name)
        if name not in vectors:
            out[name] = np.array(column, dtype=MESSAGE_DTYPES[name])
        else:  # a vector of levels: every snapshot holds all L of them
            levels = np.array([_levels(v) for v in column]).reshape(len(column), -1)
            out[f"{name}.price"] = levels["price"].astype(np.int64, copy=False)
            out[f"{name}.size"] = levels["size"].astype(np.uint64, copy=False)
    return out


def _levels(vector: Any) -> np.ndarray:
    if isinstance(vector, np.ndarray):
        return vector.astype(LEVEL_DTYPE, copy=False)
    return np.array([(lv.price, lv.size) for lv in vector or ()], dtype=LEVEL_DTYPE)


def message_frame(columns: Mapping[str, np.ndarray]) -> Any:
    """A pandas DataFrame of message columns, in the CSV's column order."""
    import pandas as pd

    return pd.DataFrame({name: columns[name] for name in MESSAGE_COLUMNS}, copy=False)


def book_frame(columns: Mapping[str, np.ndarray], levels: Optional[int] = None) -> Any:
    """A pandas DataFrame of orderbook columns laid out as the CSV is:
    ``ask_price_1, ask_size_1, bid_price_1, bid_size_1, ask_price_2, ...``
    (the timestamp first)."""
    import pandas as pd

    levels = columns["asks.price"].shape[1] if levels is None else levels
    data: Dict[str, np.ndarray] = {"timestamp": columns["timestamp"]}
    for i in range(levels):
        data[f"ask_price_{i + 1}"] = columns["asks.price"][:, i]
        data[f"ask_size_{i + 1}"] = columns["asks.size"][:, i]
        data[f"bid_price_{i + 1}"] = columns["bids.price"][:, i]
        data[f"bid_size_{i + 1}"] = columns["bids.size"][:, i]
    return pd.DataFrame(data, copy=False)
