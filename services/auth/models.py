"""Tables of the `auth` schema. Migrations in migrations/versions create them; this is what queries use."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

metadata = MetaData(schema="auth")

users = Table(
    "users", metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("display_name", String(200), nullable=False, server_default=""),
    # Access tokens issued before this instant are refused (password change).
    Column("tokens_not_before", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

organizations = Table(
    "organizations", metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("personal", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

memberships = Table(
    "memberships", metadata,
    Column("org_id", Uuid, ForeignKey("auth.organizations.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Uuid, ForeignKey("auth.users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A session is a refresh-token family: every rotation stays in the family; revoking it ends the session.
sessions = Table(
    "sessions", metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", Uuid, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", String(64)),
)

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("token_hash", LargeBinary, primary_key=True),  # SHA-256 of the opaque token
    Column("session_id", Uuid, ForeignKey("auth.sessions.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True)),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("key_hash", LargeBinary, nullable=False),  # SHA-256 of the whole key
    Column("role", String(16), nullable=False),
    Column("created_by", Uuid, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

credentials = Table(
    "credentials", metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("service_type", String(100), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("ciphertext", LargeBinary, nullable=False),  # AES-256-GCM, nonce-prefixed, AAD bound to row + org
    Column("key_version", String(32), nullable=False),
    Column("hint", String(32), nullable=False),
    Column("revision", Integer, nullable=False, server_default="1"),  # the etag
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

login_activity = Table(
    "login_activity", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", Uuid),
    Column("email", String(320), nullable=False),
    Column("client_address", String(64), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every membership change (role NULL: removed). The revocation feed publishes the latest per member.
membership_changes = Table(
    "membership_changes", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", Uuid, nullable=False),
    Column("org_id", Uuid, nullable=False),
    Column("role", String(16)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# Audit of plaintext secrets handed out: which service, for which execution (NULL: the vectorstore's
# embedding keys, used outside executions).
credential_resolutions = Table(
    "credential_resolutions", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("org_id", Uuid, nullable=False),
    Column("credential_id", Uuid, nullable=False),
    Column("execution_id", Uuid, nullable=True),
    Column("service", String(64), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=False),
)
