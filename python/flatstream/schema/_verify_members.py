"""Checks of union members that are not tables (a struct stored out of
line, a string), for :mod:`.verifier`: the pure check a union calls with a
table check's signature, and the native twin's description of it."""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

__all__ = ["member_check", "lowered_member", "MEMBER_TABLE", "MEMBER_STRUCT", "MEMBER_STRING"]

#: How the native verifier numbers a union member's kind (``Member::from_code``).
MEMBER_TABLE, MEMBER_STRUCT, MEMBER_STRING = 0, 1, 2


def member_check(
    kind: str, size: int, utf8: bool, align: bool, check_string: Callable[..., None], fail: Callable[..., Any]
) -> Callable[[Any, int, int, Any], None]:
    """``check(buf, pos, depth, st)`` for a struct member of ``size`` bytes
    (it must lie in the buffer, as the C++ ``Verifier::Verify<T>`` checks a
    union's struct) or a string member (``VerifyString``); ``check_string``
    and ``fail`` are the verifier's own."""

    if kind == "string":

        def string(buf: Any, pos: int, depth: int, st: Any) -> None:
            check_string(buf, pos, len(buf), utf8, align)

        string.__flatstream_member__ = (MEMBER_STRING, 0)  # type: ignore[attr-defined]
        return string

    def struct(buf: Any, pos: int, depth: int, st: Any) -> None:
        if pos + size > len(buf):
            fail(f"a union's {size}-byte struct runs past the end of the {len(buf)}-byte buffer", pos)

    struct.__flatstream_member__ = (MEMBER_STRUCT, size)  # type: ignore[attr-defined]
    return struct


def lowered_member(fn: str, ns: Dict[str, Any], table_id: Callable[[str], int]) -> Tuple[int, int]:
    """(kind, argument) of a union member for the native verifier: a table
    (its index), a struct (its size) or a string."""
    described = getattr(ns.get(fn), "__flatstream_member__", None)
    if described is not None:
        return described  # type: ignore[no-any-return]
    return MEMBER_TABLE, table_id(fn)
