"""One execution on this replica: its context inside LangGraph, node retries and timeouts, and its end.

`RunContext` is LangGraph's runtime context for a run: nodes reach the run's input, thread messages, events
and services (sub-workflows) through it, and nothing of it is checkpointed. `execute` drives the compiled
graph to an end (completed, failed, interrupted, cancelled, timed out) and records it: the execution row
first, then the terminal event, so a client that sees `run_completed` reads a finished execution.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.errors import GraphBubbleUp, GraphRecursionError
from langgraph.types import Command

from services.executor.engine.compile import CompiledWorkflow, StepPolicy
from services.executor.engine.events import EventLog
from services.executor.nodes.base import Node, NodeContext, NodeError, NodeResult

log = logging.getLogger(__name__)

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


class RunFailed(Exception):
    def __init__(self, code: str, message: str, node_id: str = ""):
        super().__init__(message)
        self.error = {"code": code, "message": message, "node_id": node_id}


@dataclass
class Outcome:
    status: str  # succeeded | failed | cancelled | interrupted
    output: Any = None
    error: dict | None = None
    interrupt: dict | None = None
    row: dict | None = None  # the execution as recorded at the end (set by Executions._record)


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
    # The vectorstore's channel, and the caller's authorization and request id to search it as the caller
    # (retrieval nodes). Only foreground runs have the latter: a background run's caller is not around.
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
        for attempt in range(1, policy.attempts + 1):
            started = time.perf_counter()
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
                code, error = "NODE_FAILED", str(exc)
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
                self.events.emit("node_completed", node_id, payload)
                return result
            if attempt < policy.attempts:
                delay = policy.backoff_seconds * (2 ** (attempt - 1))
                self.events.emit("node_retry", node_id, {"attempt": attempt, "error": error, "delay_seconds": delay})
                await asyncio.sleep(delay)
        self.events.emit("node_failed", node_id, {"error": error, "code": code, "attempts": policy.attempts})
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
