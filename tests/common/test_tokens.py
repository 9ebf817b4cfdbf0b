"""Local token verification refuses every token that is not exactly ours."""

import asyncio
import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.signing import SigningKeyring
from services.common.errors import Unauthenticated
from services.common.tokens import TokenVerifier

ISS, AUD = "agentic-auth", "agentic-platform"


def keyring() -> SigningKeyring:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return SigningKeyring({"k1": base64.b64encode(pem).decode()}, ISS, AUD)


@pytest.fixture
def signer():
    return keyring()


@pytest.fixture
def verifier(signer):
    return TokenVerifier(signer.fetch_jwks, ISS, AUD)


def forge(signer: SigningKeyring, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "u1", "org": "o1", "role": "owner", "typ": "access", "kind": "user",
              "iat": now, "exp": now + 60, "jti": "j1", **overrides}
    headers = overrides.pop("_headers", None) or {"kid": "k1"}
    return jwt.encode(claims, signer._keys["k1"], algorithm="EdDSA", headers=headers)


async def test_valid_token_yields_the_caller(signer, verifier):
    token = signer.sign(subject="u1", org_id="o1", role="admin", ttl=60, session_id="s1")
    caller = await verifier.verify(token)
    assert (caller.subject, caller.org_id, caller.role, caller.session_id, caller.kind) == ("u1", "o1", "admin", "s1", "user")


@pytest.mark.parametrize("overrides, message", [
    ({"aud": "someone-else"}, "(?i)audience"),
    ({"iss": "evil-issuer"}, "(?i)issuer"),
    ({"exp": int(time.time()) - 10}, "expired"),
    ({"typ": "refresh"}, "not an access token"),
])
async def test_wrong_claims_are_rejected(signer, verifier, overrides, message):
    with pytest.raises(Unauthenticated, match=message):
        await verifier.verify(forge(signer, **overrides))


async def test_alg_none_is_rejected(verifier):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "k1"}).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"sub": "u1", "iss": ISS, "aud": AUD}).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(f"{header}.{body}.")


async def test_hmac_token_using_the_public_key_as_secret_is_rejected(signer, verifier):
    public = signer.jwks()[0]["x"].encode()  # the classic alg-confusion attack: HMAC keyed with the public key
    token = jwt.encode({"sub": "u1", "iss": ISS, "aud": AUD}, public * 2, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(token)


async def test_unknown_kid_and_foreign_key_are_rejected(signer, verifier):
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(forge(signer, _headers={"kid": "k9", "jku": "http://evil/jwks"}))
    other = keyring()  # same kid, different key: signature fails
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(forge(other))


async def test_unknown_kid_refetches_keys_at_most_once_per_interval(signer):
    calls = 0

    async def fetch():
        nonlocal calls
        calls += 1
        return signer.jwks()

    verifier = TokenVerifier(fetch, ISS, AUD, refetch_interval=60)
    await verifier.verify(signer.sign(subject="u", org_id="o", role="viewer", ttl=60))
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await verifier.verify(forge(signer, _headers={"kid": "random"}))
    assert calls == 1


async def test_a_failed_key_fetch_is_retried_soon_not_after_the_full_interval(signer):
    attempts = 0

    async def flaky():
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("auth is still starting")
        return signer.jwks()

    verifier = TokenVerifier(flaky, ISS, AUD, refetch_interval=1.2)
    token = signer.sign(subject="u", org_id="o", role="viewer", ttl=60)
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)
    await asyncio.sleep(0.3)  # well under the interval: a failure only backs off about a second
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)
    assert attempts == 1
    await asyncio.sleep(1.0)
    assert (await verifier.verify(token)).subject == "u"
