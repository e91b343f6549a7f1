"""Synthetic LOBSTER-format ZIPs for tests and benchmarks (no real data ships).

    python examples/lobster/synth.py OUT.zip --messages 100000 --levels 10 --seed 1

The ZIP holds ``<TICKER>_<date>_<start>_<end>_message_<L>.csv`` (time, event
type, order id, size, price x 10000, direction) and the matching
``..._orderbook_<L>.csv`` (ask price, ask size, bid price, bid size per
level; unoccupied levels as LOBSTER's dummies). A simple book is kept:
submissions add, cancellations take part of an order, deletions and visible
executions remove, so every orderbook row is the book after its message.
Prices sit on a tick grid. Both files are streamed into the ZIP from the same
seed (the generator runs once per file), so memory stays constant.
"""

from __future__ import annotations

import random
import zipfile
from pathlib import Path
from typing import Dict, Iterator, List, Tuple, Union

import click

#: LOBSTER's values for an unoccupied level.
DUMMY_ASK = 9999999999
DUMMY_BID = -9999999999

Message = Tuple[str, int, int, int, int, int]


def member_names(ticker: str, date: str, start: int, end: int, levels: int) -> Tuple[str, str]:
    """The message and orderbook CSV names LOBSTER uses (start/end in ms)."""
    stem = f"{ticker}_{date}_{start}_{end}"
    return f"{stem}_message_{levels}.csv", f"{stem}_orderbook_{levels}.csv"


def events(
    n: int, levels: int, seed: int, start_s: float = 34200.0, end_s: float = 57600.0,
    tick: int = 100, mid: int = 2_000_000,
) -> Iterator[Tuple[Message, List[int]]]:
    """``n`` (message row, orderbook row) pairs; deterministic for a seed."""
    rng = random.Random(seed)
    orders: Dict[int, Tuple[int, int, int]] = {}  # id -> (direction, price, size)
    book: Tuple[Dict[int, Dict[int, None]], Dict[int, Dict[int, None]]] = ({}, {})  # ask, bid
    depth: Tuple[Dict[int, int], Dict[int, int]] = ({}, {})  # price -> total size
    next_id = 10_000_000
    t_ns = int(start_s * 1e9)
    step_ns = max(1, int((end_s - start_s) * 1e9 / max(n, 1)))

    def side_of(direction: int) -> int:
        return 0 if direction == -1 else 1

    def best(side: int) -> int:
        prices = depth[side]
        if not prices:
            return mid + tick if side == 0 else mid - tick
        return min(prices) if side == 0 else max(prices)

    def remove(oid: int, amount: int) -> None:
        direction, price, size = orders[oid]
        side = side_of(direction)
        left = size - amount
        depth[side][price] -= amount
        if left <= 0:
            del orders[oid]
            del book[side][price][oid]
            if not book[side][price]:
                del book[side][price]
                del depth[side][price]
        else:
            orders[oid] = (direction, price, left)

    for _ in range(n):
        t_ns += rng.randint(1, 2 * step_ns - 1)
        stamp = f"{t_ns // 1_000_000_000}.{t_ns % 1_000_000_000:09d}"
        r = rng.random()
        if len(orders) < 4 * levels or r < 0.46:
            direction = rng.choice((-1, 1))
            side = side_of(direction)
            other = best(1 - side)
            if side == 0:  # an ask: at or above the best bid + 1 tick
                price = max(other + tick, best(0) + tick * rng.randint(-1, 6))
            else:
                price = min(other - tick, best(1) - tick * rng.randint(-1, 6))
            size = 100 * rng.randint(1, 10) if rng.random() < 0.8 else rng.randint(1, 999)
            next_id += rng.randint(1, 50)
            oid = next_id
            orders[oid] = (direction, price, size)
            book[side].setdefault(price, {})[oid] = None
            depth[side][price] = depth[side].get(price, 0) + size
            msg: Message = (stamp, 1, oid, size, price, direction)
        elif r < 0.98:
            if r < 0.84:  # execution at the best price of a side, oldest order first
                side = rng.randint(0, 1)
                price = best(side)
                oid = next(iter(book[side][price]))
                direction, _, size = orders[oid]
                amount = size if rng.random() < 0.7 else rng.randint(1, size)
                kind = 4
            else:
                oid = rng.choice(list(orders)) if len(orders) < 64 else _any(orders, rng)
                direction, price, size = orders[oid]
                if r < 0.90 and size > 1:
                    kind, amount = 2, rng.randint(1, size - 1)
                else:
                    kind, amount = 3, size
            remove(oid, amount)
            msg = (stamp, kind, oid, amount, price, direction)
        else:  # a hidden execution: the visible book does not change
            direction = rng.choice((-1, 1))
            price = (best(0) + best(1)) // 2 // tick * tick
            msg = (stamp, 5, 0, rng.randint(1, 500), price, direction)
        yield msg, snapshot(depth, levels)


def _any(orders: Dict[int, Tuple[int, int, int]], rng: random.Random) -> int:
    # A cheap pseudo-random live order: one of the first few in insertion order.
    it = iter(orders)
    for _ in range(rng.randint(0, 31)):
        next(it)
    return next(it)


def snapshot(depth: Tuple[Dict[int, int], Dict[int, int]], levels: int) -> List[int]:
    """The orderbook row: per level ask price, ask size, bid price, bid size."""
    asks = sorted(depth[0].items())[:levels]
    bids = sorted(depth[1].items(), reverse=True)[:levels]
    row: List[int] = []
    for i in range(levels):
        ap, asz = asks[i] if i < len(asks) else (DUMMY_ASK, 0)
        bp, bsz = bids[i] if i < len(bids) else (DUMMY_BID, 0)
        row += (ap, asz, bp, bsz)
    return row


def write_zip(
    path: Union[str, Path], n: int, *, levels: int = 10, seed: int = 0, ticker: str = "SYNTH",
    date: str = "2012-06-21",
) -> Path:
    """Write a LOBSTER-format ZIP of ``n`` messages; returns its path. Name it
    as LOBSTER does (``<TICKER>_<date>_<start>_<end>_<L>.zip``) or not."""
    path = Path(path)
    message_name, book_name = member_names(ticker, date, 34200000, 57600000, levels)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, part in ((message_name, 0), (book_name, 1)):
            with zf.open(name, "w", force_zip64=True) as out:
                chunk: List[str] = []
                for msg, book in events(n, levels, seed):
                    row = msg if part == 0 else book
                    chunk.append(",".join(map(str, row)))
                    if len(chunk) >= 4096:
                        out.write(("\n".join(chunk) + "\n").encode())
                        chunk = []
                if chunk:
                    out.write(("\n".join(chunk) + "\n").encode())
    return path


@click.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--messages", "-n", default=100_000, show_default=True, help="Rows per file.")
@click.option("--levels", "-l", default=10, show_default=True, help="Book levels (L).")
@click.option("--seed", default=0, show_default=True)
@click.option("--ticker", default="SYNTH", show_default=True)
@click.option("--date", default="2012-06-21", show_default=True)
def main(out: str, messages: int, levels: int, seed: int, ticker: str, date: str) -> None:
    """Write a synthetic LOBSTER ZIP to OUT."""
    write_zip(out, messages, levels=levels, seed=seed, ticker=ticker, date=date)
    click.echo(out)


if __name__ == "__main__":
    main()
