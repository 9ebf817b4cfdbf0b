"""Membership changes for the revocation feed, the credential-resolution audit, throttling indexes.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
S = "auth"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Every membership change (added, role changed, removed): the feed tells every service within seconds.
    op.create_table(
        "membership_changes",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("role", sa.String(16)),  # NULL: no longer a member
        sa.Column("changed_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("membership_changes_at_idx", "membership_changes", ["changed_at"], schema=S)
    # Who resolved which plaintext secret, for which execution.
    op.create_table(
        "credential_resolutions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("credential_id", sa.Uuid, nullable=False),
        sa.Column("execution_id", sa.Uuid, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("resolved_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("credential_resolutions_org_idx", "credential_resolutions", ["org_id", "resolved_at"], schema=S)
    # Throttling counts failures per account, per account and address, and per address.
    op.create_index("login_activity_user_idx", "login_activity", ["user_id", "client_address", "created_at"],
                    schema=S)
    op.create_index("sessions_revoked_idx", "sessions", ["revoked_at"], schema=S)
    op.create_index("api_keys_creator_idx", "api_keys", ["org_id", "created_by"], schema=S)


def downgrade() -> None:
    op.drop_index("api_keys_creator_idx", "api_keys", schema=S)
    op.drop_index("sessions_revoked_idx", "sessions", schema=S)
    op.drop_index("login_activity_user_idx", "login_activity", schema=S)
    op.drop_table("credential_resolutions", schema=S)
    op.drop_table("membership_changes", schema=S)
