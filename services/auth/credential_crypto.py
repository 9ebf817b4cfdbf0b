"""AES-256-GCM for stored credentials under a versioned keyring.

The ciphertext is bound to its row and organization through associated data, so a ciphertext copied
into another row or organization fails to decrypt. New writes use the highest key version; every
configured version can still decrypt, which is what makes rotation possible without downtime.
"""

import base64
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)
NONCE_BYTES = 12


class DecryptionFailed(Exception):
    pass


def associated_data(org_id: str, credential_id: str) -> bytes:
    return f"agentic.credential:{org_id}:{credential_id}".encode()


class CredentialKeyring:
    def __init__(self, configured: dict[str, str]):
        self._keys: dict[str, AESGCM] = {}
        for version, encoded in configured.items():
            raw = base64.b64decode(encoded)
            if len(raw) != 32:
                raise ValueError(f"credential key {version!r} must be 32 bytes (AES-256), got {len(raw)}")
            self._keys[version] = AESGCM(raw)
        if not self._keys:
            log.warning("AUTH_CREDENTIAL_KEYS is not set: using a generated key; stored credentials will not be "
                        "readable after a restart. Configure real keys in production.")
            self._keys["0"] = AESGCM(AESGCM.generate_key(256))
        self.current_version = max(self._keys, key=_version_order)

    def encrypt(self, plaintext: str, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_version].encrypt(nonce, plaintext.encode(), aad)
        return self.current_version, nonce + sealed

    def decrypt(self, version: str, blob: bytes, aad: bytes) -> str:
        key = self._keys.get(version)
        if key is None:
            raise DecryptionFailed(f"credential key version {version!r} is not configured")
        try:
            return key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad).decode()
        except (InvalidTag, ValueError):  # ValueError: truncated below the nonce's length
            raise DecryptionFailed("ciphertext does not belong to this credential") from None


def _version_order(version: str):
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def mask(secret: str) -> str:
    """A hint that helps tell secrets apart without revealing them: at most the last 4 characters."""
    if len(secret) < 12:
        return "…" + "•" * 4
    return f"{secret[:3]}…{secret[-4:]}"
