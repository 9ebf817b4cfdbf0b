"""Documents of a collection: added from text, a file (streamed upload) or a URL, then ingested in the
background (see ingestion.py). Nothing is stored for an upload that does not arrive whole within the limit.

Roles: viewers read; members add, re-ingest and delete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.common import outbound
from services.common.caller import Caller
from services.common.errors import InvalidArgument, NotFound
from services.common.pagination import decode_cursor, encode_cursor, keyset_page, page_size
from services.common.validation import parse_id
from services.vectorstore import parsing
from services.vectorstore.collections import Collections
from services.vectorstore.repository import Database

MAX_METADATA_BYTES = 16 * 1024
MAX_NAME = 500
STATUSES = ("pending", "processing", "completed", "failed")


@dataclass(frozen=True)
class UploadHeader:
    collection_id: str
    name: str
    content_type: str
    metadata: dict
    filename: str = ""


class Documents:
    def __init__(self, db: Database, collections: Collections, max_upload_bytes: int, outbound_policy: outbound.Policy):
        self.db, self.collections = db, collections
        self.max_upload_bytes, self.outbound_policy = max_upload_bytes, outbound_policy

    async def _add(self, caller: Caller, collection_id: str, *, name: str, source_type: str, source: str,
                   content_type: str, content: bytes | None, metadata: dict):
        caller.require_role("member")
        collection = await self.collections.get(caller, collection_id, "collection_id")
        _check_metadata(metadata)
        if len(name) > MAX_NAME:
            raise InvalidArgument("name", f"must be at most {MAX_NAME} characters")
        async with self.db.reading() as repo:
            return await repo.insert_document({
                "id": uuid.uuid4(), "org_id": collection.org_id, "collection_id": collection.id, "name": name,
                "source_type": source_type, "source": source, "content_type": content_type, "content": content,
                "metadata": metadata, "created_by": caller.subject})

    async def create_from_text(self, caller: Caller, collection_id: str, name: str, text: str, content_type: str,
                               metadata: dict):
        kind = parsing.content_type_of(content_type or parsing.TEXT, "")
        if not kind or kind == parsing.PDF:
            raise InvalidArgument("content_type", "must be text/plain, text/markdown, text/html, text/csv or "
                                                  "application/json")
        data = text.encode()
        if not text.strip():
            raise InvalidArgument("text", "is required")
        if len(data) > self.max_upload_bytes:
            raise InvalidArgument("text", f"is larger than the {self.max_upload_bytes}-byte limit")
        return await self._add(caller, collection_id, name=name or "text", source_type="text", source="",
                               content_type=kind, content=data, metadata=metadata)

    async def import_url(self, caller: Caller, collection_id: str, url: str, name: str, metadata: dict):
        """Checked now (scheme and address: a refusal is an immediate INVALID_ARGUMENT); fetched by ingestion,
        which checks again, so the page is read on whichever replica ingests it."""
        url = url.strip()
        if len(url) > 2000:
            raise InvalidArgument("url", "must be at most 2000 characters")
        try:
            await outbound.check(url, self.outbound_policy)
        except (outbound.OutboundRefused, outbound.OutboundError) as exc:
            raise InvalidArgument("url", str(exc)) from None
        return await self._add(caller, collection_id, name=name or url, source_type="url", source=url,
                               content_type="", content=None, metadata=metadata)

    async def upload(self, caller: Caller, header: UploadHeader, chunks: AsyncIterator[bytes]):
        """The whole file is received (up to the limit) before anything is written."""
        filename = header.filename.strip() or header.name.strip()
        name = header.name.strip() or filename
        if not name:
            raise InvalidArgument("header.filename", "is required (the file's name)")
        kind = parsing.content_type_of(header.content_type, filename)
        if not kind:
            declared = header.content_type or "no type"
            raise InvalidArgument("header.content_type", f"cannot read {filename!r} ({declared}); supported: "
                                                         f"{', '.join(parsing.CONTENT_TYPES)}")
        await self.collections.get(caller, header.collection_id, "header.collection_id")  # 404 before the bytes
        data = bytearray()
        async for piece in chunks:
            data += piece
            if len(data) > self.max_upload_bytes:
                raise InvalidArgument("data", f"the file is larger than the upload limit of {self.max_upload_bytes} "
                                              "bytes; nothing was stored")
        if not data:
            raise InvalidArgument("data", "the file is empty")
        return await self._add(caller, header.collection_id, name=name, source_type="upload", source=filename,
                               content_type=kind, content=bytes(data), metadata=header.metadata)

    async def get(self, caller: Caller, collection_id: str, document_id: str):
        async with self.db.reading() as repo:
            row = await repo.document(uuid.UUID(caller.org_id), parse_id(collection_id, "collection_id"),
                                      parse_id(document_id))
        if row is None:
            raise NotFound("document", document_id)
        return row

    async def list(self, caller: Caller, collection_id: str, status: str, size: int, token: str):
        collection = await self.collections.get(caller, collection_id, "collection_id")
        async with self.db.reading() as repo:
            return await keyset_page(
                lambda after, limit: repo.documents_page(collection.org_id, collection.id, status, after, limit),
                size, token)

    async def delete(self, caller: Caller, collection_id: str, document_id: str) -> None:
        caller.require_role("member")
        async with self.db.reading() as repo:
            if not await repo.delete_document(uuid.UUID(caller.org_id), parse_id(collection_id, "collection_id"),
                                              parse_id(document_id)):
                raise NotFound("document", document_id)

    async def reingest(self, caller: Caller, collection_id: str, document_id: str):
        caller.require_role("member")
        async with self.db.reading() as repo:
            rows = await repo.requeue_documents(uuid.UUID(caller.org_id), parse_id(collection_id, "collection_id"),
                                                parse_id(document_id))
        if not rows:
            raise NotFound("document", document_id)
        return rows[0]

    async def chunks(self, caller: Caller, collection_id: str, document_id: str, size: int, token: str):
        document = await self.get(caller, collection_id, document_id)
        limit = page_size(size)
        cursor = decode_cursor(token)
        after = -1 if cursor is None else cursor.get("after")
        if not isinstance(after, int):
            raise InvalidArgument("page_token", "not a page token returned by this API")
        async with self.db.reading() as repo:
            rows = await repo.chunks_page(document.org_id, document.id, after, limit + 1)
        if len(rows) > limit:
            rows = rows[:limit]
            return rows, encode_cursor({"after": rows[-1].position})
        return rows, ""


def _check_metadata(metadata: dict) -> None:
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise InvalidArgument("metadata", f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
