"""Organizations and memberships over gRPC: roles gate writes, the last owner stays, tenants are isolated."""

import grpc
import pytest

from agentic.auth.v1 import auth_pb2
from agentic.auth.v1 import organizations_pb2 as o
from tests.auth.helpers import Stubs, bearer, expect_code

C = grpc.StatusCode


@pytest.fixture(scope="module")
def stubs(auth_channel):
    return Stubs(auth_channel)


async def _with_member(stubs, role: str):
    owner = await stubs.sign_up("owner")
    member = await stubs.sign_up(role)
    await stubs.orgs.AddMember(o.AddMemberRequest(
        organization_id=owner.organization_id, email=member.user.email, role=role), metadata=bearer(owner.access_token))
    switched = await stubs.auth.SwitchOrganization(
        auth_pb2.SwitchOrganizationRequest(organization_id=owner.organization_id), metadata=bearer(member.access_token))
    assert switched.organization_id == owner.organization_id and switched.role == role
    return owner, switched


async def test_create_list_get_rename_organization(stubs):
    session = await stubs.sign_up("orgs")
    md = bearer(session.access_token)
    created = await stubs.orgs.CreateOrganization(
        o.CreateOrganizationRequest(organization=o.Organization(name="Acme")), metadata=md)
    assert created.role == "owner" and created.name == "Acme"
    listed = await stubs.orgs.ListOrganizations(o.ListOrganizationsRequest(), metadata=md)
    assert {org.id for org in listed.organizations} == {session.organization_id, created.id}
    assert (await stubs.orgs.GetOrganization(o.GetOrganizationRequest(id=created.id), metadata=md)).name == "Acme"
    renamed = await stubs.orgs.UpdateOrganization(o.UpdateOrganizationRequest(
        organization=o.Organization(id=session.organization_id, name="Renamed")), metadata=md)
    assert renamed.name == "Renamed"
    await expect_code(C.INVALID_ARGUMENT, stubs.orgs.CreateOrganization(
        o.CreateOrganizationRequest(organization=o.Organization(name=" ")), metadata=md))


async def test_list_organizations_pages(stubs):
    session = await stubs.sign_up("pages")
    md = bearer(session.access_token)
    for i in range(4):
        await stubs.orgs.CreateOrganization(o.CreateOrganizationRequest(organization=o.Organization(name=f"o{i}")),
                                            metadata=md)
    seen, token = [], ""
    while True:
        page = await stubs.orgs.ListOrganizations(o.ListOrganizationsRequest(page_size=2, page_token=token), metadata=md)
        seen += [org.id for org in page.organizations]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 5 == len(set(seen))
    await expect_code(C.INVALID_ARGUMENT, stubs.orgs.ListOrganizations(
        o.ListOrganizationsRequest(page_token="garbage!"), metadata=md))


async def test_member_roles_and_last_owner_rule(stubs):
    owner, admin = await _with_member(stubs, "admin")
    org = owner.organization_id
    md_owner, md_admin = bearer(owner.access_token), bearer(admin.access_token)
    members = await stubs.orgs.ListMembers(o.ListMembersRequest(organization_id=org), metadata=md_admin)
    assert {m.role for m in members.members} == {"owner", "admin"}
    # An admin cannot grant owner nor demote the owner; the owner cannot demote or remove themself as last owner.
    await expect_code(C.PERMISSION_DENIED, stubs.orgs.UpdateMember(o.UpdateMemberRequest(
        organization_id=org, user_id=admin.user.id, role="owner"), metadata=md_admin))
    await expect_code(C.PERMISSION_DENIED, stubs.orgs.UpdateMember(o.UpdateMemberRequest(
        organization_id=org, user_id=owner.user.id, role="member"), metadata=md_admin))
    await expect_code(C.FAILED_PRECONDITION, stubs.orgs.UpdateMember(o.UpdateMemberRequest(
        organization_id=org, user_id=owner.user.id, role="admin"), metadata=md_owner))
    await expect_code(C.FAILED_PRECONDITION, stubs.orgs.RemoveMember(o.RemoveMemberRequest(
        organization_id=org, user_id=owner.user.id), metadata=md_owner))
    # With a second owner, the first may step down.
    await stubs.orgs.UpdateMember(o.UpdateMemberRequest(organization_id=org, user_id=admin.user.id, role="owner"),
                                  metadata=md_owner)
    demoted = await stubs.orgs.UpdateMember(o.UpdateMemberRequest(
        organization_id=org, user_id=owner.user.id, role="member"), metadata=md_owner)
    assert demoted.role == "member"
    await expect_code(C.INVALID_ARGUMENT, stubs.orgs.UpdateMember(o.UpdateMemberRequest(
        organization_id=org, user_id=admin.user.id, role="emperor"), metadata=md_admin))


async def test_viewer_cannot_manage_members(stubs):
    owner, viewer = await _with_member(stubs, "viewer")
    await expect_code(C.PERMISSION_DENIED, stubs.orgs.AddMember(o.AddMemberRequest(
        organization_id=owner.organization_id, email="x@example.com", role="viewer"), metadata=bearer(viewer.access_token)))
    await expect_code(C.PERMISSION_DENIED, stubs.orgs.UpdateOrganization(o.UpdateOrganizationRequest(
        organization=o.Organization(id=owner.organization_id, name="mine")), metadata=bearer(viewer.access_token)))


async def test_add_member_errors(stubs):
    owner = await stubs.sign_up("adder")
    md = bearer(owner.access_token)
    await expect_code(C.NOT_FOUND, stubs.orgs.AddMember(o.AddMemberRequest(
        organization_id=owner.organization_id, email="nobody-here@example.com", role="member"), metadata=md))
    await expect_code(C.ALREADY_EXISTS, stubs.orgs.AddMember(o.AddMemberRequest(
        organization_id=owner.organization_id, email=owner.user.email, role="member"), metadata=md))


async def test_other_organizations_are_not_found(stubs):
    a, b = await stubs.sign_up("tenant-a"), await stubs.sign_up("tenant-b")
    md = bearer(a.access_token)
    for call in (
        stubs.orgs.GetOrganization(o.GetOrganizationRequest(id=b.organization_id), metadata=md),
        stubs.orgs.ListMembers(o.ListMembersRequest(organization_id=b.organization_id), metadata=md),
        stubs.orgs.RemoveMember(o.RemoveMemberRequest(organization_id=b.organization_id, user_id=b.user.id), metadata=md),
        stubs.orgs.UpdateMember(o.UpdateMemberRequest(organization_id=b.organization_id, user_id=b.user.id,
                                                      role="viewer"), metadata=md),
        stubs.orgs.UpdateOrganization(o.UpdateOrganizationRequest(
            organization=o.Organization(id=b.organization_id, name="pwned")), metadata=md),
        stubs.auth.SwitchOrganization(auth_pb2.SwitchOrganizationRequest(organization_id=b.organization_id),
                                      metadata=md),
    ):
        await expect_code(C.NOT_FOUND, call)
