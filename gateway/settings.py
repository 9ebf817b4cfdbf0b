"""Gateway configuration (env prefix GATEWAY_)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    # Downstream gRPC services, by the <svc> of their proto package agentic.<svc>.v1.
    auth_address: str = "127.0.0.1:50051"
    workflow_address: str = "127.0.0.1:50052"
    executor_address: str = "127.0.0.1:50053"
    vectorstore_address: str = "127.0.0.1:50054"
    # Deadline given to a downstream call when the client sends none (seconds), and the most a client may ask.
    request_timeout_seconds: float = 30.0
    max_request_timeout_seconds: float = 300.0
    max_body_bytes: int = 1024 * 1024
    # Each JSON object level is two protobuf levels inside a Struct, and protobuf parsers stop at 100.
    max_json_depth: int = 32
    max_message_bytes: int = 8 * 1024 * 1024
    # API keys are exchanged for a short-lived access token once, then cached (by SHA-256 of the key).
    api_key_cache_size: int = 10_000
    # The gateway's entry in auth's AUTH_SERVICE_SECRETS. Its service identity exchanges API keys and vouches
    # for the client address auth throttles sign-ins by; without it API keys are refused.
    service_secret: str = ""
    sse_heartbeat_seconds: float = 15.0
    cors_origins: list[str] = []
    # Behind a load balancer: its addresses, so X-Forwarded-For gives the client address used for sign-in
    # throttling (e.g. "10.0.0.0/8"). Empty: the TCP peer is the client.
    forwarded_allow_ips: str = ""
    log_level: str = "WARNING"

    def address_of(self, service: str) -> str | None:
        return getattr(self, f"{service}_address", None)
