"""Identity at the edge: what the gateway forwards downstream.

A bearer token is forwarded as is (services verify it themselves). An `X-API-Key` is exchanged once at the
auth service for a short-lived access token, cached by the key's SHA-256 until shortly before it expires,
so a script's steady traffic costs one hash and one dict lookup per request. Nothing else from the
request's headers is trusted as identity.
"""

import hashlib
import time
from collections import OrderedDict

from agentic.auth.v1 import auth_pb2
from services.common.tokens import ServiceIdentity

EXPIRY_MARGIN_SECONDS = 30


class ApiKeyExchange:
    def __init__(self, authenticate, max_entries: int, identity: ServiceIdentity):
        self._authenticate = authenticate  # AuthService.AuthenticateApiKey unary callable
        self._identity = identity  # the exchange is an internal RPC: called as the gateway
        self._cache: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._max_entries = max_entries

    async def access_token(self, api_key: str, request_id: str) -> str:
        digest = hashlib.sha256(api_key.encode()).digest()
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        reply = await self._authenticate(auth_pb2.AuthenticateApiKeyRequest(api_key=api_key),
                                         metadata=(("x-request-id", request_id), *await self._identity.metadata()),
                                         timeout=10)
        expires = now + max(1, reply.expires_in - EXPIRY_MARGIN_SECONDS)
        self._cache[digest] = (reply.access_token, expires)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return reply.access_token

    def forget(self, api_key: str) -> None:
        """Drop a cached token a service refused (the key's role or creator changed): the next request
        exchanges the key again and gets what it is allowed now."""
        self._cache.pop(hashlib.sha256(api_key.encode()).digest(), None)
