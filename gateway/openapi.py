"""OpenAPI 3.1 generated from the same bindings and message descriptors that drive the routes."""

from google.protobuf import descriptor as d

from gateway import uploads
from gateway.transcoder import Binding

FD = d.FieldDescriptor
_SCALARS = {
    FD.TYPE_STRING: {"type": "string"}, FD.TYPE_BYTES: {"type": "string", "format": "byte"},
    FD.TYPE_BOOL: {"type": "boolean"}, FD.TYPE_DOUBLE: {"type": "number"}, FD.TYPE_FLOAT: {"type": "number"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"}, FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"}, FD.TYPE_UINT32: {"type": "integer", "format": "int64"},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64"},
    # protojson writes 64-bit integers as strings
    FD.TYPE_INT64: {"type": "string", "format": "int64"}, FD.TYPE_SINT64: {"type": "string", "format": "int64"},
    FD.TYPE_SFIXED64: {"type": "string", "format": "int64"}, FD.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FD.TYPE_FIXED64: {"type": "string", "format": "uint64"},
}
_WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "example": "1.5s"},
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated field paths"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}},
                            "additionalProperties": True},
    "google.protobuf.StringValue": {"type": "string"}, "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.Int32Value": {"type": "integer"}, "google.protobuf.DoubleValue": {"type": "number"},
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "status", "message"],
    "properties": {
        "code": {"type": "integer", "description": "HTTP status"},
        "status": {"type": "string", "description": "gRPC status name, e.g. NOT_FOUND"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
    },
}


class _Schemas:
    def __init__(self):
        self.components: dict[str, dict] = {}

    def message(self, descriptor: d.Descriptor) -> dict:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        name = descriptor.full_name
        if name not in self.components:
            self.components[name] = {}  # placeholder first: recursive messages terminate
            self.components[name] = {
                "type": "object",
                "properties": {f.name: self.field(f) for f in descriptor.fields},
            }
        return {"$ref": f"#/components/schemas/{name}"}

    def field(self, f: d.FieldDescriptor) -> dict:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            return {"type": "object", "additionalProperties": self.field(f.message_type.fields_by_name["value"])}
        if f.message_type is not None:
            single = self.message(f.message_type)
        elif f.enum_type is not None:
            single = {"type": "string", "enum": [v.name for v in f.enum_type.values]}
        else:
            single = dict(_SCALARS[f.type])
        return {"type": "array", "items": single} if f.is_repeated else single


def _field_at(message: d.Descriptor, dotted: str) -> d.FieldDescriptor:
    *parents, leaf = dotted.split(".")
    for name in parents:
        message = message.fields_by_name[name].message_type
    return message.fields_by_name[leaf]


def _parameters(binding: Binding) -> list[dict]:
    params = []
    for param, dotted in binding.path_fields:
        schema = _Schemas().field(_field_at(binding.method.input_type, dotted))
        if schema.get("type") == "string":
            schema["minLength"] = 1  # an empty segment is another route
        params.append({"name": param, "in": "path", "required": True, "schema": schema,
                       **({"description": f"the request's `{dotted}`"} if param != dotted else {})})
    for name, f in binding.query_fields.items():
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            params.append({"name": name, "in": "query", "required": False, "style": "deepObject", "explode": True,
                           "schema": _Schemas().field(f), "description": f"as {name}[key]=value"})
            continue
        if f.message_type is not None and f.message_type.full_name not in _WELL_KNOWN:
            continue
        schema = _Schemas().field(f)
        params.append({"name": name, "in": "query", "required": False, "schema": schema})
    return params


def build_openapi(bindings: list[Binding]) -> dict:
    schemas = _Schemas()
    paths: dict[str, dict] = {}
    for b in bindings:
        service = b.method.containing_service
        operation = {
            "operationId": f"{service.name}_{b.method.name}",
            "tags": [service.name],
            "summary": b.method.name,
            "parameters": _parameters(b),
            "responses": {
                "200": {"description": "OK", "content": (
                    {"text/event-stream": {"schema": {"type": "string",
                                                      "description": "SSE; each data line is " + b.response_class.DESCRIPTOR.full_name}}}
                    if b.server_streaming else
                    {"application/json": {"schema": schemas.message(b.method.output_type)}})},
                "default": {"description": "Error", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
        if b.body == "*":
            body_schema = schemas.message(b.method.input_type)
        elif b.body:
            body_schema = schemas.field(b.method.input_type.fields_by_name[b.body])
        else:
            body_schema = None
        if body_schema is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
        paths.setdefault(b.route_path, {})[b.http_method.lower()] = operation
    paths[uploads.PATH] = {"post": uploads.openapi_operation(schemas.message)}  # the one hand-written route
    schemas.components["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": "Agentic Platform API", "version": "1",
                 "description": "REST transcoding of the platform's gRPC services. Authenticate with "
                                "`Authorization: Bearer <access token>` or `X-API-Key: <key>`."},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }
