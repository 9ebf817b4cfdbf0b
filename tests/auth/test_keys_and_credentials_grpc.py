"""API keys and credentials over gRPC, and the database holding no plaintext."""

import base64
import json
import os
import subprocess
import sys
import uuid

import grpc
import pytest
from sqlalchemy import text

from agentic.auth.v1 import api_keys_pb2 as k
from agentic.auth.v1 import auth_pb2
from agentic.auth.v1 import credentials_pb2 as c
from agentic.auth.v1 import organizations_pb2 as o
from services.auth.credential_crypto import CredentialKeyring
from services.common.db import make_engine
from tests.auth.helpers import Stubs, bearer, expect_code

C = grpc.StatusCode
SECRET = "sk-test-PLAINTEXT-never-stored-0123456789"


@pytest.fixture(scope="module")
def stubs(auth_channel):
    return Stubs(auth_channel)


async def test_api_key_shown_once_authenticates_with_its_role_and_revokes(stubs):
    owner = await stubs.sign_up("keys")
    md = bearer(owner.access_token)
    created = await stubs.keys.CreateApiKey(k.CreateApiKeyRequest(name="ci", role="viewer"), metadata=md)
    assert created.key.startswith("agk_") and created.api_key.prefix in created.key
    listed = await stubs.keys.ListApiKeys(k.ListApiKeysRequest(), metadata=md)
    assert [key.id for key in listed.api_keys] == [created.api_key.id]
    assert created.key not in str(listed)
    token = await stubs.exchange_key(created.key)
    assert token.organization_id == owner.organization_id and token.role == "viewer"
    as_key = bearer(token.access_token)
    assert (await stubs.credentials.ListCredentials(c.ListCredentialsRequest(), metadata=as_key)).credentials == []
    await expect_code(C.PERMISSION_DENIED, stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="x", service_type="openai"), secret=SECRET), metadata=as_key))
    await stubs.keys.DeleteApiKey(k.DeleteApiKeyRequest(id=created.api_key.id), metadata=md)
    await expect_code(C.UNAUTHENTICATED, stubs.exchange_key(created.key))
    # Tokens already issued for the revoked key stop at once on auth's RPCs.
    await expect_code(C.UNAUTHENTICATED, stubs.credentials.ListCredentials(c.ListCredentialsRequest(), metadata=as_key))


async def test_malformed_and_unknown_api_keys_are_refused(stubs):
    for key in ("", "agk_nope", "agk_aaaaaaaaaaaa_" + "b" * 43 + "_00000000"):
        await expect_code(C.UNAUTHENTICATED, stubs.exchange_key(key))


async def test_member_cannot_create_api_keys_and_owner_role_is_not_grantable(stubs):
    owner = await stubs.sign_up("kowner")
    await expect_code(C.INVALID_ARGUMENT, stubs.keys.CreateApiKey(
        k.CreateApiKeyRequest(name="x", role="owner"), metadata=bearer(owner.access_token)))
    member = await stubs.sign_up("kmember")
    await stubs.orgs.AddMember(o.AddMemberRequest(organization_id=owner.organization_id, email=member.user.email,
                                                  role="member"), metadata=bearer(owner.access_token))
    switched = await stubs.auth.SwitchOrganization(auth_pb2.SwitchOrganizationRequest(
        organization_id=owner.organization_id), metadata=bearer(member.access_token))
    await expect_code(C.PERMISSION_DENIED, stubs.keys.CreateApiKey(
        k.CreateApiKeyRequest(name="x"), metadata=bearer(switched.access_token)))


async def test_credential_crud_returns_metadata_and_hint_only(stubs):
    owner = await stubs.sign_up("creds")
    md = bearer(owner.access_token)
    created = await stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="main", service_type="openai", description="prod key"), secret=SECRET), metadata=md)
    assert created.hint == "sk-…6789" and SECRET not in str(created)
    await expect_code(C.ALREADY_EXISTS, stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="main", service_type="openai"), secret=SECRET), metadata=md))
    got = await stubs.credentials.GetCredential(c.GetCredentialRequest(id=created.id), metadata=md)
    assert got == created
    updated = await stubs.credentials.UpdateCredential(c.UpdateCredentialRequest(
        credential=c.Credential(id=created.id, description="rotated", etag=created.etag), secret="sk-new-secret-abcdefgh",
        update_mask={"paths": ["description", "secret"]}), metadata=md)
    assert updated.description == "rotated" and updated.hint == "sk-…efgh" and updated.etag != created.etag
    await expect_code(C.ABORTED, stubs.credentials.UpdateCredential(c.UpdateCredentialRequest(
        credential=c.Credential(id=created.id, name="stale", etag=created.etag), update_mask={"paths": ["name"]}),
        metadata=md))
    await expect_code(C.INVALID_ARGUMENT, stubs.credentials.UpdateCredential(c.UpdateCredentialRequest(
        credential=c.Credential(id=created.id), update_mask={"paths": ["service_type"]}), metadata=md))
    listed = await stubs.credentials.ListCredentials(c.ListCredentialsRequest(service_type="openai"), metadata=md)
    assert [x.id for x in listed.credentials] == [created.id]
    await stubs.credentials.DeleteCredential(c.DeleteCredentialRequest(id=created.id), metadata=md)
    await expect_code(C.NOT_FOUND, stubs.credentials.GetCredential(c.GetCredentialRequest(id=created.id), metadata=md))


async def test_resolve_credential_needs_the_executor_an_execution_and_the_right_org(stubs, auth_service):
    owner = await stubs.sign_up("resolve")
    other = await stubs.sign_up("resolve-other")
    created = await stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="llm", service_type="anthropic"), secret=SECRET), metadata=bearer(owner.access_token))
    execution_id = str(uuid.uuid4())
    request = c.ResolveCredentialRequest(organization_id=owner.organization_id, id=created.id,
                                         execution_id=execution_id)
    await expect_code(C.UNAUTHENTICATED, stubs.credentials.ResolveCredential(request))
    await expect_code(C.UNAUTHENTICATED, stubs.credentials.ResolveCredential(request, metadata=bearer(owner.access_token)))
    # Another platform service's identity is not enough: only the executor sees plaintext.
    for name in ("workflow", "gateway"):
        await expect_code(C.PERMISSION_DENIED, stubs.credentials.ResolveCredential(
            request, metadata=await stubs.service(name)))
    md = await stubs.service("executor")
    # ... and only for a named execution.
    await expect_code(C.INVALID_ARGUMENT, stubs.credentials.ResolveCredential(c.ResolveCredentialRequest(
        organization_id=owner.organization_id, id=created.id), metadata=md))
    resolved = await stubs.credentials.ResolveCredential(request, metadata=md)
    assert resolved.secret == SECRET
    by_name = await stubs.credentials.ResolveCredential(c.ResolveCredentialRequest(
        organization_id=owner.organization_id, service_type="anthropic", name="llm", execution_id=execution_id),
        metadata=md)
    assert by_name.secret == SECRET
    await expect_code(C.NOT_FOUND, stubs.credentials.ResolveCredential(c.ResolveCredentialRequest(
        organization_id=other.organization_id, id=created.id, execution_id=execution_id), metadata=md))
    # Auth records who resolved what, for which execution.
    async with auth_service.engine.connect() as conn:
        audit = (await conn.execute(text(
            "SELECT service, credential_id::text, execution_id::text FROM auth.credential_resolutions "
            "WHERE org_id = :org"), {"org": owner.organization_id})).all()
    assert [tuple(row) for row in audit] == [("service:executor", created.id, execution_id)] * 2


async def test_tenant_isolation_for_credentials_keys_and_members(stubs):
    a, b = await stubs.sign_up("iso-a"), await stubs.sign_up("iso-b")
    md_a, md_b = bearer(a.access_token), bearer(b.access_token)
    cred = await stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="b", service_type="openai"), secret=SECRET), metadata=md_b)
    key = await stubs.keys.CreateApiKey(k.CreateApiKeyRequest(name="b"), metadata=md_b)
    for call in (
        stubs.credentials.GetCredential(c.GetCredentialRequest(id=cred.id), metadata=md_a),
        stubs.credentials.UpdateCredential(c.UpdateCredentialRequest(
            credential=c.Credential(id=cred.id, name="x"), update_mask={"paths": ["name"]}), metadata=md_a),
        stubs.credentials.DeleteCredential(c.DeleteCredentialRequest(id=cred.id), metadata=md_a),
        stubs.keys.GetApiKey(k.GetApiKeyRequest(id=key.api_key.id), metadata=md_a),
        stubs.keys.DeleteApiKey(k.DeleteApiKeyRequest(id=key.api_key.id), metadata=md_a),
    ):
        await expect_code(C.NOT_FOUND, call)
    assert (await stubs.credentials.GetCredential(c.GetCredentialRequest(id=cred.id), metadata=md_b)).name == "b"


async def _table_dump(database_url: str) -> str:
    engine = make_engine(database_url)
    rows = []
    async with engine.connect() as conn:
        for table in ("credentials", "api_keys", "refresh_tokens", "sessions", "users", "login_activity"):
            rows += [str(tuple(row)) for row in (await conn.execute(text(f"SELECT * FROM auth.{table}"))).all()]
    await engine.dispose()
    return "\n".join(rows)


async def test_database_holds_no_plaintext_secrets(stubs, migrated_database):
    owner = await stubs.sign_up("at-rest")
    await stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="rest", service_type="openai"), secret=SECRET), metadata=bearer(owner.access_token))
    key = await stubs.keys.CreateApiKey(k.CreateApiKeyRequest(name="rest"), metadata=bearer(owner.access_token))
    dump = await _table_dump(migrated_database)
    assert SECRET not in dump and SECRET.encode().hex() not in dump
    assert key.key not in dump and owner.refresh_token not in dump and "correct horse" not in dump


async def test_key_rotation_then_reencrypt_keeps_every_credential_readable(stubs, auth_service, migrated_database):
    owner = await stubs.sign_up("rotation")
    md = bearer(owner.access_token)
    old = await stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="old", service_type="openai"), secret=SECRET), metadata=md)
    # Step 1 of a rotation: every replica gets the new key version (here: the running service).
    keys = {**auth_service.settings.credential_keys, "2": base64.b64encode(os.urandom(32)).decode()}
    auth_service.credentials.keyring = CredentialKeyring(keys)
    new = await stubs.credentials.CreateCredential(c.CreateCredentialRequest(
        credential=c.Credential(name="new", service_type="openai"), secret="sk-second-secret-value"), metadata=md)
    # Step 2: re-encrypt what is left under the old version, as an operator would.
    env = {**os.environ, "AUTH_DATABASE_URL": migrated_database, "AUTH_CREDENTIAL_KEYS": json.dumps(keys)}
    result = subprocess.run([sys.executable, "-m", "services.auth", "reencrypt-credentials"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "under key version 2" in result.stdout
    engine = make_engine(migrated_database)
    async with engine.connect() as conn:
        versions = set((await conn.execute(text("SELECT DISTINCT key_version FROM auth.credentials"))).scalars())
    await engine.dispose()
    assert versions == {"2"}
    md = await stubs.service("executor")
    for created, secret in ((old, SECRET), (new, "sk-second-secret-value")):
        resolved = await stubs.credentials.ResolveCredential(c.ResolveCredentialRequest(
            organization_id=owner.organization_id, id=created.id, execution_id=str(uuid.uuid4())), metadata=md)
        assert resolved.secret == secret
