"""Background ingestion: parse, split, embed and store the chunks of pending documents, on any replica.

The documents table is the queue. A replica claims the oldest pending document (FOR UPDATE SKIP LOCKED), or a
processing one whose lease expired (its replica died), so ingestion survives restarts and crashes. NOTIFY
`vectorstore_ingest` wakes idle replicas; a slow poll covers a missed one. The lease is renewed while a
document is processed; the result is stored only if this replica still holds it (a re-ingest or an expiry
in between drops the stale result), with the old chunks replaced in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import httpx

from services.common import outbound
from services.common.errors import DomainError
from services.common.listener import Listener
from services.vectorstore import parsing
from services.vectorstore.chunking import Chunking, split
from services.vectorstore.embeddings import Embedders, Endpoint
from services.vectorstore.repository import INGEST_CHANNEL, Database, chunk_record
from services.vectorstore.settings import VectorstoreSettings

log = logging.getLogger(__name__)
USER_AGENT = "agentic-platform-vectorstore/0.1 (document import)"
FETCH_SECONDS = 30.0


class IngestionFailed(Exception):
    """The document cannot be ingested as it is; the message says why (stored as the document's error)."""


def replica_name(configured: str) -> str:
    return configured or f"{socket.gethostname()}:{os.getpid()}"


class Ingestor:
    def __init__(self, db: Database, embedders: Embedders, settings: VectorstoreSettings, dsn: str,
                 outbound_policy: outbound.Policy):
        self.db, self.embedders, self.settings, self.dsn = db, embedders, settings, dsn
        self.outbound_policy = outbound_policy  # where URL imports may connect
        self.name = replica_name(settings.replica_id)
        self.in_progress: set = set()
        self._building: dict = {}  # collection id -> task building its index
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._listener = Listener(dsn, (INGEST_CHANNEL,), lambda *_: self._wake.set(), self._wake.set)

    def start(self) -> None:
        if self.settings.ingest_workers <= 0:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listener.run()), loop.create_task(self._heartbeat()),
                       *(loop.create_task(self._work()) for _ in range(self.settings.ingest_workers))]

    async def stop(self) -> None:
        """Stops at once. Documents in progress keep their lease until it expires, then any replica retries them."""
        tasks = [*self._tasks, *self._building.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._listener.close()

    # --- loops -------------------------------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            if self.in_progress:
                try:
                    async with self.db.reading() as repo:
                        await repo.renew_leases(self.name, list(self.in_progress), self.settings.lease_seconds)
                except Exception as exc:
                    log.warning("could not renew ingestion leases: %s", exc)

    async def _work(self) -> None:
        while True:
            try:
                async with self.db.reading() as repo:
                    document = await repo.claim_document(self.name, self.settings.lease_seconds,
                                                         self.settings.max_attempts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not claim a document: %s", exc)
                document = None
            if document is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
                except TimeoutError:
                    pass
                continue
            self.in_progress.add(document.id)
            try:
                await self.ingest(document)
            finally:
                self.in_progress.discard(document.id)

    # --- one document ------------------------------------------------------------------------------------
    async def ingest(self, document) -> None:
        started = time.perf_counter()
        try:
            data, content_type = document.content, document.content_type
            if data is None:
                data, content_type = await self._fetch(document.source)
            records = await self._records(document, data, content_type)
            async with self.db.transaction() as repo:
                stored = await repo.complete_document(self.name, document, records, content_type, len(data))
            log.info("ingested document %s: %d chunks in %.2f s%s", document.id, len(records),
                     time.perf_counter() - started, "" if stored else " (result dropped: lease lost)")
            if stored:
                self._index_if_needed(document.collection_id)
        except asyncio.CancelledError:
            raise
        except (IngestionFailed, DomainError) as exc:
            await self._fail(document, str(exc))
        except Exception:
            log.exception("ingesting document %s failed", document.id)
            await self._fail(document, "internal error while ingesting; re-ingest to try again")

    def _index_if_needed(self, collection_id) -> None:
        """A collection that outgrew exact search gets its HNSW index, built beside ingestion (minutes for
        millions of chunks) by one replica."""
        if collection_id in self._building:
            return

        async def build() -> None:
            try:
                async with self.db.reading() as repo:
                    dimensions = await repo.needs_index(collection_id, self.settings.exact_search_max_chunks)
                    if dimensions:
                        started = time.perf_counter()
                        if await repo.build_index(collection_id, dimensions, self.settings.index_build_memory):
                            log.info("built the HNSW index of collection %s in %.1f s", collection_id,
                                     time.perf_counter() - started)
            except Exception:
                log.exception("building the HNSW index of collection %s failed; searches stay exact",
                              collection_id)
            finally:
                self._building.pop(collection_id, None)

        self._building[collection_id] = asyncio.get_running_loop().create_task(build())

    async def _fail(self, document, error: str) -> None:
        async with self.db.reading() as repo:
            await repo.fail_document(self.name, document.id, error)

    async def _records(self, document, data: bytes, content_type: str) -> list[tuple]:
        chunking = Chunking(document.splitter, document.chunk_size, document.chunk_overlap)
        try:
            pieces = await asyncio.to_thread(lambda: split(parsing.parse(data, content_type), chunking, content_type))
        except parsing.UnreadableDocument as exc:
            raise IngestionFailed(str(exc)) from None
        if len(pieces) > self.settings.max_chunks_per_document:
            raise IngestionFailed(f"the document makes {len(pieces)} chunks; at most "
                                  f"{self.settings.max_chunks_per_document} are allowed (use larger chunks)")
        embedder = self.embedders.embedder_for(document.embedding_provider, document.embedding_model,
                                               document.dimensions, Endpoint.of(document))
        batch = self.settings.embed_batch_size
        vectors = []
        for start in range(0, len(pieces), batch):
            vectors.extend(await embedder.embed([text for text, _ in pieces[start:start + batch]]))
        source = document.source or document.name
        return [chunk_record(document.org_id, document.collection_id, document.id, position, text,
                             {**document.metadata, **extra, "source": source, "position": position}, vector)
                for position, ((text, extra), vector) in enumerate(zip(pieces, vectors, strict=True))]

    async def _fetch(self, url: str) -> tuple[bytes, str]:
        try:
            fetched = await asyncio.wait_for(outbound.fetch(
                url, self.outbound_policy, max_bytes=self.settings.max_upload_bytes, timeout=FETCH_SECONDS,
                user_agent=USER_AGENT), FETCH_SECONDS * 2)
        except (outbound.OutboundRefused, outbound.OutboundError) as exc:
            raise IngestionFailed(str(exc)) from None
        except TimeoutError:
            raise IngestionFailed(f"fetching {url} took too long") from None
        except httpx.HTTPError as exc:
            raise IngestionFailed(f"cannot fetch {url}: {type(exc).__name__}") from None
        if fetched.status >= 400:
            raise IngestionFailed(f"{fetched.url} answered HTTP {fetched.status}")
        if fetched.truncated:
            raise IngestionFailed(f"{url} is larger than the {self.settings.max_upload_bytes}-byte limit")
        content_type = fetched.headers.get("content-type", "")
        kind = parsing.content_type_of(content_type, fetched.url.split("?")[0])
        if not kind:
            raise IngestionFailed(f"{fetched.url} is {content_type or 'of an unknown type'}, which cannot be read")
        return fetched.body, kind
