"""Access-token signing with Ed25519 (EdDSA) keys from configuration, published as a JWKS."""

import base64
import json
import logging
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from services.common.tokens import ALGORITHM

log = logging.getLogger(__name__)


class SigningKeyring:
    """Keys by kid; the last configured key signs, every key stays published so old tokens verify."""

    def __init__(self, configured: dict[str, str], issuer: str, audience: str):
        self.issuer, self.audience = issuer, audience
        self._keys: dict[str, Ed25519PrivateKey] = {}
        for kid, encoded in configured.items():
            key = serialization.load_pem_private_key(base64.b64decode(encoded), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"signing key {kid!r} is not an Ed25519 private key")
            self._keys[kid] = key
        if not self._keys:
            kid = f"dev-{uuid.uuid4().hex[:8]}"
            self._keys[kid] = Ed25519PrivateKey.generate()
            log.warning(
                "AUTH_SIGNING_KEYS is not set: signing with a generated development key (%s); tokens will not "
                "survive a restart. Configure real keys in production.", kid,
            )
        self._current_kid = list(self._keys)[-1]

    def jwks(self) -> list[dict]:
        published = []
        for kid, key in self._keys.items():
            jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
            published.append({**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"})
        return published

    async def fetch_jwks(self) -> list[dict]:
        return self.jwks()

    def sign(self, *, subject: str, org_id: str, role: str, ttl: int, typ: str = "access", kind: str = "user",
             session_id: str = "", member: str = "") -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": subject, "org": org_id, "role": role,
            "typ": typ, "kind": kind, "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex,
        }
        if session_id:
            claims["sid"] = session_id
        if member:  # an API key's creator: the key never acts above their current role
            claims["mbr"] = member
        return jwt.encode(
            claims, self._keys[self._current_kid], algorithm=ALGORITHM, headers={"kid": self._current_kid, "typ": "JWT"}
        )
