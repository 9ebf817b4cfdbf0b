"""Property-based fuzzing of every RPC of every service, built from the proto descriptors (hypothesis).

Each request message is drawn field by field from its descriptor: random, empty, huge, NUL-carrying and
negative values, extreme integers, NaN, unknown enum numbers, out-of-range timestamps, deep Structs. Each is
sent as a user, as a service identity and anonymously, straight to the service (a caller inside the cluster
that bypasses the gateway). No answer may be INTERNAL, UNKNOWN or DATA_LOSS. A service package added under
protos/ must have its running service in `service_addresses` (the test fails until it does).
"""

import asyncio
import importlib
import pkgutil

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf import message_factory
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import agentic
from agentic.auth.v1 import auth_pb2, auth_pb2_grpc
from tests.auth.helpers import Stubs

EXAMPLES_PER_RPC = 40
BUGS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
ENDS_OWN_SESSION = {"SignOut", "ChangePassword", "SwitchOrganization"}
FD = d.FieldDescriptor
_INT_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1), FD.TYPE_SINT32: (-(2**31), 2**31 - 1), FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1), FD.TYPE_SINT64: (-(2**63), 2**63 - 1), FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1), FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1), FD.TYPE_FIXED64: (0, 2**64 - 1),
}
TEXT = st.one_of(
    st.text(max_size=40), st.just(""), st.just("\x00"), st.text(max_size=20).map(lambda s: s + "\x00" + s),
    st.just("x" * 100_000), st.uuids().map(str), st.sampled_from(["-1", "0", "builtin:rag-qa", "openai/default", "..", "%"]),
)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.floats(), TEXT, st.integers(-(2**60), 2**60))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)


def _integers(low: int, high: int):
    return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, -1 if low < 0 else 1, 1]))


def scalar(f: d.FieldDescriptor):
    if f.type == FD.TYPE_STRING:
        return TEXT
    if f.type == FD.TYPE_BYTES:
        return st.binary(max_size=64)
    if f.type == FD.TYPE_BOOL:
        return st.booleans()
    if f.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return st.floats(width=32 if f.type == FD.TYPE_FLOAT else 64)
    if f.type == FD.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in f.enum_type.values]), st.integers(-5, 1000))
    return _integers(*_INT_RANGES[f.type])


def fill(message, values: dict) -> None:
    """Set drawn values on a message (messages are drawn as builder functions)."""
    for name, value in values.items():
        f = message.DESCRIPTOR.fields_by_name[name]
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            target = getattr(message, name)
            for key, item in value.items():
                if callable(item):
                    item(target[key])
                else:
                    target[key] = item
        elif f.message_type is not None:
            if f.is_repeated:
                for build in value:
                    build(getattr(message, name).add())
            else:
                value(getattr(message, name))
        elif f.is_repeated:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)


def builder(descriptor: d.Descriptor, depth: int = 0):
    """A strategy of functions that fill a message of this type."""
    name = descriptor.full_name
    if name == "google.protobuf.Struct":
        return st.dictionaries(TEXT, JSON, max_size=4).map(lambda v: lambda m: m.update(v))
    if name == "google.protobuf.Value":
        return JSON.map(lambda v: lambda m: m.MergeFrom(_value(v)))
    if name == "google.protobuf.Timestamp" or name == "google.protobuf.Duration":
        return st.tuples(_integers(-(2**63), 2**63 - 1), _integers(-(2**31), 2**31 - 1)).map(
            lambda sn: lambda m: (setattr(m, "seconds", sn[0]), setattr(m, "nanos", sn[1])))
    if name == "google.protobuf.FieldMask":
        return st.lists(TEXT, max_size=3).map(lambda paths: lambda m: m.paths.extend(paths))
    if depth > 3:
        return st.just(lambda m: None)
    fields = {}
    for f in descriptor.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value_field = f.message_type.fields_by_name["value"]
            item = builder(value_field.message_type, depth + 1) if value_field.message_type else scalar(value_field)
            fields[f.name] = st.dictionaries(scalar(f.message_type.fields_by_name["key"]), item, max_size=3)
        elif f.message_type is not None:
            single = builder(f.message_type, depth + 1)
            fields[f.name] = st.lists(single, max_size=3) if f.is_repeated else single
        else:
            fields[f.name] = st.lists(scalar(f), max_size=3) if f.is_repeated else scalar(f)
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: lambda m: fill(m, values))


def _value(v):
    from google.protobuf import struct_pb2

    message = struct_pb2.Value()
    struct = struct_pb2.Struct()
    struct.update({"v": v})
    message.CopyFrom(struct.fields["v"])
    return message


def services() -> dict[str, list[d.ServiceDescriptor]]:
    """Every service of every agentic.<svc>.v1 package, by <svc>."""
    found: dict[str, list[d.ServiceDescriptor]] = {}
    for info in pkgutil.walk_packages(agentic.__path__, prefix="agentic."):
        if info.name.endswith("_pb2") and len(info.name.split(".")) == 4:
            module = importlib.import_module(info.name)
            found.setdefault(info.name.split(".")[1], []).extend(module.DESCRIPTOR.services_by_name.values())
    return found


def fuzz_method(channel: grpc.Channel, service: d.ServiceDescriptor, method: d.MethodDescriptor,
                identities: list[tuple], bugs: list[str]) -> int:
    """Send EXAMPLES_PER_RPC drawn requests to one RPC; record INTERNAL/UNKNOWN/DATA_LOSS answers in `bugs`."""
    request_class = message_factory.GetMessageClass(method.input_type)
    path = f"/{service.full_name}/{method.name}"
    factory = channel.unary_stream if method.server_streaming else channel.unary_unary
    rpc = factory(path, request_serializer=request_class.SerializeToString, response_deserializer=lambda raw: raw)
    calls = [0]

    @settings(max_examples=EXAMPLES_PER_RPC, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(builder(method.input_type), st.sampled_from(identities))
    def call(build, metadata):
        request = request_class()
        build(request)
        calls[0] += 1
        try:
            if method.server_streaming:
                for count, _ in enumerate(rpc(request, metadata=metadata, timeout=5)):
                    if count >= 3:
                        break
            else:
                rpc(request, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            if exc.code() in BUGS:
                bugs.append(f"{path} -> {exc.code().name}: {exc.details()} for {str(request)[:300]!r}")

    call()
    return calls[0]


def fuzz(addresses: dict[str, str], identities: list[tuple]) -> tuple[int, list[str]]:
    """Every RPC of every service: (requests made, bugs seen)."""
    calls, bugs = 0, []
    for package, descriptors in services().items():
        with grpc.insecure_channel(addresses[package]) as channel:
            for service in descriptors:
                for method in service.methods:
                    if method.name not in ENDS_OWN_SESSION:
                        calls += fuzz_method(channel, service, method, identities, bugs)
    return calls, bugs


@pytest.fixture
def service_addresses(auth_service, workflow_service, executor_service, vectorstore_service) -> dict[str, str]:
    """The running service of each proto package (a new package's service is added here)."""
    return {"auth": auth_service.address, "workflow": workflow_service.address, "executor": executor_service.address,
            "vectorstore": vectorstore_service.address}


async def test_no_rpc_of_any_service_answers_internal(service_addresses, auth_channel):
    missing = set(services()) - set(service_addresses)
    assert not missing, f"protos/agentic/{missing}: add the running service to service_addresses to fuzz it"
    session = await Stubs(auth_channel).sign_up("grpc-fuzz")
    service_token = await auth_pb2_grpc.AuthServiceStub(auth_channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service_name="executor", service_secret="test-executor-secret"))
    identities = [(("authorization", f"Bearer {session.access_token}"),),
                  (("authorization", f"Bearer {service_token.access_token}"),), ()]
    calls, bugs = await asyncio.to_thread(fuzz, service_addresses, identities)
    assert calls > 400
    assert not bugs, "\n".join(bugs[:20])
