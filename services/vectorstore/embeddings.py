"""Embedding models behind one batched interface: the built-in offline hashing model and OpenAI-compatible
endpoints. A collection's query and chunks always go through the same model (`embedder_for`)."""

from __future__ import annotations

import asyncio
import re
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from services.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.vectorstore.local_embedder import LocalEmbedder, LocalModels

BUILTIN, OPENAI, LOCAL = "builtin", "openai", "local"
PROVIDERS = (BUILTIN, OPENAI, LOCAL)
BUILTIN_MODEL = "hashing-v1"
MAX_DIMENSIONS = 2000  # pgvector's limit for an HNSW index on `vector`

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


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint, through the official client (retries, timeouts)."""

    instant = False

    def __init__(self, client, model: str, dimensions: int):
        self.client, self.model, self.dimensions = client, model, dimensions

    async def embed(self, texts: list[str]) -> np.ndarray:
        import openai

        # Only the text-embedding-3 family can shorten its vectors; others must match the collection's size.
        extra = {"dimensions": self.dimensions} if self.model.startswith("text-embedding-3") else {}
        try:
            reply = await self.client.embeddings.create(model=self.model, input=texts, **extra)
        except openai.APIStatusError as exc:
            raise FailedPrecondition(f"the embedding endpoint refused the request (HTTP {exc.status_code})") from None
        except openai.APIError as exc:
            raise Unavailable(f"the embedding endpoint did not answer: {type(exc).__name__}") from None
        vectors = [item.embedding for item in sorted(reply.data, key=lambda item: item.index)]
        if len(vectors) != len(texts) or any(len(v) != self.dimensions for v in vectors):
            got = len(vectors[0]) if vectors else 0
            raise FailedPrecondition(f"model {self.model} returned {len(vectors)} vectors of {got} dimensions; "
                                     f"the collection expects {len(texts)} of {self.dimensions}")
        return _normalise(np.asarray(vectors, dtype=np.float32))


class Embedders:
    """The embedder of a collection. One OpenAI client per service (its connection pool is shared)."""

    def __init__(self, openai_base_url: str, openai_api_key: str, timeout: float, local_models_dir: str = ""):
        self._openai_settings = (openai_base_url, openai_api_key, timeout)
        self._openai = None
        self._local = LocalModels(local_models_dir)

    def check(self, provider: str, model: str, dimensions: int, field: str = "collection.embedding") -> None:
        if provider not in PROVIDERS:
            raise InvalidArgument(f"{field}.provider", f"must be one of {', '.join(PROVIDERS)}")
        if not 1 <= dimensions <= MAX_DIMENSIONS:
            raise InvalidArgument(f"{field}.dimensions", f"must be between 1 and {MAX_DIMENSIONS}")
        if provider == BUILTIN and model != BUILTIN_MODEL:
            raise InvalidArgument(f"{field}.model", f"the builtin provider has one model, {BUILTIN_MODEL}")
        if provider == OPENAI:
            if not model or len(model) > 200:
                raise InvalidArgument(f"{field}.model", "name the provider's embedding model (at most 200 characters)")
            if not self._openai_settings[0] and not self._openai_settings[1]:
                raise FailedPrecondition("OpenAI-compatible embeddings are not configured on this service "
                                         "(VECTORSTORE_OPENAI_BASE_URL / VECTORSTORE_OPENAI_API_KEY)")
        if provider == LOCAL:
            self._local.check(model, dimensions, field)

    def embedder_for(self, provider: str, model: str, dimensions: int) -> Embedder:
        if provider == BUILTIN:
            return HashingEmbedder(dimensions)
        if provider == LOCAL:
            return LocalEmbedder(self._local, model, dimensions)
        if self._openai is None:
            import openai

            base_url, api_key, timeout = self._openai_settings
            self._openai = openai.AsyncOpenAI(base_url=base_url or None, api_key=api_key or "unused",
                                              timeout=timeout, max_retries=2)
        return OpenAIEmbedder(self._openai, model, dimensions)

    async def close(self) -> None:
        if self._openai is not None:
            await self._openai.close()
