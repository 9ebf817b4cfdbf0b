"""Evaluation runs of a collection: question, answer, sources, latency, tokens, quality, user feedback.

Members record runs (the executor's RAG runs record one each) and give feedback; viewers read.
"""

from __future__ import annotations

import math
import uuid

from services.common.caller import Caller
from services.common.errors import InvalidArgument, NotFound
from services.common.pagination import keyset_page
from services.common.validation import parse_id
from services.vectorstore.collections import Collections
from services.vectorstore.repository import Database

MAX_TEXT, MAX_SOURCES = 100_000, 100


class Evaluations:
    def __init__(self, db: Database, collections: Collections):
        self.db, self.collections = db, collections

    async def record(self, caller: Caller, collection_id: str, run: dict):
        caller.require_role("member")
        collection = await self.collections.get(caller, collection_id, "collection_id")
        if not run["query"].strip():
            raise InvalidArgument("evaluation.query", "is required")
        for field in ("query", "response"):
            if len(run[field]) > MAX_TEXT:
                raise InvalidArgument(f"evaluation.{field}", f"must be at most {MAX_TEXT} characters")
        if len(run["source_chunk_ids"]) > MAX_SOURCES:
            raise InvalidArgument("evaluation.source_chunk_ids", f"at most {MAX_SOURCES}")
        if not (math.isfinite(run["latency_ms"]) and run["latency_ms"] >= 0):
            raise InvalidArgument("evaluation.latency_ms", "must be a finite number, at least 0")
        if run["token_count"] < 0:
            raise InvalidArgument("evaluation.token_count", "must be at least 0")
        if not (math.isfinite(run["quality_score"]) and 0 <= run["quality_score"] <= 1):
            raise InvalidArgument("evaluation.quality_score", "must be between 0 and 1")
        async with self.db.reading() as repo:
            return await repo.insert_evaluation({**run, "id": uuid.uuid4(), "org_id": collection.org_id,
                                                 "collection_id": collection.id, "created_by": caller.subject,
                                                 "quality_score": run["quality_score"] or None})

    async def list(self, caller: Caller, collection_id: str, size: int, token: str):
        collection = await self.collections.get(caller, collection_id, "collection_id")
        async with self.db.reading() as repo:
            return await keyset_page(
                lambda after, limit: repo.evaluations_page(collection.org_id, collection.id, after, limit), size, token)

    async def feedback(self, caller: Caller, collection_id: str, evaluation_id: str, value: int):
        caller.require_role("member")
        if value not in (-1, 0, 1):
            raise InvalidArgument("feedback", "must be -1 (thumbs down), 0 (none) or 1 (thumbs up)")
        async with self.db.reading() as repo:
            row = await repo.set_feedback(uuid.UUID(caller.org_id), parse_id(collection_id, "collection_id"),
                                          parse_id(evaluation_id), value)
        if row is None:
            raise NotFound("evaluation run", evaluation_id)
        return row

    async def summary(self, caller: Caller, collection_id: str):
        collection = await self.collections.get(caller, collection_id, "collection_id")
        async with self.db.reading() as repo:
            return await repo.evaluation_summary(collection.org_id, collection.id)
