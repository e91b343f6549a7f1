"""Checks of union members that are not tables (a struct stored out of
line, a string) and of vectors of unions, for :mod:`.verifier`: the pure
checks, and the native twin's description of a member."""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

__all__ = ["member_check", "lowered_member", "union_vector_check", "MEMBER_TABLE", "MEMBER_STRUCT", "MEMBER_STRING"]

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


def union_vector_check(
    vector_length: Callable[..., int], offset_target: Callable[..., int], fail: Callable[..., Any]
) -> Callable[..., None]:
    """``vunions(buf, pos, value_offset, type_offset, n, ns, members, depth,
    st, align)``: a vector of unions of the table at ``pos`` with its type
    vector, as the C++ ``Verify<Union>Vector``: both present or both absent,
    of the same length, each value checked as its type's member (``members``:
    type number -> check function name in ``ns``; NONE and unknown numbers
    are not followed)."""

    def vunions(
        buf: Any, pos: int, value_offset: int, type_offset: int, n: int, ns: Dict[str, Any],
        members: Dict[int, str], depth: int, st: Any, align: bool,
    ) -> None:
        if not value_offset and not type_offset:
            return
        if not value_offset or not type_offset:
            fail("a vector of unions and its type vector are not both present", pos)
        types = offset_target(buf, pos + type_offset, n)
        count = vector_length(buf, types, n, 1, align)
        values = offset_target(buf, pos + value_offset, n)
        if vector_length(buf, values, n, 4, align) != count:
            fail(f"a vector of unions and its type vector of {count} differ in length", values)
        for i in range(count):
            fn = members.get(buf[types + 4 + i])
            if fn is not None:
                at = values + 4 + 4 * i
                ns[fn](buf, offset_target(buf, at, n), depth, st)

    return vunions
