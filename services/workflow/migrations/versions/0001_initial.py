"""workflow schema: workflows, immutable versions, organization templates.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None

S = "workflow"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("tags", sa.ARRAY(sa.String(64)), nullable=False, server_default="{}"),
        sa.Column("is_public", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("flow_data", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
        sa.Column("request_id", sa.String(100)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("deleted_at", TS),
        sa.UniqueConstraint("org_id", "request_id", name="workflows_org_request_id_key"),
        schema=S,
    )
    # List order: most recently updated first, per organization, live rows only.
    op.create_index("workflows_org_updated_idx", "workflows", ["org_id", sa.text("updated_at DESC"), sa.text("id DESC")],
                    schema=S, postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_index("workflows_tags_idx", "workflows", ["tags"], schema=S, postgresql_using="gin")
    op.create_table(
        "workflow_versions",
        sa.Column("workflow_id", sa.Uuid, sa.ForeignKey(f"{S}.workflows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("flow_data", JSONB, nullable=False),
        sa.Column("author_id", sa.String(100), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("category", sa.String(64), nullable=False, server_default=""),
        sa.Column("flow_data", JSONB, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("templates_org_idx", "templates", ["org_id", "created_at"], schema=S)
    # Versions are immutable: refuse UPDATE at the database too.
    op.execute("""
        CREATE FUNCTION workflow.refuse_version_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'workflow versions are immutable'; END $$
    """)
    op.execute("""
        CREATE TRIGGER workflow_versions_immutable BEFORE UPDATE ON workflow.workflow_versions
        FOR EACH ROW EXECUTE FUNCTION workflow.refuse_version_update()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS workflow_versions_immutable ON workflow.workflow_versions")
    op.execute("DROP FUNCTION IF EXISTS workflow.refuse_version_update()")
    for table in ("templates", "workflow_versions", "workflows"):
        op.drop_table(table, schema=S)
