"""Protobuf well-known types <-> Python values, as every service's convert module needs them."""

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(value) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def integral(value):
    """Struct numbers are doubles; give JSON integers back as integers (x: 220, not 220.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def struct_dict(message: Struct) -> dict:
    """A Struct as plain JSON values, integers kept integral (ValueError for NaN/Infinity)."""
    return integral(json_format.MessageToDict(message))
