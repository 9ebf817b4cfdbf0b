"""Threads (conversations) and their messages, per organization. Runs with a thread_id add their turn."""

import json
import uuid
from datetime import UTC, datetime

from services.common.caller import Caller
from services.common.errors import InvalidArgument, NotFound
from services.common.pagination import decode_cursor, encode_cursor, keyset_page, page_size
from services.common.validation import parse_id
from services.executor.repository import Database

MAX_METADATA_BYTES = 16 * 1024


class Threads:
    def __init__(self, db: Database):
        self.db = db

    async def create(self, caller: Caller, metadata: dict):
        caller.require_role("member")
        if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
            raise InvalidArgument("thread.metadata", f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
        async with self.db.reading() as repo:
            return await repo.insert_thread({"id": uuid.uuid4(), "org_id": uuid.UUID(caller.org_id),
                                             "metadata": metadata, "created_by": caller.subject,
                                             "created_at": datetime.now(UTC)})

    async def get(self, caller: Caller, thread_id: str):
        async with self.db.reading() as repo:
            row = await repo.thread(uuid.UUID(caller.org_id), parse_id(thread_id))
        if row is None:
            raise NotFound("thread", thread_id)
        return row

    async def list(self, caller: Caller, size: int, token: str):
        async with self.db.reading() as repo:
            return await keyset_page(
                lambda after, limit: repo.threads_page(uuid.UUID(caller.org_id), after=after, limit=limit), size, token)

    async def delete(self, caller: Caller, thread_id: str) -> None:
        caller.require_role("member")
        async with self.db.reading() as repo:
            if not await repo.delete_thread(uuid.UUID(caller.org_id), parse_id(thread_id)):
                raise NotFound("thread", thread_id)

    async def messages(self, caller: Caller, thread_id: str, size: int, token: str):
        thread = await self.get(caller, thread_id)
        limit = page_size(size)
        cursor = decode_cursor(token)
        after = 0
        if cursor is not None:
            after = cursor.get("after")
            if not isinstance(after, int):
                raise InvalidArgument("page_token", "not a page token returned by this API")
        async with self.db.reading() as repo:
            rows = await repo.messages_page(thread.org_id, thread.id, after=after, limit=limit + 1)
        if len(rows) > limit:
            rows = rows[:limit]
            return rows, encode_cursor({"after": rows[-1].id})
        return rows, ""
