"""All SQL of the vectorstore service. Every query a caller can reach is scoped by organization (and by
collection where a collection is named); ingestion statements act for the replica, not for a caller.

Statements go to asyncpg directly: embeddings travel in pgvector's binary format (a codec registered on each
connection, `register_vector`), chunks are written with binary COPY, and search is the hot path.
"""

import json
import struct
import uuid

import numpy as np

from services.common.db import Database as BaseDatabase
from services.common.db import Repository as BaseRepository
from services.common.db import Row

INGEST_CHANNEL = "vectorstore_ingest"
COLLECTION_COLUMNS = ("c.id, c.org_id, c.name, c.description, c.embedding_provider, c.embedding_model, c.dimensions, "
                      "c.embedding_credential_id, c.embedding_base_url, c.splitter, c.chunk_size, c.chunk_overlap, c.revision, c.hnsw_dimensions, c.created_by, c.created_at, "
                      "c.updated_at")
COUNTS = ("(SELECT count(*) FROM vectorstore.documents d WHERE d.collection_id = c.id) AS document_count, "
          "(SELECT coalesce(sum(d.chunk_count), 0) FROM vectorstore.documents d WHERE d.collection_id = c.id) "
          "AS chunk_count")
DOCUMENT_COLUMNS = ("id, org_id, collection_id, name, source_type, source, content_type, size_bytes, status, error, "
                    "metadata, chunk_count, attempts, created_at, updated_at")
CHUNK_COLUMNS = ("id", "org_id", "collection_id", "document_id", "position", "content", "metadata", "dimensions",
                 "embedding")


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _filter(metadata_filter: dict | None) -> str | None:
    return None if metadata_filter is None else _json(metadata_filter)


def _index_name(collection_id: uuid.UUID) -> str:
    return f"chunks_hnsw_{collection_id.hex}"


def _index_predicate(collection_id: uuid.UUID, dimensions: int) -> tuple[str, int]:
    """The partial index's WHERE, with literals: a UUID object and an int cannot carry SQL."""
    return f"collection_id = '{uuid.UUID(str(collection_id))}' AND dimensions = {int(dimensions)}", int(dimensions)


def _encode_vector(value) -> bytes:
    vector = np.asarray(value, dtype=">f4")
    return struct.pack(">HH", vector.shape[0], 0) + vector.tobytes()


def _decode_vector(data: bytes) -> np.ndarray:
    (size,) = struct.unpack_from(">H", data)
    return np.frombuffer(data, dtype=">f4", count=size, offset=4).astype(np.float32)


async def register_vector(connection) -> None:
    """pgvector's binary wire format on an asyncpg connection (numpy arrays in and out)."""
    await connection.set_type_codec("vector", schema="public", encoder=_encode_vector, decoder=_decode_vector,
                                    format="binary")


class Repository(BaseRepository):
    async def _raw(self):
        raw = await self.conn.get_raw_connection()
        return raw.driver_connection

    async def _one(self, sql: str, *args) -> Row | None:  # type: ignore[override]
        record = await (await self._raw()).fetchrow(sql, *args)
        return None if record is None else Row(record)

    async def _many(self, sql: str, *args) -> list[Row]:
        return [Row(r) for r in await (await self._raw()).fetch(sql, *args)]

    async def _run(self, sql: str, *args) -> str:
        return await (await self._raw()).execute(sql, *args)

    # --- collections -------------------------------------------------------------------------------------
    async def insert_collection(self, v: dict) -> Row | None:
        """None when the organization already has a collection of that name."""
        return await self._one(
            f"""WITH c AS (
                    INSERT INTO vectorstore.collections (id, org_id, name, description, embedding_provider,
                        embedding_model, dimensions, splitter, chunk_size, chunk_overlap, created_by, created_at,
                        updated_at, embedding_credential_id, embedding_base_url)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)
                    ON CONFLICT ON CONSTRAINT collections_org_name_key DO NOTHING RETURNING *)
                SELECT {COLLECTION_COLUMNS}, 0::bigint AS document_count, 0::bigint AS chunk_count FROM c""",
            v["id"], v["org_id"], v["name"], v["description"], v["embedding_provider"], v["embedding_model"],
            v["dimensions"], v["splitter"], v["chunk_size"], v["chunk_overlap"], v["created_by"], v["created_at"],
            v["embedding_credential_id"], v["embedding_base_url"])

    async def collection(self, org_id: uuid.UUID, collection_id: uuid.UUID, *, lock: bool = False) -> Row | None:
        if lock:
            return await self._one(f"SELECT {COLLECTION_COLUMNS} FROM vectorstore.collections c "
                                   "WHERE c.org_id = $1 AND c.id = $2 FOR UPDATE", org_id, collection_id)
        return await self._one(f"SELECT {COLLECTION_COLUMNS}, {COUNTS} FROM vectorstore.collections c "
                               "WHERE c.org_id = $1 AND c.id = $2", org_id, collection_id)

    async def collections_page(self, org_id: uuid.UUID, after: tuple | None, limit: int) -> list[Row]:
        if after is None:
            return await self._many(f"SELECT {COLLECTION_COLUMNS}, {COUNTS} FROM vectorstore.collections c "
                                    "WHERE c.org_id = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT $2",
                                    org_id, limit)
        return await self._many(f"SELECT {COLLECTION_COLUMNS}, {COUNTS} FROM vectorstore.collections c "
                                "WHERE c.org_id = $1 AND (c.created_at, c.id) < ($2, $3) "
                                "ORDER BY c.created_at DESC, c.id DESC LIMIT $4", org_id, *after, limit)

    async def update_collection(self, org_id: uuid.UUID, collection_id: uuid.UUID, fields: dict) -> Row | None:
        """Sets fields and bumps the revision; None when the new name is taken."""
        names = list(fields)
        assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
        try:
            await self._run(f"UPDATE vectorstore.collections SET {assignments}, revision = revision + 1, "
                            "updated_at = now() WHERE org_id = $1 AND id = $2",
                            org_id, collection_id, *(fields[n] for n in names))
        except Exception as exc:  # asyncpg.UniqueViolationError, without importing the driver's errors here
            if getattr(exc, "sqlstate", "") == "23505":
                return None
            raise
        return await self.collection(org_id, collection_id)

    async def delete_collection(self, org_id: uuid.UUID, collection_id: uuid.UUID) -> bool:
        """Documents, chunks and evaluation runs go with it (foreign keys ON DELETE CASCADE)."""
        result = await self._run("DELETE FROM vectorstore.collections WHERE org_id = $1 AND id = $2",
                                 org_id, collection_id)
        return result.endswith(" 1")

    # --- documents ---------------------------------------------------------------------------------------
    async def insert_document(self, v: dict) -> Row:
        row = await self._one(
            f"INSERT INTO vectorstore.documents (id, org_id, collection_id, name, source_type, source, content_type, "
            "content, size_bytes, status, metadata, created_by, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10::jsonb, $11, now(), now()) "
            f"RETURNING {DOCUMENT_COLUMNS}",
            v["id"], v["org_id"], v["collection_id"], v["name"], v["source_type"], v["source"], v["content_type"],
            v["content"], len(v["content"] or b""), _json(v["metadata"]), v["created_by"])
        await self._run(f"NOTIFY {INGEST_CHANNEL}")
        return row

    async def document(self, org_id: uuid.UUID, collection_id: uuid.UUID, document_id: uuid.UUID) -> Row | None:
        return await self._one(f"SELECT {DOCUMENT_COLUMNS} FROM vectorstore.documents "
                               "WHERE org_id = $1 AND collection_id = $2 AND id = $3", org_id, collection_id,
                               document_id)

    async def documents_page(self, org_id: uuid.UUID, collection_id: uuid.UUID, status: str, after: tuple | None,
                             limit: int) -> list[Row]:
        clauses, args = ["org_id = $1", "collection_id = $2"], [org_id, collection_id]
        if status:
            args.append(status)
            clauses.append(f"status = ${len(args)}")
        if after:
            args.extend(after)
            clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        return await self._many(f"SELECT {DOCUMENT_COLUMNS} FROM vectorstore.documents WHERE {' AND '.join(clauses)} "
                                f"ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args)

    async def delete_document(self, org_id: uuid.UUID, collection_id: uuid.UUID, document_id: uuid.UUID) -> bool:
        result = await self._run("DELETE FROM vectorstore.documents WHERE org_id = $1 AND collection_id = $2 "
                                 "AND id = $3", org_id, collection_id, document_id)
        return result.endswith(" 1")

    async def requeue_documents(self, org_id: uuid.UUID, collection_id: uuid.UUID,
                                document_id: uuid.UUID | None = None) -> list[Row]:
        """Back to pending (a replica processing one loses its lease, so its stale result is dropped)."""
        rows = await self._many(
            "UPDATE vectorstore.documents SET status = 'pending', error = '', attempts = 0, lease_owner = NULL, "
            "lease_expires_at = NULL, updated_at = now() WHERE org_id = $1 AND collection_id = $2 "
            f"AND ($3::uuid IS NULL OR id = $3) RETURNING {DOCUMENT_COLUMNS}", org_id, collection_id, document_id)
        await self._run(f"NOTIFY {INGEST_CHANNEL}")
        return rows

    async def chunks_page(self, org_id: uuid.UUID, document_id: uuid.UUID, after: int, limit: int) -> list[Row]:
        return await self._many("SELECT id, document_id, position, content, metadata FROM vectorstore.chunks "
                                "WHERE org_id = $1 AND document_id = $2 AND position > $3 ORDER BY position LIMIT $4",
                                org_id, document_id, after, limit)

    # --- ingestion (for the replica) ---------------------------------------------------------------------
    async def claim_document(self, owner: str, lease_seconds: float, max_attempts: int) -> Row | None:
        """The oldest pending document, or a processing one whose replica went silent. SKIP LOCKED: replicas
        claim concurrently without waiting on each other. Documents out of attempts fail instead."""
        await self._run(
            "UPDATE vectorstore.documents SET status = 'failed', lease_owner = NULL, updated_at = now(), "
            "error = 'ingestion was interrupted ' || attempts || ' times (the service stopped while processing it)' "
            "WHERE status = 'processing' AND lease_expires_at < now() AND attempts >= $1", max_attempts)
        return await self._one(
            """WITH picked AS (
                   SELECT id FROM vectorstore.documents
                   WHERE status = 'pending' OR (status = 'processing' AND lease_expires_at < now())
                   ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
               UPDATE vectorstore.documents d SET status = 'processing', lease_owner = $1,
                   lease_expires_at = now() + make_interval(secs => $2), attempts = d.attempts + 1,
                   updated_at = now()
               FROM picked, vectorstore.collections c
               WHERE d.id = picked.id AND c.id = d.collection_id
               RETURNING d.id, d.org_id, d.collection_id, d.name, d.source, d.content_type, d.content, d.metadata,
                   c.embedding_provider, c.embedding_model, c.dimensions, c.embedding_credential_id,
                   c.embedding_base_url, c.splitter, c.chunk_size, c.chunk_overlap""",
            owner, lease_seconds)

    async def renew_leases(self, owner: str, document_ids: list[uuid.UUID], lease_seconds: float) -> None:
        await self._run("UPDATE vectorstore.documents SET lease_expires_at = now() + make_interval(secs => $3) "
                        "WHERE id = ANY($2) AND lease_owner = $1 AND status = 'processing'",
                        owner, document_ids, lease_seconds)

    async def complete_document(self, owner: str, document: Row, records: list[tuple], content_type: str,
                                size_bytes: int) -> bool:
        """Replaces the document's chunks and marks it completed, if this replica still holds its lease.
        Call in a transaction: readers see the old chunks or the new ones, never a mix. (Type and size are
        known only now for a fetched URL.)"""
        held = await self._one("SELECT id FROM vectorstore.documents WHERE id = $1 AND lease_owner = $2 "
                               "AND status = 'processing' FOR UPDATE", document.id, owner)
        if held is None:
            return False
        raw = await self._raw()
        await raw.execute("DELETE FROM vectorstore.chunks WHERE document_id = $1", document.id)
        if records:
            await raw.copy_records_to_table("chunks", schema_name="vectorstore", columns=CHUNK_COLUMNS,
                                            records=records)
        await raw.execute("UPDATE vectorstore.documents SET status = 'completed', error = '', chunk_count = $2, "
                          "content_type = $3, size_bytes = $4, lease_owner = NULL, lease_expires_at = NULL, "
                          "updated_at = now() WHERE id = $1", document.id, len(records), content_type, size_bytes)
        return True

    async def fail_document(self, owner: str, document_id: uuid.UUID, error: str) -> None:
        await self._run("UPDATE vectorstore.documents SET status = 'failed', error = $3, lease_owner = NULL, "
                        "lease_expires_at = NULL, updated_at = now() WHERE id = $1 AND lease_owner = $2 "
                        "AND status = 'processing'", document_id, owner, error[:2000])

    # --- search ------------------------------------------------------------------------------------------
    async def count_chunks(self, org_id: uuid.UUID, collection_id: uuid.UUID, dimensions: int,
                           metadata_filter: dict | None, cap: int) -> int:
        """How many chunks a search could return, counted up to `cap` (enough to choose the strategy)."""
        return await (await self._raw()).fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM vectorstore.chunks WHERE org_id = $1 AND collection_id = $2 "
            "AND dimensions = $3 AND ($4::jsonb IS NULL OR metadata @> $4::jsonb) LIMIT $5) s",
            org_id, collection_id, dimensions, _filter(metadata_filter), cap)

    async def nearest_exact(self, org_id: uuid.UUID, collection_id: uuid.UUID, query: np.ndarray,
                            metadata_filter: dict | None, limit: int) -> list[Row]:
        """Exact cosine distances over the collection's (filtered) chunks of the query's size (while a changed
        model re-embeds, older chunks have another): no index, every row is compared."""
        return await self._many(_named(
            f"SELECT {_HIT}, embedding <=> $3 AS distance FROM vectorstore.chunks ch "
            "WHERE ch.org_id = $1 AND ch.collection_id = $2 AND ch.dimensions = $5 "
            f"AND ($4::jsonb IS NULL OR ch.metadata @> $4::jsonb) ORDER BY embedding <=> $3 LIMIT {int(limit)}",
            "distance"), org_id, collection_id, query, _filter(metadata_filter), int(query.shape[0]))

    async def nearest_hnsw(self, org_id: uuid.UUID, collection_id: uuid.UUID, query: np.ndarray,
                           metadata_filter: dict | None, limit: int, candidates: int) -> list[Row]:
        """Approximate: the `candidates` nearest chunks from the collection's HNSW index, then the tenancy and
        metadata filters. One round trip: the first FROM item sets hnsw.ef_search for this statement's
        transaction before the LATERAL index scan reads it (pgvector reads it at the scan's first row).

        Literals, not parameters, for what the plan depends on: the partial index's predicate (a parameter
        cannot prove it) and the limits (with a parameter LIMIT a generic plan is costed as if it read a tenth
        of the table, so PostgreSQL planned every execution anew: 0.3-1.3 ms each). With literals the
        prepared statement settles on its generic plan. Without a metadata filter the index's order is final:
        only `limit` rows are fetched from it (the scan still explores `candidates`)."""
        predicate, size = _index_predicate(collection_id, int(query.shape[0]))
        fetched = int(candidates) if metadata_filter is not None else int(limit)
        return await self._many(_named(
            f"""SELECT nearest.* FROM (SELECT set_config('hnsw.ef_search', $5, true) AS ef) settings,
                LATERAL (
                    SELECT {_HIT}, ch.org_id, ch.collection_id, ch.embedding::vector({size}) <=> $3 AS distance
                    FROM vectorstore.chunks ch WHERE {predicate} AND settings.ef IS NOT NULL
                    ORDER BY ch.embedding::vector({size}) <=> $3 LIMIT {fetched}) nearest
                WHERE nearest.org_id = $1 AND nearest.collection_id = $2
                  AND ($4::jsonb IS NULL OR nearest.metadata @> $4::jsonb)
                ORDER BY nearest.distance LIMIT {int(limit)}""", "distance"),
            org_id, collection_id, query, _filter(metadata_filter), str(int(candidates)))

    # --- per-collection HNSW indexes ---------------------------------------------------------------------
    async def build_index(self, collection_id: uuid.UUID, dimensions: int, memory: str) -> bool:
        """Builds the collection's HNSW index (cosine, m=16, ef_construction=64) without blocking writes, on an
        autocommit connection; one replica at a time (advisory lock). False if another replica is at it."""
        name, raw = _index_name(collection_id), await self._raw()
        if not await raw.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name):
            return False
        try:
            valid = await raw.fetchval("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                       "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                       "WHERE n.nspname = 'vectorstore' AND c.relname = $1", name)
            if valid is False:  # a build that died half-way leaves an invalid index behind
                await raw.execute(f"DROP INDEX CONCURRENTLY IF EXISTS vectorstore.{name}")
            predicate, size = _index_predicate(collection_id, dimensions)
            await raw.execute("SELECT set_config('maintenance_work_mem', $1, false)", memory)
            await raw.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON vectorstore.chunks USING hnsw "
                              f"((embedding::vector({size})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
                              f"WHERE {predicate}")
            await raw.execute("RESET maintenance_work_mem")
            await raw.execute("ANALYZE vectorstore.chunks")
            await raw.execute("UPDATE vectorstore.collections SET hnsw_dimensions = $2 WHERE id = $1 "
                              "AND dimensions = $2", collection_id, dimensions)
            return True
        finally:
            await raw.execute("SELECT pg_advisory_unlock(hashtext($1))", name)

    async def drop_index(self, collection_id: uuid.UUID) -> None:
        """In the transaction that changes the collection's size or deletes it (a stale index's cast would
        refuse chunks of the new size)."""
        await self._run(f"DROP INDEX IF EXISTS vectorstore.{_index_name(collection_id)}")
        await self._run("UPDATE vectorstore.collections SET hnsw_dimensions = NULL WHERE id = $1", collection_id)

    async def needs_index(self, collection_id: uuid.UUID, min_chunks: int) -> int:
        """The collection's size if it has outgrown exact search, has no index, and nothing waits to be
        ingested (a changed model leaves chunks of two sizes until then); else 0."""
        return await (await self._raw()).fetchval(
            """SELECT c.dimensions FROM vectorstore.collections c
               WHERE c.id = $1 AND c.hnsw_dimensions IS NULL
                 AND NOT EXISTS (SELECT 1 FROM vectorstore.documents d WHERE d.collection_id = c.id
                                 AND d.status IN ('pending', 'processing'))
                 AND (SELECT coalesce(sum(chunk_count), 0) FROM vectorstore.documents d
                      WHERE d.collection_id = c.id) > $2""", collection_id, min_chunks) or 0

    async def keyword(self, org_id: uuid.UUID, collection_id: uuid.UUID, query: str, metadata_filter: dict | None,
                      limit: int) -> list[Row]:
        """Full-text match (English stemming, web-search syntax: quotes, or, -word), ranked by ts_rank_cd."""
        return await self._many(_named(
            f"SELECT {_HIT}, ts_rank_cd(ch.tsv, q) AS rank FROM vectorstore.chunks ch, "
            "websearch_to_tsquery('english', $3) q "
            "WHERE ch.org_id = $1 AND ch.collection_id = $2 AND ch.tsv @@ q "
            "AND ($4::jsonb IS NULL OR ch.metadata @> $4::jsonb) ORDER BY rank DESC, ch.id LIMIT $5",
            "rank DESC, id"), org_id, collection_id, query, _filter(metadata_filter), limit)

    # --- evaluation runs ---------------------------------------------------------------------------------
    async def insert_evaluation(self, v: dict) -> Row:
        return await self._one(
            f"INSERT INTO vectorstore.evaluation_runs (id, org_id, collection_id, query, response, source_chunk_ids, "
            "latency_ms, token_count, quality_score, execution_id, created_by, created_at) "
            f"VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, now()) RETURNING {_EVALUATION}",
            v["id"], v["org_id"], v["collection_id"], v["query"], v["response"], _json(v["source_chunk_ids"]),
            v["latency_ms"], v["token_count"], v["quality_score"], v["execution_id"], v["created_by"])

    async def evaluations_page(self, org_id: uuid.UUID, collection_id: uuid.UUID, after: tuple | None,
                               limit: int) -> list[Row]:
        args: list = [org_id, collection_id, limit]
        keyset = ""
        if after:
            args.extend(after)
            keyset = "AND (created_at, id) < ($4, $5)"
        return await self._many(f"SELECT {_EVALUATION} FROM vectorstore.evaluation_runs WHERE org_id = $1 "
                                f"AND collection_id = $2 {keyset} ORDER BY created_at DESC, id DESC LIMIT $3", *args)

    async def set_feedback(self, org_id: uuid.UUID, collection_id: uuid.UUID, evaluation_id: uuid.UUID,
                           feedback: int) -> Row | None:
        return await self._one(f"UPDATE vectorstore.evaluation_runs SET feedback = $4 WHERE org_id = $1 "
                               f"AND collection_id = $2 AND id = $3 RETURNING {_EVALUATION}",
                               org_id, collection_id, evaluation_id, feedback)

    async def evaluation_summary(self, org_id: uuid.UUID, collection_id: uuid.UUID) -> Row:
        return await self._one(
            "SELECT count(*) AS run_count, coalesce(avg(latency_ms), 0) AS average_latency_ms, "
            "coalesce(avg(quality_score), 0) AS average_quality_score, "
            "coalesce(avg(token_count), 0) AS average_token_count, "
            "count(*) FILTER (WHERE feedback > 0) AS thumbs_up, count(*) FILTER (WHERE feedback < 0) AS thumbs_down "
            "FROM vectorstore.evaluation_runs WHERE org_id = $1 AND collection_id = $2", org_id, collection_id)


_HIT = "ch.id, ch.document_id, ch.position, ch.content, ch.metadata"


def _named(sql: str, order: str) -> str:
    """The hits of `sql` with their document's name, looked up for the returned rows only (in the select list
    of the ranking query it would run for every row compared)."""
    return (f"SELECT hit.*, (SELECT d.name FROM vectorstore.documents d WHERE d.id = hit.document_id) "
            f"AS document_name FROM ({sql}) hit ORDER BY {order}")
_EVALUATION = ("id, collection_id, query, response, source_chunk_ids, latency_ms, token_count, quality_score, feedback, "
               "execution_id, created_at")


class Database(BaseDatabase[Repository]):
    def __init__(self, engine):
        super().__init__(engine, Repository)


def chunk_record(org_id: uuid.UUID, collection_id: uuid.UUID, document_id: uuid.UUID, position: int, text: str,
                 metadata: dict, embedding: np.ndarray) -> tuple:
    """One COPY record in CHUNK_COLUMNS order."""
    return (uuid.uuid4(), org_id, collection_id, document_id, position, text, _json(metadata), embedding.shape[0],
            embedding)
