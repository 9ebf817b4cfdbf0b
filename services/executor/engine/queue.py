"""This replica's share of the work: runs it executes, the PostgreSQL queue it claims from, its leases.

- Foreground runs (Execute, RunWorkflow) start here at once; background runs (StartExecution, resumptions,
  runs of a lost replica) wait as `queued` rows and are claimed by whichever replica has room, fairly across
  organizations (`Repository.claim`: FOR UPDATE SKIP LOCKED). NOTIFY `executor_queue` wakes idle replicas;
  a slow poll covers a missed wake-up.
- A claim is a lease renewed by one heartbeat statement for all of the replica's runs. A replica that stops
  renewing loses its runs: checkpointed ones are queued again and continue from their last checkpoint on
  another replica (completed nodes do not run again), the others fail as EXECUTOR_LOST.
- Cancellation: the row is flagged and NOTIFY `executor_cancel` reaches the replica running it, which cancels
  the run's task; the heartbeat sees the flag too if the NOTIFY was missed.

Why not pgqueuer: its jobs live in its own table beside ours, so every run would be two rows to keep in step
(status, lease, cancellation, fairness by organization); the executions table already is the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.common.listener import Listener
from services.executor.engine.events import NOTIFY_CHANNEL, Event, EventBus

log = logging.getLogger(__name__)

Launcher = Callable[[object], Awaitable[None]]  # runs a claimed row (Executions.run_claimed)
EARLY_CANCEL_SECONDS = 60.0


def replica_name(configured: str) -> str:
    return configured or f"{socket.gethostname()}:{os.getpid()}"


class Replica:
    def __init__(self, db, bus: EventBus, dsn: str, *, name: str, lease_seconds: float, poll_seconds: float,
                 max_runs: int, max_runs_per_org: int):
        self.db, self.bus, self.dsn, self.name = db, bus, dsn, name
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds
        self.max_runs, self.max_runs_per_org = max_runs, max_runs_per_org
        self.tasks: dict[uuid.UUID, asyncio.Task] = {}
        # Cancels heard before the run's task exists here (claimed, still loading its graph): applied on track.
        self._early_cancels: dict[uuid.UUID, float] = {}
        self.stopping = False
        self.claiming = True  # off: this replica runs what it starts itself but takes nothing from the queue
        self._claim_wake = asyncio.Event()
        self._loops: list[asyncio.Task] = []
        self._listener = Listener(dsn, (NOTIFY_CHANNEL, "executor_cancel", "executor_queue"), self._on_notify,
                                  self._on_listening)
        self.run_claimed: Launcher | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._listener.run()), loop.create_task(self._claim_loop()),
                       loop.create_task(self._heartbeat_loop()), loop.create_task(self._sweep_loop())]

    async def stop(self, grace: float) -> None:
        """Stop claiming; give running runs `grace` seconds, then cancel them and hand durable ones back."""
        self.stopping = True
        for task in self._loops:
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=grace)
        for task in list(self.tasks.values()):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=5)
        try:
            async with self.db.reading() as repo:
                await repo.release(self.name)
        except Exception:
            log.warning("could not release leases; they expire in %.0f s", self.lease_seconds)
        await self._listener.close()

    def has_room(self) -> bool:
        return len(self.tasks) < self.max_runs

    def track(self, execution_id: uuid.UUID, task: asyncio.Task) -> None:
        self.tasks[execution_id] = task
        task.add_done_callback(lambda _: self._finished(execution_id))
        if self._early_cancels.pop(execution_id, None) is not None:
            # On the next loop turn, once the run has started: a task cancelled before its first step never
            # runs its own cancel handling, and the run would be left "running" until its lease lapsed.
            task.get_loop().call_soon(self.cancel_local, execution_id)

    def _finished(self, execution_id: uuid.UUID) -> None:
        self.tasks.pop(execution_id, None)
        self._claim_wake.set()  # room for another queued run

    def cancel_local(self, execution_id: uuid.UUID) -> bool:
        """The RPC, its NOTIFY and the heartbeat may all ask for the same run: asking again is harmless (the
        outcome is recorded uncancellably) and the heartbeat's repeat catches a cancel that something swallowed."""
        task = self.tasks.get(execution_id)
        if task is None:
            now = time.monotonic()
            for stale in [k for k, at in self._early_cancels.items() if now - at > EARLY_CANCEL_SECONDS]:
                del self._early_cancels[stale]
            self._early_cancels[execution_id] = now
            return False
        if task.done():
            return False
        task.cancel()
        return True

    def wake_claims(self) -> None:
        self._claim_wake.set()

    # --- loops ---------------------------------------------------------------------------------------------
    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == NOTIFY_CHANNEL:
            self.bus.notified(payload)
        elif channel == "executor_cancel":
            try:
                self.cancel_local(uuid.UUID(payload))
            except ValueError:
                pass
        elif channel == "executor_queue":
            self._claim_wake.set()

    def _on_listening(self) -> None:
        self.bus.wake_all()
        self._claim_wake.set()

    async def _claim_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._claim_wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._claim_wake.clear()
            if self.stopping or not self.claiming or self.run_claimed is None:
                continue
            try:
                room = self.max_runs - len(self.tasks)
                if room <= 0:
                    continue
                async with self.db.reading() as repo:
                    rows = await repo.claim(self.name, self.lease_seconds, min(room, 16), self.max_runs_per_org)
                for row in rows:
                    await self.run_claimed(row)
                if len(rows) == min(room, 16):
                    self._claim_wake.set()  # there may be more
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming queued runs failed")
                await asyncio.sleep(1)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not self.tasks:
                continue
            try:
                async with self.db.reading() as repo:
                    rows = await repo.heartbeat(self.name, self.lease_seconds)
                for row in rows:
                    if row.cancel_requested:
                        self.cancel_local(row.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lease heartbeat failed")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweeping expired leases failed")

    async def sweep(self) -> None:
        async with self.db.reading() as repo:
            rows = await repo.expire_leases()
            ended = [r for r in rows if r.status != "queued"]
            if ended:
                now = datetime.now(UTC)
                await repo.insert_events([
                    Event(r.id, r.last_seq + 1, "run_cancelled" if r.status == "cancelled" else "run_failed", "",
                          {} if r.status == "cancelled" else {"error": {
                              "code": "EXECUTOR_LOST", "message": "the executor replica running this run stopped"}},
                          now) for r in ended])
        if len(ended) < len(rows):
            log.info("re-queued %d run(s) of a lost replica", len(rows) - len(ended))
            self._claim_wake.set()
