"""Organization credentials as embedding API keys: resolved from auth (CredentialService.ResolveCredential)
with the vectorstore's service identity, always for the collection's own organization, and kept in memory
for a short while. The secrets are never stored here, logged or returned."""

from __future__ import annotations

import time
import uuid

import grpc

from agentic.auth.v1 import credentials_pb2, credentials_pb2_grpc
from services.common.errors import FailedPrecondition, NotFound, Unavailable
from services.common.tokens import ServiceIdentity

CALL_SECONDS = 10.0
MAX_CACHED = 1000


class CredentialSecrets:
    """The secret of an (organization, credential) pair.

    A resolved secret is kept `ttl` seconds (60 by default): a search embeds its query on every call and an
    auth round trip (plus an audit row) each time would double its latency, while a deleted or changed
    credential still takes effect within a minute.
    """

    def __init__(self, channel, identity: ServiceIdentity, ttl: float = 60.0):
        self._stub = credentials_pb2_grpc.CredentialServiceStub(channel)
        self._identity = identity
        self.ttl = ttl
        self._cache: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, str]] = {}

    async def secret(self, org_id: uuid.UUID, credential_id: uuid.UUID) -> str:
        """NotFound when the organization has no such credential."""
        key = (org_id, credential_id)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        secret = await self._resolve(org_id, credential_id)
        self._cache.pop(key, None)
        self._cache[key] = (time.monotonic(), secret)
        if len(self._cache) > MAX_CACHED:  # the oldest entry goes (dicts keep insertion order)
            del self._cache[next(iter(self._cache))]
        return secret

    async def _resolve(self, org_id: uuid.UUID, credential_id: uuid.UUID) -> str:
        if not self._identity.configured:
            raise FailedPrecondition("this vectorstore has no service identity (VECTORSTORE_SERVICE_SECRET), so it "
                                     "cannot use credentials")
        request = credentials_pb2.ResolveCredentialRequest(organization_id=str(org_id), id=str(credential_id))
        for attempt in (1, 2):
            try:
                metadata = await self._identity.metadata()
                reply = await self._stub.ResolveCredential(request, metadata=metadata, timeout=CALL_SECONDS)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAUTHENTICATED and attempt == 1:
                    self._identity.forget()  # the token expired or auth restarted: renew once
                    continue
                if code == grpc.StatusCode.NOT_FOUND:
                    raise NotFound("credential", str(credential_id)) from None
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise Unavailable("auth did not answer while resolving the embedding credential; retry") from None
                raise FailedPrecondition(f"cannot resolve credential {credential_id}: {code.name} "
                                         f"{exc.details() or ''}".strip()) from None
            return reply.secret
        raise FailedPrecondition(f"cannot resolve credential {credential_id}: auth refused the vectorstore's "
                                 "identity")
