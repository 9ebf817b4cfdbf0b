from services.auth.passwords import PasswordHasher


async def test_argon2id_hash_and_verify():
    hasher = PasswordHasher(time_cost=1, memory_kib=8192, parallelism=1)
    hashed = await hasher.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert await hasher.verify(hashed, "correct horse battery")
    assert not await hasher.verify(hashed, "wrong")
    assert not await hasher.verify(None, "anything")  # unknown user: dummy hash, still False
    assert not await hasher.verify("garbage", "anything")
