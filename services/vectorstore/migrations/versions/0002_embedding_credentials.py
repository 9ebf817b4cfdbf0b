"""A collection's own OpenAI-compatible endpoint and the organization credential holding its API key.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
S = "vectorstore"


def upgrade() -> None:
    # NULL / '': the operator's key and endpoint (VECTORSTORE_OPENAI_*). The secret itself stays in auth.
    op.add_column("collections", sa.Column("embedding_credential_id", sa.Uuid, nullable=True), schema=S)
    op.add_column("collections", sa.Column("embedding_base_url", sa.Text, nullable=False, server_default=""),
                  schema=S)


def downgrade() -> None:
    op.drop_column("collections", "embedding_base_url", schema=S)
    op.drop_column("collections", "embedding_credential_id", schema=S)
