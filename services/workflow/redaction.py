"""Inline secrets in a graph: never exported, never shown outside the owning organization.

Graphs refer to credentials by service type and name (`data.credential`); the executor resolves them at run
time. A value a user pasted under a secret-looking key (`api_key`, `password`, ...) is removed wherever a graph
leaves its organization: export documents and public reads by other organizations.
"""

SECRET_KEYS = frozenset({"api_key", "apikey", "secret", "password", "token", "access_token", "private_key"})


def strip_secrets(value):
    if isinstance(value, dict):
        return {k: strip_secrets(v) for k, v in value.items() if k.lower() not in SECRET_KEYS}
    if isinstance(value, list):
        return [strip_secrets(v) for v in value]
    return value
