"""Multipart file uploads, streamed into the vectorstore's client-streaming UploadDocument RPC.

`POST /api/v1/collections/{collection_id}/documents:upload` with `multipart/form-data`: optional fields `name`
and `metadata` (a JSON object) first, then the `file` part. A proto annotation cannot describe this, so it is
the one hand-written route of the vectorstore. The body is parsed as it arrives (python-multipart's push
parser) and each piece of the file goes downstream as one `data` message: the gateway holds at most one
network read of the file at a time, whatever its size. The service enforces the size limit; a refusal for size
is 413 here. Everything else maps like every transcoded route.
"""

import asyncio
import json
import random

import grpc
import orjson
from google.protobuf import struct_pb2
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentic.vectorstore.v1 import vectorstore_pb2 as pb
from gateway import errors
from gateway.transcoder import to_json_dict

PATH = "/api/v1/collections/{collection_id}/documents:upload"
METHOD = "/agentic.vectorstore.v1.DocumentService/UploadDocument"
MAX_FIELD_BYTES = 16 * 1024  # name and metadata
MAX_PARTS = 3


class UploadError(Exception):
    """The multipart body itself is wrong (400)."""


class _Parts:
    """Callbacks of the push parser, turned into a list of events drained after each network read:
    ("field", name, value) for small fields, ("file", filename, content_type) when the file part starts,
    ("data", bytes) for each piece of it."""

    def __init__(self):
        self.events: list[tuple] = []
        self.parts = 0
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = b"", b""
        self._name: str | None = None
        self._is_file = False
        self._buffer = bytearray()

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadError(f"at most {MAX_PARTS} parts: name, metadata, file")
        self._headers, self._buffer, self._name, self._is_file = {}, bytearray(), None, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            self._is_file = True
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            content_type = self._headers.get(b"content-type", b"").decode("latin-1")
            self.events.append(("file", filename, content_type))

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.events.append(("data", bytes(data[start:end])))
            return
        self._buffer += data[start:end]
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise UploadError(f"form field {self._name!r} is larger than {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        if not self._is_file:
            self.events.append(("field", self._name, self._buffer.decode("utf-8", "replace")))


def _header(collection_id: str, fields: dict, filename: str, content_type: str) -> pb.UploadDocumentRequest:
    metadata = struct_pb2.Struct()
    if "metadata" in fields:
        try:
            value = json.loads(fields["metadata"])
        except ValueError:
            raise UploadError("the metadata field must be a JSON object") from None
        if not isinstance(value, dict):
            raise UploadError("the metadata field must be a JSON object")
        metadata.update(value)
    return pb.UploadDocumentRequest(header=pb.UploadHeader(
        collection_id=collection_id, name=fields.get("name", ""), filename=filename, content_type=content_type,
        metadata=metadata))


async def _messages(request: Request, parts: _Parts, parser: MultipartParser, collection_id: str):
    """The RPC's request stream, produced while the HTTP body is read."""
    fields: dict[str, str] = {}
    started = False
    async for chunk in request.stream():
        parser.write(chunk)
        events, parts.events = parts.events, []
        for event in events:
            if event[0] == "field":
                if started:
                    raise UploadError("send the name and metadata fields before the file")
                fields[event[1]] = event[2]
            elif event[0] == "file":
                started = True
                yield _header(collection_id, fields, event[1], event[2])
            elif event[1]:
                yield pb.UploadDocumentRequest(data=event[1])
    parser.finalize()
    if not started:
        raise UploadError("the form has no `file` part")


def openapi_operation(schema_of) -> dict:
    """This route in the OpenAPI document (`schema_of(descriptor)` gives a message's schema reference)."""
    return {
        "operationId": "DocumentService_UploadDocument", "tags": ["DocumentService"], "summary": "UploadDocument",
        "description": "Upload a file into a collection. Send `name` and `metadata` before `file`; the file is "
                       "streamed to the service (413 past the service's size limit). The document is ingested "
                       "in the background: poll it until its status is COMPLETED or FAILED.",
        "parameters": [{"name": "collection_id", "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1}}],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "name": {"type": "string", "description": "the document's name (default: the file name)"},
                "metadata": {"type": "string", "description": "a JSON object, kept on every chunk"},
                "file": {"type": "string", "format": "binary",
                         "description": "text, Markdown, HTML, PDF, CSV or JSON"}}}}}},
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema_of(pb.Document.DESCRIPTOR)}}},
            "default": {"description": "Error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }


def upload_route(settings, downstream, metadata_for) -> Route:
    """The route; `downstream()` gives the gateway's Downstream (its channels live in the app's lifespan)."""

    async def upload(request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or f"{random.getrandbits(128):032x}"
        headers = {"x-request-id": request_id}
        try:
            kind, options = parse_options_header(request.headers.get("content-type", ""))
            boundary = options.get(b"boundary")
            if kind != b"multipart/form-data" or not boundary:
                raise UploadError("send the file as multipart/form-data (a `file` part)")
            parts = _Parts()
            parser = MultipartParser(boundary, parts.callbacks())
            call = downstream().channels["vectorstore"].stream_unary(
                METHOD, request_serializer=pb.UploadDocumentRequest.SerializeToString,
                response_deserializer=pb.Document.FromString)
            md = await metadata_for(request, request_id, False)
            refused: list[Exception] = []

            async def messages():
                # grpc cancels the call when the request stream raises; keep why, to answer 400 for it.
                try:
                    async for message in _messages(request, parts, parser, request.path_params["collection_id"]):
                        yield message
                except Exception as exc:
                    refused.append(exc)
                    raise

            try:
                reply = await call(messages(), metadata=md, timeout=settings.max_request_timeout_seconds)
            except asyncio.CancelledError:
                if not refused or asyncio.current_task().cancelling():
                    raise
                reason = refused[0] if isinstance(refused[0], UploadError) else "malformed multipart body"
                return errors.error_response(400, "INVALID_ARGUMENT", str(reason), None, headers)
            return Response(orjson.dumps(to_json_dict(reply)),
                            media_type="application/json", headers=headers)
        except UploadError as exc:
            return errors.error_response(400, "INVALID_ARGUMENT", str(exc), None, headers)
        except grpc.aio.AioRpcError as exc:
            response = errors.from_rpc_error(exc, headers)
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "upload limit" in (exc.details() or ""):
                response.status_code = 413
            return response

    return Route(PATH, upload, methods=["POST"])
