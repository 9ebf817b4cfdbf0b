"""API key format: `agk_<prefix>_<secret>_<checksum>`.

The type prefix and CRC32 checksum let secret scanners recognise our keys and let us reject typos
without a database round trip; the random `prefix` is the lookup key, and only SHA-256 of the whole key
is stored (a fast hash is right here: the key has 190+ bits of entropy, unlike a password).
"""

import hashlib
import hmac
import re
import secrets
import zlib

TYPE_PREFIX = "agk"
_PATTERN = re.compile(r"^agk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{32,64})_([0-9a-f]{8})$")


def _checksum(body: str) -> str:
    return f"{zlib.crc32(body.encode()):08x}"


def generate() -> tuple[str, str]:
    """Returns (full key, prefix)."""
    prefix = secrets.token_hex(6)
    body = f"{TYPE_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return f"{body}_{_checksum(body)}", prefix


def parse_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None for anything that is not one of ours."""
    match = _PATTERN.match(key)
    if not match:
        return None
    body = key[: key.rfind("_")]
    if not hmac.compare_digest(_checksum(body), match.group(3)):
        return None
    return match.group(1)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
