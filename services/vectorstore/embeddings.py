"""Embedding models behind one batched interface: the built-in offline hashing model and OpenAI-compatible
endpoints. A collection's query and chunks always go through the same model (`embedder_for`).

An OpenAI-compatible collection uses the operator's endpoint and key (VECTORSTORE_OPENAI_*), or its own
`Endpoint`: a base URL (behind the outbound-address guard) and an organization credential as its key.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import httpx
import numpy as np

from services.common import outbound
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.common.validation import parse_id
from services.vectorstore.local_embedder import LocalEmbedder, LocalModels

BUILTIN, OPENAI, LOCAL = "builtin", "openai", "local"
PROVIDERS = (BUILTIN, OPENAI, LOCAL)
BUILTIN_MODEL = "hashing-v1"
MAX_DIMENSIONS = 2000  # pgvector's limit for an HNSW index on `vector`
DEFAULT_DIMENSIONS = 384

MAX_BASE_URL = 2000
MAX_CLIENTS = 32  # OpenAI clients kept open, one per (base URL, key)

_WORD = re.compile(r"\w+")
_MIX = np.uint32(2654435761)  # Knuth's multiplicative hash: spreads n-gram codes over all 32 bits
_WORD_WEIGHT, _NGRAM_WEIGHT = 0.8, 0.45


class Embedder(Protocol):
    dimensions: int
    # Cheap enough (microseconds, in process) to compute while holding a database connection.
    instant: bool

    async def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dimensions) float32, one L2-normalised row per text."""


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


@dataclass(frozen=True)
class HashingEmbedder:
    """Offline and deterministic: words and character trigrams (of the lower-cased text, with word
    boundaries) feature-hashed into `dimensions` signed buckets, sublinear counts, L2-normalised.

    No model download, same vector on every machine and release. Shared words dominate (retrieval by
    vocabulary, like BM25 without idf); trigrams add tolerance for inflections and typos.
    """

    dimensions: int
    instant = True

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            if not words:
                continue
            word_codes = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint32, count=len(words))
            raw = np.frombuffer((" " + " ".join(words) + " ").encode(), dtype=np.uint8).astype(np.uint32)
            gram_codes = (raw[:-2] << 16) | (raw[1:-1] << 8) | raw[2:]
            out[row] = (_WORD_WEIGHT * self._features(word_codes) + _NGRAM_WEIGHT * self._features(gram_codes))
        return _normalise(out)

    def _features(self, codes: np.ndarray) -> np.ndarray:
        mixed = codes * _MIX
        buckets = (mixed ^ (mixed >> 15)) % self.dimensions
        signs = np.where(mixed >> 31, -1.0, 1.0)
        counts = np.bincount(buckets, weights=signs, minlength=self.dimensions)
        counts = np.sign(counts) * np.log1p(np.abs(counts))
        norm = np.linalg.norm(counts)
        return counts / norm if norm else counts

    async def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) <= 8:  # a query: cheaper than a thread hop
            return self.embed_sync(texts)
        return await asyncio.to_thread(self.embed_sync, texts)


@dataclass(frozen=True)
class Endpoint:
    """A collection's own OpenAI-compatible endpoint and the credential holding its key (empty: the operator's)."""

    org_id: uuid.UUID | None = None
    credential_id: uuid.UUID | None = None
    base_url: str = ""

    @classmethod
    def of(cls, row) -> Endpoint:
        """From a row with the collection's org_id, embedding_credential_id and embedding_base_url."""
        return cls(row.org_id, row.embedding_credential_id, row.embedding_base_url)


OPERATOR = Endpoint()  # the operator's endpoint and key


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint, through the official client (retries, timeouts)."""

    instant = False

    def __init__(self, embedders: Embedders, endpoint: Endpoint, model: str, dimensions: int):
        self.embedders, self.endpoint, self.model, self.dimensions = embedders, endpoint, model, dimensions

    async def embed(self, texts: list[str]) -> np.ndarray:
        import openai

        client = await self.embedders.client(self.endpoint)
        # Only the text-embedding-3 family can shorten its vectors; others must match the collection's size.
        extra = {"dimensions": self.dimensions} if self.model.startswith("text-embedding-3") else {}
        try:
            reply = await client.embeddings.create(model=self.model, input=texts, **extra)
        except openai.APIStatusError as exc:
            hint = ": check the API key (the collection's credential)" if exc.status_code in (401, 403) else ""
            raise FailedPrecondition(f"the embedding endpoint refused the request (HTTP {exc.status_code}){hint}"
                                     ) from None
        except openai.APIError as exc:
            raise Unavailable(f"the embedding endpoint did not answer: {type(exc).__name__}") from None
        vectors = [item.embedding for item in sorted(reply.data, key=lambda item: item.index)]
        if len(vectors) != len(texts) or any(len(v) != self.dimensions for v in vectors):
            got = len(vectors[0]) if vectors else 0
            raise FailedPrecondition(f"model {self.model} returned {len(vectors)} vectors of {got} dimensions; "
                                     f"the collection expects {len(texts)} of {self.dimensions}")
        return _normalise(np.asarray(vectors, dtype=np.float32))


class Embedders:
    """The embedder of a collection. One OpenAI client per (base URL, key), kept in a small LRU (each has its
    own connection pool)."""

    def __init__(self, openai_base_url: str, openai_api_key: str, timeout: float,
                 outbound_policy: outbound.Policy | None = None, secrets=None, local_models_dir: str = ""):
        self._openai_settings = (openai_base_url, openai_api_key, timeout)
        self.outbound_policy = outbound_policy or outbound.Policy()
        self.secrets = secrets  # CredentialSecrets: organization credentials from auth
        self._clients: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._retiring: set[asyncio.Task] = set()
        self._local = LocalModels(local_models_dir)

    async def check(self, provider: str, model: str, dimensions: int, field: str = "collection.embedding", *,
              credential_id: str = "", base_url: str = "") -> None:
        if provider not in PROVIDERS:
            raise InvalidArgument(f"{field}.provider", f"must be one of {', '.join(PROVIDERS)}")
        if not 1 <= dimensions <= MAX_DIMENSIONS:
            raise InvalidArgument(f"{field}.dimensions", f"must be between 1 and {MAX_DIMENSIONS}")
        if provider == BUILTIN and model != BUILTIN_MODEL:
            raise InvalidArgument(f"{field}.model", f"the builtin provider has one model, {BUILTIN_MODEL}")
        if provider != OPENAI and (credential_id or base_url):
            raise InvalidArgument(f"{field}.credential_id" if credential_id else f"{field}.base_url",
                                  "only the openai provider takes a credential or a base URL")
        if provider == OPENAI:
            if not model or len(model) > 200:
                raise InvalidArgument(f"{field}.model", "name the provider's embedding model (at most 200 characters)")
            if not base_url and not credential_id and not any(self._openai_settings[:2]):
                raise FailedPrecondition("OpenAI-compatible embeddings are not configured on this service "
                                         "(VECTORSTORE_OPENAI_BASE_URL / VECTORSTORE_OPENAI_API_KEY): give the "
                                         "collection an embedding.credential_id and embedding.base_url")
        if provider == LOCAL:
            # The first use loads the model (a few hundred ms): not on the event loop.
            await asyncio.to_thread(self._local.check, model, dimensions, field)

    async def models(self) -> tuple[list[tuple[str, str, int]], bool]:
        """(provider, model, dimensions) a new collection may use, and whether the operator's OpenAI-compatible
        endpoint is configured. Local models may need loading to tell their size: not on the event loop."""
        local = await asyncio.to_thread(self._local.sizes) if self._local.directory else []
        models = [(BUILTIN, BUILTIN_MODEL, DEFAULT_DIMENSIONS)] + [(LOCAL, name, size) for name, size in local]
        return models, any(self._openai_settings[:2])

    async def endpoint_of(self, org_id: uuid.UUID, credential_id: str, base_url: str,
                          field: str = "collection.embedding") -> Endpoint:
        """A collection's endpoint, checked: the base URL passes the outbound guard now, and the credential is
        one of the organization's (NotFound naming it otherwise)."""
        base_url = base_url.strip().rstrip("/")
        if len(base_url) > MAX_BASE_URL:
            raise InvalidArgument(f"{field}.base_url", f"must be at most {MAX_BASE_URL} characters")
        if base_url:
            try:
                await outbound.check(base_url, self.outbound_policy)
            except (outbound.OutboundRefused, outbound.OutboundError) as exc:
                raise InvalidArgument(f"{field}.base_url", str(exc)) from None
        endpoint = Endpoint(org_id, parse_id(credential_id, f"{field}.credential_id") if credential_id else None,
                            base_url)
        if endpoint.credential_id:
            await self._secret(endpoint)
        return endpoint

    def embedder_for(self, provider: str, model: str, dimensions: int, endpoint: Endpoint = OPERATOR) -> Embedder:
        if provider == BUILTIN:
            return HashingEmbedder(dimensions)
        if provider == LOCAL:
            return LocalEmbedder(self._local, model, dimensions)
        return OpenAIEmbedder(self, endpoint, model, dimensions)

    async def client(self, endpoint: Endpoint):
        """The OpenAI client of an endpoint. The operator's key never goes to a collection's own base URL: that
        takes the collection's credential, or no key (Ollama, vLLM and TEI need none)."""
        import openai

        base_url, api_key, timeout = self._openai_settings
        if endpoint.base_url:
            base_url, api_key = endpoint.base_url, ""
        if endpoint.credential_id:
            try:
                api_key = await self._secret(endpoint)
            except NotFound:
                raise FailedPrecondition(f"the collection's embedding credential {endpoint.credential_id} no longer "
                                         "exists in this organization; set embedding.credential_id to another "
                                         "credential") from None
        key = (base_url, api_key)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        if endpoint.base_url:  # checked when the collection was saved; the operator's policy may have changed
            try:
                await outbound.check(endpoint.base_url, self.outbound_policy)
            except (outbound.OutboundRefused, outbound.OutboundError) as exc:
                raise FailedPrecondition(f"the collection's embedding.base_url cannot be used: {exc}") from None
        # A collection's own endpoint is checked again at every connect (its name cannot rebind to a refused
        # address after the check above); the operator's endpoint is the operator's to trust.
        http = (httpx.AsyncClient(transport=outbound.guarded_transport(lambda: self.outbound_policy), trust_env=False,
                                  timeout=timeout) if endpoint.base_url else None)
        client = self._clients[key] = openai.AsyncOpenAI(base_url=base_url or None, api_key=api_key or "unused",
                                                         timeout=timeout, max_retries=2, http_client=http)
        if len(self._clients) > MAX_CLIENTS:
            _, oldest = self._clients.popitem(last=False)
            # A request may still be using it: closed once any request would have timed out.
            task = asyncio.get_running_loop().create_task(_close_later(oldest, timeout))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        return client

    async def _secret(self, endpoint: Endpoint) -> str:
        if self.secrets is None:
            raise FailedPrecondition("this vectorstore cannot resolve credentials (no connection to auth)")
        return await self.secrets.secret(endpoint.org_id, endpoint.credential_id)

    async def close(self) -> None:
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.close()


async def _close_later(client, delay: float) -> None:
    try:
        await asyncio.sleep(delay * 3)  # max_retries=2: three attempts at most
    finally:
        await client.close()
