"""Settings shared by every service; each service subclasses with its own env prefix (AUTH_, WORKFLOW_...)."""

import os

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # Empty: the launcher's embedded PostgreSQL (it exports DATABASE_URL to the services it starts).
    database_url: str = ""
    db_pool_size: int = 10
    # Costs 3 round trips per checkout with asyncpg; turn on where connections die silently (some proxies).
    db_pool_pre_ping: bool = False
    # `migrate` only: with DATABASE_URL an administrator's, create or update the service's own role
    # (agentic_<svc>, not a superuser) with this password, make it the owner of its schema, migrate as it.
    db_role_password: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    # Access tokens: who issues them and for whom.
    jwt_issuer: str = "agentic-auth"
    jwt_audience: str = "agentic-platform"
    # Where the auth service is (JWKS, service tokens).
    auth_address: str = "127.0.0.1:50051"
    # This service's entry in auth's AUTH_SERVICE_SECRETS: its identity for internal RPCs (the revocation feed).
    service_secret: str = ""
    max_message_bytes: int = 8 * 1024 * 1024
    # Seconds in-flight RPCs get to finish on SIGTERM.
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"


    @model_validator(mode="after")
    def _suite_database_url(self):
        # A service's own <PREFIX>DATABASE_URL wins; otherwise the suite-wide DATABASE_URL.
        if not self.database_url:
            self.database_url = os.environ.get("DATABASE_URL", "")
        return self
