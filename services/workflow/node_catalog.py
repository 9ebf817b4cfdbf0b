"""What the workflow service knows about node types, for validation.

The executor owns the node catalog. Until it answers (it is a separate service, and may be down), the
workflow service uses this built-in table of the core types: structural rules (start, end, loops,
condition handles) and required parameters are always checked; a type missing from the table is a warning,
not an error, and is checked again at run time.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from google.protobuf.json_format import MessageToDict

from agentic.executor.v1 import executor_pb2, executor_pb2_grpc
from services.common import caller as callers
from services.common.flowgraph import END, LOOP, START, Catalog, NodeType

log = logging.getLogger(__name__)

BUILTIN: dict[str, NodeType] = {
    # control flow
    START: NodeType(),
    END: NodeType(),
    "condition": NodeType(required=("expression",), outputs=("true", "false")),
    LOOP: NodeType(required=("max_iterations",), outputs=("body", "done")),
    "merge": NodeType(),
    "human_approval": NodeType(required=("prompt",), outputs=("approved", "rejected")),
    "template": NodeType(required=("template",)),
    "sub_workflow": NodeType(required=("workflow_id",)),
    # llms and agents
    "chat_model": NodeType(required=("model",)),
    "llm": NodeType(required=("model",)),
    "agent": NodeType(required=("model",)),
    "router": NodeType(required=("routes",)),
    # memory
    "chat_memory": NodeType(),
    # tools
    "http_request": NodeType(required=("url",)),
    "calculator": NodeType(),
    "web_search": NodeType(),
    # retrieval
    "text_loader": NodeType(),
    "web_loader": NodeType(required=("url",)),
    "text_splitter": NodeType(),
    "embeddings": NodeType(required=("model",)),
    "vector_retriever": NodeType(required=("collection_id",)),
    "rag_evaluation": NodeType(),
    "summarize": NodeType(required=("model",)),
}


def builtin_catalog(reason: str) -> Catalog:
    return Catalog(dict(BUILTIN), authoritative=False,
                   warnings=[f"node types not checked against the executor's catalog ({reason}); "
                             "they will be checked again at run time"])


def catalog_from_metadata(items: list[dict]) -> dict[str, NodeType]:
    """The executor's node metadata (as JSON: `type`, `params_schema` JSON Schema, `inputs`, `outputs`) -> table.

    Inputs and outputs may be handle names or objects with an `id`/`name`; required params are the schema's
    `required` list.
    """
    def handles(values) -> tuple[str, ...]:
        return tuple(v if isinstance(v, str) else (v.get("id") or v.get("name") or "") for v in values or [])

    return {item["type"]: NodeType(required=tuple((item.get("params_schema") or {}).get("required") or ()),
                                   outputs=handles(item.get("outputs")), inputs=handles(item.get("inputs")))
            for item in items if item.get("type")}


def catalog_from_response(response) -> dict[str, NodeType]:
    """An executor `ListNodeTypesResponse` -> table."""
    return catalog_from_metadata([MessageToDict(node_type, preserving_proto_field_name=True)
                                  for node_type in response.node_types])


CatalogFetcher = Callable[[], Awaitable[dict[str, NodeType]]]


def grpc_catalog_fetcher(channel, timeout: float = 2.0) -> CatalogFetcher:
    """Fetch the node catalog from the executor over an existing channel (ListNodeTypes needs no token)."""
    stub = executor_pb2_grpc.NodeCatalogServiceStub(channel)

    async def fetch() -> dict[str, NodeType]:
        request_id = callers.request_id.get()
        metadata = (("x-request-id", request_id),) if request_id else None
        response = await stub.ListNodeTypes(executor_pb2.ListNodeTypesRequest(), timeout=timeout, metadata=metadata)
        return catalog_from_response(response)

    return fetch


class NodeCatalogClient:
    """The executor's catalog when it answers (cached for `ttl`); otherwise the built-in table, with a warning.

    A failed fetch is not retried for `retry_after` seconds, so a down executor costs one timeout now and
    then, not one per save.
    """

    def __init__(self, fetch: CatalogFetcher | None = None, *, ttl: float = 60.0, retry_after: float = 5.0,
                 timeout: float = 2.0):
        self.fetch, self.ttl, self.retry_after, self.timeout = fetch, ttl, retry_after, timeout
        self._cached: Catalog | None = None
        self._expires = 0.0
        self._failed_until = 0.0
        self._reason = "no executor configured"
        self._lock = asyncio.Lock()

    async def catalog(self) -> Catalog:
        if self.fetch is None:
            return builtin_catalog(self._reason)
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now < self._expires:
                return self._cached
            if now < self._failed_until:
                return builtin_catalog(self._reason)
            try:
                types = await asyncio.wait_for(self.fetch(), self.timeout)
            except Exception as exc:  # down, slow, or without the catalog RPC: save anyway, check at run time
                log.warning("executor node catalog unavailable: %r", exc)
                self._failed_until, self._reason = now + self.retry_after, "the executor's catalog is unreachable"
                return builtin_catalog(self._reason)
            # start and end are structure, not executor features: always known
            self._cached = Catalog({START: NodeType(), END: NodeType(), **types}, authoritative=True)
            self._expires = now + self.ttl
            return self._cached

