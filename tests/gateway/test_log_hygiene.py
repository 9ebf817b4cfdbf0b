"""Nothing secret reaches a log line: canary secrets pushed through the error paths, including inserts that
fail inside the database (whose error text used to carry every statement parameter: password hashes,
API-key hashes, credential ciphertexts)."""

import hashlib
import logging
import uuid

import asyncpg
import pytest
from sqlalchemy import text

from services.common.db import make_engine
from tests.gateway.conftest import signed_in

PASSWORD = "canary-password-7f3a9c"
SECRET = "sk-canary-secret-0b1d2e3f4a5b"


@pytest.fixture
async def failing_inserts(migrated_database):
    """Triggers that make chosen inserts fail in the database, as a constraint or a full disk would."""
    conn = await asyncpg.connect(migrated_database)
    await conn.execute("""
        CREATE OR REPLACE FUNCTION public.canary_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused by the log-hygiene test'; END $$;
        CREATE TRIGGER canary_refuse_users BEFORE INSERT ON auth.users
            FOR EACH ROW WHEN (NEW.email LIKE 'refuse-%') EXECUTE FUNCTION public.canary_refuse();
        CREATE TRIGGER canary_refuse_credentials BEFORE INSERT ON auth.credentials
            FOR EACH ROW WHEN (NEW.name = 'refuse-me') EXECUTE FUNCTION public.canary_refuse();""")
    yield
    await conn.execute("""DROP TRIGGER canary_refuse_users ON auth.users;
                          DROP TRIGGER canary_refuse_credentials ON auth.credentials;
                          DROP FUNCTION public.canary_refuse();""")
    await conn.close()


async def test_database_errors_never_carry_statement_parameters(migrated_database):
    engine = make_engine(migrated_database, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT CAST(:value AS text), 1 / 0"), {"value": PASSWORD})
    except Exception as exc:  # noqa: BLE001 - the error text is what is checked
        assert PASSWORD not in str(exc) and "division by zero" in str(exc)
    else:
        pytest.fail("the cast should have failed")
    finally:
        await engine.dispose()


async def test_canary_secrets_never_reach_a_log_line(http, caplog, failing_inserts, migrated_database):
    caplog.set_level(logging.DEBUG)
    # sign-up whose insert fails in the database: the statement carried the argon2 hash of PASSWORD
    refused = await http.post("/api/v1/auth/signup", json={
        "email": f"refuse-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD})
    assert refused.status_code == 500
    email = f"canary-{uuid.uuid4().hex[:8]}@example.com"
    assert (await http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})).status_code == 200
    await http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})  # already exists
    await http.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD + "-wrong"})
    auth = await signed_in(http, "canary")
    await http.post("/api/v1/auth/profile:changePassword", headers=auth,
                    json={"current_password": PASSWORD, "new_password": PASSWORD + "-new"})
    await http.post("/api/v1/auth/refresh", json={"refresh_token": PASSWORD})

    key = (await http.post("/api/v1/api-keys", headers=auth, json={"name": "canary"})).json()["key"]
    await http.get("/api/v1/workflows", headers={"X-API-Key": key[:-2] + "zz"})  # wrong checksum
    await http.get("/api/v1/workflows", headers={"X-API-Key": key + "x"})

    body = {"credential": {"name": "canary", "service_type": "openai"}, "secret": SECRET}
    assert (await http.post("/api/v1/credentials", headers=auth, json=body)).status_code == 200
    await http.post("/api/v1/credentials", headers=auth, json=body)  # duplicate name
    failed = await http.post("/api/v1/credentials", headers=auth, json={
        "credential": {"name": "refuse-me", "service_type": "openai"}, "secret": SECRET})
    assert failed.status_code == 500 and SECRET not in failed.text

    conn = await asyncpg.connect(migrated_database)
    try:
        ciphertexts = [row["ciphertext"] for row in await conn.fetch("SELECT ciphertext FROM auth.credentials")]
        key_hashes = [row["h"] for row in await conn.fetch("SELECT encode(key_hash, 'hex') AS h FROM auth.api_keys")]
    finally:
        await conn.close()
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "refused by the log-hygiene test" in logged  # the failures were logged, just not their parameters
    assert "$argon2" not in logged and PASSWORD not in logged and SECRET not in logged
    assert key not in logged and hashlib.sha256(key.encode()).hexdigest() not in logged
    assert not [h for h in key_hashes if h in logged]
    assert not [c for c in ciphertexts if repr(c)[2:40] in logged or c.hex() in logged]
