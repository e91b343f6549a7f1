"""Decoded messages as JSON-safe values (what `flatstream cat` prints) and back."""

from __future__ import annotations

import json
import math

import pytest

import flatstream as fs
from flatstream.schema.json_values import from_json, to_json


@fs.table
class Reading:
    sensor: fs.u32
    value: fs.f64
    label: str = ""


def test_a_python_table_round_trips_through_json() -> None:
    codec = fs.codec(Reading)
    decoded = codec.decode(codec.encode(Reading(7, -1.5, "t")))
    value = to_json(codec.schema, decoded, codec.name)
    assert value == {"sensor": 7, "value": -1.5, "label": "t"}
    rebuilt = from_json(codec.schema, json.loads(json.dumps(value)), codec.name)
    assert codec.decode(codec.encode(rebuilt)) == decoded


def test_floats_json_cannot_hold_are_words() -> None:
    codec = fs.codec(Reading)
    for number, word in ((math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")):
        value = to_json(codec.schema, codec.decode(codec.encode(Reading(1, number))), codec.name)
        assert value["value"] == word
        json.dumps(value, allow_nan=False)  # strict JSON
        back = from_json(codec.schema, value, codec.name).value
        assert (math.isnan(back) if word == "nan" else back == number)


def test_bad_json_objects_name_the_key() -> None:
    codec = fs.codec(Reading)
    with pytest.raises(ValueError, match="has no field 'sensr'"):
        from_json(codec.schema, {"sensr": 1}, codec.name)
    with pytest.raises(ValueError, match=r"Reading\.value: expected a number"):
        from_json(codec.schema, {"value": "x"}, codec.name)
    with pytest.raises(ValueError, match=r"Reading\.sensor: expected an integer"):
        from_json(codec.schema, {"sensor": 1.5}, codec.name)
