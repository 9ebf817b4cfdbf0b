"""Print a docker-compose `.env` with freshly generated secrets: `python deploy/compose_env.py > .env`.

The values fit together: each <SVC>_SERVICE_SECRET is the one auth knows that service (or the gateway) by
in AUTH_SERVICE_SECRETS. For a local stack only; production secrets come from a secret store.
"""

import base64
import json
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Services that may obtain a service identity from auth (IssueServiceToken).
SERVICE_IDENTITIES = ("gateway", "executor", "workflow", "vectorstore")
DATABASE_ROLES = ("auth", "workflow", "executor", "vectorstore")


def generate() -> dict[str, str]:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    service_secrets = {name: secrets.token_urlsafe(32) for name in SERVICE_IDENTITIES}
    return {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "AUTH_SIGNING_KEYS": json.dumps({"compose-1": base64.b64encode(pem).decode()}),
        "AUTH_CREDENTIAL_KEYS": json.dumps({"1": base64.b64encode(secrets.token_bytes(32)).decode()}),
        "AUTH_SERVICE_SECRETS": json.dumps(service_secrets),
        **{f"{name.upper()}_SERVICE_SECRET": secret for name, secret in service_secrets.items()},
        # Each service's own database role (created by its migration step).
        **{f"{name.upper()}_DB_ROLE_PASSWORD": secrets.token_urlsafe(24) for name in DATABASE_ROLES},
    }


def render(values: dict[str, str]) -> str:
    # Single quotes: compose takes the JSON literally (no interpolation, no escapes).
    return "".join(f"{key}='{value}'\n" for key, value in values.items())


if __name__ == "__main__":
    print(render(generate()), end="")
