"""Workflow service bootstrap: settings -> database -> domain -> servicers -> gRPC server."""

from dataclasses import dataclass

import grpc

from agentic.workflow.v1 import workflow_pb2, workflow_pb2_grpc
from services.common.db import make_engine
from services.common.flowgraph import Limits
from services.common.interceptor import AUTHENTICATED
from services.common.server import GrpcService, start_server
from services.common.tokens import RevocationFeed, ServiceIdentity, TokenVerifier, grpc_jwks_fetcher
from services.workflow.documents import Documents
from services.workflow.node_catalog import NodeCatalogClient, grpc_catalog_fetcher
from services.workflow.repository import Database
from services.workflow.servicer import TemplateServicer, WorkflowServicer
from services.workflow.settings import WorkflowSettings
from services.workflow.templates import Templates
from services.workflow.workflows import Workflows

SERVICES = [workflow_pb2.DESCRIPTOR.services_by_name[name] for name in ("WorkflowService", "TemplateService")]
SERVICE_NAMES = [s.full_name for s in SERVICES]
# Every RPC needs a verified caller; roles are checked in the domain.
POLICY = {f"/{s.full_name}/{m.name}": AUTHENTICATED for s in SERVICES for m in s.methods}


@dataclass
class RunningWorkflow:
    grpc: GrpcService
    engine: object
    auth_channel: grpc.aio.Channel
    revocations: RevocationFeed
    executor_channel: grpc.aio.Channel | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc.port}"

    async def stop(self, grace: float) -> None:
        await self.grpc.stop(grace)
        await self.close()

    async def close(self) -> None:
        """What the server held, once it no longer takes RPCs."""
        await self.revocations.stop()
        await self.auth_channel.close()
        if self.executor_channel is not None:
            await self.executor_channel.close()
        await self.engine.dispose()


async def start(settings: WorkflowSettings) -> RunningWorkflow:
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_pool_pre_ping)
    db = Database(engine)
    limits = Limits(settings.max_nodes, settings.max_edges, settings.max_flow_data_bytes, settings.max_flow_data_depth)
    executor_channel = grpc.aio.insecure_channel(settings.executor_address) if settings.executor_address else None
    catalog = NodeCatalogClient(grpc_catalog_fetcher(executor_channel) if executor_channel else None)
    workflows = Workflows(db, catalog, limits, settings.undelete_days)
    auth_channel = grpc.aio.insecure_channel(settings.auth_address)
    verifier = TokenVerifier(grpc_jwks_fetcher(auth_channel), settings.jwt_issuer, settings.jwt_audience)
    identity = ServiceIdentity(auth_channel, "workflow", settings.service_secret)
    revocations = RevocationFeed(auth_channel, verifier, identity)
    revocations.start()

    def add_servicers(server) -> None:
        workflow_pb2_grpc.add_WorkflowServiceServicer_to_server(WorkflowServicer(workflows, Documents(workflows)), server)
        workflow_pb2_grpc.add_TemplateServiceServicer_to_server(TemplateServicer(Templates(workflows)), server)

    service = await start_server(settings, add_servicers, SERVICE_NAMES, POLICY, verifier)
    return RunningWorkflow(service, engine, auth_channel, revocations, executor_channel)
