"""executor schema: executions, their events, pinned graphs, threads and messages, LangGraph checkpoints.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None

S = "executor"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("workflow_id", sa.Uuid, nullable=False),
        sa.Column("workflow_version", sa.Integer, nullable=False),
        sa.Column("thread_id", sa.Uuid),
        # queued | running | interrupted | succeeded | failed | cancelled
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", JSONB),
        sa.Column("output", JSONB),
        sa.Column("error", JSONB),
        sa.Column("interrupt", JSONB),
        # The answer to an interrupt, waiting for a replica to continue the run.
        sa.Column("resume", JSONB),
        # Sub-workflow versions pinned at start: {workflow_id: version}.
        sa.Column("pins", JSONB, nullable=False, server_default="{}"),
        sa.Column("background", sa.Boolean, nullable=False),
        # Checkpointed: a lost replica's run continues elsewhere; otherwise it fails as EXECUTOR_LOST.
        sa.Column("durable", sa.Boolean, nullable=False),
        sa.Column("timeout_seconds", sa.Float, nullable=False),
        sa.Column("request_id", sa.String(100)),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.UniqueConstraint("org_id", "request_id", name="executions_org_request_id_key"),
        schema=S,
    )
    op.create_index("executions_org_created_idx", "executions", ["org_id", sa.text("created_at DESC"),
                                                                 sa.text("id DESC")], schema=S)
    op.create_index("executions_org_workflow_idx", "executions", ["org_id", "workflow_id", sa.text("created_at DESC")],
                    schema=S)
    # The queue: queued runs per organization in arrival order (claims pick a head per organization).
    op.create_index("executions_queued_idx", "executions", ["org_id", "created_at"], schema=S,
                    postgresql_where=sa.text("status = 'queued'"))
    op.create_index("executions_running_idx", "executions", ["org_id", "lease_expires_at"], schema=S,
                    postgresql_where=sa.text("status = 'running'"))
    op.create_index("executions_ended_idx", "executions", ["ended_at"], schema=S,
                    postgresql_where=sa.text("ended_at IS NOT NULL"))
    op.create_table(
        "execution_events",
        sa.Column("execution_id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("node_id", sa.String(300), nullable=False, server_default=""),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    # Immutable workflow versions a run is pinned to (a copy, so a run never depends on the workflow service
    # after it started: resumptions on another replica and sub-workflows read it here).
    op.create_table(
        "graphs",
        sa.Column("workflow_id", sa.Uuid, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("flow_data", JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("message_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("threads_org_idx", "threads", ["org_id", sa.text("created_at DESC"), sa.text("id DESC")], schema=S)
    op.create_table(
        "thread_messages",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("thread_id", sa.Uuid, sa.ForeignKey(f"{S}.threads.id", ondelete="CASCADE"), nullable=False),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("execution_id", sa.Uuid),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("thread_messages_thread_idx", "thread_messages", ["thread_id", "id"], schema=S)
    # LangGraph's checkpoint tables, in this schema (langgraph-checkpoint-postgres runs its own migrations).
    from services.executor.engine.checkpoints import setup_checkpoint_tables

    setup_checkpoint_tables(op.get_bind())


def downgrade() -> None:
    for table in ("thread_messages", "threads", "graphs", "execution_events", "executions",
                  "checkpoint_writes", "checkpoint_blobs", "checkpoints", "checkpoint_migrations"):
        op.execute(f"DROP TABLE IF EXISTS {S}.{table}")
