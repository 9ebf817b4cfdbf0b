"""The node catalog client: the executor's catalog when it answers, the built-in table with a warning when not."""

import asyncio

import grpc
from google.protobuf.struct_pb2 import Struct

from agentic.executor.v1 import executor_pb2, executor_pb2_grpc
from services.common.flowgraph import Limits, NodeType, validate
from services.workflow.node_catalog import (
    NodeCatalogClient,
    catalog_from_metadata,
    catalog_from_response,
    grpc_catalog_fetcher,
)

EXECUTOR_TYPES = {"start": NodeType(), "end": NodeType(), "chat_model": NodeType(required=("model",))}


class CountingFetcher:
    def __init__(self, result=None, error: Exception | None = None, delay: float = 0.0):
        self.result, self.error, self.delay, self.calls = result, error, delay, 0

    async def __call__(self):
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return self.result


async def test_without_an_executor_the_builtin_table_is_used_with_a_warning():
    catalog = await NodeCatalogClient().catalog()
    assert not catalog.authoritative and "chat_model" in catalog.types
    assert catalog.warnings and "executor" in catalog.warnings[0]


async def test_the_executors_catalog_is_authoritative_and_cached():
    fetch = CountingFetcher(EXECUTOR_TYPES)
    client = NodeCatalogClient(fetch, ttl=60)
    first, second = await asyncio.gather(client.catalog(), client.catalog())
    assert first is second and first.authoritative and not first.warnings and fetch.calls == 1
    graph = {"nodes": [{"id": "s", "type": "start"}, {"id": "x", "type": "quantum_oracle"}, {"id": "e", "type": "end"}],
             "edges": [{"id": "a", "source": "s", "target": "x"}, {"id": "b", "source": "x", "target": "e"}]}
    assert [p.field for p in validate(graph, first, Limits(50, 50, 10_000))] == ["flow_data.nodes[x].type"]


async def test_an_unreachable_or_slow_executor_degrades_to_a_warning_and_is_not_asked_every_time():
    failing = CountingFetcher(error=ConnectionError("refused"))
    client = NodeCatalogClient(failing, retry_after=60)
    for _ in range(3):
        catalog = await client.catalog()
        assert not catalog.authoritative and "unreachable" in catalog.warnings[0]
    assert failing.calls == 1
    slow = NodeCatalogClient(CountingFetcher(EXECUTOR_TYPES, delay=5), timeout=0.05)
    assert not (await slow.catalog()).authoritative


def test_executor_metadata_maps_to_required_params_and_handles():
    table = catalog_from_metadata([
        {"type": "condition", "params_schema": {"type": "object", "required": ["expression"]},
         "outputs": [{"id": "true"}, {"name": "false"}]},
        {"type": "web_loader", "params_schema": {"required": ["url"]}, "inputs": ["in"]},
        {"display_name": "no type: ignored"},
    ])
    assert table == {"condition": NodeType(required=("expression",), outputs=("true", "false")),
                     "web_loader": NodeType(required=("url",), inputs=("in",))}


def schema(value: dict) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


LIST_NODE_TYPES = executor_pb2.ListNodeTypesResponse(node_types=[
    executor_pb2.NodeType(type="condition", category="control", display_name="Condition",
                          params_schema=schema({"type": "object", "required": ["expression"],
                                                "properties": {"expression": {"type": "string"}}}),
                          outputs=["true", "false"]),
    executor_pb2.NodeType(type="chat_model", category="llms", params_schema=schema({"required": ["model"]}),
                          inputs=["messages"], credential_type="openai"),
    executor_pb2.NodeType(type="calculator", category="tools"),
])


def test_the_executors_list_node_types_reply_maps_to_the_table():
    assert catalog_from_response(LIST_NODE_TYPES) == {
        "condition": NodeType(required=("expression",), outputs=("true", "false")),
        "chat_model": NodeType(required=("model",), inputs=("messages",)),
        "calculator": NodeType(),
    }


class FakeNodeCatalog(executor_pb2_grpc.NodeCatalogServiceServicer):
    def __init__(self):
        self.metadata: list[dict] = []

    async def ListNodeTypes(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        return LIST_NODE_TYPES


async def test_the_catalog_is_fetched_over_grpc_from_list_node_types():
    fake = FakeNodeCatalog()
    server = grpc.aio.server()
    executor_pb2_grpc.add_NodeCatalogServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        catalog = await NodeCatalogClient(grpc_catalog_fetcher(channel)).catalog()
    finally:
        await channel.close()
        await server.stop(0)
    assert catalog.authoritative and not catalog.warnings and len(fake.metadata) == 1
    assert {"start", "end", "condition", "chat_model", "calculator"} == catalog.types.keys()
    assert "authorization" not in fake.metadata[0]  # ListNodeTypes is public
