"""All SQL of the auth service. Every tenant-owned query filters by organization id.

`Database.transaction()` hands out a `Repository` bound to one connection in one transaction (the unit
of work); domain code never sees SQLAlchemy.
"""

import uuid
from datetime import datetime

from sqlalchemy import String, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from services.auth.models import (
    api_keys,
    credential_resolutions,
    credentials,
    login_activity,
    membership_changes,
    memberships,
    organizations,
    refresh_tokens,
    sessions,
    users,
)
from services.common.db import Database as BaseDatabase
from services.common.db import Repository as BaseRepository
from services.common.errors import AlreadyExists

UNIQUE_VIOLATION = "23505"
SIGN_UP = "sign_up"  # login_activity reason of a sign-up attempt (counted by the sign-up throttle)


def _is_unique_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION or "unique" in str(exc.orig).lower()


class Repository(BaseRepository):
    # --- users -----------------------------------------------------------------------------------------
    async def create_user(self, user_id: uuid.UUID, email: str, password_hash: str, display_name: str,
                          now: datetime):
        try:
            async with self.conn.begin_nested():
                return await self._one(insert(users).values(
                    id=user_id, email=email, password_hash=password_hash, display_name=display_name,
                    tokens_not_before=now, created_at=now, updated_at=now,
                ).returning(users))
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists("an account with this email already exists") from None
            raise

    async def user_by_email(self, email: str):
        return await self._one(select(users).where(users.c.email == email))

    async def user(self, user_id: uuid.UUID):
        return await self._one(select(users).where(users.c.id == user_id))

    async def update_display_name(self, user_id: uuid.UUID, display_name: str, now: datetime):
        return await self._one(update(users).where(users.c.id == user_id)
                               .values(display_name=display_name, updated_at=now).returning(users))

    async def set_password(self, user_id: uuid.UUID, password_hash: str, now: datetime) -> None:
        await self.conn.execute(update(users).where(users.c.id == user_id).values(
            password_hash=password_hash, tokens_not_before=now, updated_at=now))

    # --- organizations and memberships ------------------------------------------------------------------
    async def create_organization(self, org_id: uuid.UUID, name: str, personal: bool, now: datetime):
        return await self._one(insert(organizations).values(
            id=org_id, name=name, personal=personal, created_at=now, updated_at=now).returning(organizations))

    async def add_membership(self, org_id: uuid.UUID, user_id: uuid.UUID, role: str, now: datetime) -> None:
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(memberships).values(
                    org_id=org_id, user_id=user_id, role=role, created_at=now))
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists("this user is already a member of the organization") from None
            raise
        await self._membership_changed(org_id, user_id, role, now)

    async def _membership_changed(self, org_id: uuid.UUID, user_id: uuid.UUID, role: str | None,
                                  now: datetime) -> None:
        await self.conn.execute(insert(membership_changes).values(
            org_id=org_id, user_id=user_id, role=role, changed_at=now))

    async def membership(self, org_id: uuid.UUID, user_id: uuid.UUID):
        return await self._one(select(memberships).where(
            memberships.c.org_id == org_id, memberships.c.user_id == user_id))

    async def first_membership(self, user_id: uuid.UUID):
        """The user's personal organization if they still belong to it, else their oldest membership."""
        return await self._one(
            select(memberships).join(organizations, organizations.c.id == memberships.c.org_id)
            .where(memberships.c.user_id == user_id)
            .order_by(organizations.c.personal.desc(), memberships.c.created_at).limit(1))

    async def organization_for_member(self, org_id: uuid.UUID, user_id: uuid.UUID):
        return await self._one(
            select(organizations, memberships.c.role)
            .join(memberships, memberships.c.org_id == organizations.c.id)
            .where(organizations.c.id == org_id, memberships.c.user_id == user_id))

    async def organizations_of(self, user_id: uuid.UUID, after: tuple | None, limit: int):
        stmt = (select(organizations, memberships.c.role)
                .join(memberships, memberships.c.org_id == organizations.c.id)
                .where(memberships.c.user_id == user_id))
        if after:
            stmt = stmt.where(tuple_(organizations.c.created_at, organizations.c.id) > after)
        return await self._all(stmt.order_by(organizations.c.created_at, organizations.c.id).limit(limit))

    async def rename_organization(self, org_id: uuid.UUID, name: str, now: datetime):
        return await self._one(update(organizations).where(organizations.c.id == org_id)
                               .values(name=name, updated_at=now).returning(organizations))

    async def lock_organization(self, org_id: uuid.UUID) -> None:
        """Serialize membership changes of one organization (the last-owner rule needs it)."""
        await self.conn.execute(select(organizations.c.id).where(organizations.c.id == org_id).with_for_update())

    async def count_owners(self, org_id: uuid.UUID) -> int:
        return (await self.conn.execute(select(func.count()).select_from(memberships).where(
            memberships.c.org_id == org_id, memberships.c.role == "owner"))).scalar_one()

    async def members(self, org_id: uuid.UUID, after: tuple | None, limit: int):
        stmt = (select(memberships, users.c.email, users.c.display_name)
                .join(users, users.c.id == memberships.c.user_id).where(memberships.c.org_id == org_id))
        if after:
            stmt = stmt.where(tuple_(memberships.c.created_at, memberships.c.user_id) > after)
        return await self._all(stmt.order_by(memberships.c.created_at, memberships.c.user_id).limit(limit))

    async def member(self, org_id: uuid.UUID, user_id: uuid.UUID):
        return await self._one(select(memberships, users.c.email, users.c.display_name)
                               .join(users, users.c.id == memberships.c.user_id)
                               .where(memberships.c.org_id == org_id, memberships.c.user_id == user_id))

    async def set_role(self, org_id: uuid.UUID, user_id: uuid.UUID, role: str, now: datetime) -> None:
        await self.conn.execute(update(memberships).where(
            memberships.c.org_id == org_id, memberships.c.user_id == user_id).values(role=role))
        await self._membership_changed(org_id, user_id, role, now)

    async def remove_membership(self, org_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> None:
        """The member leaves, and the API keys they created in the organization stop for good."""
        await self.conn.execute(delete(memberships).where(
            memberships.c.org_id == org_id, memberships.c.user_id == user_id))
        await self.conn.execute(update(api_keys).where(
            api_keys.c.org_id == org_id, api_keys.c.created_by == user_id, api_keys.c.revoked_at.is_(None),
        ).values(revoked_at=now))
        await self._membership_changed(org_id, user_id, None, now)

    # --- sessions and refresh tokens --------------------------------------------------------------------
    async def create_session(self, session_id: uuid.UUID, user_id: uuid.UUID, org_id: uuid.UUID,
                             now: datetime) -> None:
        await self.conn.execute(insert(sessions).values(id=session_id, user_id=user_id, org_id=org_id,
                                                        created_at=now))

    async def add_refresh_token(self, token_hash: bytes, session_id: uuid.UUID, expires_at: datetime,
                                now: datetime) -> None:
        await self.conn.execute(insert(refresh_tokens).values(
            token_hash=token_hash, session_id=session_id, expires_at=expires_at, created_at=now))

    async def claim_refresh_token(self, token_hash: bytes, now: datetime):
        """Mark the token rotated if nobody has yet; exactly one concurrent caller gets the row back."""
        return await self._one(
            update(refresh_tokens)
            .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.rotated_at.is_(None))
            .values(rotated_at=now).returning(refresh_tokens))

    async def refresh_token(self, token_hash: bytes):
        return await self._one(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash))

    async def session(self, session_id: uuid.UUID):
        return await self._one(select(sessions).where(sessions.c.id == session_id))

    async def revoke_session(self, session_id: uuid.UUID, reason: str, now: datetime) -> None:
        await self.conn.execute(update(sessions).where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                                .values(revoked_at=now, revoked_reason=reason))

    async def revoke_sessions_of_user(self, user_id: uuid.UUID, reason: str, now: datetime) -> None:
        await self.conn.execute(update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
                                .values(revoked_at=now, revoked_reason=reason))

    async def session_state(self, session_id: uuid.UUID, org_id: uuid.UUID):
        """(revoked_at, tokens_not_before, role now in the token's organization) for the revocation check on
        every authenticated auth RPC."""
        return await self._fetch_one(
            "SELECT s.revoked_at, u.tokens_not_before, m.role FROM auth.sessions s "
            "JOIN auth.users u ON u.id = s.user_id "
            "LEFT JOIN auth.memberships m ON m.user_id = s.user_id AND m.org_id = $2 WHERE s.id = $1",
            session_id, org_id)

    async def api_key_state(self, key_id: uuid.UUID):
        """(revoked_at, creator's role now in the key's organization) for the same check on API-key tokens."""
        return await self._fetch_one(
            "SELECT k.revoked_at, m.role AS creator_role FROM auth.api_keys k "
            "LEFT JOIN auth.memberships m ON m.user_id = k.created_by AND m.org_id = k.org_id WHERE k.id = $1",
            key_id)

    async def revocations_since(self, since: datetime, limit: int = 10_000) -> list[str]:
        revoked_sessions = select(sessions.c.id.cast(String)).where(sessions.c.revoked_at >= since)
        revoked_keys = select(literal("apikey:") + api_keys.c.id.cast(String)).where(api_keys.c.revoked_at >= since)
        return list((await self.conn.execute(revoked_sessions.union_all(revoked_keys).limit(limit))).scalars())

    async def membership_changes_since(self, since: datetime, limit: int = 10_000):
        """The latest change per member and organization since `since`."""
        return await self._all(
            select(membership_changes.c.user_id, membership_changes.c.org_id, membership_changes.c.role,
                   membership_changes.c.changed_at)
            .where(membership_changes.c.changed_at >= since)
            .distinct(membership_changes.c.user_id, membership_changes.c.org_id)
            .order_by(membership_changes.c.user_id, membership_changes.c.org_id,
                      membership_changes.c.changed_at.desc(), membership_changes.c.id.desc())
            .limit(limit))

    # --- login activity ---------------------------------------------------------------------------------
    async def record_login(self, *, user_id, email: str, client_address: str, success: bool, reason: str,
                           now: datetime) -> None:
        await self.conn.execute(insert(login_activity).values(
            user_id=user_id, email=email, client_address=client_address, success=success, reason=reason,
            created_at=now))

    async def succeeded_from(self, user_id: uuid.UUID, client_address: str, since: datetime) -> bool:
        """Whether this account signed in (or signed up) from this address since then: a known place."""
        return (await self._one(select(login_activity.c.id).where(
            login_activity.c.user_id == user_id, login_activity.c.client_address == client_address,
            login_activity.c.success.is_(True), login_activity.c.created_at >= since).limit(1))) is not None

    async def failures(self, *, since: datetime, user_id: uuid.UUID | None = None, client_address: str | None = None,
                       after_last_success: bool = False):
        """(count, oldest, newest) of failed sign-ins against registered accounts since then: by account, by
        address, or by both; with `after_last_success`, only those after that pair's last success."""
        where = [login_activity.c.success.is_(False), login_activity.c.user_id.is_not(None),
                 login_activity.c.created_at >= since]
        if user_id is not None:
            where.append(login_activity.c.user_id == user_id)
        if client_address is not None:
            where.append(login_activity.c.client_address == client_address)
        if after_last_success:
            last_success = select(func.max(login_activity.c.created_at)).where(
                login_activity.c.user_id == user_id, login_activity.c.client_address == client_address,
                login_activity.c.success.is_(True)).scalar_subquery()
            where.append(login_activity.c.created_at > func.coalesce(last_success, since))
        return await self._one(select(func.count(), func.min(login_activity.c.created_at),
                                      func.max(login_activity.c.created_at)).where(*where))

    async def sign_ups_from(self, client_address: str, since: datetime):
        """(count, oldest) of sign-up attempts from this address since then."""
        return await self._one(select(func.count(), func.min(login_activity.c.created_at)).where(
            login_activity.c.client_address == client_address, login_activity.c.reason == SIGN_UP,
            login_activity.c.created_at >= since))

    # --- API keys ---------------------------------------------------------------------------------------
    async def add_api_key(self, **values):
        return await self._one(insert(api_keys).values(**values).returning(api_keys))

    async def api_keys_of(self, org_id: uuid.UUID, creator: uuid.UUID | None, after: tuple | None, limit: int):
        """Live keys of the organization; of one creator only when `creator` is given."""
        stmt = select(api_keys).where(api_keys.c.org_id == org_id, api_keys.c.revoked_at.is_(None))
        if creator is not None:
            stmt = stmt.where(api_keys.c.created_by == creator)
        if after:
            stmt = stmt.where(tuple_(api_keys.c.created_at, api_keys.c.id) > after)
        return await self._all(stmt.order_by(api_keys.c.created_at, api_keys.c.id).limit(limit))

    async def api_key(self, org_id: uuid.UUID, key_id: uuid.UUID):
        return await self._one(select(api_keys).where(
            api_keys.c.org_id == org_id, api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)))

    async def api_key_by_prefix(self, prefix: str):
        return await self._one(select(api_keys).where(api_keys.c.prefix == prefix))

    async def revoke_api_key(self, org_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> bool:
        result = await self.conn.execute(update(api_keys).where(
            api_keys.c.org_id == org_id, api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
        ).values(revoked_at=now))
        return result.rowcount == 1

    async def touch_api_key(self, key_id: uuid.UUID, now: datetime) -> None:
        await self.conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))

    # --- credentials ------------------------------------------------------------------------------------
    async def add_credential(self, **values):
        try:
            async with self.conn.begin_nested():
                return await self._one(insert(credentials).values(**values).returning(credentials))
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists("a credential with this service_type and name already exists") from None
            raise

    async def credentials_of(self, org_id: uuid.UUID, service_type: str, after: tuple | None, limit: int):
        stmt = select(credentials).where(credentials.c.org_id == org_id)
        if service_type:
            stmt = stmt.where(credentials.c.service_type == service_type)
        if after:
            stmt = stmt.where(tuple_(credentials.c.created_at, credentials.c.id) > after)
        return await self._all(stmt.order_by(credentials.c.created_at, credentials.c.id).limit(limit))

    async def credential(self, org_id: uuid.UUID, credential_id: uuid.UUID, *, for_update: bool = False):
        stmt = select(credentials).where(credentials.c.org_id == org_id, credentials.c.id == credential_id)
        return await self._one(stmt.with_for_update() if for_update else stmt)

    async def credential_by_name(self, org_id: uuid.UUID, service_type: str, name: str):
        return await self._one(select(credentials).where(
            credentials.c.org_id == org_id, credentials.c.service_type == service_type, credentials.c.name == name))

    async def update_credential(self, org_id: uuid.UUID, credential_id: uuid.UUID, revision: int, **values):
        """Compare-and-set on revision: None when another writer got there first."""
        try:
            async with self.conn.begin_nested():
                return await self._one(update(credentials).where(
                    credentials.c.org_id == org_id, credentials.c.id == credential_id,
                    credentials.c.revision == revision,
                ).values(revision=revision + 1, **values).returning(credentials))
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists("a credential with this service_type and name already exists") from None
            raise

    async def delete_credential(self, org_id: uuid.UUID, credential_id: uuid.UUID) -> bool:
        result = await self.conn.execute(delete(credentials).where(
            credentials.c.org_id == org_id, credentials.c.id == credential_id))
        return result.rowcount == 1

    async def record_resolution(self, *, org_id: uuid.UUID, credential_id: uuid.UUID,
                                execution_id: uuid.UUID | None, service: str, now: datetime) -> None:
        await self.conn.execute(insert(credential_resolutions).values(
            org_id=org_id, credential_id=credential_id, execution_id=execution_id, service=service, resolved_at=now))

    async def credentials_not_under(self, key_version: str, limit: int):
        return await self._all(select(credentials).where(credentials.c.key_version != key_version)
                               .order_by(credentials.c.id).limit(limit).with_for_update(skip_locked=True))

    async def replace_ciphertext(self, credential_id: uuid.UUID, key_version: str, ciphertext: bytes) -> None:
        await self.conn.execute(update(credentials).where(credentials.c.id == credential_id)
                                .values(key_version=key_version, ciphertext=ciphertext))


class Database(BaseDatabase[Repository]):
    def __init__(self, engine):
        super().__init__(engine, Repository)
