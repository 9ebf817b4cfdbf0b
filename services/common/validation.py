"""Input checks that every service makes the same way.

`check_request` is the one rule at the edge of every service (the interceptor runs it on every request
before a handler sees it), driven by the request's descriptor so a new RPC or service is covered without
code: every string is free of NUL (PostgreSQL text and JSONB cannot store it) and within a length limit,
every Timestamp and Duration is in the range the protobuf spec allows. Protobuf itself refuses strings that
are not valid UTF-8 when it parses. Strings inside a Struct (graphs, run inputs) are bounded by the
message size and the owning service's own limits, so only NUL is refused there.
"""

import os
import re
import uuid

from google.protobuf import descriptor as d

from services.common.errors import FieldViolation, InvalidArgument

# Characters, unless a field is listed below by its last name or its full name.
DEFAULT_MAX_CHARS = 1000
LIMITS_BY_NAME = {"description": 2000, "message": 2000, "version_message": 2000, "secret": 16_384}
LIMITS_BY_FIELD = {
    "agentic.workflow.v1.Workflow.description": 10_000,
    "agentic.workflow.v1.WorkflowDocument.description": 10_000,
    # a document's text is bounded by the gRPC message size (and the gateway's body limit)
    "agentic.vectorstore.v1.CreateDocumentRequest.text": 64 * 1024 * 1024,
    "agentic.vectorstore.v1.ImportDocumentRequest.url": 2048,
    "agentic.vectorstore.v1.SearchRequest.query": 10_000,
    "agentic.vectorstore.v1.EvaluationRun.query": 100_000,
    "agentic.vectorstore.v1.EvaluationRun.response": 100_000,
}
MAX_REPORTED = 10
# google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z; Duration: about ±10,000 years.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
_MAX_DURATION_SECONDS = 315_576_000_000
_STRING = d.FieldDescriptor.TYPE_STRING


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument(field, "must be an id returned by this API") from None


def require_text(value: str, field: str, max_length: int = 200) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > max_length:
        raise InvalidArgument(field, f"must be at most {max_length} characters")
    return value


def parse_etag(etag: str, field: str) -> int | None:
    """The revision in an etag we issued ('"3"', or '"3.<more>"' where more state is covered; W/ allowed); None
    when the client sent none."""
    if not etag:
        return None
    try:
        return int(etag.replace("W/", "").strip('"').split(".", 1)[0])
    except ValueError:
        raise InvalidArgument(field, "not an etag returned by this API") from None


def max_chars(field: d.FieldDescriptor) -> int:
    return LIMITS_BY_FIELD.get(field.full_name) or LIMITS_BY_NAME.get(field.name, DEFAULT_MAX_CHARS)


def check_request(message) -> None:
    """InvalidArgument naming every offending field (the first few), or nothing."""
    problems: list[FieldViolation] = []
    _message(message, "", problems)
    if problems:
        raise InvalidArgument(violations=problems[:MAX_REPORTED])


def _text(value: str, path: str, limit: int | None, problems: list) -> None:
    if "\x00" in value:
        problems.append(FieldViolation(path, "must not contain NUL characters"))
    elif limit is not None and len(value) > limit:
        problems.append(FieldViolation(path, f"must be at most {limit} characters"))


def _message(message, path: str, problems: list) -> None:
    special = _SPECIAL.get(message.DESCRIPTOR.full_name)
    if special is not None:
        special(message, path.rstrip("."), problems)
        return
    for f, value in message.ListFields():  # only fields that are set: cheap for small requests
        name = path + f.name
        if f.type == _STRING:
            limit = max_chars(f)
            for i, item in enumerate(value) if f.is_repeated else ((None, value),):
                _text(item, name if i is None else f"{name}[{i}]", limit, problems)
        elif f.message_type is None:
            continue
        elif f.message_type.GetOptions().map_entry:
            key_field, value_field = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            for key, item in value.items():
                if key_field.type == _STRING:
                    _text(key, f"{name} key", max_chars(key_field), problems)
                if value_field.type == _STRING:
                    _text(item, f"{name}[{key[:40]!r}]", max_chars(value_field), problems)
                elif value_field.message_type is not None:
                    _message(item, f"{name}[{key[:40]!r}].", problems)
        elif f.is_repeated:
            for i, item in enumerate(value):
                _message(item, f"{name}[{i}].", problems)
        else:
            _message(value, name + ".", problems)


def _struct(struct, path: str, problems: list) -> None:
    for key, value in struct.fields.items():
        _text(key, f"{path} key", DEFAULT_MAX_CHARS, problems)
        _value(value, f"{path}.{key[:40]}", problems)


def _list(values, path: str, problems: list) -> None:
    for i, value in enumerate(values.values):
        _value(value, f"{path}[{i}]", problems)


def _value(value, path: str, problems: list) -> None:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        _text(value.string_value, path, None, problems)
    elif kind == "struct_value":
        _struct(value.struct_value, path, problems)
    elif kind == "list_value":
        _list(value.list_value, path, problems)


def _timestamp(ts, path: str, problems: list) -> None:
    if not _MIN_SECONDS <= ts.seconds <= _MAX_SECONDS or not 0 <= ts.nanos <= 999_999_999:
        problems.append(FieldViolation(path, "must be a time between years 1 and 9999"))


def _duration(duration, path: str, problems: list) -> None:
    if abs(duration.seconds) > _MAX_DURATION_SECONDS or abs(duration.nanos) > 999_999_999 or (
            duration.seconds * duration.nanos < 0):
        problems.append(FieldViolation(path, "must be a duration within ±10,000 years"))


_SPECIAL = {
    "google.protobuf.Struct": _struct,
    "google.protobuf.ListValue": _list,
    "google.protobuf.Value": _value,
    "google.protobuf.Timestamp": _timestamp,
    "google.protobuf.Duration": _duration,
}


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_or_new(given: str) -> str:
    """A caller's request id when it is safe to log as is (letters, digits, `._:-`, at most 128), else a new one."""
    return given if given and _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()  # as uuid4().hex, 4x cheaper
