"""Collections (knowledge bases): their embedding model and chunking settings, per organization.

Roles: viewers read and search; members create, change and delete. Changing the embedding model or the
chunking re-ingests every document, so a collection's chunks and its queries always share one model.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.common.caller import Caller
from services.common.errors import Aborted, AlreadyExists, InvalidArgument, NotFound
from services.common.pagination import keyset_page
from services.common.validation import parse_etag, parse_id, require_text
from services.vectorstore.chunking import Chunking
from services.vectorstore.embeddings import BUILTIN, BUILTIN_MODEL, DEFAULT_DIMENSIONS, Embedders
from services.vectorstore.repository import Database

UPDATABLE = ("name", "description", "embedding", "chunking")
# Another key (the credential) gives the same vectors; another endpoint may serve another model under the name.
REINGEST_FIELDS = ("embedding_provider", "embedding_model", "dimensions", "embedding_base_url", "splitter",
                   "chunk_size", "chunk_overlap")
MAX_DESCRIPTION = 2000


class Collections:
    def __init__(self, db: Database, embedders: Embedders):
        self.db, self.embedders = db, embedders

    async def settings_of(self, org_id: uuid.UUID, embedding: dict, chunking: dict) -> dict:
        """Checked column values of an embedding and a chunking config (defaults filled in)."""
        provider = embedding.get("provider") or BUILTIN
        model = embedding.get("model") or (BUILTIN_MODEL if provider == BUILTIN else "")
        dimensions = embedding.get("dimensions") or DEFAULT_DIMENSIONS
        credential_id, base_url = embedding.get("credential_id") or "", embedding.get("base_url") or ""
        await self.embedders.check(provider, model, dimensions, credential_id=credential_id, base_url=base_url)
        endpoint = await self.embedders.endpoint_of(org_id, credential_id, base_url)
        size = chunking.get("chunk_size") or Chunking.chunk_size
        # Proto3 cannot tell an unset overlap from 0: 0 means the default, a fifth of the size up to 200.
        spec = Chunking(chunking.get("splitter") or Chunking.splitter, size,
                        chunking.get("chunk_overlap") or min(Chunking.chunk_overlap, size // 5))
        spec.check()
        return {"embedding_provider": provider, "embedding_model": model, "dimensions": dimensions,
                "embedding_credential_id": endpoint.credential_id, "embedding_base_url": endpoint.base_url,
                "splitter": spec.splitter, "chunk_size": spec.chunk_size, "chunk_overlap": spec.chunk_overlap}

    async def embedding_models(self, caller: Caller) -> tuple[list[tuple[str, str, int]], bool]:
        """What a new collection may embed with (any member of an organization may ask)."""
        return await self.embedders.models()

    async def create(self, caller: Caller, name: str, description: str, embedding: dict, chunking: dict):
        caller.require_role("member")
        org = uuid.UUID(caller.org_id)
        values = {"id": uuid.uuid4(), "org_id": org, "name": require_text(name, "collection.name"),
                  "description": _description(description), **await self.settings_of(org, embedding, chunking),
                  "created_by": caller.subject, "created_at": datetime.now(UTC)}
        async with self.db.reading() as repo:
            row = await repo.insert_collection(values)
        if row is None:
            raise AlreadyExists(f"a collection named {values['name']!r} already exists in this organization")
        return row

    async def get(self, caller: Caller, collection_id: str, field: str = "id"):
        async with self.db.reading() as repo:
            return await self.get_in(repo, caller, collection_id, field)

    @staticmethod
    async def get_in(repo, caller: Caller, collection_id: str, field: str = "id"):
        """The caller's collection, read on `repo`'s connection (a search reuses it for its own statements)."""
        row = await repo.collection(uuid.UUID(caller.org_id), parse_id(collection_id, field))
        if row is None:
            raise NotFound("collection", collection_id)
        return row

    async def list(self, caller: Caller, size: int, token: str):
        org = uuid.UUID(caller.org_id)
        async with self.db.reading() as repo:
            return await keyset_page(lambda after, limit: repo.collections_page(org, after, limit), size, token)

    async def update(self, caller: Caller, collection_id: str, fields: dict, paths: list[str], etag: str):
        """`fields` holds name, description, embedding (dict), chunking (dict); `paths` says which to set."""
        caller.require_role("member")
        unknown = [p for p in paths if p.split(".")[0] not in UPDATABLE]
        if unknown:
            raise InvalidArgument("update_mask", f"cannot update {', '.join(unknown)}; updatable: {', '.join(UPDATABLE)}")
        org, cid = uuid.UUID(caller.org_id), parse_id(collection_id, "collection.id")
        async with self.db.transaction() as repo:
            row = await _locked(repo, org, cid, collection_id, etag, "collection.etag")
            changes: dict = {}
            if "name" in paths:
                changes["name"] = require_text(fields["name"], "collection.name")
            if "description" in paths:
                changes["description"] = _description(fields["description"])
            sections = {p.split(".")[0] for p in paths}
            if "embedding" in sections or "chunking" in sections:
                current = {"provider": row.embedding_provider, "model": row.embedding_model,
                           "dimensions": row.dimensions, "credential_id": str(row.embedding_credential_id or ""),
                           "base_url": row.embedding_base_url}
                chunking = {"splitter": row.splitter, "chunk_size": row.chunk_size, "chunk_overlap": row.chunk_overlap}
                # Fields left empty keep their current value (PATCH semantics inside the nested configs), unless
                # the mask names them (embedding.credential_id: back to the operator's key).
                named = {p.split(".", 1)[1] for p in paths if p.startswith("embedding.")}
                embedding = {**current, **{k: v for k, v in fields["embedding"].items() if v or k in named}}
                if "embedding" in sections and fields["embedding"]["provider"] not in ("", row.embedding_provider):
                    # another provider: its own default model and endpoint, not the old ones
                    for key in ("model", "credential_id", "base_url"):
                        embedding[key] = fields["embedding"][key]
                chunking.update({k: v for k, v in fields["chunking"].items() if v})
                settings = await self.settings_of(org, embedding, chunking)
                changes.update({k: v for k, v in settings.items() if row[k] != v})
            if not changes:
                return await repo.collection(org, cid)
            updated = await repo.update_collection(org, cid, changes)
            if updated is None:
                raise AlreadyExists(f"a collection named {changes.get('name')!r} already exists in this organization")
            if any(k in changes for k in REINGEST_FIELDS):
                if "dimensions" in changes:
                    await repo.drop_index(cid)
                await repo.requeue_documents(org, cid)
            return updated

    async def delete(self, caller: Caller, collection_id: str, etag: str) -> None:
        caller.require_role("member")
        org, cid = uuid.UUID(caller.org_id), parse_id(collection_id)
        async with self.db.transaction() as repo:
            await _locked(repo, org, cid, collection_id, etag, "etag")
            await repo.drop_index(cid)
            await repo.delete_collection(org, cid)


async def _locked(repo, org: uuid.UUID, cid: uuid.UUID, collection_id: str, etag: str, field: str):
    """The collection, locked for a change, if the caller's etag (when given) is still current."""
    row = await repo.collection(org, cid, lock=True)
    if row is None:
        raise NotFound("collection", collection_id)
    expected = parse_etag(etag, field)
    if expected is not None and expected != row.revision:
        raise Aborted("the collection changed since you read it (etag mismatch); read it again and retry")
    return row


def _description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise InvalidArgument("collection.description", f"must be at most {MAX_DESCRIPTION} characters")
    return value
