"""AES-GCM keyring: round trip, binding to row and organization, rotation."""

import base64
import os

import pytest

from services.auth.credential_crypto import CredentialKeyring, DecryptionFailed, associated_data, mask


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_round_trip_and_ciphertext_hides_plaintext():
    ring = CredentialKeyring({"1": key()})
    version, blob = ring.encrypt("sk-live-123456789", associated_data("org", "cred"))
    assert b"sk-live" not in blob and version == "1"
    assert ring.decrypt(version, blob, associated_data("org", "cred")) == "sk-live-123456789"


def test_ciphertext_swapped_to_another_row_or_org_fails():
    ring = CredentialKeyring({"1": key()})
    version, blob = ring.encrypt("secret-value", associated_data("org-a", "cred-1"))
    with pytest.raises(DecryptionFailed):
        ring.decrypt(version, blob, associated_data("org-b", "cred-1"))
    with pytest.raises(DecryptionFailed):
        ring.decrypt(version, blob, associated_data("org-a", "cred-2"))


def test_rotation_new_writes_use_newest_old_stay_readable():
    old_key = key()
    old = CredentialKeyring({"1": old_key})
    _, blob = old.encrypt("value", b"aad")
    rotated = CredentialKeyring({"1": old_key, "2": key()})
    assert rotated.current_version == "2"
    assert rotated.decrypt("1", blob, b"aad") == "value"
    assert rotated.encrypt("value", b"aad")[0] == "2"
    with pytest.raises(DecryptionFailed, match="not configured"):
        CredentialKeyring({"2": key()}).decrypt("1", blob, b"aad")


def test_versions_order_numerically():
    assert CredentialKeyring({"9": key(), "10": key()}).current_version == "10"


def test_wrong_key_length_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        CredentialKeyring({"1": base64.b64encode(b"short").decode()})


def test_mask_reveals_little():
    assert mask("sk-abcdefghijklmnop") == "sk-…mnop"
    assert "abc" not in mask("abcdefg")


def test_truncated_ciphertext_is_a_decryption_failure_not_a_crash():
    ring = CredentialKeyring({"1": key()})
    version, blob = ring.encrypt("secret-value", b"aad")
    for truncated in (b"", blob[:5], blob[:12], blob[:20]):
        with pytest.raises(DecryptionFailed):
            ring.decrypt(version, truncated, b"aad")
