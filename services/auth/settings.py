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
    # Services that may obtain a token acting for an organization (IssueServiceToken.organization_id).
    acting_services: list[str] = ["executor"]

    access_token_ttl_seconds: int = 30 * 60
    api_key_token_ttl_seconds: int = 5 * 60
    service_token_ttl_seconds: int = 10 * 60
    # Sessions end after this long without a refresh (idle) and, refreshed or not, this long after sign-in.
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    session_absolute_ttl_seconds: int = 30 * 24 * 3600
    # A refresh token presented again within this many seconds of its rotation (two tabs refreshing at
    # once) is refused with ABORTED instead of revoking the family; later reuse revokes the family.
    refresh_reuse_grace_seconds: int = 5

    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 2
    min_password_length: int = 10

    # Throttling (services/auth/throttle.py). Per account and address: this many failures are free, then
    # each attempt waits 1, 2, 4 ... seconds after the last failure, at most the max delay.
    throttle_free_failures: int = 3
    throttle_max_delay_seconds: int = 300
    # Failed attempts per hour on one account, and from one address, not counting addresses the account
    # signed in from within the last `known_address_days`.
    max_failures_per_account: int = 100
    max_failures_per_address: int = 100
    known_address_days: int = 30
    # Sign-up attempts per hour from one address.
    max_sign_ups_per_address: int = 20
    # Failed IssueServiceToken attempts per minute from one address.
    max_service_token_failures_per_minute: int = 10
