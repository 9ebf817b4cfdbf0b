"""Workflow service configuration (env prefix WORKFLOW_)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class WorkflowSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WORKFLOW_", extra="ignore")

    port: int = 50052
    max_nodes: int = 500
    max_edges: int = 2000
    max_flow_data_bytes: int = 1024 * 1024
    # JSON nesting of flow_data; protobuf readers stop near 50 levels of Struct, so keep well below.
    max_flow_data_depth: int = 32
    # The executor, whose node catalog checks node types on save (ListNodeTypes needs no token). Empty: no
    # executor; the built-in table of core types is used and saves carry a warning that types were not checked.
    executor_address: str = ""
    # Soft-deleted workflows can be undeleted for this long (a purge job may remove them afterwards).
    undelete_days: int = 30
