"""gRPC handlers of the auth service: proto -> domain call -> proto. No SQL, no rules here."""

from datetime import UTC

from google.protobuf import empty_pb2

from agentic.auth.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    credentials_pb2,
    credentials_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
)
from services.auth import convert
from services.auth.accounts import Accounts
from services.auth.api_keys import ApiKeys
from services.auth.credentials import Credentials
from services.auth.organizations import Organizations
from services.common import caller as callers
from services.common.errors import Unauthenticated
from services.common.tokens import TokenVerifier

GATEWAY = "service:gateway"


def peer_address(context) -> str:
    peer = context.peer() or ""  # "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555"
    kind, _, rest = peer.partition(":")
    return rest.rpartition(":")[0].strip("[]") if kind in ("ipv4", "ipv6") else peer


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, accounts: Accounts, verifier: TokenVerifier):
        self.accounts = accounts
        self.verifier = verifier

    async def client_address(self, context) -> str:
        """The address throttling counts by: the gateway's word for its client (`x-client-address`) only when
        the request also carries the gateway's own service token (`x-service-authorization`); else the peer."""
        metadata = {item.key: item.value for item in context.invocation_metadata() or ()}
        claimed, proof = metadata.get("x-client-address", ""), metadata.get("x-service-authorization", "")
        if claimed and proof[:7].lower() == "bearer ":
            try:
                if (await self.verifier.verify(proof[7:].strip())).subject == GATEWAY:
                    return claimed
            except Unauthenticated:
                pass
        return peer_address(context)

    async def SignUp(self, request, context):
        return convert.session(await self.accounts.sign_up(request.email, request.password, request.display_name,
                                                           await self.client_address(context)))

    async def SignIn(self, request, context):
        return convert.session(await self.accounts.sign_in(request.email, request.password,
                                                           await self.client_address(context)))

    async def RefreshSession(self, request, context):
        return convert.session(await self.accounts.refresh(request.refresh_token))

    async def SignOut(self, request, context):
        await self.accounts.sign_out(callers.current())
        return empty_pb2.Empty()

    async def GetProfile(self, request, context):
        return convert.user(await self.accounts.profile(callers.current()))

    async def UpdateProfile(self, request, context):
        return convert.user(await self.accounts.update_profile(callers.current(), request.user.display_name))

    async def ChangePassword(self, request, context):
        issued = await self.accounts.change_password(callers.current(), request.current_password, request.new_password,
                                                     await self.client_address(context))
        return convert.session(issued)

    async def SwitchOrganization(self, request, context):
        return convert.session(await self.accounts.switch_organization(callers.current(), request.organization_id))

    async def GetJwks(self, request, context):
        return auth_pb2.Jwks(keys=[auth_pb2.Jwk(**key) for key in self.accounts.signer.jwks()])

    async def AuthenticateApiKey(self, request, context):
        return convert.access_token(await self.accounts.authenticate_api_key(request.api_key))

    async def IssueServiceToken(self, request, context):
        return convert.access_token(self.accounts.issue_service_token(
            request.service_name, request.service_secret, peer_address(context), request.organization_id))

    async def ListRevocations(self, request, context):
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None
        revoked, changes, next_since = await self.accounts.revocations_since(since)
        return auth_pb2.ListRevocationsResponse(
            revoked=revoked, next_since=convert.timestamp(next_since),
            membership_changes=[auth_pb2.MembershipChange(
                user_id=str(c.user_id), organization_id=str(c.org_id), role=c.role or "",
                change_time=convert.timestamp(c.changed_at)) for c in changes])


class OrganizationServicer(organizations_pb2_grpc.OrganizationServiceServicer):
    def __init__(self, organizations: Organizations):
        self.orgs = organizations

    async def CreateOrganization(self, request, context):
        row, role = await self.orgs.create(callers.current(), request.organization.name)
        return convert.organization(row, role)

    async def ListOrganizations(self, request, context):
        rows, token = await self.orgs.list(callers.current(), request.page_size, request.page_token)
        return organizations_pb2.ListOrganizationsResponse(
            organizations=[convert.organization(row, row.role) for row in rows], next_page_token=token)

    async def GetOrganization(self, request, context):
        row = await self.orgs.get(callers.current(), request.id)
        return convert.organization(row, row.role)

    async def UpdateOrganization(self, request, context):
        row = await self.orgs.rename(callers.current(), request.organization.id, request.organization.name)
        return convert.organization(row, row.role)

    async def ListMembers(self, request, context):
        rows, token = await self.orgs.members(callers.current(), request.organization_id, request.page_size,
                                              request.page_token)
        return organizations_pb2.ListMembersResponse(members=[convert.member(r) for r in rows], next_page_token=token)

    async def AddMember(self, request, context):
        row = await self.orgs.add_member(callers.current(), request.organization_id, request.email, request.role)
        return convert.member(row)

    async def UpdateMember(self, request, context):
        row = await self.orgs.update_member(callers.current(), request.organization_id, request.user_id, request.role)
        return convert.member(row)

    async def RemoveMember(self, request, context):
        await self.orgs.remove_member(callers.current(), request.organization_id, request.user_id)
        return empty_pb2.Empty()


class ApiKeyServicer(api_keys_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, api_keys: ApiKeys):
        self.keys = api_keys

    async def CreateApiKey(self, request, context):
        expires = request.expire_time.ToDatetime(tzinfo=UTC) if request.HasField("expire_time") else None
        row, key = await self.keys.create(callers.current(), request.name, request.role, expires)
        return api_keys_pb2.CreateApiKeyResponse(api_key=convert.api_key(row), key=key)

    async def ListApiKeys(self, request, context):
        rows, token = await self.keys.list(callers.current(), request.page_size, request.page_token)
        return api_keys_pb2.ListApiKeysResponse(api_keys=[convert.api_key(r) for r in rows], next_page_token=token)

    async def GetApiKey(self, request, context):
        return convert.api_key(await self.keys.get(callers.current(), request.id))

    async def DeleteApiKey(self, request, context):
        await self.keys.revoke(callers.current(), request.id)
        return empty_pb2.Empty()


class CredentialServicer(credentials_pb2_grpc.CredentialServiceServicer):
    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    async def CreateCredential(self, request, context):
        c = request.credential
        row = await self.credentials.create(callers.current(), c.name, c.service_type, c.description, request.secret)
        return convert.credential(row)

    async def ListCredentials(self, request, context):
        rows, token = await self.credentials.list(callers.current(), request.service_type, request.page_size,
                                                  request.page_token)
        return credentials_pb2.ListCredentialsResponse(
            credentials=[convert.credential(r) for r in rows], next_page_token=token)

    async def GetCredential(self, request, context):
        return convert.credential(await self.credentials.get(callers.current(), request.id))

    async def UpdateCredential(self, request, context):
        c = request.credential
        fields = {"name": c.name, "description": c.description, "secret": request.secret}
        row = await self.credentials.update(callers.current(), c.id, fields, list(request.update_mask.paths), c.etag)
        return convert.credential(row)

    async def DeleteCredential(self, request, context):
        await self.credentials.delete(callers.current(), request.id)
        return empty_pb2.Empty()

    async def ResolveCredential(self, request, context):
        row, secret = await self.credentials.resolve(callers.current(), request.organization_id, request.id,
                                                     request.service_type, request.name, request.execution_id)
        return credentials_pb2.ResolveCredentialResponse(credential=convert.credential(row), secret=secret)
