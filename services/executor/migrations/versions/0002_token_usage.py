"""executor: token usage per execution (input and output tokens of every model call of the run).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

S = "executor"


def upgrade() -> None:
    for column in ("input_tokens", "output_tokens"):
        op.add_column("executions", sa.Column(column, sa.BigInteger, nullable=False, server_default="0"), schema=S)


def downgrade() -> None:
    for column in ("input_tokens", "output_tokens"):
        op.drop_column("executions", column, schema=S)
