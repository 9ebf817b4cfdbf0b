"""The executor's service identity and the credentials of runs.

Provider nodes name a credential (by id, or service_type + name). Auth only resolves a plaintext secret for a
service identity, so the executor obtains a service token with its shared secret (`IssueServiceToken`),
keeps it until shortly before it expires, and asks `ResolveCredential` for the run's organization and
execution. Secrets stay in memory for the run (`RunCredentials`); they are never put in events, logs,
checkpoints or outputs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import grpc

from agentic.auth.v1 import auth_pb2, auth_pb2_grpc, credentials_pb2, credentials_pb2_grpc
from services.executor.nodes.base import NodeError

REFRESH_MARGIN_SECONDS = 60  # a token is renewed this long before it expires
CALL_SECONDS = 10.0


@dataclass(frozen=True)
class CredentialRef:
    """A node's reference to a credential: its id, or its service type and name."""

    id: str = ""
    service_type: str = ""
    name: str = ""

    def describe(self) -> str:
        return self.id or f"{self.service_type}/{self.name}"


class CredentialResolver:
    """One per executor process: the service token cache and the calls to auth."""

    def __init__(self, channel: grpc.aio.Channel | None, service_secret: str, service_name: str = "executor"):
        self._auth = auth_pb2_grpc.AuthServiceStub(channel) if channel is not None else None
        self._credentials = credentials_pb2_grpc.CredentialServiceStub(channel) if channel is not None else None
        self._secret, self._name = service_secret, service_name
        self._token, self._expires = "", 0.0
        self._lock = asyncio.Lock()
        self._acting: dict[uuid.UUID, tuple[str, float]] = {}  # org -> (token, renew at)

    async def _service_token(self, *, renew: bool = False) -> str:
        async with self._lock:
            if renew or not self._token or time.monotonic() >= self._expires:
                issued = await self._auth.IssueServiceToken(
                    auth_pb2.IssueServiceTokenRequest(service_name=self._name, service_secret=self._secret),
                    timeout=CALL_SECONDS, wait_for_ready=True)
                self._token = issued.access_token
                self._expires = time.monotonic() + max(1, issued.expires_in - REFRESH_MARGIN_SECONDS)
            return self._token

    async def acting_token(self, org_id: uuid.UUID) -> str:
        """A token of the executor acting for `org_id` (a background run calling the vectorstore), cached until
        shortly before it expires."""
        if self._auth is None or not self._secret:
            raise NodeError("this executor has no service identity (EXECUTOR_SERVICE_SECRET), so a background run "
                            "cannot call other services for its organization")
        token, renew_at = self._acting.get(org_id, ("", 0.0))
        if token and time.monotonic() < renew_at:
            return token
        try:
            issued = await self._auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
                service_name=self._name, service_secret=self._secret, organization_id=str(org_id)),
                timeout=CALL_SECONDS, wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            raise NodeError(f"the executor cannot act for this organization ({exc.code().name})") from None
        if len(self._acting) > 10_000:  # organizations with no recent background run
            self._acting.clear()
        self._acting[org_id] = (issued.access_token,
                                time.monotonic() + max(1, issued.expires_in - REFRESH_MARGIN_SECONDS))
        return issued.access_token

    async def resolve(self, org_id: uuid.UUID, execution_id: uuid.UUID, ref: CredentialRef) -> str:
        """The plaintext secret of `ref` for a run; NodeError with a message the user can act on."""
        if self._auth is None or not self._secret:
            raise NodeError("this executor has no service identity (EXECUTOR_SERVICE_SECRET), so it cannot use "
                            "credentials")
        request = credentials_pb2.ResolveCredentialRequest(
            organization_id=str(org_id), id=ref.id, service_type=ref.service_type, name=ref.name,
            execution_id=str(execution_id))
        for attempt in (1, 2):
            try:
                token = await self._service_token(renew=attempt == 2)
            except grpc.aio.AioRpcError as exc:
                raise NodeError(f"the executor cannot obtain its service identity from auth "
                                f"({exc.code().name})") from None
            try:
                response = await self._credentials.ResolveCredential(
                    request, metadata=(("authorization", f"Bearer {token}"),), timeout=CALL_SECONDS)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED and attempt == 1:
                    continue  # the token expired or was revoked early: renew once
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    raise NodeError(f"credential {ref.describe()} does not exist in this organization") from None
                raise NodeError(f"cannot resolve credential {ref.describe()}: {exc.code().name} "
                                f"{exc.details() or ''}".strip()) from None
            return response.secret
        raise NodeError(f"cannot resolve credential {ref.describe()}: auth refused the executor's identity")


class RunCredentials:
    """The secrets one run has resolved, by reference (a node's retries and an agent's turns resolve once)."""

    def __init__(self, resolver: CredentialResolver | None, org_id: uuid.UUID, execution_id: uuid.UUID):
        self._resolver, self._org_id, self._execution_id = resolver, org_id, execution_id
        self._secrets: dict[CredentialRef, str] = {}

    async def secret(self, ref: CredentialRef) -> str:
        secret = self._secrets.get(ref)
        if secret is None:
            if self._resolver is None:
                raise NodeError("credentials are not available here")
            secret = await self._resolver.resolve(self._org_id, self._execution_id, ref)
            self._secrets[ref] = secret
        return secret

    async def acting_metadata(self) -> list[tuple[str, str]]:
        """gRPC metadata of the executor acting for this run's organization (a background run has no caller
        token to lend)."""
        if self._resolver is None:
            raise NodeError("this run has no caller token and this executor no service identity")
        token = await self._resolver.acting_token(self._org_id)
        return [("authorization", f"Bearer {token}"), ("x-request-id", f"run-{self._execution_id}")]

    def mask(self, text: str) -> str:
        """`text` with every secret this run resolved replaced (an error message that quotes a key)."""
        for secret in self._secrets.values():
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:  # never print the secrets
        return f"RunCredentials({len(self._secrets)} resolved)"
