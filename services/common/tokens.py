"""Local verification of access tokens against the auth service's published keys.

Every service verifies tokens itself (no call to auth per request). The algorithm is pinned to EdDSA,
`kid` is looked up only in keys we fetched from our own auth service (`jku`/`x5u` are ignored), issuer and
audience are checked, and a refresh token can never pass because it is not a JWT and access tokens carry
`typ`.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import grpc
import jwt
from jwt.algorithms import OKPAlgorithm

from services.common.caller import Caller, role_rank
from services.common.errors import Unauthenticated

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
ACCEPTED_TYPES = ("access", "service")

KeyFetcher = Callable[[], Awaitable[list[dict]]]


def public_key_from_jwk(jwk: dict):
    return OKPAlgorithm.from_jwk(jwk)


class TokenVerifier:
    """Verifies access tokens; keeps a small cache of already-verified tokens until they expire."""

    def __init__(self, fetch_jwks: KeyFetcher, issuer: str, audience: str, refetch_interval: float = 30.0):
        self._fetch_jwks = fetch_jwks
        self._issuer = issuer
        self._audience = audience
        self._keys: dict[str, object] = {}
        self._last_fetch = float("-inf")
        self._refetch_interval = refetch_interval
        self._lock = asyncio.Lock()
        self._verified: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        # Hook for the auth service: tokens of revoked sessions stop at once there.
        self.is_revoked: Callable[[Caller], Awaitable[bool]] | None = None
        # Other services: session and API-key ids revoked recently (kept fresh by a RevocationFeed).
        self.revoked_ids: dict[str, float] = {}  # id -> when we learnt it
        # ... and members whose role changed recently: (user id, org id) -> (current role or "", change time,
        # when we learnt it). A token whose role exceeds the member's current role is refused.
        self.member_roles: dict[tuple[str, str], tuple[str, float, float]] = {}

    async def _key_for(self, kid: str):
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            # Unknown kid: refresh, but not more often than the interval (an attacker's random kids
            # must not turn into a flood of JWKS fetches).
            stale = time.monotonic() - self._last_fetch >= self._refetch_interval
            if kid not in self._keys and stale:
                try:
                    jwks = await self._fetch_jwks()
                    self._keys = {k["kid"]: public_key_from_jwk(k) for k in jwks}
                    self._last_fetch = time.monotonic()
                except Exception as exc:  # auth down: keep the keys we have, retry soon
                    log.warning("could not refresh signing keys: %s", exc)
                    self._last_fetch = time.monotonic() - self._refetch_interval + 1.0
        return self._keys.get(kid)

    async def verify(self, token: str) -> Caller:
        now = time.time()
        hit = self._verified.get(token)
        if hit is not None and hit[1] > now:
            caller = hit[0]
        else:
            caller = await self._verify_signature(token)
        if (caller.session_id and caller.session_id in self.revoked_ids) or caller.subject in self.revoked_ids:
            raise Unauthenticated("this session has been signed out; sign in again")
        changed = self.member_roles.get((caller.member, caller.org_id)) if caller.member else None
        if changed is not None and role_rank(caller.role) > role_rank(changed[0]):
            raise Unauthenticated("your role in this organization has changed; sign in again or refresh the session",
                                  reason="ROLE_CHANGED")
        if self.is_revoked is not None and await self.is_revoked(caller):
            raise Unauthenticated("this session has been signed out; sign in again")
        return caller

    async def _verify_signature(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("access token algorithm not accepted")
        key = await self._key_for(str(header.get("kid", "")))
        if key is None:
            raise Unauthenticated("access token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("access token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("access token from another issuer") from None
        except jwt.PyJWTError:  # the library's own text describes its internals: not for callers
            raise Unauthenticated("invalid access token") from None
        if claims.get("typ") not in ACCEPTED_TYPES:
            raise Unauthenticated("not an access token")
        kind = claims.get("kind", "user") if claims["typ"] == "access" else "service"
        caller = Caller(
            subject=claims["sub"],
            org_id=claims.get("org", ""),
            role=claims.get("role", ""),
            token_id=claims["jti"],
            session_id=claims.get("sid", ""),
            issued_at=int(claims["iat"]),
            kind=kind,
            member=claims["sub"] if kind == "user" else claims.get("mbr", ""),
        )
        self._remember(token, caller, float(claims["exp"]))
        return caller

    def _remember(self, token: str, caller: Caller, expires_at: float) -> None:
        self._verified[token] = (caller, expires_at)
        if len(self._verified) > 10_000:
            self._verified.popitem(last=False)


def grpc_jwks_fetcher(channel) -> KeyFetcher:
    """Fetch the signing keys from the auth service over an existing channel."""
    from google.protobuf.json_format import MessageToDict

    from agentic.auth.v1 import auth_pb2, auth_pb2_grpc

    stub = auth_pb2_grpc.AuthServiceStub(channel)

    async def fetch() -> list[dict]:
        # wait_for_ready: right after start-up the channel may still be backing off from auth not being up;
        # waiting for it (bounded by the timeout) beats failing the first requests with 401.
        jwks = await stub.GetJwks(auth_pb2.GetJwksRequest(), timeout=5, wait_for_ready=True)
        return [MessageToDict(key, preserving_proto_field_name=True) for key in jwks.keys]

    return fetch


class ServiceIdentity:
    """This service's own identity token from auth (IssueServiceToken), renewed shortly before it expires.

    Internal RPCs (the revocation feed, API-key exchange, credential resolution) accept only service tokens.
    """

    def __init__(self, channel, name: str, secret: str, renew_margin: float = 60.0):
        from agentic.auth.v1 import auth_pb2_grpc

        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self.name = name
        self._secret = secret
        self._renew_margin = renew_margin
        self._token = ""
        self._renew_at = float("-inf")
        self._lock = asyncio.Lock()

    async def token(self, wait: bool = False) -> str:
        """`wait`: wait (up to 5 s) for auth to listen, for background work that starts beside it; a request's
        path fails fast instead."""
        if time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if time.monotonic() >= self._renew_at:
                from agentic.auth.v1 import auth_pb2

                reply = await self._stub.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
                    service_name=self.name, service_secret=self._secret), timeout=5, wait_for_ready=wait)
                self._token = reply.access_token
                self._renew_at = time.monotonic() + max(1.0, reply.expires_in - self._renew_margin)
        return self._token

    @property
    def configured(self) -> bool:
        return bool(self._secret)

    def forget(self) -> None:
        """The token was refused (auth restarted with other keys, say): fetch a new one next time."""
        self._renew_at = float("-inf")

    async def metadata(self, key: str = "authorization", wait: bool = False) -> tuple[tuple[str, str], ...]:
        """The token as call metadata; nothing without a configured secret (the callee then refuses)."""
        return ((key, f"Bearer {await self.token(wait)}"),) if self._secret else ()


class RevocationFeed:
    """Keeps `verifier.revoked_ids` fresh by polling auth's ListRevocations every few seconds.

    Sign-out, password change, API-key revocation and membership changes (removal, a lower role) then stop
    access tokens in every service within one interval, without a call to auth per request. Entries are kept
    for one access-token lifetime, after which the tokens they stop have expired anyway. The feed is an
    internal RPC: it is called with this service's own identity.
    """

    def __init__(self, channel, verifier: TokenVerifier, identity: ServiceIdentity, interval: float = 2.0,
                 keep_seconds: float = 1900.0):
        from agentic.auth.v1 import auth_pb2_grpc

        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._identity = identity
        self._verifier = verifier
        self._interval = interval
        self._keep_seconds = keep_seconds
        self._since = None
        self._task: asyncio.Task | None = None

    async def poll_once(self) -> None:
        from agentic.auth.v1 import auth_pb2

        request = auth_pb2.ListRevocationsRequest()
        if self._since is not None:
            request.since.CopyFrom(self._since)
        reply = await self._stub.ListRevocations(request, timeout=5, wait_for_ready=True,
                                                 metadata=await self._identity.metadata(wait=True))
        now = time.monotonic()
        known = self._verifier.revoked_ids
        for revoked in reply.revoked:
            known.setdefault(revoked, now)
        roles = self._verifier.member_roles
        for change in reply.membership_changes:
            key, at = (change.user_id, change.organization_id), change.change_time.ToMicroseconds()
            if key not in roles or roles[key][1] <= at:  # the feed overlaps: never go back to an older state
                roles[key] = (change.role, at, now)
        self._since = reply.next_since
        # Forget entries older than an access-token lifetime: their tokens have expired.
        for stale in [k for k, seen in known.items() if now - seen > self._keep_seconds]:
            del known[stale]
        for stale in [k for k, entry in roles.items() if now - entry[2] > self._keep_seconds]:
            del roles[stale]

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception as exc:  # auth briefly down: keep what we know, try again
                reason = f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
                log.warning("revocation poll failed (%s); retrying in %g s", reason, self._interval)
                if isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    self._identity.forget()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
