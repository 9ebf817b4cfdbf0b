"""workflows.request_hash: what a request_id was first used for, so a reuse for another request is refused.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("workflows", sa.Column("request_hash", sa.LargeBinary), schema="workflow")


def downgrade() -> None:
    op.drop_column("workflows", "request_hash", schema="workflow")
