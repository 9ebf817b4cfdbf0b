"""All SQL of the workflow service. Every query is scoped by organization (public reads are explicit)."""

import uuid
from datetime import datetime

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.common.db import Database as BaseDatabase
from services.common.db import Repository as BaseRepository
from services.workflow.models import templates, workflow_versions, workflows

SUMMARY_COLUMNS = [c for c in workflows.c if c.name != "flow_data"]
SUMMARY_NAMES = ", ".join(c.name for c in SUMMARY_COLUMNS)


class Repository(BaseRepository):
    # --- workflows --------------------------------------------------------------------------------------
    async def insert_workflow(self, values: dict):
        """Insert; with a request_id already used in this organization, return the first workflow instead."""
        stmt = pg_insert(workflows).values(**values)
        if values.get("request_id"):
            stmt = stmt.on_conflict_do_nothing(constraint="workflows_org_request_id_key")
        row = await self._one(stmt.returning(workflows))
        if row is None:
            row = await self._one(select(workflows).where(
                workflows.c.org_id == values["org_id"], workflows.c.request_id == values["request_id"]))
            return row, False
        return row, True

    async def workflow(self, org_id: uuid.UUID, workflow_id: uuid.UUID, *, deleted: bool = False,
                       known_version: int = 0):
        """A workflow of this organization, or a public one of any organization. (Every GET: raw SQL.) With
        `known_version` still current, flow_data is None: the caller has that graph (nor is it decoded here)."""
        state = "IS NOT NULL" if deleted else "IS NULL"
        return await self._fetch_one(
            f"SELECT {SUMMARY_NAMES}, CASE WHEN version = $3 THEN NULL ELSE flow_data END AS flow_data "
            f"FROM workflow.workflows WHERE id = $1 AND (org_id = $2 OR is_public) AND deleted_at {state}",
            workflow_id, org_id, known_version)

    async def workflow_for_update(self, org_id: uuid.UUID, workflow_id: uuid.UUID, *, deleted: bool = False):
        stmt = select(workflows).where(workflows.c.id == workflow_id, workflows.c.org_id == org_id)
        stmt = stmt.where(workflows.c.deleted_at.is_not(None) if deleted else workflows.c.deleted_at.is_(None))
        return await self._one(stmt.with_for_update())

    async def workflows_page(self, org_id: uuid.UUID, *, after: tuple | None, limit: int, tag: str, query: str,
                             deleted: bool):
        stmt = select(*SUMMARY_COLUMNS).where(workflows.c.org_id == org_id)
        stmt = stmt.where(workflows.c.deleted_at.is_not(None) if deleted else workflows.c.deleted_at.is_(None))
        if tag:
            stmt = stmt.where(workflows.c.tags.contains([tag]))
        if query:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(workflows.c.name.ilike(f"%{escaped}%"))
        if after:
            stmt = stmt.where(tuple_(workflows.c.updated_at, workflows.c.id) < after)
        return await self._all(stmt.order_by(workflows.c.updated_at.desc(), workflows.c.id.desc()).limit(limit))

    async def update_workflow(self, org_id: uuid.UUID, workflow_id: uuid.UUID, revision: int, values: dict):
        """Compare-and-set on revision: None when another writer got there first."""
        return await self._one(update(workflows).where(
            workflows.c.org_id == org_id, workflows.c.id == workflow_id, workflows.c.revision == revision,
        ).values(revision=revision + 1, **values).returning(workflows))

    async def purge_deleted_before(self, cutoff: datetime) -> int:
        """Hard-delete workflows soft-deleted before `cutoff` (their versions go with them, ON DELETE CASCADE)."""
        result = await self.conn.execute(workflows.delete().where(workflows.c.deleted_at < cutoff))
        return result.rowcount

    # --- versions ---------------------------------------------------------------------------------------
    async def insert_version(self, values: dict) -> None:
        await self.conn.execute(insert(workflow_versions).values(**values))

    async def versions_page(self, workflow_id: uuid.UUID, *, before: int | None, limit: int):
        stmt = select(workflow_versions.c.workflow_id, workflow_versions.c.version, workflow_versions.c.author_id,
                      workflow_versions.c.message, workflow_versions.c.created_at
                      ).where(workflow_versions.c.workflow_id == workflow_id)
        if before is not None:
            stmt = stmt.where(workflow_versions.c.version < before)
        return await self._all(stmt.order_by(workflow_versions.c.version.desc()).limit(limit))

    async def all_versions(self, workflow_id: uuid.UUID):
        return await self._all(select(workflow_versions).where(workflow_versions.c.workflow_id == workflow_id)
                               .order_by(workflow_versions.c.version))

    async def version(self, workflow_id: uuid.UUID, number: int):
        return await self._one(select(workflow_versions).where(
            workflow_versions.c.workflow_id == workflow_id, workflow_versions.c.version == number))

    # --- templates --------------------------------------------------------------------------------------
    async def insert_template(self, values: dict):
        return await self._one(insert(templates).values(**values).returning(templates))

    async def templates_page(self, org_id: uuid.UUID, *, category: str, after: tuple | None, limit: int):
        stmt = select(templates).where(templates.c.org_id == org_id)
        if category:
            stmt = stmt.where(templates.c.category == category)
        if after:
            stmt = stmt.where(tuple_(templates.c.created_at, templates.c.id) > after)
        return await self._all(stmt.order_by(templates.c.created_at, templates.c.id).limit(limit))

    async def template(self, org_id: uuid.UUID, template_id: uuid.UUID):
        return await self._one(select(templates).where(templates.c.org_id == org_id, templates.c.id == template_id))

    async def delete_template(self, org_id: uuid.UUID, template_id: uuid.UUID) -> bool:
        result = await self.conn.execute(templates.delete().where(
            templates.c.org_id == org_id, templates.c.id == template_id))
        return result.rowcount == 1

    async def now(self) -> datetime:
        return (await self.conn.execute(select(func.now()))).scalar_one()


class Database(BaseDatabase[Repository]):
    def __init__(self, engine):
        super().__init__(engine, Repository)
