"""Routes built from the protos' `google.api.http` annotations (AIP-127), as grpc-gateway does.

At start-up every generated `agentic.<svc>.v1.*_pb2` module is read; each annotated method becomes one
`Binding`: HTTP verb + path template, the request/response classes, which request fields come from the
path, the body and the query. Methods without an annotation are internal and get no route. Everything is
precomputed so the per-request work is: read body, build the message, one gRPC call, serialize.

JSON is protojson with the proto field names (`snake_case`): `ParseDict(ignore_unknown_fields=True)` in,
`MessageToDict(preserving_proto_field_name=True)` out.
"""

import importlib
import pkgutil
import re
from dataclasses import dataclass, field

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor as d
from google.protobuf import json_format, message_factory

from services.common.protojson import list_json, struct_json, value_json

_VARIABLE = re.compile(r"\{([A-Za-z0-9_.]+)(?:=[^}]*)?\}")
_INT_TYPES = {d.FieldDescriptor.TYPE_INT32, d.FieldDescriptor.TYPE_INT64, d.FieldDescriptor.TYPE_UINT32,
              d.FieldDescriptor.TYPE_UINT64, d.FieldDescriptor.TYPE_SINT32, d.FieldDescriptor.TYPE_SINT64,
              d.FieldDescriptor.TYPE_FIXED32, d.FieldDescriptor.TYPE_FIXED64, d.FieldDescriptor.TYPE_SFIXED32,
              d.FieldDescriptor.TYPE_SFIXED64}
_FLOAT_TYPES = {d.FieldDescriptor.TYPE_FLOAT, d.FieldDescriptor.TYPE_DOUBLE}
# Response fields that hand a client a credential: such replies are never stored by caches (no-store).
SECRET_RESPONSE_FIELDS = frozenset({"access_token", "refresh_token", "key", "secret"})


class RequestError(Exception):
    """The HTTP request cannot become a valid gRPC request: a 400 that names what to fix."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


@dataclass
class Binding:
    service: str  # <svc> of agentic.<svc>.v1: which downstream channel
    full_method: str  # /agentic.auth.v1.AuthService/SignIn
    method: d.MethodDescriptor
    http_method: str
    template: str  # as written in the proto
    route_path: str  # Starlette and OpenAPI form: dots in variable names become "_" ({workflow.id} -> {workflow_id})
    path_fields: list[tuple[str, str]]  # (route param, dotted field path)
    body: str  # "", "*" or a top-level field name
    request_class: type
    response_class: type
    server_streaming: bool
    etag_field: str = ""  # dotted path of the request's etag, filled from If-Match
    response_has_etag: bool = False
    response_carries_secret: bool = False
    resume_field: str = ""  # after_seq: filled from Last-Event-ID
    query_fields: dict[str, d.FieldDescriptor] = field(default_factory=dict)
    field_masks: tuple[str, ...] = ()  # top-level FieldMask fields

    @property
    def specificity(self) -> tuple:
        """Sort key: custom verbs and literal segments first, so `/x/{id}:export` is matched before `/x/{id}`."""
        literal = [s for s in self.template.split("/") if s and "{" not in s]
        return (":" not in self.template.rsplit("/", 1)[-1], -len(literal), self.template)


def _etag_path(message: d.Descriptor, body: str) -> str:
    if "etag" in message.fields_by_name:
        return "etag"
    candidates = [body] if body not in ("", "*") else []
    candidates += [f.name for f in message.fields if f.message_type is not None]
    for name in candidates:
        f = message.fields_by_name.get(name)
        if f is not None and f.message_type is not None and "etag" in f.message_type.fields_by_name:
            return f"{name}.etag"
    return ""


def _rules(method: d.MethodDescriptor) -> list[http_pb2.HttpRule]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    return [rule, *rule.additional_bindings]


def _binding(service: str, method: d.MethodDescriptor, rule: http_pb2.HttpRule) -> Binding:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        verb, template = rule.custom.kind.upper(), rule.custom.path
    else:
        verb, template = kind.upper(), getattr(rule, kind)
    path_fields = []

    def to_param(match: re.Match) -> str:
        dotted = match.group(1)
        param = dotted.replace(".", "_")  # tools such as schemathesis cannot take dots in a variable name
        path_fields.append((param, dotted))
        return "{" + param + "}"

    route_path = _VARIABLE.sub(to_param, template)
    if len({param for param, _ in path_fields}) < len(path_fields):
        raise ValueError(f"{template}: two path variables have the same name once dots become underscores")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    bound = {dotted.split(".")[0] for _, dotted in path_fields}
    query_fields = {}
    if rule.body != "*":
        query_fields = {f.name: f for f in method.input_type.fields if f.name not in bound and f.name != rule.body}
    return Binding(
        service=service,
        full_method=f"/{method.containing_service.full_name}/{method.name}",
        method=method,
        http_method=verb,
        template=template,
        route_path=route_path,
        path_fields=path_fields,
        body=rule.body,
        request_class=request_class,
        response_class=response_class,
        server_streaming=method.server_streaming,
        etag_field=_etag_path(method.input_type, rule.body),
        response_has_etag="etag" in method.output_type.fields_by_name,
        response_carries_secret=not SECRET_RESPONSE_FIELDS.isdisjoint(method.output_type.fields_by_name),
        resume_field="after_seq" if "after_seq" in method.input_type.fields_by_name else "",
        query_fields=query_fields,
        field_masks=tuple(f.name for f in method.input_type.fields
                          if f.message_type is not None and f.message_type.full_name == "google.protobuf.FieldMask"),
    )


def discover(root_package: str = "agentic") -> list[Binding]:
    """Every annotated method of every generated `agentic.<svc>.v1` module."""
    root = importlib.import_module(root_package)
    bindings: list[Binding] = []
    seen: set[str] = set()
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{root_package}."):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(info.name)
        parts = info.name.split(".")  # agentic.<svc>.v1.<file>_pb2
        if len(parts) != 4:
            continue
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                for rule in _rules(method):
                    binding = _binding(parts[1], method, rule)
                    key = f"{binding.http_method} {binding.template}"
                    if key in seen:
                        raise ValueError(f"two RPCs claim {key}")
                    seen.add(key)
                    bindings.append(binding)
    return sorted(bindings, key=lambda b: b.specificity)


# --- request building -----------------------------------------------------------------------------------

def _set_path(target: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for name in parents:
        child = target.setdefault(name, {})
        if not isinstance(child, dict):
            raise RequestError(f"{name} must be an object", name)
        target = child
    target[leaf] = value


def _scalar(f: d.FieldDescriptor, raw: str, name: str):
    if f.type == d.FieldDescriptor.TYPE_BOOL:
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise RequestError(f"query parameter {name} must be true or false", name)
    if f.type in _INT_TYPES:
        try:
            return int(raw)
        except ValueError:
            raise RequestError(f"query parameter {name} must be an integer", name) from None
    if f.type in _FLOAT_TYPES:
        try:
            return float(raw)
        except ValueError:
            raise RequestError(f"query parameter {name} must be a number", name) from None
    return raw  # strings, enums by name, well-known types in their JSON string form


_MAP_KEY = re.compile(r"([A-Za-z0-9_]+)\[([^\]]*)\]")


def map_field(f: d.FieldDescriptor) -> bool:
    return f.message_type is not None and f.message_type.GetOptions().map_entry


def _query_value(binding: Binding, name: str, values: list[str]):
    """Resolve a (possibly dotted) query parameter to its field and convert the strings it carries."""
    keyed = _MAP_KEY.fullmatch(name)
    if keyed is not None:  # map<string, scalar> entry: credential_bindings[openai/prod]=my-key
        f = binding.query_fields.get(keyed.group(1))
        if f is None or not map_field(f) or f.message_type.fields_by_name["value"].message_type is not None:
            return None, None
        return f, {keyed.group(2): _scalar(f.message_type.fields_by_name["value"], values[-1], name)}
    head, _, rest = name.partition(".")
    f = binding.query_fields.get(head)
    if f is None:
        return None, None
    while rest:
        if f.message_type is None or f.message_type.full_name.startswith("google.protobuf."):
            return None, None
        head, _, rest = rest.partition(".")
        f = f.message_type.fields_by_name.get(head)
        if f is None:
            return None, None
    if f.message_type is not None and not f.message_type.full_name.startswith("google.protobuf."):
        raise RequestError(f"query parameter {name} is a message; set its fields as {name}.<field>", name)
    if f.is_repeated:
        items = [v for raw in values for v in raw.split(",")] if f.type != d.FieldDescriptor.TYPE_MESSAGE else values
        return f, [_scalar(f, v, name) for v in items]
    return f, _scalar(f, values[-1], name)


def build_request(binding: Binding, path_params: dict, query: list[tuple[str, str]], body, if_match: str = "",
                  last_event_id: str = ""):
    """The gRPC request message for one HTTP request (AIP-127: path, then body, then query)."""
    if binding.body == "*":
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        data = dict(body)
    else:
        data = {}
        if binding.body:
            data[binding.body] = body if body is not None else {}
        grouped: dict[str, list[str]] = {}
        for key, value in query:
            grouped.setdefault(key, []).append(value)
        for key, values in grouped.items():
            f, value = _query_value(binding, key, values)
            if f is None:
                continue
            if map_field(f):
                data.setdefault(f.name, {}).update(value)
            else:
                _set_path(data, key, value)
    for param, dotted in binding.path_fields:
        _set_path(data, dotted, path_params[param])
    if if_match and binding.etag_field:
        _set_path(data, binding.etag_field, if_match)
    if last_event_id and binding.resume_field:
        try:
            _set_path(data, binding.resume_field, int(last_event_id))
        except ValueError:
            raise RequestError("Last-Event-ID must be an event id from this stream", "Last-Event-ID") from None
    for name in binding.field_masks:
        if isinstance(data.get(name), str):  # we speak snake_case; protojson wants lowerCamel mask paths
            data[name] = ",".join(_camel(path.strip()) for path in data[name].split(",") if path.strip())
    try:
        return json_format.ParseDict(data, binding.request_class(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise RequestError(f"invalid request: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise RequestError(f"invalid request: {exc}") from None


def _camel(path: str) -> str:
    return ".".join(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), part) for part in path.split("."))


class _Printer(json_format._Printer):
    """protojson as MessageToDict prints it, with Struct, Value and ListValue (graphs, run inputs and
    outputs, event payloads: most of a typical reply) converted by services.common.protojson, about 3x
    faster. The base printer dispatches well-known types by method name, so overriding these three is enough.

    Their numbers are doubles; integral ones print as JSON integers (`"position": 3`, not `3.0`), as Go's
    protojson (grpc-gateway) and JavaScript print them, so a client gets back the integers it stored."""

    def _StructMessageToJsonObject(self, message):
        return struct_json(message, integers=True)

    def _ValueMessageToJsonObject(self, message):
        return value_json(message, integers=True)

    def _ListValueMessageToJsonObject(self, message):
        return list_json(message, integers=True)


_PRINTER = _Printer(preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def to_json_dict(message) -> dict:
    return _PRINTER._MessageToJsonObject(message)
