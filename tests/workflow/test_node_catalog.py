"""The node catalog client: the executor's catalog when it answers, the built-in table with a warning when not."""

import asyncio

from services.workflow.graph import Limits, validate
from services.workflow.node_catalog import NodeCatalogClient, NodeType, catalog_from_metadata

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
