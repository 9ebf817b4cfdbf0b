"""gRPC status -> HTTP, as grpc-gateway maps it, and the one JSON error body `{code, status, message, details}`."""

import json

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from starlette.responses import Response

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

_DETAIL_TYPES = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo,
                error_details_pb2.ResourceInfo, error_details_pb2.PreconditionFailure,
                error_details_pb2.QuotaFailure, error_details_pb2.Help, error_details_pb2.LocalizedMessage)
}


def decode_details(trailing_metadata) -> list[dict]:
    """google.rpc.Status details from the `grpc-status-details-bin` trailer, as protojson dicts."""
    for key, value in trailing_metadata or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            details = []
            for packed in status.details:
                cls = _DETAIL_TYPES.get(packed.TypeName())
                if cls is None:
                    details.append({"@type": packed.type_url})
                    continue
                message = cls()
                packed.Unpack(message)
                details.append({"@type": packed.type_url,
                                **json_format.MessageToDict(message, preserving_proto_field_name=True)})
            return details
    return []


def error_body(http_status: int, status_name: str, message: str, details: list | None = None) -> bytes:
    return json.dumps({"code": http_status, "status": status_name, "message": message,
                       "details": details or []}).encode()


def error_response(http_status: int, status_name: str, message: str, details: list | None = None,
                   headers: dict | None = None) -> Response:
    return Response(error_body(http_status, status_name, message, details), status_code=http_status,
                    media_type="application/json", headers=headers)


def bad_request(http_status: int, message: str, field: str = "", headers: dict | None = None) -> Response:
    """A request the gateway refuses itself (400, 413, 415, 431), naming the field or header to fix."""
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [{"field": field, "description": message}]}] if field else []
    return error_response(http_status, "INVALID_ARGUMENT", message, details, headers)


# A status without google.rpc details was not written by our services (they always attach some): it came
# from the gRPC library (message too large, stream reset, deadline) and its text names library internals.
_LIBRARY_MESSAGES = {
    grpc.StatusCode.DEADLINE_EXCEEDED: "the request took longer than its deadline",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "the request or its reply is too large",
    grpc.StatusCode.CANCELLED: "the request was cancelled",
    grpc.StatusCode.UNAVAILABLE: "service unavailable; try again shortly",
}


def from_rpc_error(error: grpc.aio.AioRpcError, headers: dict | None = None) -> Response:
    code = error.code()
    details = decode_details(error.trailing_metadata())
    headers = dict(headers or {})
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        for detail in details:
            if detail.get("@type", "").endswith("google.rpc.RetryInfo"):
                delay = detail.get("retry_delay", "1s").rstrip("s")
                headers["Retry-After"] = str(max(1, round(float(delay))))
    message = error.details() or code.name.lower()
    if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS):
        message = "internal error"  # a bug or a library failure downstream: its text is for the logs
    elif not details or code == grpc.StatusCode.UNAVAILABLE:
        message = _LIBRARY_MESSAGES.get(code, code.name.lower().replace("_", " "))
    return error_response(HTTP_STATUS.get(code, 500), code.name, message, details, headers)
