"""Accounts and sessions: sign-up, sign-in with throttling, refresh-token rotation with reuse detection,
sign-out, password change, organization switch, API-key and service-identity tokens."""

import hashlib
import hmac
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.auth import api_key_format
from services.auth.passwords import PasswordHasher
from services.auth.repository import SIGN_UP, Database, Repository
from services.auth.settings import AuthSettings
from services.auth.signing import SigningKeyring
from services.auth.throttle import Throttle
from services.auth.validation import canonical_email, normalize_email
from services.common.caller import ROLES, Caller, role_rank
from services.common.errors import (
    Aborted,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.common.validation import parse_id, require_text

log = logging.getLogger(__name__)
SIGN_IN_FAILED = "email or password is incorrect"


def now() -> datetime:
    return datetime.now(UTC)


def refresh_token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class IssuedSession:
    access_token: str
    refresh_token: str
    expires_in: int
    user: object
    org_id: str
    role: str


@dataclass
class IssuedToken:
    access_token: str
    expires_in: int
    org_id: str
    role: str


class Accounts:
    def __init__(self, db: Database, settings: AuthSettings, signer: SigningKeyring, hasher: PasswordHasher):
        self.db, self.settings, self.signer, self.hasher = db, settings, signer, hasher
        self.throttle = Throttle(settings)
        self._service_token_failures: dict[str, list[float]] = {}  # address -> monotonic times, last minute

    # --- sessions ---------------------------------------------------------------------------------------
    async def _open_session(self, repo: Repository, user, org_id: uuid.UUID, role: str) -> IssuedSession:
        session_id = uuid.uuid4()
        at = now()
        await repo.create_session(session_id, user.id, org_id, at)
        return await self._issue(repo, user, session_id, org_id, role, at)

    async def _issue(self, repo: Repository, user, session_id: uuid.UUID, org_id: uuid.UUID, role: str,
                     at: datetime, session_started: datetime | None = None) -> IssuedSession:
        refresh = secrets.token_urlsafe(32)
        # Idle lifetime from now, never past the session's absolute lifetime.
        absolute_end = (session_started or at) + timedelta(seconds=self.settings.session_absolute_ttl_seconds)
        expires_at = min(at + timedelta(seconds=self.settings.refresh_token_ttl_seconds), absolute_end)
        await repo.add_refresh_token(refresh_token_digest(refresh), session_id, expires_at, at)
        ttl = self.settings.access_token_ttl_seconds
        access = self.signer.sign(subject=str(user.id), org_id=str(org_id), role=role, ttl=ttl,
                                  session_id=str(session_id))
        return IssuedSession(access, refresh, ttl, user, str(org_id), role)

    async def sign_up(self, email: str, password: str, display_name: str, client_address: str) -> IssuedSession:
        email = normalize_email(email)
        self._check_password(password, "password")
        display_name = display_name.strip()[:200] or email.split("@")[0]
        client_address = client_address[:64] or "unknown"
        async with self.db.transaction() as repo:  # counted before the costly hash, whatever comes of it
            await self.throttle.check_sign_up(repo, client_address, now())
            await repo.record_login(user_id=None, email="", client_address=client_address, success=False,
                                    reason=SIGN_UP, now=now())
        password_hash = await self.hasher.hash(password)
        async with self.db.transaction() as repo:
            at = now()
            user = await repo.create_user(uuid.uuid4(), email, password_hash, display_name, at)
            # Signing up from an address makes it a known place of this account (see throttle.py).
            await repo.record_login(user_id=user.id, email=email, client_address=client_address, success=True,
                                    reason="signed_up", now=at)
            org = await repo.create_organization(uuid.uuid4(), f"{display_name}'s workspace", True, at)
            await repo.add_membership(org.id, user.id, "owner", at)
            return await self._open_session(repo, user, org.id, "owner")

    def _check_password(self, password: str, field: str) -> None:
        if len(password) < self.settings.min_password_length:
            raise InvalidArgument(field, f"must be at least {self.settings.min_password_length} characters")
        if len(password) > 1024:
            raise InvalidArgument(field, "must be at most 1024 characters")

    async def sign_in(self, email: str, password: str, client_address: str) -> IssuedSession:
        if not email or not password:
            raise InvalidArgument("email" if not email else "password", "is required")
        email = canonical_email(email[:1024])  # not a valid address: no such account
        client_address = client_address[:64] or "unknown"
        async with self.db.reading() as repo:
            user = await repo.user_by_email(email) if email else None
            await self.throttle.check_password_attempt(repo, user.id if user else None, client_address, now())
        # Same work for an unknown email and a wrong password: no user enumeration by timing.
        valid = await self.hasher.verify(user.password_hash if user else None, password)
        async with self.db.transaction() as repo:
            # What was typed is stored only when it is an account's email (people type passwords there too).
            if not valid or user is None:
                await repo.record_login(user_id=user.id if user else None, email=user.email if user else "",
                                        client_address=client_address, success=False,
                                        reason="unknown_email" if user is None else "wrong_password", now=now())
            else:
                membership = await repo.first_membership(user.id)
                if membership is None:
                    await repo.record_login(user_id=user.id, email=user.email, client_address=client_address,
                                            success=False, reason="no_organization", now=now())
                else:
                    await repo.record_login(user_id=user.id, email=user.email, client_address=client_address,
                                            success=True, reason="ok", now=now())
                    return await self._open_session(repo, user, membership.org_id, membership.role)
        raise Unauthenticated(SIGN_IN_FAILED, reason="INVALID_CREDENTIALS")

    async def refresh(self, refresh_token: str) -> IssuedSession:
        if not refresh_token:
            raise InvalidArgument("refresh_token", "is required")
        digest = refresh_token_digest(refresh_token)
        async with self.db.transaction() as repo:
            at = now()
            claimed = await repo.claim_refresh_token(digest, at)
            if claimed is not None:
                return await self._rotate(repo, claimed, at)
            known = await repo.refresh_token(digest)
            if known is None:
                raise Unauthenticated("unknown refresh token", reason="INVALID_REFRESH_TOKEN")
            if at - known.rotated_at <= timedelta(seconds=self.settings.refresh_reuse_grace_seconds):
                raise Aborted("this refresh token was just used by a concurrent refresh; use the newer session",
                              reason="REFRESH_RACE")
            # A rotated token came back after the grace window: stolen or replayed. End the whole family
            # (committed when this block closes, before the caller is refused).
            await repo.revoke_session(known.session_id, "refresh_token_reuse", at)
        log.warning("refresh token reuse detected; session %s revoked", known.session_id)
        raise Unauthenticated("refresh token was already used; the session has been revoked, sign in again",
                              reason="REFRESH_TOKEN_REUSED")

    async def _rotate(self, repo: Repository, claimed, at: datetime) -> IssuedSession:
        session = await repo.session(claimed.session_id)
        absolute_end = session.created_at + timedelta(seconds=self.settings.session_absolute_ttl_seconds)
        if session.revoked_at is not None or claimed.expires_at <= at or absolute_end <= at:
            raise Unauthenticated("session expired or signed out; sign in again", reason="SESSION_ENDED")
        user = await repo.user(session.user_id)
        membership = await repo.membership(session.org_id, session.user_id)
        if membership is None:  # removed from the organization since: back to their own
            membership = await repo.first_membership(session.user_id)
            if membership is None:
                raise Unauthenticated("no organization left for this account", reason="SESSION_ENDED")
        return await self._issue(repo, user, session.id, membership.org_id, membership.role, at, session.created_at)

    async def sign_out(self, caller: Caller) -> None:
        if caller.kind != "user" or not caller.session_id:
            raise PermissionDenied("only a signed-in user's session can be signed out")
        async with self.db.transaction() as repo:
            await repo.revoke_session(uuid.UUID(caller.session_id), "sign_out", now())

    async def profile(self, caller: Caller):
        async with self.db.reading() as repo:
            user = await repo.user(uuid.UUID(caller.user_id))
        if user is None:
            raise NotFound("user", caller.user_id)
        return user

    async def update_profile(self, caller: Caller, display_name: str):
        display_name = require_text(display_name, "user.display_name")
        async with self.db.transaction() as repo:
            return await repo.update_display_name(uuid.UUID(caller.user_id), display_name, now())

    async def change_password(self, caller: Caller, current: str, new: str, client_address: str) -> IssuedSession:
        """A wrong current password is a guess like a failed sign-in: throttled and counted the same way."""
        self._check_password(new, "new_password")
        user = await self.profile(caller)
        client_address = client_address[:64] or "unknown"
        async with self.db.reading() as repo:
            await self.throttle.check_password_attempt(repo, user.id, client_address, now())
        if not await self.hasher.verify(user.password_hash, current):
            async with self.db.transaction() as repo:
                await repo.record_login(user_id=user.id, email=user.email, client_address=client_address,
                                        success=False, reason="wrong_current_password", now=now())
            raise InvalidArgument("current_password", "is incorrect")
        new_hash = await self.hasher.hash(new)
        async with self.db.transaction() as repo:
            at = now()
            await repo.set_password(user.id, new_hash, at)
            # Every session ends, this one included; the caller gets a fresh one in the response.
            await repo.revoke_sessions_of_user(user.id, "password_changed", at)
            return await self._open_session(repo, user, uuid.UUID(caller.org_id), caller.role)

    async def switch_organization(self, caller: Caller, organization_id: str) -> IssuedSession:
        """A new session in the other organization; the previous session ends (its refresh token and, through
        the revocation feed, its access tokens), so one sign-in never holds live tokens for two organizations."""
        org_id = parse_id(organization_id, "organization_id")
        async with self.db.transaction() as repo:
            membership = await repo.membership(org_id, uuid.UUID(caller.user_id))
            if membership is None:
                raise NotFound("organization", organization_id)
            user = await repo.user(membership.user_id)
            at = now()
            if caller.session_id:
                await repo.revoke_session(uuid.UUID(caller.session_id), "switched_organization", at)
            return await self._open_session(repo, user, org_id, membership.role)

    async def is_revoked(self, caller: Caller) -> bool:
        """Auth's own RPCs refuse at once tokens of ended sessions, password-changed users, revoked keys, and
        tokens whose role is above the member's (or the key creator's) current role in the organization."""
        async with self.db.reading() as repo:
            if caller.kind == "user" and caller.session_id:
                state = await repo.session_state(uuid.UUID(caller.session_id), uuid.UUID(caller.org_id))
                return (state is None or state.revoked_at is not None
                        or caller.issued_at < int(state.tokens_not_before.timestamp())
                        or role_rank(caller.role) > role_rank(state.role or ""))
            if caller.kind == "api_key":
                key = await repo.api_key_state(uuid.UUID(caller.subject.removeprefix("apikey:")))
                return (key is None or key.revoked_at is not None
                        or role_rank(caller.role) > role_rank(key.creator_role or ""))
        return False

    async def revocations_since(self, since: datetime | None) -> tuple[list[str], list, datetime]:
        """Revoked session and API-key ids, and membership changes, for other services' verifiers. `since` is
        raised to one access-token lifetime ago (older revocations concern expired tokens only). The next
        cursor lags a little behind now, so a change committed a moment late is still seen (duplicates are
        harmless)."""
        at = now()
        if since is not None and since > at + timedelta(seconds=60):
            raise InvalidArgument("since", "must not be in the future")
        horizon = at - timedelta(seconds=self.settings.access_token_ttl_seconds + 60)
        since = max(since, horizon) if since else horizon
        async with self.db.reading() as repo:
            revoked = await repo.revocations_since(since)
            changes = await repo.membership_changes_since(since)
        return revoked, changes, at - timedelta(seconds=5)

    # --- machine identities -----------------------------------------------------------------------------
    async def authenticate_api_key(self, key: str) -> IssuedToken:
        prefix = api_key_format.parse_prefix(key)
        if prefix is None:
            raise Unauthenticated("invalid API key", reason="INVALID_API_KEY")
        async with self.db.transaction() as repo:
            row = await repo.api_key_by_prefix(prefix)
            at = now()
            if (row is None or not hmac.compare_digest(row.key_hash, api_key_format.digest(key))
                    or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= at)):
                raise Unauthenticated("invalid API key", reason="INVALID_API_KEY")
            creator = await repo.membership(row.org_id, row.created_by)
            if creator is None:  # the creator left the organization: their keys stop with them
                raise Unauthenticated("invalid API key", reason="INVALID_API_KEY")
            await repo.touch_api_key(row.id, at)
        # Never more than the creator's role today (an admin demoted to viewer has viewer keys).
        role = ROLES[min(role_rank(row.role), role_rank(creator.role))]
        ttl = self.settings.api_key_token_ttl_seconds
        if row.expires_at is not None:
            ttl = max(1, min(ttl, int((row.expires_at - at).total_seconds())))
        token = self.signer.sign(subject=f"apikey:{row.id}", org_id=str(row.org_id), role=role, ttl=ttl,
                                 kind="api_key", member=str(row.created_by))
        return IssuedToken(token, ttl, str(row.org_id), role)

    def issue_service_token(self, service_name: str, secret: str, client_address: str,
                            organization_id: str = "") -> IssuedToken:
        recent = self._recent_service_token_failures(client_address)
        if len(recent) >= self.settings.max_service_token_failures_per_minute:
            raise ResourceExhausted("too many failed service-token requests from this address; try again later",
                                    max(1, int(recent[0] + 60 - time.monotonic()) + 1))
        expected = self.settings.service_secrets.get(service_name)
        if not expected or not hmac.compare_digest(expected.encode(), secret.encode()):
            recent.append(time.monotonic())
            raise Unauthenticated("unknown service or wrong secret", reason="INVALID_SERVICE_SECRET")
        ttl = self.settings.service_token_ttl_seconds
        org_id, role = "", "service"
        if organization_id:  # acting for an organization: its member role, on the RPCs that admit it
            if service_name not in self.settings.acting_services:
                raise PermissionDenied(f"service {service_name} may not act for an organization")
            org_id, role = str(parse_id(organization_id, "organization_id")), "member"
        token = self.signer.sign(subject=f"service:{service_name}", org_id=org_id, role=role, ttl=ttl,
                                 typ="service", kind="service")
        return IssuedToken(token, ttl, "", "service")

    def _recent_service_token_failures(self, address: str) -> list[float]:
        """Failed attempts from this address in the last minute (kept in memory: secrets are long and random,
        this only stops a flood of guesses)."""
        cutoff = time.monotonic() - 60
        if len(self._service_token_failures) > 10_000:  # forget idle addresses
            self._service_token_failures = {a: t for a, t in self._service_token_failures.items() if t and t[-1] > cutoff}
        recent = [t for t in self._service_token_failures.get(address, ()) if t > cutoff]
        self._service_token_failures[address] = recent
        return recent
