"""One execution on this replica: its context inside LangGraph, node retries and timeouts, and its end.

`RunContext` is LangGraph's runtime context for a run: nodes reach the run's input, thread messages, events
and services (sub-workflows) through it, and nothing of it is checkpointed. `execute` drives the compiled
graph to an end (completed, failed, interrupted, cancelled, timed out) and records it: the execution row
first, then the terminal event, so a client that sees `run_completed` reads a finished execution.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.errors import GraphBubbleUp, GraphRecursionError
from langgraph.types import Command

from services.executor.engine.compile import CompiledWorkflow, StepPolicy
from services.executor.engine.credentials import RunCredentials
from services.executor.engine.events import EventLog
from services.executor.nodes.base import Node, NodeContext, NodeError, NodeResult, summarize

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After fails the node instead of holding the run


class RunFailed(Exception):
    def __init__(self, code: str, message: str, node_id: str = ""):
        super().__init__(message)
        self.error = {"code": code, "message": message, "node_id": node_id}


@dataclass
class Usage:
    """Tokens a run's models used (all nodes, all attempts, sub-workflows included)."""

    input_tokens: int = 0
    output_tokens: int = 0
    by_node: dict[str, list[int]] = field(default_factory=dict)  # node id -> [input, output] of its current run

    def add(self, node_id: str, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        counts = self.by_node.setdefault(node_id, [0, 0])
        counts[0] += input_tokens
        counts[1] += output_tokens

    def take(self, node_id: str) -> dict | None:
        counts = self.by_node.pop(node_id, None)
        return {"input_tokens": counts[0], "output_tokens": counts[1]} if counts else None


@dataclass
class Outcome:
    status: str  # succeeded | failed | cancelled | interrupted
    output: Any = None
    error: dict | None = None
    interrupt: dict | None = None
    row: dict | None = None  # the execution as recorded at the end (set by Executions._record)
    usage: Usage | None = None  # the tokens this attempt of the run used


SubworkflowRunner = Callable[["RunContext", str, int, Any, str], Awaitable[Any]]


@dataclass
class RunContext:
    execution_id: uuid.UUID
    org_id: uuid.UUID
    run_input: Any
    messages: list[dict]
    pins: dict[str, int]
    events: EventLog
    subworkflow_runner: SubworkflowRunner | None = None
    depth: int = 0
    prefix: str = ""  # node ids of a sub-workflow's events: "<parent node>/<node>"
    emitters: dict = field(default_factory=dict)
    credentials: RunCredentials | None = None
    usage: Usage = field(default_factory=Usage)

    async def secret(self, ref) -> str:
        """The plaintext of a credential (engine.credentials.CredentialRef) for this run."""
        if self.credentials is None:
            raise NodeError("credentials are not available here")
        return await self.credentials.secret(ref)

    def record_usage(self, node_id: str, input_tokens: int, output_tokens: int) -> None:
        self.usage.add(self.prefix + node_id, input_tokens, output_tokens)
    # The vectorstore's channel, and the caller's authorization and request id to search it as the caller
    # (retrieval nodes). Only foreground runs have the latter: a background run's caller is not around, so
    # there the executor acts for the run's organization (RunCredentials.acting_metadata).
    vectorstore: Any = None
    caller_metadata: list = field(default_factory=list)

    def emitter(self, node_id: str):
        emit = self.emitters.get(node_id)
        if emit is None:
            full_id = self.prefix + node_id

            def emit(type_: str, payload: dict) -> None:
                self.events.emit(type_, full_id, payload)

            self.emitters[node_id] = emit
        return emit

    async def run_subworkflow(self, workflow_id: str, version: int, value: Any, node_id: str) -> Any:
        if self.subworkflow_runner is None:
            raise NodeError("sub-workflows are not available here")
        return await self.subworkflow_runner(self, workflow_id, version, value, node_id)

    async def execute_node(self, node: Node, ctx: NodeContext, policy: StepPolicy) -> NodeResult:
        node_id = self.prefix + node.node_id
        self.events.emit("node_started", node_id, {"type": node.type})
        error = ""
        code = "NODE_FAILED"
        retry_after = 0.0
        for attempt in range(1, policy.attempts + 1):
            started = time.perf_counter()
            retry_after, retryable = 0.0, True
            try:
                if policy.timeout_seconds:
                    result = await asyncio.wait_for(node.run(ctx), policy.timeout_seconds)
                else:
                    result = await node.run(ctx)
            except GraphBubbleUp:  # an interrupt (human approval): LangGraph pauses the run here
                raise
            except TimeoutError:
                code, error = "NODE_TIMEOUT", f"timed out after {policy.timeout_seconds:g} s"
            except NodeError as exc:
                code, error = exc.code, str(exc)
                retry_after, retryable = exc.retry_after, exc.retryable
            except RunFailed:
                raise
            except Exception as exc:  # a bug or a library error: logged in full, shown briefly
                log.exception("node %s (%s) of execution %s failed", node_id, node.type, self.execution_id)
                code, error = "NODE_FAILED", f"{type(exc).__name__} in node"
            else:
                payload = {"duration_ms": round((time.perf_counter() - started) * 1000, 3),
                           "output": summarize(result.output)}
                if result.route is not None:
                    payload["route"] = result.route
                if attempt > 1:
                    payload["attempt"] = attempt
                usage = self.usage.take(node_id)
                if usage:
                    payload["usage"] = usage
                self.events.emit("node_completed", node_id, payload)
                return result
            if self.credentials is not None:
                error = self.credentials.mask(error)
            if not retryable:
                break
            if attempt < policy.attempts:
                # A provider's Retry-After is honoured when it asks for longer than the node's backoff.
                delay = max(policy.backoff_seconds * (2 ** (attempt - 1)), min(retry_after, MAX_RETRY_AFTER))
                self.events.emit("node_retry", node_id, {"attempt": attempt, "error": error, "code": code,
                                                         "delay_seconds": delay})
                await asyncio.sleep(delay)
        failed = {"error": error, "code": code, "attempts": attempt}
        usage = self.usage.take(node_id)
        if usage:
            failed["usage"] = usage
        self.events.emit("node_failed", node_id, failed)
        raise RunFailed(code, f"node {node_id} failed: {error}", node_id)


def final_output(compiled: CompiledWorkflow, state: dict) -> Any:
    outputs = state.get("outputs") or {}
    reached = [n for n in compiled.end_ids if n in outputs]
    if len(reached) == 1:
        return outputs[reached[0]]
    return {n: outputs[n] for n in sorted(reached)}


async def drive(compiled: CompiledWorkflow, run: RunContext, *, resume: Any = None, resuming: bool = False,
                checkpointed: bool, durability: str = "sync") -> Outcome:
    """Run the graph to its end. `resuming`: continue from the checkpoint (after an interrupt with `resume`,
    or after a lost replica). Cancellation (CancelledError) and timeouts propagate to the caller."""
    config = {"configurable": {"thread_id": str(run.execution_id)}, "recursion_limit": compiled.recursion_limit}
    kwargs = {"durability": durability} if checkpointed else {}
    if resuming and resume is not None:
        graph_input: Any = Command(resume=resume)
    elif resuming:
        snapshot = await compiled.graph.aget_state(config)
        graph_input = None if snapshot.created_at is not None else {}  # no checkpoint yet: from the start
    else:
        graph_input = {}
    try:
        state = await compiled.graph.ainvoke(graph_input, config, context=run, **kwargs)
    except RunFailed as failure:
        return Outcome("failed", error=failure.error)
    except GraphRecursionError:
        return Outcome("failed", error={"code": "STEP_LIMIT", "message": "the run took more steps than its loops "
                                        "allow", "node_id": ""})
    interrupts = state.get("__interrupt__") if isinstance(state, dict) else None
    if interrupts:
        value = interrupts[0].value
        return Outcome("interrupted", interrupt=value if isinstance(value, dict) else {"value": value})
    return Outcome("succeeded", output=final_output(compiled, state))
