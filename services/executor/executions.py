"""Executions (runs): the rules. Start (foreground or queued), read, list, cancel, resume, stream.

Every run is pinned at start to one workflow version (and its sub-workflows to theirs), read as the caller
from the workflow service and validated strictly: a graph with problems is FAILED_PRECONDITION. Roles:
viewers read executions; members and above start, cancel and resume them. Terminal states are final.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.caller import Caller
from services.common.db import Row
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from services.common.flowgraph import Limits
from services.common.pagination import keyset_page
from services.common.validation import parse_id
from services.executor.engine.compile import CompiledWorkflow, GraphCache, compile_workflow
from services.executor.engine.credentials import CredentialResolver, RunCredentials
from services.executor.engine.events import Event, EventBus, EventLog
from services.executor.engine.queue import Replica
from services.executor.engine.run import Outcome, RunContext, RunFailed, drive
from services.executor.nodes.base import NodeError
from services.executor.repository import Database
from services.executor.settings import ExecutorSettings
from services.executor.workflow_source import WorkflowSource

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "interrupted", "succeeded", "failed", "cancelled")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
THREAD_HISTORY = 100  # earlier messages a run of a thread sees


@dataclass
class StartRequest:
    workflow_id: str
    version: int
    input: Any
    thread_id: str
    request_id: str
    timeout_seconds: float


def _pin_key(workflow_id: str, version: int) -> str:
    return f"{workflow_id}@{version}"


class Executions:
    def __init__(self, db: Database, bus: EventBus, replica: Replica, source: WorkflowSource,
                 settings: ExecutorSettings, checkpointer, credentials: CredentialResolver | None = None,
                 vectorstore=None):
        self.db, self.bus, self.replica, self.source, self.settings = db, bus, replica, source, settings
        self.credentials = credentials
        self.vectorstore = vectorstore  # gRPC channel for retrieval nodes
        self.checkpointer = checkpointer
        self.limits = Limits(settings.max_nodes, settings.max_edges, settings.max_flow_data_bytes)
        self.graphs = GraphCache(settings.graph_cache_size)
        # Graphs are kept per organization that reads them: another organization's read of a public workflow
        # has its inline secrets removed (the workflow service redacts it), so the owner's graph and that copy
        # must never stand in for each other. Keys: (org, workflow, version[, durable]).
        self._saved: set[tuple[uuid.UUID, uuid.UUID, int]] = set()  # snapshots known to be in executor.graphs
        # (workflow, caller's organization) -> the current version last read: GetWorkflow's known_version
        self._current: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
        replica.run_claimed = self.run_claimed

    # --- graphs ------------------------------------------------------------------------------------------
    def _compiled(self, org_id: uuid.UUID, workflow_id: uuid.UUID, version: int, flow: dict,
                  durable: bool) -> CompiledWorkflow:
        key = (org_id, workflow_id, version, durable)
        compiled = self.graphs.get(key)
        if compiled is None:
            compiled = compile_workflow(flow, self.limits, self.checkpointer if durable else None)
            self.graphs.put(key, compiled)
        return compiled

    async def _stored_compiled(self, org_id: uuid.UUID, workflow_id: uuid.UUID, version: int,
                               durable: bool) -> CompiledWorkflow:
        compiled = self.graphs.get((org_id, workflow_id, version, durable))
        if compiled is not None:
            return compiled
        async with self.db.reading() as repo:
            flow = await repo.graph(org_id, workflow_id, version)
        if flow is None:
            raise RunFailed("INTERNAL", f"the pinned graph of workflow {workflow_id} v{version} is missing")
        return self._compiled(org_id, workflow_id, version, flow, durable)

    async def _save_graph(self, org_id: uuid.UUID, workflow_id: uuid.UUID, version: int, flow: dict) -> None:
        if (org_id, workflow_id, version) in self._saved:
            return
        async with self.db.reading() as repo:
            await repo.save_graph(org_id, workflow_id, version, flow)
        self._saved.add((org_id, workflow_id, version))

    async def _pin_subworkflows(self, caller: Caller, metadata, compiled: CompiledWorkflow, pins: dict,
                                depth: int, timeout: float) -> None:
        """Resolve every sub-workflow's version now (recursively), validate it and keep a copy."""
        for node_id, workflow_id, version in compiled.subworkflows:
            key = _pin_key(workflow_id, version)
            if key in pins:
                continue
            if depth >= self.settings.max_subworkflow_depth:
                raise FailedPrecondition(f"sub-workflows nest deeper than {self.settings.max_subworkflow_depth} "
                                         f"levels (node {node_id}); is there a cycle?")
            child_id = parse_id(workflow_id, f"flow_data.nodes[{node_id}].data.workflow_id")
            pinned, flow = await self.source.fetch(metadata, workflow_id, version, timeout)
            child = self._compiled(uuid.UUID(caller.org_id), child_id, pinned, flow, False)
            if child.interrupts:
                raise FailedPrecondition(f"sub-workflow {workflow_id} (node {node_id}) has a human approval node; "
                                         "interrupts are only supported in the top-level workflow")
            await self._save_graph(uuid.UUID(caller.org_id), child_id, pinned, flow)
            pins[key] = pinned
            await self._pin_subworkflows(caller, metadata, child, pins, depth + 1, timeout)

    async def run_subworkflow(self, parent: RunContext, workflow_id: str, version: int, value: Any,
                              node_id: str) -> Any:
        pinned = parent.pins.get(_pin_key(workflow_id, version))
        if pinned is None:
            raise NodeError(f"sub-workflow {workflow_id} was not pinned when the run started")
        compiled = await self._stored_compiled(parent.org_id, uuid.UUID(workflow_id), pinned, False)
        child = RunContext(parent.execution_id, parent.org_id, value, [], parent.pins, parent.events,
                           self.run_subworkflow, parent.depth + 1, f"{parent.prefix}{node_id}/",
                           credentials=parent.credentials, usage=parent.usage,
                           vectorstore=parent.vectorstore, caller_metadata=parent.caller_metadata)
        outcome = await drive(compiled, child, checkpointed=False)
        if outcome.status != "succeeded":
            error = outcome.error or {}
            raise RunFailed(error.get("code", "NODE_FAILED"), error.get("message", "sub-workflow failed"),
                            error.get("node_id", ""))
        return outcome.output

    # --- start ---------------------------------------------------------------------------------------------
    def _check_input(self, value: Any) -> None:
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size > self.settings.max_input_bytes:
            raise InvalidArgument("input", f"must be at most {self.settings.max_input_bytes} bytes of JSON")

    def _timeout(self, requested: float, deadline: float | None) -> float:
        if requested < 0:
            raise InvalidArgument("timeout_seconds", "must not be negative")
        timeout = min(requested or self.settings.default_run_timeout_seconds, self.settings.max_run_timeout_seconds)
        return min(timeout, deadline) if deadline else timeout

    async def start(self, caller: Caller, metadata, request: StartRequest, *, background: bool,
                    deadline: float | None = None):
        """Create the execution; a foreground run starts on this replica at once, a background one is queued.

        Returns (row, created, subscriber): with a request_id already used, the first execution and created
        False. For a new foreground run, `subscriber` already listens to its events (none is missed).
        """
        caller.require_role("member")
        workflow_id = parse_id(request.workflow_id, "workflow_id")
        if request.version < 0:
            raise InvalidArgument("version", "must be a version number, or 0 for the current version")
        if len(request.request_id) > 100:
            raise InvalidArgument("request_id", "must be at most 100 characters")
        self._check_input(request.input)
        timeout = self._timeout(request.timeout_seconds, deadline)
        org_id = uuid.UUID(caller.org_id)
        thread_id = parse_id(request.thread_id, "thread_id") if request.thread_id else None
        if request.request_id:  # a retry: answer before reading and compiling the workflow again
            async with self.db.reading() as repo:
                existing = await repo.existing_request(org_id, request.request_id)
            if existing is not None:
                return self._same_request(existing, workflow_id), False, None
        if not background and not self.replica.has_room():
            raise ResourceExhausted("this executor replica is at its limit of concurrent runs; retry shortly "
                                    "or start a background run", retry_after_seconds=1)
        version, flow = await self._workflow(metadata, org_id, workflow_id, request, min(timeout, 10))
        compiled = self._compiled(org_id, workflow_id, version, flow, False)
        durable = background or compiled.interrupts or self.settings.checkpoint_foreground
        if durable:
            compiled = self._compiled(org_id, workflow_id, version, flow, True)
        pins: dict[str, int] = {}
        await self._pin_subworkflows(caller, metadata, compiled, pins, 1, min(timeout, 10))
        if durable:
            await self._save_graph(org_id, workflow_id, version, flow)
        messages: list[dict] = []
        now = datetime.now(UTC)
        execution_id = uuid.uuid4()
        values = {
            "id": execution_id, "org_id": org_id, "workflow_id": workflow_id, "workflow_version": version,
            "thread_id": thread_id, "status": "queued" if background else "running", "input": request.input,
            "pins": pins, "background": background, "durable": durable, "timeout_seconds": timeout,
            "request_id": request.request_id or None, "created_by": caller.subject,
            "lease_owner": None if background else self.replica.name, "lease_seconds": self.settings.lease_seconds,
            "attempts": 0 if background else 1, "created_at": now, "started_at": None if background else now,
        }
        async with self.db.reading() as repo:
            if thread_id is not None:
                if await repo.thread(org_id, thread_id) is None:
                    raise NotFound("thread", str(thread_id))
                if not background:
                    messages = [dict(m) for m in await repo.recent_messages(org_id, thread_id, THREAD_HISTORY)]
            first_event = None if background else Event(execution_id, 1, "run_started", "", {
                "workflow_id": str(workflow_id), "version": version, "resumed": False, "background": False}, now)
            row, outcome = await repo.insert_execution(values, self.settings.max_concurrent_runs_per_org,
                                                       self.settings.max_queued_runs_per_org, first_event)
            if outcome == "limited":
                what = "queued" if background else "running"
                raise ResourceExhausted(f"your organization has too many {what} runs; retry later",
                                        retry_after_seconds=2 if background else 1)
            if outcome == "existing":
                return self._same_request(row, workflow_id), False, None
            if background:
                await repo.queued_notify()
        row["last_seq"] = 0
        if background:
            return row, True, None
        subscriber = self.bus.subscribe(execution_id, 0, backlog=False)
        self.bus.published([first_event])
        self._launch(row, compiled, messages, resuming=False, last_seq=1, caller_metadata=metadata)
        return row, True, subscriber

    async def _workflow(self, metadata, org_id: uuid.UUID, workflow_id: uuid.UUID, request: StartRequest,
                        timeout: float) -> tuple[int, dict]:
        """(version, flow_data) to run, read as the caller. For the current version the read names the version
        whose graph is compiled here already: while it is still current the reply carries no graph (access is
        checked all the same, and an update is seen by the very next run)."""
        if request.version:
            return await self.source.fetch(metadata, request.workflow_id, request.version, timeout)
        known = self._current.get((workflow_id, org_id), 0)
        version, flow = await self.source.fetch(metadata, request.workflow_id, 0, timeout, known_version=known)
        if flow is None:
            compiled = self.graphs.get((org_id, workflow_id, version, False))
            if compiled is not None:
                return version, compiled.flow
            version, flow = await self.source.fetch(metadata, request.workflow_id, 0, timeout)  # dropped meanwhile
        if len(self._current) >= self.settings.graph_cache_size:
            self._current.clear()  # only hints: the next read of each workflow sends its graph again
        self._current[(workflow_id, org_id)] = version
        return version, flow

    def _same_request(self, row, workflow_id: uuid.UUID):
        if row.workflow_id != workflow_id:
            raise AlreadyExists("request_id was already used for a run of another workflow")
        return row

    # --- running --------------------------------------------------------------------------------------------
    def _launch(self, row, compiled: CompiledWorkflow, messages: list[dict], *, resuming: bool,
                resume: Any = None, last_seq: int = 0, caller_metadata=()) -> asyncio.Task:
        events = EventLog(self.bus, row.id, last_seq)
        run = RunContext(row.id, row.org_id, row.input, messages, row.pins or {}, events, self.run_subworkflow,
                         credentials=RunCredentials(self.credentials, row.org_id, row.id),
                         vectorstore=self.vectorstore, caller_metadata=list(caller_metadata))
        task = asyncio.get_running_loop().create_task(
            self._execute(row, compiled, run, resuming=resuming, resume=resume))
        self.replica.track(row.id, task)
        return task

    async def run_claimed(self, row) -> None:
        """A queued run this replica claimed: new, resumed after an interrupt, or left by a lost replica."""
        if row.id in self.replica.tasks:  # our own lease lapsed (a stalled event loop) and we claimed it back:
            return  # it is still running here, and the claim renewed its lease
        try:
            compiled = await self._stored_compiled(row.org_id, row.workflow_id, row.workflow_version, True)
            messages = []
            if row.thread_id is not None:
                async with self.db.reading() as repo:
                    messages = [dict(m) for m in await repo.recent_messages(row.org_id, row.thread_id, THREAD_HISTORY)]
        except Exception as exc:
            log.exception("cannot run claimed execution %s", row.id)
            await self._record(row, EventLog(self.bus, row.id, row.last_seq),
                               Outcome("failed", error={"code": "INTERNAL", "message": str(exc)[:500], "node_id": ""}))
            return
        resume = (row.resume or {}).get("value") if row.resume is not None else None
        resuming = row.resume is not None or row.attempts > 1 or row.last_seq > 0
        self._launch(row, compiled, messages, resuming=resuming, resume=resume if row.resume is not None else None,
                     last_seq=row.last_seq)

    async def _execute(self, row, compiled: CompiledWorkflow, run: RunContext, *, resuming: bool, resume: Any) -> Outcome:
        self.bus.running_here(row.id, True)
        events = run.events
        try:
            if events.seq == 0 or resuming:  # a new foreground run's run_started went in with its row
                events.emit("run_started", "", {"workflow_id": str(row.workflow_id), "version": row.workflow_version,
                                                "resumed": resuming, "background": row.background})
            try:
                async with asyncio.timeout(row.timeout_seconds):
                    outcome = await drive(compiled, run, resume=resume, resuming=resuming,
                                          checkpointed=compiled.graph.checkpointer is not None)
            except TimeoutError:
                outcome = Outcome("failed", error={"code": "RUN_TIMEOUT", "node_id": "",
                                                   "message": f"the run took longer than {row.timeout_seconds:g} s"})
            except asyncio.CancelledError:
                asyncio.current_task().uncancel()
                if self.replica.stopping and row.durable:
                    return Outcome("queued")  # shutting down: another replica continues from the checkpoint
                outcome = Outcome("cancelled") if not self.replica.stopping else Outcome(
                    "failed", error={"code": "EXECUTOR_LOST", "message": "the executor stopped", "node_id": ""})
            except Exception as exc:
                log.exception("execution %s failed", row.id)
                outcome = Outcome("failed", error={"code": "INTERNAL", "node_id": "",
                                                   "message": f"internal error ({type(exc).__name__})"})
            outcome.usage = run.usage
            await _uncancellable(self._record(row, events, outcome))
            return outcome
        finally:
            self.bus.running_here(row.id, False)

    async def _record(self, row, events: EventLog, outcome: Outcome) -> None:
        """The row first, then the event: whoever sees the terminal event reads a finished execution. The
        finished row is kept on `outcome.row` (RunWorkflow answers from it without reading it back)."""
        usage = (outcome.usage.input_tokens, outcome.usage.output_tokens) if outcome.usage else (0, 0)
        async with self.db.reading() as repo:
            if outcome.status == "interrupted":
                if await repo.interrupted(row.id, outcome.interrupt, usage):
                    events.emit("interrupt", outcome.interrupt.get("node_id", ""), outcome.interrupt)
                    outcome.row = Row(row, status="interrupted", interrupt=outcome.interrupt,
                                      input_tokens=row.get("input_tokens", 0) + usage[0],
                                      output_tokens=row.get("output_tokens", 0) + usage[1])
            elif (ended := await repo.finish(row.id, outcome.status, outcome.output, outcome.error, usage)) is not None:
                if outcome.status == "succeeded":
                    if row.thread_id is not None:  # before the event: whoever sees it reads the whole thread
                        await repo.append_messages(row.org_id, row.thread_id, row.id,
                                                   [("user", _text(row.input)), ("assistant", _text(outcome.output))])
                    events.emit("run_completed", "", {"output": outcome.output})
                elif outcome.status == "failed":
                    events.emit("run_failed", outcome.error.get("node_id", ""), {"error": outcome.error})
                else:
                    events.emit("run_cancelled", "", {})
                outcome.row = Row(row, status=outcome.status, output=outcome.output, error=outcome.error,
                                  ended_at=ended.ended_at, input_tokens=ended.input_tokens,
                                  output_tokens=ended.output_tokens)
        await events.stored()
        if outcome.row is not None:
            outcome.row["last_seq"] = events.seq

    # --- reads -----------------------------------------------------------------------------------------------
    async def get(self, caller: Caller, execution_id: str):
        async with self.db.reading() as repo:
            row = await repo.execution(uuid.UUID(caller.org_id), parse_id(execution_id))
        if row is None:
            raise NotFound("execution", execution_id)
        return row

    async def wait(self, caller: Caller, row, subscriber=None):
        """Until the run ends (or is interrupted); returns the execution as it then is."""
        if row.status in TERMINAL:
            return row
        task = self.replica.tasks.get(row.id)
        if subscriber is not None:
            self.bus.unsubscribe(subscriber)  # the task itself tells us when it is done
        if task is not None:
            outcome = await asyncio.shield(task)
            if outcome.row is not None:
                return outcome.row
        else:
            async for _ in self.stream(caller, str(row.id), 0):
                pass
        return await self.get(caller, str(row.id))

    async def usage(self, caller: Caller, workflow_id: str, created_after, created_before):
        async with self.db.reading() as repo:
            return await repo.usage(uuid.UUID(caller.org_id),
                                    parse_id(workflow_id, "workflow_id") if workflow_id else None,
                                    created_after, created_before)

    async def list(self, caller: Caller, size: int, token: str, workflow_id: str, status: str, thread_id: str,
                   created_after, created_before):
        org = uuid.UUID(caller.org_id)
        workflow = parse_id(workflow_id, "workflow_id") if workflow_id else None
        thread = parse_id(thread_id, "thread_id") if thread_id else None
        async with self.db.reading() as repo:
            return await keyset_page(
                lambda after, limit: repo.executions_page(
                    org, after=after, limit=limit, workflow_id=workflow, status=status, thread_id=thread,
                    created_after=created_after, created_before=created_before), size, token)

    # --- control -------------------------------------------------------------------------------------------
    async def cancel(self, caller: Caller, execution_id: str):
        caller.require_role("member")
        row = await self.get(caller, execution_id)
        if row.status in TERMINAL:
            return row
        async with self.db.reading() as repo:
            waiting = await repo.cancel_waiting(row.org_id, row.id)
            if waiting is not None:  # nobody runs it: the terminal event is ours to write
                EventLog(self.bus, row.id, waiting.last_seq).emit("run_cancelled", "", {})
                await self.bus.stored(row.id, waiting.last_seq + 1)
            elif await repo.request_cancel(row.org_id, row.id):
                self.replica.cancel_local(row.id)
        task = self.replica.tasks.get(row.id)
        if task is not None:
            await asyncio.wait([task], timeout=5)
        else:  # another replica runs it (it hears the NOTIFY), or it is starting here: answer once it has ended
            for _ in range(100):
                async with self.db.reading() as repo:
                    if await repo.status(row.id) in TERMINAL:
                        break
                await asyncio.sleep(0.05)
        return await self.get(caller, execution_id)

    async def resume(self, caller: Caller, execution_id: str, value: Any):
        caller.require_role("member")
        self._check_input(value)
        row = await self.get(caller, execution_id)
        async with self.db.reading() as repo:
            resumed = await repo.resume(row.org_id, row.id, value)
            if resumed is None:
                raise FailedPrecondition(f"execution {execution_id} is {row.status}, not waiting for an answer")
            await repo.queued_notify()
        self.replica.wake_claims()
        return await self.get(caller, execution_id)

    async def stream(self, caller: Caller, execution_id: str, after_seq: int, subscriber=None):
        """Stored events after `after_seq`, then live ones, until the run ends or is interrupted."""
        if subscriber is None:
            if after_seq < 0:
                raise InvalidArgument("after_seq", "must not be negative")
            row = await self.get(caller, execution_id)  # tenancy: 404 for another organization's run
            subscriber = self.bus.subscribe(row.id, after_seq)
        target = subscriber.execution_id

        async def finished() -> bool:
            async with self.db.reading() as repo:
                status = await repo.status(target)
            return status in TERMINAL or status == "interrupted" or status is None

        async for event in self.bus.events(subscriber, finished):
            yield event


async def _uncancellable(recording) -> None:
    """Finish recording the outcome even if a late cancel arrives meanwhile (a cancel RPC, its NOTIFY and the
    heartbeat can each cancel the task): a terminal row without its terminal event would leave streams open."""
    task = asyncio.ensure_future(recording)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                raise
            cancelled = True
            asyncio.current_task().uncancel()
    task.result()
    if cancelled:
        log.info("a cancel arrived while an outcome was being recorded; it was already ending")


def _text(value: Any) -> str:
    from services.executor.nodes.base import as_text

    return as_text(value)[:100_000]
