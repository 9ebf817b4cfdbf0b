"""Readiness follows the database: a service whose database does not answer within a short timeout is
NOT_SERVING (and the gateway's /readyz 503), while its liveness stays SERVING."""

import asyncio
import contextlib

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.healthcheck import LIVENESS
from tests.conftest import serve_gateway


@contextlib.asynccontextmanager
async def silent_database():
    """A TCP server that accepts connections and never answers: a database that hangs."""
    held = []

    async def accept(reader, writer):
        held.append(writer)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"postgresql://nobody:x@127.0.0.1:{server.sockets[0].getsockname()[1]}/none"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def status(channel, service: str = "") -> str:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def test_a_database_that_does_not_answer_makes_the_service_not_ready(auth_service, workflow_service):
    from services.workflow import server as workflow_server
    from services.workflow.settings import WorkflowSettings

    async with silent_database() as url:
        running = await asyncio.wait_for(workflow_server.start(WorkflowSettings(
            database_url=url, port=0, auth_address=auth_service.address, executor_address="")), 5)
        channel = grpc.aio.insecure_channel(running.address)
        gateway, server, task = await serve_gateway(auth=auth_service.address, workflow=running.address)
        try:
            assert await status(channel) == "NOT_SERVING"
            assert await status(channel, "agentic.workflow.v1.WorkflowService") == "NOT_SERVING"
            assert await status(channel, LIVENESS) == "SERVING"
            async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
                ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["services"]["workflow"] == "NOT_SERVING"
        finally:
            server.should_exit = True
            await task
            await channel.close()
            await running.stop(0)


async def test_a_database_that_answers_keeps_the_service_ready(workflow_service):
    async with grpc.aio.insecure_channel(workflow_service.address) as channel:
        assert await status(channel) == "SERVING" and await status(channel, LIVENESS) == "SERVING"
    assert await workflow_service.grpc.database_watch.check() is True
