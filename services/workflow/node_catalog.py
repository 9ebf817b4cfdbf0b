"""What the workflow service knows about node types, for validation.

The executor owns the node catalog. Until it answers (it is a separate service, and may be down), the
workflow service uses this built-in table of the core types: structural rules (start, end, loops,
condition handles) and required parameters are always checked; a type missing from the table is a warning,
not an error, and is checked again at run time.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeType:
    required: tuple[str, ...] = ()
    # Named output handles; empty means a single default handle (any sourceHandle is accepted).
    outputs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()


@dataclass
class Catalog:
    types: dict[str, NodeType]
    authoritative: bool  # True when it came from the executor
    warnings: list[str] = field(default_factory=list)


START, END, LOOP = "start", "end", "loop"

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
    "summarize": NodeType(required=("model",)),
}


def builtin_catalog(reason: str) -> Catalog:
    return Catalog(dict(BUILTIN), authoritative=False,
                   warnings=[f"node types not checked against the executor's catalog ({reason}); "
                             "they will be checked again at run time"])


class NodeCatalogClient:
    """Asks the executor for its catalog when one is configured; otherwise the built-in table."""

    def __init__(self, executor_address: str = ""):
        self.executor_address = executor_address

    async def catalog(self) -> Catalog:
        # The executor service does not exist yet: when it lands, fetch (and cache) its ListNodeTypes here.
        if not self.executor_address:
            return builtin_catalog("no executor configured")
        return builtin_catalog(f"executor at {self.executor_address} has no catalog RPC yet")
