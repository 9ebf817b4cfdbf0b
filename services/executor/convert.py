"""Rows, events and node classes <-> executor protos. The only place that builds executor messages."""

from datetime import UTC, datetime

from google.protobuf import struct_pb2

from agentic.executor.v1 import executor_pb2 as pb
from services.common.errors import InvalidArgument
from services.common.protojson import json_to_value, struct_dict, timestamp, value_json

STATUS = {"queued": pb.EXECUTION_STATUS_QUEUED, "running": pb.EXECUTION_STATUS_RUNNING,
          "interrupted": pb.EXECUTION_STATUS_INTERRUPTED, "succeeded": pb.EXECUTION_STATUS_SUCCEEDED,
          "failed": pb.EXECUTION_STATUS_FAILED, "cancelled": pb.EXECUTION_STATUS_CANCELLED}
STATUS_NAME = {v: k for k, v in STATUS.items()}
INT32_MAX = 2**31 - 1


def value_to_python(message: struct_pb2.Value, field: str):
    """A request's google.protobuf.Value -> JSON-able Python (unset: None). NaN/Infinity are refused."""
    if message.WhichOneof("kind") is None:
        return None
    try:
        return value_json(message, integers=True)
    except ValueError:
        raise InvalidArgument(field, "numbers must be finite (no NaN or Infinity)") from None


def to_struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def execution(row) -> pb.Execution:
    message = pb.Execution(
        id=str(row.id), organization_id=str(row.org_id), workflow_id=str(row.workflow_id),
        workflow_version=row.workflow_version, thread_id=str(row.thread_id) if row.thread_id else "",
        status=STATUS[row.status], background=row.background, request_id=row.request_id or "",
        created_by=row.created_by, last_seq=row.get("last_seq") or 0, create_time=timestamp(row.created_at),
        start_time=timestamp(row.started_at), end_time=timestamp(row.ended_at),
        usage=pb.TokenUsage(input_tokens=min(row.get("input_tokens") or 0, INT32_MAX),
                         output_tokens=min(row.get("output_tokens") or 0, INT32_MAX)))
    if row.input is not None:
        message.input.CopyFrom(json_to_value(row.input))
    if row.output is not None:
        message.output.CopyFrom(json_to_value(row.output))
    if row.error:
        message.error.CopyFrom(pb.ExecutionError(code=row.error.get("code", ""), message=row.error.get("message", ""),
                                                 node_id=row.error.get("node_id", "")))
    if row.interrupt:
        message.interrupt.update(row.interrupt)
    return message


def event(item) -> pb.ExecutionEvent:
    message = pb.ExecutionEvent(execution_id=str(item.execution_id), seq=item.seq, type=item.type,
                                node_id=item.node_id, timestamp=timestamp(item.created_at))
    if item.payload:
        message.payload.update(item.payload)
    return message


def node_type(cls) -> pb.NodeType:
    message = pb.NodeType(type=cls.type, category=cls.category, display_name=cls.display_name or cls.type,
                          description=cls.description, inputs=list(cls.inputs), outputs=list(cls.outputs),
                          credential_type=cls.credential_type)
    message.params_schema.update(cls.params_schema)
    return message


def thread(row) -> pb.Thread:
    message = pb.Thread(id=str(row.id), organization_id=str(row.org_id), message_count=row.message_count,
                        create_time=timestamp(row.created_at), update_time=timestamp(row.updated_at))
    message.metadata.update(row.metadata or {})
    return message


def thread_message(row) -> pb.ThreadMessage:
    return pb.ThreadMessage(role=row.role, content=row.content,
                            execution_id=str(row.execution_id) if row.execution_id else "",
                            create_time=timestamp(row.created_at))


def struct_to_dict(message: struct_pb2.Struct, field: str) -> dict:
    try:
        return struct_dict(message)
    except ValueError:
        raise InvalidArgument(field, "numbers must be finite (no NaN or Infinity)") from None


def optional_time(message, field: str) -> datetime | None:
    """A request's optional Timestamp field as an aware datetime, or None when unset."""
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else None
