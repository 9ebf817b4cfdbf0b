"""Vectorstore service configuration (env prefix VECTORSTORE_)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class VectorstoreSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VECTORSTORE_", extra="ignore")

    port: int = 50054
    # Name of this replica in ingestion leases (defaults to host:pid).
    replica_id: str = ""
    # Documents ingested at once by this replica; 0 disables ingestion here (API-only replica).
    ingest_workers: int = 2
    # A claimed document's lease, renewed while it is processed; a silent replica loses it to another.
    lease_seconds: float = 60.0
    # How often an idle replica looks for pending documents even without a NOTIFY.
    poll_seconds: float = 2.0
    # A document that failed this many ingestion attempts (crashes included) stays failed.
    max_attempts: int = 3
    # Largest file (upload, text or fetched URL) in bytes.
    max_upload_bytes: int = 32 * 1024 * 1024
    max_chunks_per_document: int = 100_000
    # Chunks embedded per call of the embedding model.
    embed_batch_size: int = 256
    # HNSW candidate list when a search gives none (pgvector's hnsw.ef_search).
    default_ef_search: int = 100
    # Collections (or filtered sets) with at most this many chunks are searched exactly: as fast as an index
    # there, and exact. A collection that grows past it gets its own HNSW index (built in the background).
    exact_search_max_chunks: int = 20_000
    # maintenance_work_mem of an index build: the HNSW graph builds fast only while it fits in memory.
    index_build_memory: str = "512MB"
    # OpenAI-compatible embeddings (provider "openai"): the operator's endpoint and key, for collections that
    # name neither their own base_url nor a credential. The operator's key is never sent to a collection's
    # own base_url.
    openai_base_url: str = ""
    openai_api_key: str = ""
    openai_timeout_seconds: float = 60.0
    # How long a collection's credential (its secret, resolved from auth) is kept in memory: a deleted or
    # changed credential takes effect within this time.
    credential_cache_seconds: float = 60.0
    # Local models (provider "local", extra `local-embeddings`): a directory of model directories, each an ONNX
    # export (model.onnx or onnx/model.onnx, tokenizer.json); a collection's model names one. Never downloaded.
    local_models_dir: str = ""
    # URL imports and collections' embedding base URLs: private, loopback and link-local addresses are refused
    # unless allowed here, all of them (allow_private_networks) or by network (outbound_allow, e.g.
    # ["10.0.5.0/24"] for an intranet site or a model server). Metadata addresses never.
    allow_private_networks: bool = False
    outbound_allow: list[str] = []
