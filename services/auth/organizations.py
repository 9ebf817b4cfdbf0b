"""Organizations and memberships. An organization always keeps at least one owner."""

import uuid
from datetime import UTC, datetime

from services.auth.repository import Database
from services.auth.validation import normalize_email, require_role
from services.common.caller import Caller, role_rank
from services.common.errors import FailedPrecondition, NotFound, PermissionDenied
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.validation import parse_id, require_text


def now() -> datetime:
    return datetime.now(UTC)


def cursor_after(token: str, key: str) -> tuple | None:
    cursor = decode_cursor(token)
    if cursor is None:
        return None
    try:
        return datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor[key])
    except (KeyError, ValueError, TypeError):
        from services.common.errors import InvalidArgument

        raise InvalidArgument("page_token", "not a page token returned by this API") from None


def next_token(rows, limit: int, time_attr: str, id_attr: str, key: str) -> str:
    if len(rows) < limit:
        return ""
    last = rows[-1]
    return encode_cursor({"t": getattr(last, time_attr).isoformat(), key: str(getattr(last, id_attr))})


class Organizations:
    def __init__(self, db: Database):
        self.db = db

    async def create(self, caller: Caller, name: str):
        name = require_text(name, "organization.name")
        async with self.db.transaction() as repo:
            at = now()
            org = await repo.create_organization(uuid.uuid4(), name, False, at)
            await repo.add_membership(org.id, uuid.UUID(caller.user_id), "owner", at)
            return org, "owner"

    async def list(self, caller: Caller, size: int, token: str):
        limit = page_size(size)
        async with self.db.reading() as repo:
            rows = await repo.organizations_of(uuid.UUID(caller.user_id), cursor_after(token, "i"), limit)
        return rows, next_token(rows, limit, "created_at", "id", "i")

    async def get(self, caller: Caller, organization_id: str):
        org_id = parse_id(organization_id)
        async with self.db.reading() as repo:
            row = await repo.organization_for_member(org_id, uuid.UUID(caller.user_id))
        if row is None:
            raise NotFound("organization", organization_id)
        return row

    async def rename(self, caller: Caller, organization_id: str, name: str):
        org_id = self._active(caller, organization_id, "organization.id")
        caller.require_role("admin")
        name = require_text(name, "organization.name")
        async with self.db.transaction() as repo:
            await repo.rename_organization(org_id, name, now())
            return await repo.organization_for_member(org_id, uuid.UUID(caller.user_id))

    @staticmethod
    def _active(caller: Caller, organization_id: str, field: str = "organization_id") -> uuid.UUID:
        """Members are managed in the caller's active organization; any other id does not exist for them."""
        org_id = parse_id(organization_id, field)
        if str(org_id) != caller.org_id:
            raise NotFound("organization", organization_id)
        return org_id

    async def members(self, caller: Caller, organization_id: str, size: int, token: str):
        org_id = self._active(caller, organization_id)
        limit = page_size(size)
        async with self.db.reading() as repo:
            rows = await repo.members(org_id, cursor_after(token, "u"), limit)
        return rows, next_token(rows, limit, "created_at", "user_id", "u")

    async def add_member(self, caller: Caller, organization_id: str, email: str, role: str):
        org_id = self._active(caller, organization_id)
        role = require_role(role)
        self._may_grant(caller, role)
        email = normalize_email(email)
        async with self.db.transaction() as repo:
            user = await repo.user_by_email(email)
            if user is None:
                raise NotFound("user", email)
            await repo.add_membership(org_id, user.id, role, now())
            return await repo.member(org_id, user.id)

    async def update_member(self, caller: Caller, organization_id: str, user_id: str, role: str):
        org_id = self._active(caller, organization_id)
        member_id = parse_id(user_id, "user_id")
        role = require_role(role)
        async with self.db.transaction() as repo:
            await repo.lock_organization(org_id)
            current = await repo.member(org_id, member_id)
            if current is None:
                raise NotFound("member", user_id)
            self._may_grant(caller, role)
            self._may_manage(caller, current.role)
            if current.role == "owner" and role != "owner" and await repo.count_owners(org_id) <= 1:
                raise FailedPrecondition("the last owner cannot be demoted; make someone else owner first",
                                         reason="LAST_OWNER")
            await repo.set_role(org_id, member_id, role, now())
            return await repo.member(org_id, member_id)

    async def remove_member(self, caller: Caller, organization_id: str, user_id: str) -> None:
        org_id = self._active(caller, organization_id)
        member_id = parse_id(user_id, "user_id")
        async with self.db.transaction() as repo:
            await repo.lock_organization(org_id)
            current = await repo.member(org_id, member_id)
            if current is None:
                raise NotFound("member", user_id)
            if str(member_id) != caller.user_id:  # anyone may leave; removing others needs a manager
                self._may_manage(caller, current.role)
            if current.role == "owner" and await repo.count_owners(org_id) <= 1:
                raise FailedPrecondition("the last owner cannot be removed", reason="LAST_OWNER")
            await repo.remove_membership(org_id, member_id, now())

    @staticmethod
    def _may_grant(caller: Caller, role: str) -> None:
        caller.require_role("admin")
        if role == "owner" and caller.role != "owner":
            raise PermissionDenied("only an owner can grant the owner role")

    @staticmethod
    def _may_manage(caller: Caller, target_role: str) -> None:
        caller.require_role("admin")
        if role_rank(target_role) > role_rank(caller.role):
            raise PermissionDenied(f"an {caller.role} cannot change an {target_role}")
