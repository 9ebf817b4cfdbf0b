"""Authorization changes take effect within seconds everywhere (removal, demotion, API keys bounded by their
creator, organization switch), over gRPC at auth and at another service, and over REST through the gateway."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from agentic.auth.v1 import api_keys_pb2 as k
from agentic.auth.v1 import auth_pb2
from agentic.auth.v1 import credentials_pb2 as c
from agentic.auth.v1 import organizations_pb2 as o
from agentic.workflow.v1 import workflow_pb2 as wp
from tests.auth.helpers import bearer, expect_code
from tests.workflow.helpers import WorkflowStubs

C = grpc.StatusCode
FEED_WAIT = 8.0  # the revocation feed polls every 2 s


@pytest.fixture(scope="module")
async def wf(workflow_service, auth_channel, executor_service):
    channel = grpc.aio.insecure_channel(workflow_service.address)
    yield WorkflowStubs(channel, auth_channel)
    await channel.close()


async def eventually(check, within: float = FEED_WAIT):
    """Retry `check` (an async callable that asserts) until it passes or time runs out."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await check()
        except (AssertionError, grpc.aio.AioRpcError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def refused(call) -> None:
    """Passes when the call fails UNAUTHENTICATED (for `eventually`)."""
    try:
        await call()
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == C.UNAUTHENTICATED, exc.details()
        return
    raise AssertionError("the call still succeeds")


def get_workflow(wf, workflow_id: str, token: str):
    return lambda: wf.workflows.GetWorkflow(wp.GetWorkflowRequest(id=workflow_id), metadata=bearer(token))


async def owner_and_admin_with_key(wf):
    owner = await wf.auth.sign_up("owner")
    admin = await wf.member_of(owner, "admin", "admin")
    key = await wf.auth.keys.CreateApiKey(k.CreateApiKeyRequest(name="ci", role="admin"),
                                          metadata=bearer(admin.access_token))
    return owner, admin, key


async def test_a_demoted_admin_and_their_api_key_lose_the_admin_role_everywhere(wf):
    stubs = wf.auth
    owner, admin, key = await owner_and_admin_with_key(wf)
    key_token = (await stubs.exchange_key(key.key)).access_token
    made = await wf.create(admin, "made-as-admin")
    await get_workflow(wf, made.id, key_token)()

    await stubs.orgs.UpdateMember(o.UpdateMemberRequest(
        organization_id=owner.organization_id, user_id=admin.user.id, role="viewer"), metadata=bearer(owner.access_token))
    # At auth: at once, for the member's token and for the key's.
    await expect_code(C.UNAUTHENTICATED, stubs.credentials.ListCredentials(
        c.ListCredentialsRequest(), metadata=bearer(admin.access_token)))
    await expect_code(C.UNAUTHENTICATED, stubs.credentials.ListCredentials(
        c.ListCredentialsRequest(), metadata=bearer(key_token)))
    # At another service: within the revocation feed's interval.
    for token in (admin.access_token, key_token):
        await eventually(lambda t=token: refused(get_workflow(wf, made.id, t)))
    # Exchanged again, the admin key acts as its creator's current role: a viewer reads, does not write.
    exchanged = await stubs.exchange_key(key.key)
    assert exchanged.role == "viewer"
    await get_workflow(wf, made.id, exchanged.access_token)()
    await expect_code(C.PERMISSION_DENIED, wf.create(SimpleNamespace(access_token=exchanged.access_token), "no"))
    # A refreshed session carries the new role and works everywhere.
    refreshed = await stubs.auth.RefreshSession(auth_pb2.RefreshSessionRequest(refresh_token=admin.refresh_token))
    assert refreshed.role == "viewer"
    await get_workflow(wf, made.id, refreshed.access_token)()
    # Promoted back, the key is an admin key again (its own role is the ceiling).
    await stubs.orgs.UpdateMember(o.UpdateMemberRequest(
        organization_id=owner.organization_id, user_id=admin.user.id, role="admin"), metadata=bearer(owner.access_token))
    assert (await stubs.exchange_key(key.key)).role == "admin"


async def test_a_removed_member_and_their_api_keys_stop_everywhere(wf):
    stubs = wf.auth
    owner, admin, key = await owner_and_admin_with_key(wf)
    key_token = (await stubs.exchange_key(key.key)).access_token
    made = await wf.create(owner, "owners")
    for token in (admin.access_token, key_token):
        await get_workflow(wf, made.id, token)()

    await stubs.orgs.RemoveMember(o.RemoveMemberRequest(organization_id=owner.organization_id, user_id=admin.user.id),
                                  metadata=bearer(owner.access_token))
    await expect_code(C.UNAUTHENTICATED, stubs.exchange_key(key.key))
    for token in (admin.access_token, key_token):
        await expect_code(C.UNAUTHENTICATED, stubs.credentials.ListCredentials(
            c.ListCredentialsRequest(), metadata=bearer(token)))
        await eventually(lambda t=token: refused(get_workflow(wf, made.id, t)))
    # Added back later, the old key stays revoked: leaving ended it for good.
    await stubs.orgs.AddMember(o.AddMemberRequest(organization_id=owner.organization_id, email=admin.user.email,
                                                  role="admin"), metadata=bearer(owner.access_token))
    await expect_code(C.UNAUTHENTICATED, stubs.exchange_key(key.key))
    await get_workflow(wf, made.id, owner.access_token)()


async def test_owners_list_and_revoke_every_key_admins_only_their_own(wf):
    stubs = wf.auth
    owner, admin, admin_key = await owner_and_admin_with_key(wf)
    owner_key = await stubs.keys.CreateApiKey(k.CreateApiKeyRequest(name="owner's", role="member"),
                                              metadata=bearer(owner.access_token))
    as_owner, as_admin = bearer(owner.access_token), bearer(admin.access_token)
    listed = await stubs.keys.ListApiKeys(k.ListApiKeysRequest(), metadata=as_owner)
    assert {(key.id, key.creator_id) for key in listed.api_keys} == {
        (admin_key.api_key.id, admin.user.id), (owner_key.api_key.id, owner.user.id)}
    mine = await stubs.keys.ListApiKeys(k.ListApiKeysRequest(), metadata=as_admin)
    assert [key.id for key in mine.api_keys] == [admin_key.api_key.id]
    await expect_code(C.NOT_FOUND, stubs.keys.GetApiKey(k.GetApiKeyRequest(id=owner_key.api_key.id), metadata=as_admin))
    await expect_code(C.NOT_FOUND, stubs.keys.DeleteApiKey(k.DeleteApiKeyRequest(id=owner_key.api_key.id),
                                                           metadata=as_admin))
    await stubs.keys.DeleteApiKey(k.DeleteApiKeyRequest(id=admin_key.api_key.id), metadata=as_owner)
    await expect_code(C.UNAUTHENTICATED, stubs.exchange_key(admin_key.key))
    assert (await stubs.exchange_key(owner_key.key)).role == "member"


async def test_switching_organization_ends_the_previous_session(wf):
    stubs = wf.auth
    owner = await stubs.sign_up("switch-owner")
    user = await stubs.sign_up("switcher")
    made = await wf.create(user, "personal")
    await stubs.orgs.AddMember(o.AddMemberRequest(organization_id=owner.organization_id, email=user.user.email,
                                                  role="member"), metadata=bearer(owner.access_token))
    switched = await stubs.auth.SwitchOrganization(
        auth_pb2.SwitchOrganizationRequest(organization_id=owner.organization_id), metadata=bearer(user.access_token))
    assert switched.organization_id == owner.organization_id
    await expect_code(C.UNAUTHENTICATED, stubs.auth.RefreshSession(
        auth_pb2.RefreshSessionRequest(refresh_token=user.refresh_token)))
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(auth_pb2.GetProfileRequest(),
                                                               metadata=bearer(user.access_token)))
    await eventually(lambda: refused(get_workflow(wf, made.id, user.access_token)))
    await stubs.auth.GetProfile(auth_pb2.GetProfileRequest(), metadata=bearer(switched.access_token))


async def test_internal_rpcs_need_a_service_identity_and_since_is_bounded(wf):
    stubs = wf.auth
    user = await stubs.sign_up("internal")
    for md in ((), bearer(user.access_token)):
        await expect_code(C.UNAUTHENTICATED, stubs.auth.ListRevocations(auth_pb2.ListRevocationsRequest(), metadata=md))
        await expect_code(C.UNAUTHENTICATED, stubs.auth.AuthenticateApiKey(
            auth_pb2.AuthenticateApiKeyRequest(api_key="agk_x"), metadata=md))
    service = await stubs.service("workflow")
    reply = await stubs.auth.ListRevocations(auth_pb2.ListRevocationsRequest(), metadata=service)
    assert reply.HasField("next_since")
    future = Timestamp()
    future.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    await expect_code(C.INVALID_ARGUMENT, stubs.auth.ListRevocations(
        auth_pb2.ListRevocationsRequest(since=future), metadata=service))


async def test_over_rest_a_demoted_or_removed_admin_and_their_key_lose_access(wf, gateway_url):
    stubs = wf.auth
    owner, admin, key = await owner_and_admin_with_key(wf)
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=10) as http:
        as_admin = {"Authorization": f"Bearer {admin.access_token}"}
        as_key = {"X-API-Key": key.key}
        body = {"name": "by-key", "flow_data": {"nodes": [], "edges": []}}
        assert (await http.post("/workflows", json=body, headers=as_key)).status_code == 200
        await stubs.orgs.UpdateMember(o.UpdateMemberRequest(
            organization_id=owner.organization_id, user_id=admin.user.id, role="viewer"),
            metadata=bearer(owner.access_token))

        async def demoted():
            assert (await http.get("/workflows", headers=as_admin)).status_code == 401
            # The key keeps working, as a viewer: reads pass, writes are forbidden.
            assert (await http.post("/workflows", json=body, headers=as_key)).status_code == 403
            assert (await http.get("/workflows", headers=as_key)).status_code == 200

        await eventually(demoted)
        await stubs.orgs.RemoveMember(o.RemoveMemberRequest(
            organization_id=owner.organization_id, user_id=admin.user.id), metadata=bearer(owner.access_token))

        async def removed():
            assert (await http.get("/workflows", headers=as_key)).status_code == 401

        await eventually(removed)
