"""The fast Struct/Value conversions give exactly what json_format gives (the gateway's replies, run inputs)."""

import math

import pytest
from google.protobuf import json_format, struct_pb2

from agentic.executor.v1 import executor_pb2
from gateway.transcoder import to_json_dict
from services.common.errors import InvalidArgument
from services.common.protojson import json_to_value, struct_dict, value_json
from services.executor.convert import value_to_python

VALUES = [None, True, False, 0, 3, -2.5, 1e300, "", "héllo \u2603", [], [1, "a", None, [True]], {},
          {"nodes": [{"id": "a", "position": {"x": 220, "y": 0.5}, "data": {}}], "edges": [], "n": None}]


@pytest.mark.parametrize("value", VALUES)
def test_value_conversions_match_json_format(value):
    parsed = struct_pb2.Value()
    json_format.ParseDict(value, parsed)
    assert json_to_value(value) == parsed
    assert value_json(parsed) == json_format.MessageToDict(parsed)


def test_integers_come_back_integral_only_when_asked():
    message = json_to_value({"x": 220, "y": 0.5, "big": 2.0**60})
    assert value_json(message) == {"x": 220.0, "y": 0.5, "big": 2.0**60}
    as_ints = value_json(message, integers=True)
    assert as_ints == {"x": 220, "y": 0.5, "big": 2.0**60} and type(as_ints["x"]) is int
    assert type(as_ints["big"]) is float  # beyond 2**53 a double is not an exact integer


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(number):
    struct = struct_pb2.Struct()
    struct.update({"a": [number]})
    with pytest.raises(ValueError):
        struct_dict(struct)
    with pytest.raises(InvalidArgument) as refused:
        value_to_python(json_to_value({"a": number}), "input")
    assert refused.value.violations[0].field == "input"


def test_gateway_json_of_a_reply_with_structs_matches_message_to_dict():
    event = executor_pb2.ExecutionEvent(execution_id="e", seq=3, type="node_completed", node_id="t")
    event.payload.update({"output": {"text": "Hello", "n": 2, "items": [1, {"k": None}]}, "ok": True})
    event.timestamp.GetCurrentTime()
    assert to_json_dict(event) == json_format.MessageToDict(event, preserving_proto_field_name=True,
                                                            always_print_fields_with_no_presence=True)


def test_gateway_json_prints_integral_struct_numbers_as_integers():
    """As Go's protojson and JavaScript print them: a stored 3 comes back as 3, not 3.0; 0.5 stays 0.5."""
    import orjson

    event = executor_pb2.ExecutionEvent(execution_id="e", seq=3, type="node_completed")
    event.payload.update({"position": 3, "score": 0.5, "items": [1, 2.0, -7], "big": 2.0**60})
    text = orjson.dumps(to_json_dict(event)).decode()
    assert '"position":3' in text and '"score":0.5' in text and '"items":[1,2,-7]' in text
    assert '"big":1.152921504606847e+18' in text  # past 2**53 a double is not an exact integer: left as it is
