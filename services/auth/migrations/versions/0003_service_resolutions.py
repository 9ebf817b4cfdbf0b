"""Credential resolutions without an execution: the vectorstore resolves a collection's embedding key.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
S = "auth"


def upgrade() -> None:
    op.alter_column("credential_resolutions", "execution_id", existing_type=sa.Uuid, nullable=True, schema=S)


def downgrade() -> None:
    op.execute("DELETE FROM auth.credential_resolutions WHERE execution_id IS NULL")
    op.alter_column("credential_resolutions", "execution_id", existing_type=sa.Uuid, nullable=False, schema=S)
