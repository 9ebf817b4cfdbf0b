"""Executor service bootstrap: settings -> database, event bus, checkpointer, replica -> servicers -> gRPC."""

from dataclasses import dataclass

import grpc

from agentic.executor.v1 import executor_pb2, executor_pb2_grpc
from services.common.db import make_engine
from services.common.interceptor import AUTHENTICATED, PUBLIC
from services.common.server import GrpcService, start_server
from services.common.tokens import RevocationFeed, ServiceIdentity, TokenVerifier, grpc_jwks_fetcher
from services.executor.engine.checkpoints import open_checkpointer, psycopg_url
from services.executor.engine.credentials import CredentialResolver
from services.executor.engine.events import EventBus
from services.executor.engine.queue import Replica, replica_name
from services.executor.executions import Executions
from services.executor.nodes.base import configure_outbound
from services.executor.repository import Database
from services.executor.servicer import ExecutionServicer, NodeCatalogServicer, ThreadServicer
from services.executor.settings import ExecutorSettings
from services.executor.threads import Threads
from services.executor.workflow_source import WorkflowSource

SERVICES = [executor_pb2.DESCRIPTOR.services_by_name[name]
            for name in ("ExecutionService", "NodeCatalogService", "ThreadService")]
SERVICE_NAMES = [s.full_name for s in SERVICES]
# Runs and threads need a verified caller (roles are checked in the domain). The node catalog is static
# metadata without tenancy: public, so the workflow service can validate graphs against it without a token.
POLICY = {f"/{s.full_name}/{m.name}": PUBLIC if s.name == "NodeCatalogService" else AUTHENTICATED
          for s in SERVICES for m in s.methods}


@dataclass
class RunningExecutor:
    grpc: GrpcService
    engine: object
    replica: Replica
    bus: EventBus
    checkpoint_pool: object
    channels: list[grpc.aio.Channel]
    revocations: RevocationFeed
    grace: float
    executions: Executions | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc.port}"

    async def close(self) -> None:
        await self.replica.stop(self.grace)
        await self.bus.stop()
        await self.revocations.stop()
        for channel in self.channels:
            await channel.close()
        await self.checkpoint_pool.close()
        await self.engine.dispose()

    async def stop(self, grace: float) -> None:
        await self.grpc.stop(grace)
        await self.close()


async def start(settings: ExecutorSettings) -> RunningExecutor:
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_pool_pre_ping)
    db = Database(engine)

    async def write(batch) -> None:
        async with db.reading() as repo:
            await repo.insert_events(batch)

    async def read(execution_id, after_seq, limit):
        async with db.reading() as repo:
            return await repo.events_after(execution_id, after_seq, limit)

    bus = EventBus(write, read, settings.stream_buffer_events)
    bus.start()
    checkpointer, checkpoint_pool = await open_checkpointer(settings.database_url)
    replica = Replica(db, bus, psycopg_url(settings.database_url), name=replica_name(settings.replica_id),
                      lease_seconds=settings.lease_seconds, poll_seconds=settings.poll_seconds,
                      max_runs=settings.max_concurrent_runs, max_runs_per_org=settings.max_concurrent_runs_per_org)
    auth_channel = grpc.aio.insecure_channel(settings.auth_address)
    workflow_channel = grpc.aio.insecure_channel(settings.workflow_address, options=[("grpc.enable_retries", 0)])
    vectorstore_channel = grpc.aio.insecure_channel(settings.vectorstore_address,
                                                    options=[("grpc.enable_retries", 0)])
    executions = Executions(db, bus, replica, WorkflowSource(workflow_channel), settings, checkpointer,
                            CredentialResolver(auth_channel, settings.service_secret), vectorstore_channel)
    configure_outbound(settings)
    verifier = TokenVerifier(grpc_jwks_fetcher(auth_channel), settings.jwt_issuer, settings.jwt_audience)
    identity = ServiceIdentity(auth_channel, "executor", settings.service_secret)
    revocations = RevocationFeed(auth_channel, verifier, identity)
    revocations.start()

    def add_servicers(server) -> None:
        executor_pb2_grpc.add_ExecutionServiceServicer_to_server(ExecutionServicer(executions), server)
        executor_pb2_grpc.add_NodeCatalogServiceServicer_to_server(NodeCatalogServicer(), server)
        executor_pb2_grpc.add_ThreadServiceServicer_to_server(ThreadServicer(Threads(db)), server)

    service = await start_server(settings, add_servicers, SERVICE_NAMES, POLICY, verifier)
    await replica.start()
    return RunningExecutor(service, engine, replica, bus, checkpoint_pool, [auth_channel, workflow_channel, vectorstore_channel],
                           revocations, settings.shutdown_grace_seconds, executions)
