"""API keys of an organization: created by admins, shown once, stored as SHA-256, revocable.

A key acts with its own role but never above its creator's current role in the organization, and stops
when the creator leaves it (see Accounts.authenticate_api_key and the revocation feed). Owners see and
revoke every key of the organization; admins see and revoke the keys they created.
"""

import uuid
from datetime import UTC, datetime

from services.auth import api_key_format
from services.auth.organizations import cursor_after, next_token
from services.auth.repository import Database
from services.auth.validation import require_role
from services.common.caller import Caller
from services.common.errors import InvalidArgument, NotFound
from services.common.pagination import page_size
from services.common.validation import parse_id, require_text

KEY_ROLES = ("viewer", "member", "admin")


class ApiKeys:
    def __init__(self, db: Database):
        self.db = db

    async def create(self, caller: Caller, name: str, role: str, expires_at: datetime | None):
        caller.require_role("admin")
        name = require_text(name, "name")
        role = require_role(role or "member", allowed=KEY_ROLES)
        at = datetime.now(UTC)
        if expires_at is not None and expires_at <= at:
            raise InvalidArgument("expire_time", "must be in the future")
        key, prefix = api_key_format.generate()
        async with self.db.transaction() as repo:
            row = await repo.add_api_key(
                id=uuid.uuid4(), org_id=uuid.UUID(caller.org_id), name=name, prefix=prefix,
                key_hash=api_key_format.digest(key), role=role, created_by=uuid.UUID(caller.user_id),
                created_at=at, expires_at=expires_at,
            )
        return row, key

    @staticmethod
    def _scope(caller: Caller) -> uuid.UUID | None:
        """Whose keys the caller manages: everyone's for an owner, their own for an admin."""
        caller.require_role("admin")
        return None if caller.at_least("owner") else uuid.UUID(caller.user_id)

    async def list(self, caller: Caller, size: int, token: str):
        creator = self._scope(caller)
        limit = page_size(size)
        async with self.db.reading() as repo:
            rows = await repo.api_keys_of(uuid.UUID(caller.org_id), creator, cursor_after(token, "i"), limit)
        return rows, next_token(rows, limit, "created_at", "id", "i")

    async def get(self, caller: Caller, key_id: str):
        creator = self._scope(caller)
        async with self.db.reading() as repo:
            row = await repo.api_key(uuid.UUID(caller.org_id), parse_id(key_id))
        if row is None or (creator is not None and row.created_by != creator):
            raise NotFound("api key", key_id)
        return row

    async def revoke(self, caller: Caller, key_id: str) -> None:
        row = await self.get(caller, key_id)
        async with self.db.transaction() as repo:
            if not await repo.revoke_api_key(uuid.UUID(caller.org_id), row.id, datetime.now(UTC)):
                raise NotFound("api key", key_id)
