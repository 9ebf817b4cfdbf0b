"""Tables of the `workflow` schema. Migrations create them; queries use these definitions."""

from sqlalchemy import Boolean, Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData(schema="workflow")

workflows = Table(
    "workflows", metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("owner_id", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("tags", ARRAY(String(64)), nullable=False, server_default="{}"),
    Column("is_public", Boolean, nullable=False, server_default="false"),
    Column("flow_data", JSONB, nullable=False),
    Column("version", Integer, nullable=False),  # current version number
    Column("revision", Integer, nullable=False, server_default="1"),  # the etag: bumps on every change
    Column("request_id", String(100)),
    Column("request_hash", LargeBinary),  # SHA-256 of the create request that first used request_id
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

workflow_versions = Table(
    "workflow_versions", metadata,
    Column("workflow_id", Uuid, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("flow_data", JSONB, nullable=False),
    Column("author_id", String(100), nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

templates = Table(
    "templates", metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("category", String(64), nullable=False, server_default=""),
    Column("flow_data", JSONB, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
