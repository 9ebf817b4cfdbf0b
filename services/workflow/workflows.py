"""Workflows and their versions: the rules. Every change of flow_data creates an immutable version n+1.

Roles: viewers read; members create, and edit what they own; admins and owners edit everything in the
organization. Public workflows of other organizations are readable (inline secrets removed), never
writable. Delete is soft: a deleted workflow disappears from reads at once and can be undeleted for
`undelete_days`; `purge-deleted` removes it for good afterwards.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from services.common.caller import Caller
from services.common.db import Row
from services.common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.flowgraph import Limits, Problem, field_name, validate
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.validation import parse_etag, parse_id, require_text
from services.workflow import graph
from services.workflow.node_catalog import NodeCatalogClient
from services.workflow.redaction import strip_secrets
from services.workflow.repository import Database, Repository

UPDATABLE = ("name", "description", "tags", "is_public", "flow_data")
# An error travels in gRPC trailers (its message and details; clients refuse more than 8-16 KiB): report
# the first problems within a budget, then a count. ValidateWorkflow returns every problem in its body.
MAX_REPORTED_VIOLATIONS, REPORTED_VIOLATION_BYTES = 20, 1500
# A draft's problems come back on every autosave: the first ones, then a count.
MAX_REPORTED_WARNINGS = 50
MAX_TAGS, MAX_TAG_LENGTH = 20, 64


def now() -> datetime:
    return datetime.now(UTC)


def normalize_tags(tags: list[str], field: str = "workflow.tags") -> list[str]:
    cleaned = []
    for tag in tags:
        tag = tag.strip().lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidArgument(field, f"each tag must be at most {MAX_TAG_LENGTH} characters")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidArgument(field, f"at most {MAX_TAGS} tags")
    return cleaned


def request_fingerprint(caller: Caller, **request) -> bytes:
    """What an idempotent create asked for, by whom: a retry matches it, another request does not."""
    canonical = json.dumps({"by": caller.subject, **request}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def invalid_graph(problems: list[Problem], prefix: str) -> InvalidArgument:
    """A refused graph's problems (named relative to the graph) as one small error, named from `prefix`."""
    kept, budget = [], REPORTED_VIOLATION_BYTES
    for problem in problems:
        violation = FieldViolation(field_name(prefix, problem.field), problem.description)
        cost = len(violation.field.encode()) + len(violation.description.encode())
        if len(kept) == MAX_REPORTED_VIOLATIONS or cost > budget:
            break
        kept.append(violation)
        budget -= cost
    if len(kept) < len(problems):
        kept.append(FieldViolation(prefix.rstrip("."), f"and {len(problems) - len(kept)} more problems; "
                                                       "ValidateWorkflow lists them all"))
    return InvalidArgument(violations=kept)


def draft_warnings(problems: list[Problem]) -> list[str]:
    """An incomplete graph's problems as the saved workflow's warnings, named from the workflow."""
    shown = [f"{field_name('flow_data.', p.field)}: {p.description}" for p in problems[:MAX_REPORTED_WARNINGS]]
    if len(problems) > len(shown):
        shown.append(f"and {len(problems) - len(shown)} more problems; ValidateWorkflow lists them all")
    return shown


class Workflows:
    def __init__(self, db: Database, catalog: NodeCatalogClient, limits: Limits, undelete_days: int):
        self.db, self.catalog, self.limits, self.undelete_days = db, catalog, limits, undelete_days

    # --- validation -------------------------------------------------------------------------------------
    async def check(self, flow: dict, prefix: str) -> tuple[list[Problem], list[str]]:
        """(problems, warnings of the check itself) of a graph; never raises for the graph's own problems."""
        catalog = await self.catalog.catalog()
        return validate(flow, catalog, self.limits, prefix), catalog.warnings

    async def check_draft(self, flow: dict, prefix: str = "workflow.flow_data.") -> list[str]:
        """Saving is lenient (a canvas autosaves half-built graphs): a malformed graph is refused, an
        incomplete one is saved and what it lacks to run comes back as warnings."""
        problems, warnings = await self.check(flow, "")
        malformed = [p for p in problems if not p.draft_ok]
        if malformed:
            raise invalid_graph(malformed, prefix)
        return [*warnings, *draft_warnings(problems)]

    async def validate(self, caller: Caller, workflow_id: str, flow: dict | None):
        """Every problem of either kind: what running the graph would refuse."""
        if workflow_id:
            flow = (await self.get(caller, workflow_id)).flow_data
        elif flow is None:
            raise InvalidArgument("flow_data", "give a workflow id or a flow_data graph to validate")
        return await self.check(flow, "flow_data.")

    # --- create and read --------------------------------------------------------------------------------
    async def create(self, caller: Caller, *, name: str, description: str, tags: list[str], is_public: bool,
                     flow: dict, request_id: str = "", message: str = "", versions: list[dict] | None = None):
        """Create with version 1 — or, for an import, with the document's whole history."""
        caller.require_role("member")
        name = require_text(name, "workflow.name")
        tags = normalize_tags(tags)
        if len(request_id) > 100:
            raise InvalidArgument("request_id", "must be at most 100 characters")
        warnings = await self.check_draft(flow)
        history = versions or [{"flow_data": flow, "message": message}]
        fingerprint = request_fingerprint(caller, name=name, description=description, tags=tags, is_public=is_public,
                                          history=history) if request_id else None
        at = now()
        async with self.db.transaction() as repo:
            row, created = await repo.insert_workflow({
                "id": uuid.uuid4(), "org_id": uuid.UUID(caller.org_id), "owner_id": caller.subject, "name": name,
                "description": description[:10_000], "tags": tags, "is_public": is_public, "flow_data": flow,
                "version": len(history), "revision": 1, "request_id": request_id or None,
                "request_hash": fingerprint, "created_at": at, "updated_at": at,
            })
            if not created and row.request_hash != fingerprint:
                raise AlreadyExists("request_id was already used for a different request; use a new request_id")
            if created:
                for number, entry in enumerate(history, start=1):
                    await repo.insert_version({
                        "workflow_id": row.id, "version": number, "org_id": row.org_id,
                        "flow_data": entry["flow_data"], "author_id": caller.subject,
                        "message": entry.get("message", "")[:2000], "created_at": at,
                    })
        return row, warnings

    async def get(self, caller: Caller, workflow_id: str, known_version: int = 0):
        """The workflow; its flow_data is None when `known_version` is still its current version."""
        org_id = uuid.UUID(caller.org_id)
        async with self.db.raw_reading() as repo:  # repo.workflow is raw SQL (every GET and every run)
            row = await repo.workflow(org_id, parse_id(workflow_id), known_version=known_version)
        if row is None:
            raise NotFound("workflow", workflow_id)
        if row.org_id != org_id and row.flow_data is not None:
            # another organization's public workflow: readable, minus inline secrets
            row = Row({**row, "flow_data": strip_secrets(row.flow_data), "redacted": True})
        return row

    async def list(self, caller: Caller, size: int, token: str, tag: str, query: str, show_deleted: bool):
        limit = page_size(size)
        after = None
        cursor = decode_cursor(token)
        if cursor is not None:
            try:
                after = (datetime.fromisoformat(cursor["u"]), uuid.UUID(cursor["i"]))
            except (KeyError, ValueError, TypeError):
                raise InvalidArgument("page_token", "not a page token returned by this API") from None
        async with self.db.reading() as repo:
            rows = await repo.workflows_page(uuid.UUID(caller.org_id), after=after, limit=limit, tag=tag.strip().lower(),
                                             query=query.strip()[:200], deleted=show_deleted)
        next_token = ""
        if len(rows) == limit:
            next_token = encode_cursor({"u": rows[-1].updated_at.isoformat(), "i": str(rows[-1].id)})
        return rows, next_token

    # --- writes -----------------------------------------------------------------------------------------
    async def _writable(self, repo: Repository, caller: Caller, workflow_id: uuid.UUID, raw_id: str, *,
                        deleted: bool = False):
        caller.require_role("member")
        row = await repo.workflow_for_update(uuid.UUID(caller.org_id), workflow_id, deleted=deleted)
        if row is None:
            if not deleted and await repo.workflow(uuid.UUID(caller.org_id), workflow_id) is not None:
                raise PermissionDenied("public workflows of other organizations are read-only")
            raise NotFound("workflow", raw_id)
        if not caller.at_least("admin") and row.owner_id != caller.subject:
            raise PermissionDenied("members can edit only the workflows they own; ask an admin")
        return row

    @staticmethod
    def _check_etag(row, etag: str, field: str) -> None:
        expected = parse_etag(etag, field)
        if expected is not None and expected != row.revision:
            raise Aborted("the workflow changed since you read it (etag mismatch); read it again and retry")

    async def update(self, caller: Caller, workflow_id: str, fields: dict, paths: list[str], etag: str,
                     message: str):
        for path in paths:
            if path not in UPDATABLE:
                raise InvalidArgument("update_mask", f"{path!r} cannot be updated; allowed: {', '.join(UPDATABLE)}")
        if not paths:
            raise InvalidArgument("update_mask", f"name the fields to update: {', '.join(UPDATABLE)}")
        values: dict = {}
        if "name" in paths:
            values["name"] = require_text(fields["name"], "workflow.name")
        if "description" in paths:
            values["description"] = fields["description"][:10_000]
        if "tags" in paths:
            values["tags"] = normalize_tags(fields["tags"])
        if "is_public" in paths:
            values["is_public"] = fields["is_public"]
        warnings: list[str] = []
        if "flow_data" in paths:
            warnings = await self.check_draft(fields["flow_data"])
        wid = parse_id(workflow_id, "workflow.id")
        async with self.db.transaction() as repo:
            row = await self._writable(repo, caller, wid, workflow_id)
            self._check_etag(row, etag, "workflow.etag")
            at = now()
            if "flow_data" in paths and fields["flow_data"] != row.flow_data:
                values["flow_data"] = fields["flow_data"]
                values["version"] = row.version + 1
                await repo.insert_version({
                    "workflow_id": row.id, "version": row.version + 1, "org_id": row.org_id,
                    "flow_data": fields["flow_data"], "author_id": caller.subject, "message": message[:2000],
                    "created_at": at,
                })
            updated = await repo.update_workflow(row.org_id, row.id, row.revision, {**values, "updated_at": at})
            if updated is None:  # the row is locked above, so only if that ever changes; never an INTERNAL
                raise Aborted("the workflow changed while it was being updated; read it again and retry")
        return updated, warnings

    async def delete(self, caller: Caller, workflow_id: str, etag: str) -> None:
        async with self.db.transaction() as repo:
            row = await self._writable(repo, caller, parse_id(workflow_id), workflow_id)
            self._check_etag(row, etag, "etag")
            await repo.update_workflow(row.org_id, row.id, row.revision, {"deleted_at": now()})

    async def undelete(self, caller: Caller, workflow_id: str):
        async with self.db.transaction() as repo:
            row = await self._writable(repo, caller, parse_id(workflow_id), workflow_id, deleted=True)
            if row.deleted_at < now() - timedelta(days=self.undelete_days):
                raise FailedPrecondition(f"deleted more than {self.undelete_days} days ago; it can no longer be restored")
            return await repo.update_workflow(row.org_id, row.id, row.revision, {"deleted_at": None, "updated_at": now()})

    async def purge_deleted(self) -> int:
        """Remove for good what can no longer be undeleted (`python -m services.workflow purge-deleted`)."""
        async with self.db.transaction() as repo:
            return await repo.purge_deleted_before(now() - timedelta(days=self.undelete_days))

    # --- versions ---------------------------------------------------------------------------------------
    async def versions(self, caller: Caller, workflow_id: str, size: int, token: str):
        workflow = await self.get(caller, workflow_id)
        limit = page_size(size)
        cursor = decode_cursor(token)
        before = cursor.get("v") if cursor else None
        if before is not None and not isinstance(before, int):
            raise InvalidArgument("page_token", "not a page token returned by this API")
        async with self.db.reading() as repo:
            rows = await repo.versions_page(workflow.id, before=before, limit=limit)
        return rows, encode_cursor({"v": rows[-1].version}) if len(rows) == limit else ""

    async def version(self, caller: Caller, workflow_id: str, number: int):
        workflow = await self.get(caller, workflow_id)
        async with self.db.reading() as repo:
            row = await repo.version(workflow.id, number)
        if row is None:
            raise NotFound("workflow version", f"{workflow_id}/{number}")
        if workflow.org_id != uuid.UUID(caller.org_id):
            row = Row({**row._mapping, "flow_data": strip_secrets(row.flow_data), "redacted": True})
        return row

    async def diff(self, caller: Caller, workflow_id: str, number: int, other: int):
        other = other or number - 1
        newer, older = await self.version(caller, workflow_id, number), await self.version(caller, workflow_id, other)
        return graph.diff(older.flow_data, newer.flow_data), other

    async def restore(self, caller: Caller, workflow_id: str, number: int, etag: str):
        old = await self.version(caller, workflow_id, number)
        current = await self.get(caller, workflow_id)
        return await self.update(caller, workflow_id, {"flow_data": old.flow_data}, ["flow_data"],
                                 etag or f'"{current.revision}"', f"restored from version {number}")
