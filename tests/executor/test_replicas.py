"""Several executor replicas on one PostgreSQL: streams across replicas, a killed replica's run resumed from
its checkpoint elsewhere, fair claiming across organizations, limits, retention."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentic.executor.v1 import executor_pb2 as pb
from agentic.executor.v1 import executor_pb2_grpc
from services.common.db import make_engine
from services.executor.repository import Database
from tests.conftest import executor_settings, free_port, serve_gateway
from tests.executor.helpers import create_workflow, linear, sse_events, user


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as client:
        yield client


def bearer(headers: dict) -> tuple:
    return (("authorization", headers["Authorization"]),)


def status_name(execution) -> str:
    return pb.ExecutionStatus.Name(execution.status).removeprefix("EXECUTION_STATUS_")


async def start_replica(auth_service, workflow_service, database_url, **overrides):
    from services.executor import server as executor_server

    return await executor_server.start(executor_settings(database_url, auth_service.address, workflow_service.address,
                                                         **overrides))


async def test_a_run_on_replica_a_streams_from_replica_b(http, executor_service, auth_service, workflow_service,
                                                        migrated_database):
    u = await user(http)
    words = " ".join(f"t{i}" for i in range(30))
    wf = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 0.4}),
                                               ("chat", "chat_model", {"model": "offline-echo"})))
    replica_b = await start_replica(auth_service, workflow_service, migrated_database, replica_id="replica-b")
    channel_a = grpc.aio.insecure_channel(executor_service.address)
    channel_b = grpc.aio.insecure_channel(replica_b.address)
    try:
        on_a = executor_pb2_grpc.ExecutionServiceStub(channel_a).Execute(
            execute_request(wf, words), metadata=bearer(u))
        first = await on_a.read()  # run_started, stored: replica B can find the execution now
        from_b = executor_pb2_grpc.ExecutionServiceStub(channel_b).StreamExecution(
            pb.StreamExecutionRequest(execution_id=first.execution_id), metadata=bearer(u))
        via_b = await read_all(from_b)
        via_a = [first] + await read_all(on_a)
        assert [e.seq for e in via_b] == list(range(1, len(via_a) + 1))
        assert [(e.seq, e.type, e.node_id) for e in via_b] == [(e.seq, e.type, e.node_id) for e in via_a]
        assert via_b[-1].type == "run_completed"
    finally:
        await channel_a.close()
        await channel_b.close()
        await replica_b.stop(0)


async def test_cancel_through_another_replica_answers_once_the_run_has_stopped(http, executor_service, auth_service,
                                                                              workflow_service, migrated_database):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 30})))
    replica_b = await start_replica(auth_service, workflow_service, migrated_database, replica_id="replica-b",
                                    max_concurrent_runs=0)  # serves the API, never runs anything
    channel_a = grpc.aio.insecure_channel(executor_service.address)
    channel_b = grpc.aio.insecure_channel(replica_b.address)
    try:
        on_a = executor_pb2_grpc.ExecutionServiceStub(channel_a).Execute(execute_request(wf, "x"), metadata=bearer(u))
        first = await on_a.read()
        while (await on_a.read()).type != "node_started":
            pass
        cancelled = await executor_pb2_grpc.ExecutionServiceStub(channel_b).CancelExecution(
            pb.CancelExecutionRequest(id=first.execution_id), metadata=bearer(u), timeout=10)
        assert status_name(cancelled) == "CANCELLED" and cancelled.HasField("end_time")
        rest = await read_all(on_a)
        assert rest[-1].type == "run_cancelled"
    finally:
        await channel_a.close()
        await channel_b.close()
        await replica_b.stop(0)


async def wait_serving(address: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(address) as channel:
        while True:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            assert time.monotonic() < deadline, "the executor process did not start"
            await asyncio.sleep(0.1)


async def test_killed_replica_run_resumes_from_its_checkpoint_without_rerunning_completed_nodes(
        http, executor_service, auth_service, workflow_service, migrated_database):
    u = await user(http)
    graph = linear(("first", "template", {"template": "1:{{ input }}"}), ("wait", "delay", {"seconds": 1.5}),
                   ("second", "template", {"template": "{{ input }}:2"}))
    wf = await create_workflow(http, u, graph)
    port = free_port()
    env = {**os.environ, "EXECUTOR_DATABASE_URL": migrated_database, "EXECUTOR_PORT": str(port),
           "EXECUTOR_AUTH_ADDRESS": auth_service.address, "EXECUTOR_WORKFLOW_ADDRESS": workflow_service.address,
           "EXECUTOR_REPLICA_ID": "replica-doomed", "EXECUTOR_LEASE_SECONDS": "2",
           "EXECUTOR_CHECKPOINT_FOREGROUND": "true", "EXECUTOR_LOG_LEVEL": "WARNING"}
    doomed = subprocess.Popen([sys.executable, "-m", "services.executor", "serve"], env=env,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = executor_pb2_grpc.ExecutionServiceStub(channel).Execute(
                pb.ExecuteRequest(workflow_id=wf), metadata=bearer(u))
            seen = []
            async for event in stream:
                seen.append(event)
                if event.type == "node_started" and event.node_id == "wait":
                    break
            doomed.send_signal(signal.SIGKILL)  # mid-run: "first" is done, "wait" is in progress
            doomed.wait(10)
        execution_id = seen[0].execution_id
        assert [e.node_id for e in seen if e.type == "node_completed"] == ["start", "first"]
        # Replica A sees the lease expire, queues the run again and continues it from the checkpoint.
        events = await sse_events(http, "GET", f"/executions/{execution_id}/events", u)
        assert events[-1]["event"] == "run_completed", events[-3:]
        assert events[-1]["data"]["payload"]["output"] == "1:None:2"
        started = [e["data"]["node_id"] for e in events if e["event"] == "node_started"]
        assert started.count("first") == 1 and started.count("start") == 1  # completed nodes did not run again
        resumed = [e for e in events if e["event"] == "run_started"]
        assert len(resumed) == 2 and resumed[1]["data"]["payload"]["resumed"] is True
        assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    finally:
        if doomed.poll() is None:
            doomed.kill()


async def test_a_flood_from_one_organization_does_not_starve_another(http, gateway_url, executor_service):
    busy, quiet = await user(http, "busy"), await user(http, "quiet")
    slow = await create_workflow(http, busy, linear(("wait", "delay", {"seconds": 1.0})))
    quick = await create_workflow(http, quiet, linear(("t", "template", {"template": "done"})))
    settings = executor_service.replica  # per-organization running limit of the test replica: 32
    flood = 120
    results = await asyncio.gather(*(http.post("/executions", headers=busy, json={"workflow_id": slow})
                                     for _ in range(flood)))
    assert all(r.status_code == 200 for r in results)
    began = time.monotonic()
    started = await http.post("/executions", headers=quiet, json={"workflow_id": quick, "input": "x"})
    execution_id = started.json()["id"]
    events = await sse_events(http, "GET", f"/executions/{execution_id}/events", quiet)
    waited = time.monotonic() - began
    assert events[-1]["event"] == "run_completed"
    # First come, first served would put it behind ~120 one-second runs, 32 at a time (~4 s).
    assert waited < 1.5, f"the quiet organization waited {waited:.2f} s"
    queued = (await http.get("/executions", headers=busy, params={"status": "EXECUTION_STATUS_QUEUED"})).json()
    assert len(queued["executions"]) > 0 and settings.max_runs_per_org == 32
    for r in results:  # leave nothing running for the next tests
        await http.post(f"/executions/{r.json()['id']}:cancel", headers=busy, json={})


async def test_limits_answer_429_with_a_retry_delay(http, auth_service, workflow_service, migrated_database,
                                                    executor_service):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 5})))
    limited = await start_replica(auth_service, workflow_service, migrated_database, replica_id="replica-limited",
                                  max_queued_runs_per_org=2, max_concurrent_runs=1, poll_seconds=60)
    url, server, task = await serve_gateway(auth=auth_service.address, workflow=workflow_service.address,
                                            executor=limited.address)
    try:
        async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=30) as client:
            for replica in (limited.replica, executor_service.replica):  # queued runs stay queued for now
                replica.claiming = False
            try:
                answers = [await client.post("/executions", headers=u, json={"workflow_id": wf}) for _ in range(3)]
            finally:
                for replica in (limited.replica, executor_service.replica):
                    replica.claiming = True
            assert [a.status_code for a in answers] == [200, 200, 429]
            assert answers[2].headers.get("retry-after") and "too many queued" in answers[2].json()["message"]
            running = asyncio.create_task(client.post(f"/workflows/{wf}:run", headers=u, json={}))
            await asyncio.sleep(0.5)
            busy = await client.post(f"/workflows/{wf}:run", headers=u, json={})
            assert busy.status_code == 429 and "concurrent runs" in busy.json()["message"]
            running.cancel()
            for a in answers[:2]:
                await client.post(f"/executions/{a.json()['id']}:cancel", headers=u, json={})
    finally:
        server.should_exit = True
        await task
        await limited.stop(0)


async def test_terminal_state_is_never_overwritten(http, migrated_database):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 10})))
    started = (await http.post("/executions", headers=u, json={"workflow_id": wf})).json()
    cancelled = (await http.post(f"/executions/{started['id']}:cancel", headers=u, json={})).json()
    # Another replica of the session may have claimed the run: it stops it on the cancel's notification.
    deadline = time.monotonic() + 10
    while cancelled["status"] != "EXECUTION_STATUS_CANCELLED" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        cancelled = (await http.get(f"/executions/{started['id']}", headers=u)).json()
    assert cancelled["status"] == "EXECUTION_STATUS_CANCELLED"
    engine = make_engine(migrated_database)
    try:
        async with Database(engine).reading() as repo:  # a late completion arriving after the cancel
            assert await repo.finish(uuid.UUID(started["id"]), "succeeded", output="late") is None
    finally:
        await engine.dispose()
    after = (await http.get(f"/executions/{started['id']}", headers=u)).json()
    assert after["status"] == "EXECUTION_STATUS_CANCELLED" and "output" not in after or after["output"] is None


async def test_prune_removes_old_events_and_checkpoints_but_keeps_the_run_and_its_output(http, migrated_database):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("t", "template", {"template": "kept {{ input }}"})))
    old = (await http.post("/executions", headers=u, json={"workflow_id": wf, "input": "old"})).json()
    events = await sse_events(http, "GET", f"/executions/{old['id']}/events", u)
    assert events[-1]["event"] == "run_completed"
    recent = (await http.post(f"/workflows/{wf}:run", headers=u, json={"input": "new"})).json()
    engine = make_engine(migrated_database)
    try:
        async with engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.execute("UPDATE executor.executions SET ended_at = $2 WHERE id = $1",
                              uuid.UUID(old["id"]), datetime.now(UTC) - timedelta(days=31))
            checkpoints = await raw.fetchval("SELECT count(*) FROM executor.checkpoints WHERE thread_id = $1", old["id"])
        assert checkpoints > 0  # background runs are checkpointed
        env = {**os.environ, "EXECUTOR_DATABASE_URL": migrated_database, "EXECUTOR_RETENTION_DAYS": "30"}
        result = subprocess.run([sys.executable, "-m", "services.executor", "prune"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "pruned" in result.stdout
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            left = await raw.fetchval("SELECT count(*) FROM executor.checkpoints WHERE thread_id = $1", old["id"])
        assert left == 0
    finally:
        await engine.dispose()
    kept = (await http.get(f"/executions/{old['id']}", headers=u)).json()
    assert kept["output"] == "kept old" and kept["last_seq"] == 0
    assert await sse_events(http, "GET", f"/executions/{old['id']}/events", u) == []
    assert (await http.get(f"/executions/{recent['id']}", headers=u)).json()["last_seq"] > 0


def execute_request(workflow_id: str, text: str) -> pb.ExecuteRequest:
    request = pb.ExecuteRequest(workflow_id=workflow_id)
    request.input.string_value = text
    return request


async def read_all(call) -> list:
    events = []
    while (event := await call.read()) is not grpc.aio.EOF:
        events.append(event)
    return events
