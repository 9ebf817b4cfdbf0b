"""Vector search against the database directly: HNSW agrees with exact search, and a selective filter still
returns top_k although pgvector 0.6 cannot continue an index scan (the search falls back to exact)."""

import time
import uuid

import numpy as np
import pytest

from services.common.caller import Caller
from services.common.db import make_engine
from services.common.errors import NotFound
from services.vectorstore.collections import Collections
from services.vectorstore.embeddings import Embedders
from services.vectorstore.repository import Database, chunk_record, register_vector
from services.vectorstore.search import Search

DIMENSIONS = 64


@pytest.fixture(scope="module")
async def db(migrated_database):
    from sqlalchemy import event

    engine = make_engine(migrated_database)
    event.listen(engine.sync_engine, "connect", lambda conn, _: conn.run_async(register_vector))
    yield Database(engine)
    await engine.dispose()


async def fill(db: Database, org: uuid.UUID, vectors: np.ndarray, metadata=lambda i: {}) -> tuple[Caller, object]:
    """A collection of `vectors` (one document), written with COPY like ingestion does, and its HNSW index."""
    caller = Caller(subject=str(uuid.uuid4()), org_id=str(org), role="member")
    collections = Collections(db, Embedders("", "", 1))
    collection = await collections.create(caller, f"random-{uuid.uuid4().hex[:6]}", "", {"dimensions": DIMENSIONS},
                                          {})
    async with db.transaction() as repo:
        document = await repo.insert_document({
            "id": uuid.uuid4(), "org_id": org, "collection_id": collection.id, "name": "random",
            "source_type": "text", "source": "", "content_type": "text/plain", "content": b"x", "metadata": {},
            "created_by": caller.subject})
        raw = await repo._raw()
        await raw.copy_records_to_table("chunks", schema_name="vectorstore", columns=(
            "id", "org_id", "collection_id", "document_id", "position", "content", "metadata", "dimensions",
            "embedding"), records=[chunk_record(org, collection.id, document.id, i, f"chunk {i}", metadata(i), v)
                                   for i, v in enumerate(vectors)])
        await raw.execute("UPDATE vectorstore.documents SET status = 'completed', chunk_count = $2 WHERE id = $1",
                          document.id, len(vectors))
    async with db.reading() as repo:
        assert await repo.needs_index(collection.id, 100) == DIMENSIONS
        assert await repo.build_index(collection.id, DIMENSIONS, "256MB")
        assert await repo.needs_index(collection.id, 100) == 0
    return caller, await collections.get(caller, str(collection.id))


def explain(repo, plans: list) -> None:
    """Record the plan of every query the repository runs (to see the HNSW index is scanned)."""
    original = repo._many

    async def many(sql, *args):
        plans.extend(r["QUERY PLAN"] for r in await original("EXPLAIN " + sql, *args))
        return await original(sql, *args)

    repo._many = many


def unit(rows: int, seed: int, clusters: int = 0) -> np.ndarray:
    """Random unit vectors; with `clusters`, scattered around that many random centres, as embeddings of real
    text are (uniform random vectors are HNSW's worst case: every point is almost equally far)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows, DIMENSIONS)).astype(np.float32)
    if clusters:
        centres = rng.standard_normal((clusters, DIMENSIONS)).astype(np.float32)
        vectors = centres[rng.integers(0, clusters, rows)] + 0.35 * vectors
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def test_hnsw_agrees_with_exact_search_on_20k_random_vectors(db):
    org = uuid.uuid4()
    started = time.perf_counter()
    vectors = unit(20_020, 1, clusters=200)
    _, collection = await fill(db, org, vectors[:20_000])
    print(f"20k x {DIMENSIONS} inserted and indexed in {time.perf_counter() - started:.1f} s")
    hits, plans = 0, []
    queries = vectors[20_000:]  # held out: not in the collection
    for query in queries:
        async with db.reading() as repo:
            explain(repo, plans)
            approximate = await repo.nearest_hnsw(org, collection.id, query, None, 10, 100)
        async with db.reading() as repo:
            exact = await repo.nearest_exact(org, collection.id, query, None, 10)
        hits += len({r.id for r in approximate} & {r.id for r in exact})
    recall = hits / (10 * len(queries))
    assert f"Index Scan using chunks_hnsw_{collection.id.hex}" in "\n".join(plans)
    print(f"recall@10 = {recall:.3f}")
    assert recall >= 0.95


async def test_hnsw_scan_is_used_and_a_selective_filter_still_returns_top_k(db):
    org = uuid.uuid4()
    vectors = unit(3000, 3)
    caller, collection = await fill(db, org, vectors, metadata=lambda i: {"rare": i % 100 == 0, "i": i})
    search = Search(db, Collections(db, Embedders("", "", 1)), Embedders("", "", 1), 40, 500)

    class Fixed:  # the query vector, as the collection's embedder would return it
        dimensions, instant = DIMENSIONS, True

        async def embed(self, texts):
            return vectors[7:8]

    search.embedders.embedder_for = lambda *args: Fixed()
    plain, strategy = await search.search(caller, str(collection.id), "q", "vector", 5, 0.0, None, 0)
    assert strategy == "hnsw" and plain[0][0].position == 7 and len(plain) == 5
    # 30 of 3000 chunks match: 40 HNSW candidates hold ~0-2 of them; the search notices and goes exact.
    rare, strategy = await search.search(caller, str(collection.id), "q", "vector", 5, 0.0, {"rare": True}, 0)
    assert strategy == "exact" and len(rare) == 5
    expected = sorted((i for i in range(0, 3000, 100)), key=lambda i: -float(vectors[i] @ vectors[7]))[:5]
    assert [row.position for row, _ in rare] == expected
    assert all(row.metadata["rare"] is True for row, _ in rare)
    # Another organization's caller sees nothing of it.
    stranger = Caller(subject="x", org_id=str(uuid.uuid4()), role="member")
    with pytest.raises(NotFound):
        await search.search(stranger, str(collection.id), "q", "vector", 5, 0.0, None, 0)
