"""Session fixtures: one throwaway embedded PostgreSQL (or TEST_DATABASE_URL), migrated once, and the
services started in-process on ephemeral ports with real gRPC over sockets."""

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from services import launcher
from services.common import migrations
from services.common.db import role_url

# Fast argon2 parameters in tests: the suite signs up hundreds of users; production keeps the defaults.
os.environ.setdefault("AUTH_ARGON2_TIME_COST", "1")
os.environ.setdefault("AUTH_ARGON2_MEMORY_KIB", "8192")
# Every platform identity of the suite, as auth knows them (AUTH_SERVICE_SECRETS).
SERVICE_SECRETS = {name: f"test-{name}-secret" for name in ("executor", "workflow", "vectorstore", "gateway")}
ROLE_PASSWORD = "test-role-password"


@pytest.fixture(scope="session")
def database_url():
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        yield explicit
        return
    from services.common.db import start_embedded_postgres

    data_dir = Path(tempfile.mkdtemp(prefix="agentic-test-pg-"))
    server = start_embedded_postgres(data_dir / "pg", cleanup="delete")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def migrated_database(database_url):
    """The administrator's URL (tests inspect any schema with it). Each service's own role is created and its
    migrations run as that role, as `make run` does; the service fixtures connect as their role."""
    for service in launcher.SERVICES:
        await asyncio.to_thread(migrations.upgrade, service.directory, service.schema, database_url, ROLE_PASSWORD)
    return database_url


def as_service(database_url: str, schema: str) -> str:
    """The URL a service connects with: its own non-superuser role, owner of its schema only."""
    return role_url(database_url, schema, ROLE_PASSWORD)


@pytest.fixture(scope="session")
async def auth_service(migrated_database):
    """The auth service on an ephemeral port. Yields the running service (`.address`, `.settings`)."""
    import base64

    from services.auth import server as auth_server
    from services.auth.settings import AuthSettings

    settings = AuthSettings(
        database_url=as_service(migrated_database, "auth"), port=0, service_secrets=SERVICE_SECRETS,
        credential_keys={"1": base64.b64encode(os.urandom(32)).decode()},
        # The suite signs up hundreds of users from 127.0.0.1, and the fuzzers fail sign-ins and service-token
        # requests from it by the hundred; each throttle has its own test (tests/auth/test_throttling_grpc.py).
        max_sign_ups_per_address=100_000, max_failures_per_address=100_000,
        max_service_token_failures_per_minute=100_000,
    )
    running = await auth_server.start(settings)
    yield running
    await running.stop(0)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def executor_port() -> int:
    """Chosen before either starts: the workflow service asks the executor for its node catalog, the executor
    asks the workflow service for the graphs it runs."""
    return free_port()


@pytest.fixture(scope="session")
async def workflow_service(auth_service, migrated_database, executor_port):
    from services.workflow import server as workflow_server
    from services.workflow.settings import WorkflowSettings

    settings = WorkflowSettings(database_url=as_service(migrated_database, "workflow"), port=0,
                                auth_address=auth_service.address,
                                service_secret=SERVICE_SECRETS["workflow"],
                                max_nodes=50, max_edges=100, max_flow_data_bytes=64 * 1024,
                                executor_address=f"127.0.0.1:{executor_port}")
    running = await workflow_server.start(settings)
    yield running
    await running.stop(0)


def executor_settings(database_url: str, auth_address: str, workflow_address: str, **overrides):
    from services.executor.settings import ExecutorSettings

    values = {"database_url": as_service(database_url, "executor"), "port": 0, "auth_address": auth_address,
              "workflow_address": workflow_address, "lease_seconds": 3.0, "poll_seconds": 0.5,
              "shutdown_grace_seconds": 1.0, "service_secret": SERVICE_SECRETS["executor"], **overrides}
    return ExecutorSettings(**values)


@pytest.fixture(scope="session")
async def executor_service(auth_service, workflow_service, vectorstore_service, migrated_database, executor_port):
    from services.executor import server as executor_server

    running = await executor_server.start(executor_settings(
        migrated_database, auth_service.address, workflow_service.address, port=executor_port, replica_id="replica-a",
        vectorstore_address=vectorstore_service.address))
    yield running
    await running.stop(0)


@pytest.fixture(scope="session")
async def auth_channel(auth_service):
    import grpc

    channel = grpc.aio.insecure_channel(auth_service.address)
    yield channel
    await channel.close()


async def serve_gateway(**addresses):
    """Start the real gateway app under uvicorn on 127.0.0.1:<ephemeral>; returns (url, server, task)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.settings import GatewaySettings
    from tests.fakes.servers import QuietServer

    settings = GatewaySettings(service_secret=SERVICE_SECRETS["gateway"],
                               **{f"{svc}_address": address for svc, address in addresses.items()})
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, loop="asyncio", http="httptools",
                            access_log=False, log_level="warning", lifespan="on")
    server = QuietServer(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server, task


@pytest.fixture(scope="session")
async def gateway_url(auth_service, workflow_service, executor_service, vectorstore_service):
    url, server, task = await serve_gateway(auth=auth_service.address, workflow=workflow_service.address,
                                            executor=executor_service.address, vectorstore=vectorstore_service.address)
    yield url
    server.should_exit = True
    await task


def vectorstore_settings(database_url: str, auth_address: str, **overrides):
    from services.vectorstore.settings import VectorstoreSettings

    values = {"database_url": as_service(database_url, "vectorstore"), "port": 0, "auth_address": auth_address,
              "poll_seconds": 0.5, "lease_seconds": 3.0, "shutdown_grace_seconds": 1.0,
              "max_upload_bytes": 2 * 1024 * 1024, "allow_private_networks": False,
              "service_secret": SERVICE_SECRETS["vectorstore"], **overrides}
    return VectorstoreSettings(**values)


@pytest.fixture(scope="session")
def fake_embeddings():
    """A local OpenAI-compatible /v1/embeddings server (the real `openai` client talks to it)."""
    from tests.vectorstore.fake_openai import serve

    server = serve()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def local_models_dir(tmp_path_factory):
    """The vectorstore's local models: one tiny ONNX model, "tiny-words" (tests/vectorstore/local_model.py)."""
    from tests.vectorstore.local_model import write_model

    directory = tmp_path_factory.mktemp("local-models")
    (directory / "tiny-words").mkdir()
    write_model(directory / "tiny-words")
    return directory


@pytest.fixture(scope="session")
async def vectorstore_service(auth_service, migrated_database, fake_embeddings, local_models_dir):
    from services.vectorstore import server as vectorstore_server

    running = await vectorstore_server.start(vectorstore_settings(
        migrated_database, auth_service.address, replica_id="vectorstore-a", openai_base_url=fake_embeddings.url,
        openai_api_key="sk-test-key", local_models_dir=str(local_models_dir)))
    yield running
    await running.stop(0)
