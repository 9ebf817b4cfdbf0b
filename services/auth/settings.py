"""Auth service configuration (env prefix AUTH_)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    port: int = 50051
    # {kid: base64 of a PEM Ed25519 private key}. The newest (last) signs; all verify. Empty: a generated
    # dev key that lives as long as the process (logged loudly).
    signing_keys: dict[str, str] = {}
    # {version: base64 of a 32-byte AES key}. The highest version encrypts; every version decrypts.
    credential_keys: dict[str, str] = {}
    # {service name: shared secret} for services that may obtain a service identity (IssueServiceToken).
    service_secrets: dict[str, str] = {}

    access_token_ttl_seconds: int = 30 * 60
    api_key_token_ttl_seconds: int = 5 * 60
    service_token_ttl_seconds: int = 10 * 60
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    # A refresh token presented again within this many seconds of its rotation (two tabs refreshing at
    # once) is refused with ABORTED instead of revoking the family; later reuse revokes the family.
    refresh_reuse_grace_seconds: int = 5

    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 2
    min_password_length: int = 10

    # Login throttling: failed sign-ins allowed per window, per account and per client address.
    login_window_seconds: int = 15 * 60
    max_failures_per_account: int = 5
    max_failures_per_address: int = 30
