"""Auth service bootstrap: wire settings -> database -> domain -> servicers -> gRPC server."""

from dataclasses import dataclass

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
from services.auth.accounts import Accounts
from services.auth.api_keys import ApiKeys
from services.auth.credential_crypto import CredentialKeyring
from services.auth.credentials import Credentials
from services.auth.organizations import Organizations
from services.auth.passwords import PasswordHasher
from services.auth.repository import Database
from services.auth.servicer import ApiKeyServicer, AuthServicer, CredentialServicer, OrganizationServicer
from services.auth.settings import AuthSettings
from services.auth.signing import SigningKeyring
from services.common.db import make_engine
from services.common.interceptor import AUTHENTICATED, PUBLIC, SERVICE
from services.common.server import GrpcService, start_server
from services.common.tokens import TokenVerifier

SERVICE_NAMES = [
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    organizations_pb2.DESCRIPTOR.services_by_name["OrganizationService"].full_name,
    api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyService"].full_name,
    credentials_pb2.DESCRIPTOR.services_by_name["CredentialService"].full_name,
]


def _policy() -> dict[str, str]:
    """Every RPC's access rule, explicitly. Anything not listed is refused."""
    # IssueServiceToken is how a service gets its identity (throttled); the other internal RPCs need one, and
    # ResolveCredential checks further that it is the executor's or the vectorstore's.
    public = {"SignUp", "SignIn", "RefreshSession", "GetJwks", "IssueServiceToken"}
    service_only = {"ResolveCredential", "AuthenticateApiKey", "ListRevocations"}
    policy = {}
    for name in SERVICE_NAMES:
        package, service = name.rsplit(".", 1)
        descriptor = {
            "AuthService": auth_pb2, "OrganizationService": organizations_pb2, "ApiKeyService": api_keys_pb2,
            "CredentialService": credentials_pb2,
        }[service].DESCRIPTOR.services_by_name[service]
        for method in descriptor.methods:
            rule = PUBLIC if method.name in public else SERVICE if method.name in service_only else AUTHENTICATED
            policy[f"/{name}/{method.name}"] = rule
    return policy


POLICY = _policy()


@dataclass
class RunningAuth:
    grpc: GrpcService
    settings: AuthSettings
    engine: object
    accounts: Accounts
    credentials: Credentials

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc.port}"

    async def stop(self, grace: float) -> None:
        await self.grpc.stop(grace)
        await self.engine.dispose()


def build_domain(settings: AuthSettings):
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_pool_pre_ping)
    db = Database(engine)
    signer = SigningKeyring(settings.signing_keys, settings.jwt_issuer, settings.jwt_audience)
    hasher = PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    accounts = Accounts(db, settings, signer, hasher)
    credentials = Credentials(db, CredentialKeyring(settings.credential_keys))
    return engine, db, accounts, credentials


async def start(settings: AuthSettings) -> RunningAuth:
    engine, db, accounts, credentials = build_domain(settings)
    verifier = TokenVerifier(accounts.signer.fetch_jwks, settings.jwt_issuer, settings.jwt_audience)
    verifier.is_revoked = accounts.is_revoked

    def add_servicers(server) -> None:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(accounts, verifier), server)
        organizations_pb2_grpc.add_OrganizationServiceServicer_to_server(OrganizationServicer(Organizations(db)), server)
        api_keys_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeyServicer(ApiKeys(db)), server)
        credentials_pb2_grpc.add_CredentialServiceServicer_to_server(CredentialServicer(credentials), server)

    service = await start_server(settings, add_servicers, SERVICE_NAMES, POLICY, verifier)
    return RunningAuth(service, settings, engine, accounts, credentials)
