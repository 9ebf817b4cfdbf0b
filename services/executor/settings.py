"""Executor service configuration (env prefix EXECUTOR_)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ExecutorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXECUTOR_", extra="ignore")

    port: int = 50053
    # Where the workflow service is: runs read the pinned workflow version from it with the caller's token.
    workflow_address: str = "127.0.0.1:50052"
    # Where the vectorstore service is: retriever nodes search it with the caller's token.
    vectorstore_address: str = "127.0.0.1:50054"
    # The executor's service identity (its entry of auth's service secrets): resolves credentials for runs.
    service_secret: str = ""
    # Name of this replica in leases (defaults to host:pid).
    replica_id: str = ""
    # Runs executing at once on this replica (foreground and background), and per organization (all replicas).
    max_concurrent_runs: int = 64
    max_concurrent_runs_per_org: int = 32
    # Background runs waiting per organization; more is RESOURCE_EXHAUSTED (429) with a retry delay.
    max_queued_runs_per_org: int = 1000
    # Run timeout when the request gives none, and the most a request may ask for (seconds).
    default_run_timeout_seconds: float = 300.0
    max_run_timeout_seconds: float = 3600.0
    # A claimed run's lease: renewed every lease/3 seconds; a replica silent for longer loses its runs.
    lease_seconds: float = 15.0
    # How often an idle replica looks for queued runs even without a NOTIFY (missed wake-ups, expired leases).
    poll_seconds: float = 2.0
    # Foreground runs of graphs without interrupts skip checkpoints (fast path); true checkpoints them too.
    checkpoint_foreground: bool = False
    # Compiled graphs kept in memory, by (workflow id, version).
    graph_cache_size: int = 512
    # Nested sub-workflows deeper than this are refused.
    max_subworkflow_depth: int = 5
    max_input_bytes: int = 256 * 1024
    # A subscriber that falls this many events behind reads the rest from the database instead.
    stream_buffer_events: int = 2048
    # Events and checkpoints of runs finished longer ago than this are pruned (`prune` command).
    retention_days: int = 30
    max_nodes: int = 500
    max_edges: int = 2000
    max_flow_data_bytes: int = 1024 * 1024
    # Outbound requests of nodes (HTTP tool, web loader, provider base URLs): private, loopback and link-local
    # addresses are refused unless allowed here, all of them (allow_private_networks) or by network
    # (outbound_allow, e.g. ["127.0.0.1/32"] for a local model server). Metadata addresses never.
    allow_private_networks: bool = False
    outbound_allow: list[str] = []
