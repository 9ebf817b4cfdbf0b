"""The gateway frames run events directly (the hot path of every stream): same event as the generic path."""

import re
from datetime import UTC, datetime

import orjson
import pytest

from agentic.executor.v1 import executor_pb2 as pb
from gateway.app import _event, _event_bytes


def _parsed(frame: bytes) -> dict:
    lines = frame.decode().split("\r\n")
    assert lines[-2:] == ["", ""], frame  # an event ends with an empty line
    fields = dict(line.split(": ", 1) for line in lines[:-2])
    fields["data"] = orjson.loads(fields["data"])
    return fields


def _token() -> pb.ExecutionEvent:
    message = pb.ExecutionEvent(execution_id="e1", seq=12, type="token", node_id="llm")
    message.payload.update({"text": 'two\nlines, "quoted" é', "n": 1.5, "l": [1, None, True, {"a": {}}]})
    message.timestamp.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    return message


@pytest.mark.parametrize("message", [
    _token(),
    pb.ExecutionEvent(execution_id="e1", seq=1, type="run_started"),  # no payload, timestamp or node id
    pb.ExecutionEvent(execution_id="e1", seq=3, type="odd\r\nname"),  # a newline must not split the event
])
def test_run_events_are_framed_like_the_generic_path(message):
    fast = _parsed(_event_bytes(message))
    assert fast == _parsed(_event(message).encode())
    assert fast["id"] == str(message.seq) and "\n" not in fast["event"]


def test_both_paths_print_integral_numbers_as_integers():
    """Parsed JSON cannot tell 1 from 1.0, so the text itself: a stored 1 streams as 1."""
    message = pb.ExecutionEvent(execution_id="e1", seq=2, type="node_completed", node_id="n")
    message.payload.update({"version": 1, "ratio": 0.5})
    for frame in (_event_bytes(message), _event(message).encode()):
        data = frame.decode().split("data: ", 1)[1].replace(" ", "")
        assert re.search(r'"version":1[,}]', data) and '"ratio":0.5' in data, frame
