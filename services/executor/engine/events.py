"""Run events: numbered per execution, stored before anyone sees them, fanned out to subscribers.

One `EventBus` per replica. Runs append events; a single writer task stores whatever has accumulated in one
INSERT (group commit: under load many runs share a round trip, when idle an event is written at once) and
NOTIFYs `executor_events` in the same statement. Only then are the events handed to this replica's
subscribers; other replicas' subscribers hear the NOTIFY and read the new events from the table. A subscriber
that falls `buffer` events behind (a slow client) drops its buffer and reads from the table too, so a slow
client never blocks a run and still gets every event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "executor_events"
TERMINAL_EVENTS = frozenset({"run_completed", "run_failed", "run_cancelled"})
# A stream ends with these: the run is over, or paused until someone resumes it.
FINAL_EVENTS = TERMINAL_EVENTS | {"interrupt"}
MAX_NOTIFY_IDS = 150  # pg_notify payloads are limited to 8000 bytes


@dataclass(slots=True)
class Event:
    execution_id: uuid.UUID
    seq: int
    type: str
    node_id: str
    payload: dict
    created_at: datetime


class EventLog:
    """The events of one execution on the replica that runs it: it alone hands out this run's seqs."""

    def __init__(self, bus: EventBus, execution_id: uuid.UUID, last_seq: int = 0):
        self.bus, self.execution_id, self.seq = bus, execution_id, last_seq

    def emit(self, type_: str, node_id: str = "", payload: dict | None = None) -> Event:
        self.seq += 1
        event = Event(self.execution_id, self.seq, type_, node_id, payload or {}, datetime.now(UTC))
        self.bus.append(event)
        return event

    async def stored(self) -> None:
        """Wait until every event emitted so far is stored (and delivered to local subscribers)."""
        await self.bus.stored(self.execution_id, self.seq)


class Subscriber:
    def __init__(self, execution_id: uuid.UUID, after_seq: int, buffer: int):
        self.execution_id = execution_id
        self.sent = after_seq  # highest seq handed to the client
        self.queue: deque[Event] = deque()
        self.buffer = buffer
        # Read the table before trusting the queue: at first (the backlog), after an overflow, after another
        # replica stored events, and when events arrived while we were reading.
        self.stale = True
        self.wake = asyncio.Event()

    def deliver(self, event: Event) -> None:
        if not self.stale:
            if len(self.queue) < self.buffer:
                self.queue.append(event)
            else:
                self.queue.clear()  # too slow: catch up from the table instead of holding memory
                self.stale = True
        self.wake.set()

    def poke(self) -> None:
        self.stale = True
        self.wake.set()


Writer = Callable[[list[Event]], Awaitable[None]]
Reader = Callable[[uuid.UUID, int, int], Awaitable[list[Event]]]


class EventBus:
    def __init__(self, write: Writer, read: Reader, buffer: int = 2048):
        self._write, self._read, self._buffer = write, read, buffer
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._stored: dict[uuid.UUID, int] = {}  # execution -> highest stored seq (while someone waits)
        self._waiters: dict[uuid.UUID, list[tuple[int, asyncio.Future]]] = {}
        self._subscribers: dict[uuid.UUID, set[Subscriber]] = {}
        self._task: asyncio.Task | None = None
        self._local: set[uuid.UUID] = set()
        self._flushing: list[Event] | None = None  # the batch being written

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            for _ in range(500):  # store what the runs have said before going away (at most ~5 s)
                if not self._pending and self._flushing is None:
                    break
                await asyncio.sleep(0.01)
            self._task.cancel()

    # --- writing --------------------------------------------------------------------------------------
    def append(self, event: Event) -> None:
        self._pending.append(event)
        self._wake.set()

    async def stored(self, execution_id: uuid.UUID, seq: int) -> None:
        if not any(e.execution_id == execution_id and e.seq <= seq for e in self._pending) and \
                not self._in_flight(execution_id, seq):
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(execution_id, []).append((seq, future))
        await future

    def _in_flight(self, execution_id, seq) -> bool:
        return self._flushing is not None and any(e.execution_id == execution_id and e.seq <= seq
                                                  for e in self._flushing)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                self._flushing = batch
                try:
                    await self._write(batch)
                except Exception:
                    # The database is unreachable: keep the events and try again shortly (runs wait in stored()).
                    log.exception("storing %d events failed; retrying", len(batch))
                    self._pending[:0] = batch
                    self._flushing = None
                    await asyncio.sleep(0.5)
                    continue
                self._flushing = None
                self._after_store(batch)

    def published(self, batch: list[Event]) -> None:
        """Events stored by another statement (a run's first event goes in with its execution row)."""
        self._after_store(batch)

    def _after_store(self, batch: list[Event]) -> None:
        highest: dict[uuid.UUID, int] = {}
        for event in batch:
            highest[event.execution_id] = event.seq
            for subscriber in self._subscribers.get(event.execution_id, ()):
                subscriber.deliver(event)
        for execution_id, seq in highest.items():
            waiters = self._waiters.get(execution_id)
            if not waiters:
                continue
            keep = []
            for wanted, future in waiters:
                if wanted <= seq:
                    if not future.done():
                        future.set_result(None)
                else:
                    keep.append((wanted, future))
            if keep:
                self._waiters[execution_id] = keep
            else:
                del self._waiters[execution_id]

    # --- reading --------------------------------------------------------------------------------------
    def running_here(self, execution_id: uuid.UUID, here: bool) -> None:
        """Runs on this replica deliver their events from memory; NOTIFYs about them are ignored."""
        if here:
            self._local.add(execution_id)
        else:
            self._local.discard(execution_id)

    def notified(self, payload: str) -> None:
        """NOTIFY from any replica (ours included): wake subscribers of the named executions."""
        if payload == "*":
            ids = list(self._subscribers)
        else:
            ids = []
            for text in payload.split(","):
                try:
                    ids.append(uuid.UUID(text))
                except ValueError:
                    continue
        for execution_id in ids:
            if execution_id in self._local:
                continue
            for subscriber in self._subscribers.get(execution_id, ()):
                subscriber.poke()

    def wake_all(self) -> None:
        """After a lost LISTEN connection: anything may have been missed."""
        for subs in self._subscribers.values():
            for subscriber in subs:
                subscriber.poke()

    def subscribe(self, execution_id: uuid.UUID, after_seq: int, *, backlog: bool = True) -> Subscriber:
        """Register now (so nothing stored from here on is missed); read with `events`. `backlog=False` for a
        run that has not started yet: its events come from memory without a first read of the table."""
        subscriber = Subscriber(execution_id, after_seq, self._buffer)
        subscriber.stale = backlog
        self._subscribers.setdefault(execution_id, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subs = self._subscribers.get(subscriber.execution_id)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self._subscribers[subscriber.execution_id]

    async def events(self, subscriber: Subscriber, is_finished: Callable[[], Awaitable[bool]]) -> AsyncIterator[Event]:
        """Every event with seq > after_seq, in order, exactly once; ends after a final event.

        `is_finished` tells whether the run can produce no more events (asked when the table has nothing
        new), so the stream of a run that ended without a final event in the table (pruned) still ends.
        """
        execution_id = subscriber.execution_id
        try:
            while True:
                if subscriber.stale:
                    subscriber.stale = False
                    subscriber.queue.clear()
                    subscriber.wake.clear()
                    got = 0
                    while True:
                        page = await self._read(execution_id, subscriber.sent, 500)
                        got += len(page)
                        for event in page:
                            subscriber.sent = event.seq
                            yield event
                            if event.type in FINAL_EVENTS:
                                return
                        if len(page) < 500:
                            break
                    if not got and not subscriber.stale and not subscriber.queue and await is_finished():
                        return
                    continue
                while subscriber.queue:
                    event = subscriber.queue.popleft()
                    if event.seq <= subscriber.sent:
                        continue
                    if event.seq != subscriber.sent + 1:  # a gap: fill it from the table
                        subscriber.stale = True
                        break
                    subscriber.sent = event.seq
                    yield event
                    if event.type in FINAL_EVENTS:
                        return
                if subscriber.stale:
                    continue
                try:
                    await asyncio.wait_for(subscriber.wake.wait(), 5.0)
                except TimeoutError:
                    subscriber.stale = True  # belt and braces: a missed NOTIFY costs at most 5 s
                subscriber.wake.clear()
        finally:
            self.unsubscribe(subscriber)
