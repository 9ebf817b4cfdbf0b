"""All SQL of the executor service. Every query a caller can reach is scoped by organization.

Every statement here sits on a run's path (start, events, finish, claim, heartbeat), so they go to asyncpg
directly (DESIGN §3: SQLAlchemy's statement building cost ~0.3 ms of CPU per query, more than the query).
Queue-internal statements (claim, heartbeat, expiry, prune) act for the replica, not for a caller.
"""

import json
import uuid
from datetime import datetime

from services.common.db import Database as BaseDatabase
from services.common.db import Repository as BaseRepository
from services.common.db import Row
from services.executor.engine.events import MAX_NOTIFY_IDS, NOTIFY_CHANNEL, Event

TERMINAL = ("succeeded", "failed", "cancelled")
EXECUTION_COLUMNS = ("id, org_id, workflow_id, workflow_version, thread_id, status, input, output, error, interrupt, "
                     "resume, pins, background, durable, timeout_seconds, request_id, created_by, attempts, "
                     "cancel_requested, created_at, started_at, ended_at, input_tokens, output_tokens")


def _json(value) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _row(record) -> Row | None:
    """JSONB arrives decoded: SQLAlchemy's asyncpg dialect registers its JSON codec on every connection (and
    takes JSON text on the way in, hence `_json`)."""
    return None if record is None else Row(record)


class Repository(BaseRepository):
    async def _raw(self):
        raw = await self.conn.get_raw_connection()
        return raw.driver_connection

    async def _one(self, sql: str, *args) -> Row | None:  # type: ignore[override]
        return _row(await (await self._raw()).fetchrow(sql, *args))

    async def _many(self, sql: str, *args) -> list[Row]:
        return [_row(r) for r in await (await self._raw()).fetch(sql, *args)]

    async def _run(self, sql: str, *args) -> str:
        return await (await self._raw()).execute(sql, *args)

    # --- executions -------------------------------------------------------------------------------------
    async def insert_execution(self, v: dict, max_running_per_org: int, max_queued_per_org: int,
                               first_event: Event | None = None) -> tuple[Row | None, str]:
        """Insert unless the organization is at its limit; with a used request_id, the first execution.

        Returns (row, outcome): outcome is "created", "existing" or "limited" (row None). The limit check and
        the insert are one statement; concurrent starts may pass it together, so the limit is soft by a few.
        `first_event` (a foreground run's run_started) is stored by the same statement: one round trip less
        before a client sees its first event.
        """
        limited = "queued" if v["status"] == "queued" else "running"
        limit = max_queued_per_org if limited == "queued" else max_running_per_org
        event = first_event or Event(v["id"], 0, "", "", {}, v["created_at"])
        row = await self._one(
            f"""WITH created AS (
                    INSERT INTO executor.executions (id, org_id, workflow_id, workflow_version, thread_id, status,
                        input, pins, background, durable, timeout_seconds, request_id, created_by, lease_owner,
                        lease_expires_at, attempts, created_at, started_at)
                    SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13, $14::text,
                           CASE WHEN $14::text IS NULL THEN NULL ELSE now() + make_interval(secs => $15) END,
                           $16, $17, $18
                    WHERE (SELECT count(*) FROM executor.executions WHERE org_id = $2 AND status = '{limited}') < $19
                    ON CONFLICT ON CONSTRAINT executions_org_request_id_key DO NOTHING
                    RETURNING {EXECUTION_COLUMNS}),
                first_event AS (
                    INSERT INTO executor.execution_events (execution_id, seq, type, node_id, payload, created_at)
                    SELECT id, $20, $21, '', $22::jsonb, $23 FROM created WHERE $20 > 0)
                SELECT * FROM created""",
            v["id"], v["org_id"], v["workflow_id"], v["workflow_version"], v["thread_id"], v["status"],
            _json(v["input"]), _json(v["pins"]), v["background"], v["durable"], v["timeout_seconds"],
            v["request_id"], v["created_by"], v["lease_owner"], v["lease_seconds"], v["attempts"], v["created_at"],
            v["started_at"], limit, event.seq, event.type, _json(event.payload), event.created_at)
        if row is not None:
            return row, "created"
        if v["request_id"]:
            existing = await self._one(f"SELECT {EXECUTION_COLUMNS} FROM executor.executions "
                                       "WHERE org_id = $1 AND request_id = $2", v["org_id"], v["request_id"])
            if existing is not None:
                return existing, "existing"
        return None, "limited"

    async def existing_request(self, org_id: uuid.UUID, request_id: str) -> Row | None:
        row = await self._one(f"SELECT {EXECUTION_COLUMNS} FROM executor.executions "
                              "WHERE org_id = $1 AND request_id = $2", org_id, request_id)
        if row is not None:
            row["last_seq"] = 0
        return row

    async def execution(self, org_id: uuid.UUID, execution_id: uuid.UUID) -> Row | None:
        return await self._one(f"SELECT {EXECUTION_COLUMNS}, (SELECT coalesce(max(seq), 0) FROM "
                               "executor.execution_events WHERE execution_id = $2) AS last_seq "
                               "FROM executor.executions WHERE org_id = $1 AND id = $2", org_id, execution_id)

    async def execution_for_replica(self, execution_id: uuid.UUID) -> Row | None:
        return await self._one(f"SELECT {EXECUTION_COLUMNS}, (SELECT coalesce(max(seq), 0) FROM "
                               "executor.execution_events WHERE execution_id = $1) AS last_seq "
                               "FROM executor.executions WHERE id = $1", execution_id)

    async def status(self, execution_id: uuid.UUID) -> str | None:
        return await (await self._raw()).fetchval("SELECT status FROM executor.executions WHERE id = $1",
                                                  execution_id)

    async def usage(self, org_id: uuid.UUID, workflow_id=None, created_after=None, created_before=None) -> Row:
        return await self._one(
            "SELECT count(*) AS executions, coalesce(sum(input_tokens), 0)::bigint AS input_tokens, "
            "coalesce(sum(output_tokens), 0)::bigint AS output_tokens FROM executor.executions WHERE org_id = $1 "
            "AND ($2::uuid IS NULL OR workflow_id = $2) AND ($3::timestamptz IS NULL OR created_at >= $3) "
            "AND ($4::timestamptz IS NULL OR created_at < $4)", org_id, workflow_id, created_after, created_before)

    async def executions_page(self, org_id: uuid.UUID, *, after: tuple | None, limit: int, workflow_id=None,
                              status: str = "", thread_id=None, created_after=None, created_before=None) -> list[Row]:
        clauses, args = ["org_id = $1"], [org_id]

        def add(sql: str, value) -> None:
            args.append(value)
            clauses.append(sql.replace("?", f"${len(args)}"))

        if workflow_id:
            add("workflow_id = ?", workflow_id)
        if status:
            add("status = ?", status)
        if thread_id:
            add("thread_id = ?", thread_id)
        if created_after:
            add("created_at >= ?", created_after)
        if created_before:
            add("created_at < ?", created_before)
        if after:
            args.extend(after)
            clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        return await self._many(f"SELECT {EXECUTION_COLUMNS}, 0 AS last_seq FROM executor.executions "
                                f"WHERE {' AND '.join(clauses)} ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
                                *args)

    async def finish(self, execution_id: uuid.UUID, status: str, output=None, error=None,
                     usage: tuple[int, int] = (0, 0)) -> Row | None:
        """Terminal state, unless the execution already has one (a late completion never overwrites cancelled);
        adds this attempt's token usage. Returns (ended_at, input_tokens, output_tokens), or None when it
        already had a terminal state."""
        return await self._one(
            "UPDATE executor.executions SET status = $2, output = $3::jsonb, error = $4::jsonb, ended_at = now(), "
            "lease_owner = NULL, lease_expires_at = NULL, interrupt = NULL, input_tokens = input_tokens + $5, "
            "output_tokens = output_tokens + $6 WHERE id = $1 AND status NOT IN ('succeeded', 'failed', 'cancelled') "
            "RETURNING ended_at, input_tokens, output_tokens",
            execution_id, status, _json(output), _json(error), *usage)

    async def interrupted(self, execution_id: uuid.UUID, interrupt: dict, usage: tuple[int, int] = (0, 0)) -> bool:
        result = await self._run(
            "UPDATE executor.executions SET status = 'interrupted', interrupt = $2::jsonb, lease_owner = NULL, "
            "lease_expires_at = NULL, input_tokens = input_tokens + $3, output_tokens = output_tokens + $4 "
            "WHERE id = $1 AND status = 'running'", execution_id, _json(interrupt), *usage)
        return result.endswith(" 1")

    async def cancel_waiting(self, org_id: uuid.UUID, execution_id: uuid.UUID) -> Row | None:
        """Cancel a run nobody executes (queued or interrupted) at once; returns it with its last seq."""
        return await self._one(
            f"UPDATE executor.executions SET status = 'cancelled', ended_at = now(), interrupt = NULL, resume = NULL "
            f"WHERE org_id = $1 AND id = $2 AND status IN ('queued', 'interrupted') RETURNING {EXECUTION_COLUMNS}, "
            "(SELECT coalesce(max(seq), 0) FROM executor.execution_events WHERE execution_id = $2) AS last_seq",
            org_id, execution_id)

    async def request_cancel(self, org_id: uuid.UUID, execution_id: uuid.UUID) -> bool:
        """Ask the replica running it to stop (it hears a NOTIFY, or sees the flag at its next heartbeat)."""
        result = await self._run(
            "UPDATE executor.executions SET cancel_requested = true WHERE org_id = $1 AND id = $2 "
            "AND status = 'running'", org_id, execution_id)
        if result.endswith(" 1"):
            await self._run("SELECT pg_notify('executor_cancel', $1)", str(execution_id))
            return True
        return False

    async def resume(self, org_id: uuid.UUID, execution_id: uuid.UUID, value) -> Row | None:
        return await self._one(
            f"UPDATE executor.executions SET status = 'queued', resume = $3::jsonb, interrupt = NULL "
            f"WHERE org_id = $1 AND id = $2 AND status = 'interrupted' RETURNING {EXECUTION_COLUMNS}, 0 AS last_seq",
            org_id, execution_id, _json({"value": value}))

    async def queued_notify(self) -> None:
        await self._run("SELECT pg_notify('executor_queue', '')")

    # --- the queue ---------------------------------------------------------------------------------------
    async def claim(self, owner: str, lease_seconds: float, limit: int, max_running_per_org: int) -> list[Row]:
        """Claim up to `limit` queued runs, fairly: the oldest run of each organization is a candidate, and the
        organizations with the fewest runs in progress go first (one busy organization cannot starve the
        others). SKIP LOCKED lets replicas claim concurrently without waiting on each other."""
        return await self._many(
            f"""WITH heads AS (
                    SELECT DISTINCT ON (org_id) id, org_id, created_at FROM executor.executions
                    WHERE status = 'queued' ORDER BY org_id, created_at),
                ranked AS (
                    SELECT h.id, h.created_at, (SELECT count(*) FROM executor.executions r
                                                WHERE r.org_id = h.org_id AND r.status = 'running') AS busy
                    FROM heads h),
                picked AS (
                    SELECT e.id FROM executor.executions e JOIN ranked USING (id)
                    WHERE ranked.busy < $4 AND e.status = 'queued'
                    ORDER BY ranked.busy, ranked.created_at LIMIT $3
                    FOR UPDATE OF e SKIP LOCKED)
                UPDATE executor.executions e SET status = 'running', lease_owner = $1,
                    lease_expires_at = now() + make_interval(secs => $2), attempts = e.attempts + 1,
                    started_at = coalesce(e.started_at, now())
                FROM picked WHERE e.id = picked.id
                RETURNING {', '.join('e.' + c.strip() for c in EXECUTION_COLUMNS.split(','))},
                    (SELECT coalesce(max(seq), 0) FROM executor.execution_events WHERE execution_id = e.id) AS last_seq""",
            owner, lease_seconds, limit, max_running_per_org)

    async def heartbeat(self, owner: str, lease_seconds: float) -> list[Row]:
        """Renew this replica's leases; returns its runs with a pending cancel request."""
        return await self._many(
            "UPDATE executor.executions SET lease_expires_at = now() + make_interval(secs => $2) "
            "WHERE lease_owner = $1 AND status = 'running' RETURNING id, cancel_requested", owner, lease_seconds)

    async def expire_leases(self) -> list[Row]:
        """Runs whose replica went silent: durable ones are queued again (they continue from their last
        checkpoint), the others fail as EXECUTOR_LOST, cancel requests become cancelled. Returns them."""
        return await self._many(
            """UPDATE executor.executions SET
                   status = CASE WHEN cancel_requested THEN 'cancelled' WHEN durable THEN 'queued' ELSE 'failed' END,
                   error = CASE WHEN cancel_requested OR durable THEN error ELSE
                           '{"code": "EXECUTOR_LOST", "message": "the executor replica running this run stopped"}'::jsonb
                           END,
                   ended_at = CASE WHEN durable AND NOT cancel_requested THEN NULL ELSE now() END,
                   lease_owner = NULL, lease_expires_at = NULL
               WHERE id IN (SELECT id FROM executor.executions WHERE status = 'running' AND lease_expires_at < now()
                            FOR UPDATE SKIP LOCKED)
               RETURNING id, status, (SELECT coalesce(max(seq), 0) FROM executor.execution_events
                                      WHERE execution_id = executions.id) AS last_seq""")

    async def release(self, owner: str) -> None:
        """Graceful shutdown: hand durable runs back to the queue at once instead of waiting for the lease."""
        await self._run("UPDATE executor.executions SET lease_expires_at = now() - interval '1 second' "
                        "WHERE lease_owner = $1 AND status = 'running'", owner)

    # --- events --------------------------------------------------------------------------------------------
    async def insert_events(self, batch: list[Event]) -> None:
        """One statement: the rows, and a NOTIFY naming the executions (delivered when it commits). A seq that is
        already stored keeps its first event: a run that somehow runs twice must not block every run's events."""
        ids = list({e.execution_id for e in batch})
        notice = "*" if len(ids) > MAX_NOTIFY_IDS else ",".join(map(str, ids))
        await (await self._raw()).execute(
            f"""WITH stored AS (
                    INSERT INTO executor.execution_events (execution_id, seq, type, node_id, payload, created_at)
                    SELECT e, s, t, n, p::jsonb, c
                    FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
                         AS u(e, s, t, n, p, c)
                    ON CONFLICT (execution_id, seq) DO NOTHING
                    RETURNING 1)
                SELECT pg_notify('{NOTIFY_CHANNEL}', $7) FROM (SELECT count(*) FROM stored) AS done""",
            [e.execution_id for e in batch], [e.seq for e in batch], [e.type for e in batch],
            [e.node_id for e in batch], [_json(e.payload) for e in batch], [e.created_at for e in batch], notice)

    async def events_after(self, execution_id: uuid.UUID, after_seq: int, limit: int) -> list[Event]:
        records = await (await self._raw()).fetch(
            "SELECT execution_id, seq, type, node_id, payload, created_at "
            "FROM executor.execution_events WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            execution_id, after_seq, limit)
        return [Event(r["execution_id"], r["seq"], r["type"], r["node_id"], r["payload"], r["created_at"])
                for r in records]

    # --- pinned graphs -------------------------------------------------------------------------------------
    async def save_graph(self, org_id: uuid.UUID, workflow_id: uuid.UUID, version: int, flow: dict) -> None:
        await self._run("INSERT INTO executor.graphs (workflow_id, version, org_id, flow_data, created_at) "
                        "VALUES ($1, $2, $3, $4::jsonb, now()) ON CONFLICT DO NOTHING",
                        workflow_id, version, org_id, _json(flow))

    async def graph(self, org_id: uuid.UUID, workflow_id: uuid.UUID, version: int) -> dict | None:
        """The graph as `org_id` read it (another organization's copy of a public workflow has no inline
        secrets)."""
        row = await self._one("SELECT flow_data FROM executor.graphs WHERE org_id = $1 AND workflow_id = $2 "
                              "AND version = $3", org_id, workflow_id, version)
        return None if row is None else row.flow_data

    # --- threads -------------------------------------------------------------------------------------------
    async def insert_thread(self, v: dict) -> Row:
        return await self._one(
            "INSERT INTO executor.threads (id, org_id, metadata, created_by, created_at, updated_at) "
            "VALUES ($1, $2, $3::jsonb, $4, $5, $5) RETURNING *",
            v["id"], v["org_id"], _json(v["metadata"]), v["created_by"], v["created_at"])

    async def thread(self, org_id: uuid.UUID, thread_id: uuid.UUID) -> Row | None:
        return await self._one("SELECT * FROM executor.threads WHERE org_id = $1 AND id = $2", org_id, thread_id)

    async def threads_page(self, org_id: uuid.UUID, *, after: tuple | None, limit: int) -> list[Row]:
        if after:
            return await self._many("SELECT * FROM executor.threads WHERE org_id = $1 AND (created_at, id) < ($2, $3) "
                                    "ORDER BY created_at DESC, id DESC LIMIT $4", org_id, *after, limit)
        return await self._many("SELECT * FROM executor.threads WHERE org_id = $1 "
                                "ORDER BY created_at DESC, id DESC LIMIT $2", org_id, limit)

    async def delete_thread(self, org_id: uuid.UUID, thread_id: uuid.UUID) -> bool:
        result = await self._run("DELETE FROM executor.threads WHERE org_id = $1 AND id = $2", org_id, thread_id)
        return result.endswith(" 1")

    async def messages_page(self, org_id: uuid.UUID, thread_id: uuid.UUID, *, after: int, limit: int) -> list[Row]:
        return await self._many("SELECT * FROM executor.thread_messages WHERE org_id = $1 AND thread_id = $2 "
                                "AND id > $3 ORDER BY id LIMIT $4", org_id, thread_id, after, limit)

    async def recent_messages(self, org_id: uuid.UUID, thread_id: uuid.UUID, limit: int) -> list[Row]:
        rows = await self._many("SELECT role, content FROM executor.thread_messages WHERE org_id = $1 "
                                "AND thread_id = $2 ORDER BY id DESC LIMIT $3", org_id, thread_id, limit)
        return rows[::-1]

    async def append_messages(self, org_id: uuid.UUID, thread_id: uuid.UUID, execution_id: uuid.UUID,
                              messages: list[tuple[str, str]]) -> None:
        await self._run(
            """WITH added AS (
                   INSERT INTO executor.thread_messages (thread_id, org_id, role, content, execution_id, created_at)
                   SELECT $1, $2, r, c, $3, now() FROM unnest($4::text[], $5::text[]) AS u(r, c)
                   WHERE EXISTS (SELECT 1 FROM executor.threads WHERE id = $1 AND org_id = $2)
                   RETURNING 1)
               UPDATE executor.threads SET message_count = message_count + (SELECT count(*) FROM added),
                   updated_at = now() WHERE id = $1 AND org_id = $2""",
            thread_id, org_id, execution_id, [m[0] for m in messages], [m[1] for m in messages])

    # --- retention -----------------------------------------------------------------------------------------
    async def prune(self, cutoff: datetime) -> tuple[int, int]:
        """Events and checkpoints of runs that ended before `cutoff`; the execution rows (with their output)
        stay. Returns (events deleted, checkpoint threads deleted)."""
        ended = "SELECT id FROM executor.executions WHERE ended_at < $1"
        events = await self._run(f"DELETE FROM executor.execution_events WHERE execution_id IN ({ended})", cutoff)
        checkpoints = await self._run(
            f"DELETE FROM executor.checkpoints WHERE thread_id IN (SELECT id::text FROM ({ended}) AS e)", cutoff)
        for table in ("checkpoint_blobs", "checkpoint_writes"):
            await self._run(f"DELETE FROM executor.{table} WHERE thread_id IN (SELECT id::text FROM ({ended}) AS e)",
                            cutoff)
        return int(events.split()[-1]), int(checkpoints.split()[-1])


class Database(BaseDatabase[Repository]):
    def __init__(self, engine):
        super().__init__(engine, Repository)

    # Every statement here is raw SQL: a repository needs only the pooled driver connection, not SQLAlchemy's
    # Connection around it (see services.common.db.Database.raw_reading).
    reading = BaseDatabase.raw_reading
