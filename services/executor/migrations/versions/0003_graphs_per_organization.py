"""executor: pinned graphs are kept per organization that read them.

Another organization's read of a public workflow has its inline secrets removed, so the owner's graph and that
copy are different rows: the primary key gains org_id (each existing row keeps the organization that saved it).

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"

S = "executor"


def upgrade() -> None:
    op.drop_constraint("graphs_pkey", "graphs", schema=S, type_="primary")
    op.create_primary_key("graphs_pkey", "graphs", ["org_id", "workflow_id", "version"], schema=S)


def downgrade() -> None:
    op.execute(f"DELETE FROM {S}.graphs g USING {S}.graphs o WHERE g.workflow_id = o.workflow_id "
               "AND g.version = o.version AND g.ctid > o.ctid")
    op.drop_constraint("graphs_pkey", "graphs", schema=S, type_="primary")
    op.create_primary_key("graphs_pkey", "graphs", ["workflow_id", "version"], schema=S)
