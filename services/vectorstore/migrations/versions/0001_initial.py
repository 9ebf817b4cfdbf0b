"""vectorstore schema: collections, documents, chunks (pgvector + tsvector), evaluation runs.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

revision = "0001"
down_revision = None

S = "vectorstore"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "collections",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("embedding_provider", sa.String(20), nullable=False),
        sa.Column("embedding_model", sa.String(200), nullable=False),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("splitter", sa.String(20), nullable=False),
        sa.Column("chunk_size", sa.Integer, nullable=False),
        sa.Column("chunk_overlap", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),  # the etag
        # Size of the collection's own HNSW index once built (repository.build_index), else NULL.
        sa.Column("hnsw_dimensions", sa.Integer),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("org_id", "name", name="collections_org_name_key"),
        schema=S,
    )
    op.create_index("collections_org_created_idx", "collections",
                    ["org_id", sa.text("created_at DESC"), sa.text("id DESC")], schema=S)
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("collection_id", sa.Uuid, sa.ForeignKey(f"{S}.collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("source_type", sa.String(10), nullable=False),  # text | upload | url
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("content_type", sa.String(100), nullable=False),
        # The original bytes: ingestion runs later, on any replica, and again on re-ingest.
        sa.Column("content", sa.LargeBinary),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        # pending | processing | completed | failed
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires_at", TS),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("documents_collection_created_idx", "documents",
                    ["collection_id", sa.text("created_at DESC"), sa.text("id DESC")], schema=S)
    # The ingestion queue: what a replica may claim.
    op.create_index("documents_queue_idx", "documents", ["created_at"], schema=S,
                    postgresql_where=sa.text("status IN ('pending', 'processing')"))
    op.create_table(
        "chunks",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("collection_id", sa.Uuid, nullable=False),
        sa.Column("document_id", sa.Uuid, sa.ForeignKey(f"{S}.documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("tsv", TSVECTOR, sa.Computed("to_tsvector('english', content)", persisted=True)),
        schema=S,
    )
    # Untyped: the size is per collection (and per row in `dimensions`).
    op.execute(f"ALTER TABLE {S}.chunks ADD COLUMN embedding vector NOT NULL")
    op.create_index("chunks_document_idx", "chunks", ["document_id", "position"], schema=S)
    op.create_index("chunks_collection_idx", "chunks", ["collection_id"], schema=S)
    op.create_index("chunks_tsv_idx", "chunks", ["tsv"], schema=S, postgresql_using="gin")
    op.execute(f"CREATE INDEX chunks_metadata_idx ON {S}.chunks USING gin (metadata jsonb_path_ops)")
    # HNSW indexes are per collection (partial expression indexes, built when a collection outgrows exact
    # search; see repository.build_index): collections of any size coexist in this table.
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("collection_id", sa.Uuid, sa.ForeignKey(f"{S}.collections.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("response", sa.Text, nullable=False, server_default=""),
        sa.Column("source_chunk_ids", JSONB, nullable=False, server_default="[]"),
        sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("token_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("quality_score", sa.Float),
        sa.Column("feedback", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("execution_id", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("evaluation_runs_collection_idx", "evaluation_runs",
                    ["collection_id", sa.text("created_at DESC"), sa.text("id DESC")], schema=S)


def downgrade() -> None:
    for table in ("evaluation_runs", "chunks", "documents", "collections"):
        op.drop_table(table, schema=S)
