"""What a node is: a class with metadata (type, category, JSON Schema of its params, handles) and `run`.

The registry discovers every `Node` subclass with a `type` in the modules of this package. A node never sees
LangGraph: the compiler wraps `run` with retries, a timeout and events, and routes by `NodeResult.route`.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import importlib
import json
import pkgutil
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from services.common import outbound

CATEGORIES = ("control", "llms", "agents", "tools", "memory", "chains", "retrieval", "output")


class NodeError(Exception):
    """A node failed for a reason its user can act on (the message is shown in node_failed / run_failed).

    `retryable` False fails the node at once whatever its retry policy (a wrong API key stays wrong);
    `retry_after` is how long the other side asked us to wait (a provider's 429), in seconds."""

    code = "NODE_FAILED"

    def __init__(self, message: str, *, code: str = "", retryable: bool = True, retry_after: float = 0.0):
        super().__init__(message)
        if code:
            self.code = code
        self.retryable, self.retry_after = retryable, retry_after


class ParamError(Exception):
    """A node's parameters are invalid: (field within data, what to fix)."""

    def __init__(self, field: str, description: str):
        super().__init__(f"{field}: {description}")
        self.field, self.description = field, description


@dataclass
class NodeResult:
    output: Any
    # For nodes with named outputs: which handle the run continues on.
    route: str | None = None
    # Extra state a node keeps between visits (a loop's counter).
    memory: dict | None = None


@dataclass
class NodeContext:
    """What one node run sees."""

    node_id: str
    input: Any  # the primary input: the predecessor's output (the run input for start)
    inputs: dict[str, Any]  # every predecessor that produced output, by node id
    outputs: dict[str, Any]  # every node output so far, by node id
    run_input: Any
    memory: dict  # this node's memory from earlier visits
    messages: list[dict]  # the thread's earlier messages: [{role, content}]
    emit: Callable[[str, dict], None]  # emit(type, payload): token events and the like
    services: Any = None  # the run's services: sub-workflows, credentials (see engine.run.RunServices)
    extra: dict = field(default_factory=dict)


class Node(abc.ABC):
    type: ClassVar[str] = ""
    category: ClassVar[str] = "control"
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params_schema: ClassVar[dict] = {"type": "object", "properties": {}}
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    credential_type: ClassVar[str] = ""
    # Retry and timeout defaults; a node's data may override them (retry: {max_attempts, backoff_seconds},
    # timeout_seconds).
    default_timeout_seconds: ClassVar[float] = 60.0
    # Nodes that pause the run (a LangGraph interrupt) need a checkpointer.
    interrupts: ClassVar[bool] = False

    def __init__(self, node_id: str, params: dict):
        self.node_id = node_id
        self.params = params
        self.configure(params)

    def configure(self, params: dict) -> None:  # noqa: B027 (optional: nodes without parameters skip it)
        """Check and keep the parameters; raise ParamError. Runs once, when the graph is compiled."""

    def workflows(self) -> list[tuple[str, int]]:
        """Other workflows this node runs, (id, version or 0 for current): pinned when a run starts."""
        return []

    @abc.abstractmethod
    async def run(self, ctx: NodeContext) -> NodeResult:
        """The node's work: its output (and, for nodes with named outputs, the route to take)."""


Runner = Callable[[NodeContext], Awaitable[NodeResult]]

_REGISTRY: dict[str, type[Node]] = {}


def _discover() -> None:
    from services.executor import nodes as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")

    def walk(cls):
        for sub in cls.__subclasses__():
            if sub.type:
                if sub.type in _REGISTRY and _REGISTRY[sub.type] is not sub:
                    raise RuntimeError(f"two node classes claim type {sub.type!r}")
                if sub.category not in CATEGORIES:
                    raise RuntimeError(f"node {sub.type!r} has unknown category {sub.category!r}")
                _REGISTRY[sub.type] = sub
            walk(sub)

    walk(Node)


def registry() -> dict[str, type[Node]]:
    if not _REGISTRY:
        _discover()
    return _REGISTRY


# --- small parameter helpers every node uses --------------------------------------------------------------

def text_param(params: dict, name: str, *, required: bool = False, default: str = "", max_length: int = 100_000) -> str:
    value = params.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise ParamError(name, "must be a string")
    if required and not value.strip():
        raise ParamError(name, "is required")
    if len(value) > max_length:
        raise ParamError(name, f"must be at most {max_length} characters")
    return value


def int_param(params: dict, name: str, *, default: int, minimum: int, maximum: int) -> int:
    value = params.get(name, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ParamError(name, f"must be an integer from {minimum} to {maximum}")
    return value


def number_param(params: dict, name: str, *, default: float, minimum: float, maximum: float) -> float:
    value = params.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ParamError(name, f"must be a number from {minimum} to {maximum}")
    return float(value)


def as_text(value: Any) -> str:
    """A node input as text: strings as they are, a message-like object's text, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("text", "message", "question", "input", "content", "output"):
            if isinstance(value.get(key), str):
                return value[key]
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, default=str)


SUMMARY_CHARS = 2000


def summarize(value: Any) -> Any:
    """An output as it appears in events: small values as they are, large ones cut (the run keeps the rest)."""
    if isinstance(value, str):
        return value if len(value) <= SUMMARY_CHARS else value[:SUMMARY_CHARS] + "…"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)[:SUMMARY_CHARS]
    return value if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS] + "…"


# --- the outbound-address guard (services.common.outbound) under the executor operator's policy ---------

USER_AGENT = "agentic-platform-executor/0.1"
_outbound_policy: outbound.Policy | None = None


def configure_outbound(settings) -> None:
    """The running executor's policy (server start): EXECUTOR_OUTBOUND_ALLOW, EXECUTOR_ALLOW_PRIVATE_NETWORKS."""
    global _outbound_policy
    _outbound_policy = outbound.Policy.of(settings.allow_private_networks, settings.outbound_allow)


@functools.cache
def _policy_from_environment() -> outbound.Policy:
    from services.executor.settings import ExecutorSettings

    settings = ExecutorSettings()
    return outbound.Policy.of(settings.allow_private_networks, settings.outbound_allow)


def outbound_policy() -> outbound.Policy:
    """The configured policy; without a server start (a node run on its own) the environment's settings."""
    return _outbound_policy or _policy_from_environment()


def outbound_failure(exc: outbound.OutboundRefused | outbound.OutboundError) -> NodeError:
    """The node's error for a refused address (not worth a retry) or a request that could not be made."""
    if isinstance(exc, outbound.OutboundRefused):
        return NodeError(str(exc), code="UNSAFE_URL", retryable=False)
    return NodeError(str(exc))


async def fetch_outbound(url: str, **options) -> outbound.Fetched:
    """outbound.fetch under the executor's policy; a refusal or failure is a NodeError (httpx errors pass)."""
    try:
        return await outbound.fetch(url, outbound_policy(), user_agent=USER_AGENT, **options)
    except (outbound.OutboundRefused, outbound.OutboundError) as exc:
        raise outbound_failure(exc) from None


_guarded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> (transport, client)


def _guarded_pair() -> tuple[httpx.AsyncHTTPTransport, httpx.AsyncClient]:
    loop = asyncio.get_running_loop()
    pair = _guarded.get(loop)
    if pair is None:
        transport = outbound.guarded_transport(outbound_policy)
        pair = _guarded[loop] = (transport, httpx.AsyncClient(transport=transport, trust_env=False))
    return pair


def guarded_transport() -> httpx.AsyncHTTPTransport:
    """The providers' HTTP transport: every connection it opens is checked against the current policy at connect
    time (services.common.outbound.guarded_transport). One per event loop (pooled connections belong to their
    loop), shared by node runs, so connections to a provider stay alive."""
    return _guarded_pair()[0]


def guarded_http_client() -> httpx.AsyncClient:
    """A client on guarded_transport() for SDKs that take a whole client (OpenAI's; it sets timeouts per
    request)."""
    return _guarded_pair()[1]


async def check_base_url(url: str) -> None:
    """A provider base URL from a workflow: http(s) and only allowed addresses, checked before the first call for
    a clear error. Providers whose client takes our transport (OpenAI-compatible, Ollama) are also checked at
    every connect; Anthropic's and Google's clients connect by name, so for them a name that changes its
    address between this check and the call (DNS rebinding) is a residual risk that the allow-list of networks
    keeps small."""
    try:
        await outbound.check(url, outbound_policy())
    except (outbound.OutboundRefused, outbound.OutboundError) as exc:
        raise outbound_failure(exc) from None
