from services.auth import api_key_format


def test_generated_key_parses_to_its_prefix():
    key, prefix = api_key_format.generate()
    assert key.startswith("agk_") and api_key_format.parse_prefix(key) == prefix


def test_checksum_catches_a_typo():
    key, _ = api_key_format.generate()
    body, check = key.rsplit("_", 1)
    tampered = body[:-1] + ("A" if body[-1] != "A" else "B") + "_" + check
    assert api_key_format.parse_prefix(tampered) is None
    assert api_key_format.parse_prefix("not-a-key") is None
    assert api_key_format.parse_prefix("") is None


def test_digest_is_sha256():
    assert len(api_key_format.digest("x")) == 32
