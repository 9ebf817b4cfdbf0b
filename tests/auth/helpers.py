"""Helpers for auth tests: stubs with a bearer token, unique emails, status-code assertions."""

import uuid

import grpc
import pytest

from agentic.auth.v1 import (
    api_keys_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    credentials_pb2_grpc,
    organizations_pb2_grpc,
)

PASSWORD = "correct horse battery"


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> tuple:
    return (("authorization", f"Bearer {token}"),)


class Stubs:
    def __init__(self, channel):
        self.auth = auth_pb2_grpc.AuthServiceStub(channel)
        self.orgs = organizations_pb2_grpc.OrganizationServiceStub(channel)
        self.keys = api_keys_pb2_grpc.ApiKeyServiceStub(channel)
        self.credentials = credentials_pb2_grpc.CredentialServiceStub(channel)

    async def service(self, name: str = "gateway") -> tuple:
        """Metadata carrying a platform service's identity token (the suite's secrets are test-<name>-secret)."""
        token = await self.auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
            service_name=name, service_secret=f"test-{name}-secret"))
        return bearer(token.access_token)

    async def from_address(self, address: str) -> tuple:
        """Metadata of a request the gateway relays for a client at `address` (vouched by its identity)."""
        token = (await self.service("gateway"))[0][1]
        return (("x-client-address", address), ("x-service-authorization", token))

    async def exchange_key(self, api_key: str):
        """AuthenticateApiKey as the gateway calls it."""
        return await self.auth.AuthenticateApiKey(auth_pb2.AuthenticateApiKeyRequest(api_key=api_key),
                                                  metadata=await self.service("gateway"))

    async def sign_up(self, tag: str = "user", password: str = PASSWORD):
        email = unique_email(tag)
        session = await self.auth.SignUp(auth_pb2.SignUpRequest(email=email, password=password, display_name=tag))
        return session


async def expect_code(code: grpc.StatusCode, awaitable):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable
    assert info.value.code() == code, info.value.details()
    return info.value
