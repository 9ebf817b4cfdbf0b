"""Templates: the built-in library plus organization templates saved from workflows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.common.caller import Caller
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.validation import parse_id, require_text
from services.workflow.builtin_templates import BUILTIN_TEMPLATES, BY_ID
from services.workflow.workflows import Workflows


class Templates:
    def __init__(self, workflows: Workflows):
        self.workflows = workflows
        self.db = workflows.db

    async def list(self, caller: Caller, category: str, size: int, token: str):
        """Built-ins lead the first page; organization templates follow, paged by creation time."""
        limit = page_size(size)
        cursor = decode_cursor(token)
        builtins = [] if cursor else [t for t in BUILTIN_TEMPLATES if not category or t.category == category]
        after = None
        if cursor:
            try:
                after = (datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["i"]))
            except (KeyError, ValueError, TypeError):
                raise InvalidArgument("page_token", "not a page token returned by this API") from None
        async with self.db.transaction() as repo:
            rows = await repo.templates_page(uuid.UUID(caller.org_id), category=category, after=after, limit=limit)
        token = encode_cursor({"t": rows[-1].created_at.isoformat(), "i": str(rows[-1].id)}) if len(rows) == limit else ""
        return builtins, rows, token

    async def get(self, caller: Caller, template_id: str):
        if template_id in BY_ID:
            return BY_ID[template_id]
        async with self.db.transaction() as repo:
            row = await repo.template(uuid.UUID(caller.org_id), parse_id(template_id))
        if row is None:
            raise NotFound("template", template_id)
        return row

    async def create(self, caller: Caller, workflow_id: str, name: str, description: str, category: str):
        caller.require_role("member")
        workflow = await self.workflows.get(caller, workflow_id)
        async with self.db.transaction() as repo:
            return await repo.insert_template({
                "id": uuid.uuid4(), "org_id": uuid.UUID(caller.org_id),
                "name": require_text(name or workflow.name, "name"), "description": description[:2000],
                "category": category.strip()[:64], "flow_data": workflow.flow_data, "created_by": caller.subject,
                "created_at": datetime.now(UTC),
            })

    async def delete(self, caller: Caller, template_id: str) -> None:
        if template_id in BY_ID:
            raise FailedPrecondition("built-in templates cannot be deleted")
        caller.require_role("member")
        row = await self.get(caller, template_id)
        if not caller.at_least("admin") and row.created_by != caller.subject:
            raise PermissionDenied("members can delete only the templates they saved")
        async with self.db.transaction() as repo:
            await repo.delete_template(uuid.UUID(caller.org_id), row.id)

    async def instantiate(self, caller: Caller, template_id: str, name: str, request_id: str):
        template = await self.get(caller, template_id)
        return await self.workflows.create(
            caller, name=name or template.name, description=template.description, tags=[], is_public=False,
            flow=template.flow_data, request_id=request_id, message=f"from template {template.name}",
        )
