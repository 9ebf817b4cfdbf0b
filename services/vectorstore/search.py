"""Search a collection: by vector (cosine), by keyword (PostgreSQL full text), or both fused with reciprocal
rank fusion. Always within the caller's organization and the named collection.

Each collection past `exact_search_max_chunks` has its own HNSW index (a partial index: no other
collection's chunks crowd its candidates). Smaller collections, and filtered sets that small, are searched
exactly (as fast as the index at that size, and exact). pgvector 0.6 (the embedded default) has no iterative
index scans: an HNSW scan yields at most ef_search candidates and filters apply after it, so the index is
asked for an over-fetched candidate list, and if the filter leaves fewer than top_k of the rows that match,
the search is repeated exactly.
"""

import uuid

from services.common.caller import Caller
from services.common.errors import InvalidArgument
from services.vectorstore.collections import Collections
from services.vectorstore.embeddings import Embedders, Endpoint
from services.vectorstore.repository import Database

MODES = ("vector", "keyword", "hybrid")
MAX_TOP_K, MAX_EF_SEARCH, MAX_QUERY = 100, 1000, 10_000
RRF_K = 60  # the constant of Cormack et al.; damps the weight of the very first ranks
FUSION_DEPTH = 4  # each side of a hybrid search contributes top_k * FUSION_DEPTH candidates


class Search:
    def __init__(self, db: Database, collections: Collections, embedders: Embedders, default_ef_search: int,
                 exact_max_chunks: int):
        self.db, self.collections, self.embedders = db, collections, embedders
        self.default_ef_search, self.exact_max_chunks = default_ef_search, exact_max_chunks

    async def search(self, caller: Caller, collection_id: str, query: str, mode: str, top_k: int, min_score: float,
                     metadata_filter: dict | None, ef_search: int) -> tuple[list[tuple], str]:
        """([(row, score)] best first, strategy of the vector part: 'hnsw', 'exact' or '')."""
        if not query.strip():
            raise InvalidArgument("query", "is required")
        if len(query) > MAX_QUERY:
            raise InvalidArgument("query", f"must be at most {MAX_QUERY} characters")
        top_k = top_k or 5
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidArgument("top_k", f"must be between 1 and {MAX_TOP_K}")
        if ef_search and not 1 <= ef_search <= MAX_EF_SEARCH:
            raise InvalidArgument("ef_search", f"must be between 1 and {MAX_EF_SEARCH}")
        async with self.db.reading() as repo:
            collection = await self.collections.get_in(repo, caller, collection_id, "collection_id")
            if mode == "keyword":
                rows = await repo.keyword(collection.org_id, collection.id, query, metadata_filter, top_k)
                return _above([(r, r.rank) for r in rows], min_score), ""
            embedder = self.embedders.embedder_for(collection.embedding_provider, collection.embedding_model,
                                                   collection.dimensions, Endpoint.of(collection))
            if embedder.instant:  # microseconds of CPU: one connection serves the whole search
                vector = (await embedder.embed([query]))[0]
                return await self._ranked(repo, collection, query, vector, mode, top_k, min_score, metadata_filter,
                                          ef_search)
        # A model server may take a while to answer: no connection is held meanwhile.
        vector = (await embedder.embed([query]))[0]
        async with self.db.reading() as repo:
            return await self._ranked(repo, collection, query, vector, mode, top_k, min_score, metadata_filter,
                                      ef_search)

    async def _ranked(self, repo, collection, query: str, vector, mode: str, top_k: int, min_score: float,
                      metadata_filter: dict | None, ef_search: int) -> tuple[list[tuple], str]:
        depth = top_k if mode == "vector" else top_k * FUSION_DEPTH
        rows, strategy = await self._nearest(repo, collection, vector, metadata_filter, depth,
                                             ef_search or self.default_ef_search)
        if mode == "vector":
            return _above([(r, 1.0 - r.distance) for r in rows], min_score), strategy
        keyword = await repo.keyword(collection.org_id, collection.id, query, metadata_filter, depth)
        return _above(fuse([rows, keyword])[:top_k], min_score), strategy

    async def _nearest(self, repo, collection, vector, metadata_filter: dict | None, limit: int, ef_search: int):
        org, cid = collection.org_id, collection.id
        indexed = collection.hnsw_dimensions == collection.dimensions
        available = collection.chunk_count
        if indexed and metadata_filter is not None:
            available = await repo.count_chunks(org, cid, collection.dimensions, metadata_filter,
                                                self.exact_max_chunks + 1)
        if not indexed or available <= self.exact_max_chunks:
            return await repo.nearest_exact(org, cid, vector, metadata_filter, limit), "exact"
        # HNSW returns at most ef_search rows: ask for enough candidates to survive the filters.
        candidates = min(MAX_EF_SEARCH, max(ef_search, limit * 4))
        rows = await repo.nearest_hnsw(org, cid, vector, metadata_filter, limit, candidates)
        if len(rows) >= min(limit, available):
            return rows, "hnsw"
        return await repo.nearest_exact(org, cid, vector, metadata_filter, limit), "exact"


def _above(scored: list[tuple], min_score: float) -> list[tuple]:
    """0 is no threshold (proto3 cannot tell it from unset); cosine similarity itself may be negative."""
    return [pair for pair in scored if pair[1] >= min_score] if min_score else scored


def fuse(rankings: list[list]) -> list[tuple]:
    """Reciprocal rank fusion: each list adds 1 / (RRF_K + rank) to a chunk's score."""
    scores: dict[uuid.UUID, float] = {}
    rows: dict[uuid.UUID, object] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            scores[row.id] = scores.get(row.id, 0.0) + 1.0 / (RRF_K + rank)
            rows.setdefault(row.id, row)
    return sorted(((rows[i], s) for i, s in scores.items()), key=lambda pair: -pair[1])
