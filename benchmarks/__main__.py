"""`make bench`: bring the suite up as a user would and print its figures.

Targets (DEVELOPERS.md): >= 1,500 GET/s through the gateway, start-up <= 5 s; peers on this machine:
Langflow ~105 GET-flow/s and 40 s cold start / 1.1 GiB idle, Flowise ~25 GET/s with an API key.
Executor, through the gateway: >= 300 runs/s at 8 clients and p50 <= 6 ms at 1 client for a 3-node no-LLM
workflow (LangGraph Server 122 runs/s, Flowise 78/s and 19 ms, Langflow 13/s and 62 ms); first SSE event
<= 5 ms (Flowise 7.7 ms, Langflow 52 ms); >= 5,000 streamed token events/s for one run.
Vectorstore: see benchmarks/vectorstore.py. `python -m benchmarks [gateway] [executor] [vectorstore]` runs only
the sections named. On a shared machine rates swing with the other load: `python -m benchmarks.cpu` gives the CPU
each process spends per request instead, which does not. `python -m benchmarks.startup [runs]` times start-up
alone, on a fresh and on an existing data directory, with the CPU it took.
"""

import asyncio
import collections
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import psutil

from benchmarks.load import build_request, percentile, run_load, sse_request
from benchmarks.vectorstore import measure_vectorstore
from services.launcher import SERVICES

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SSE_REQUESTS = 200  # sequential streamed runs for the time to the first event
TOKEN_WORDS = 20_000  # words in the input of the token-streaming run (one token event per word)

TEMPLATE_FLOW = {
    "nodes": [{"id": "start", "type": "start", "data": {}},
              {"id": "t", "type": "template", "data": {"template": "Hello {{ input }}"}},
              {"id": "end", "type": "end", "data": {}}],
    "edges": [{"id": "e1", "source": "start", "target": "t"}, {"id": "e2", "source": "t", "target": "end"}],
}
ECHO_FLOW = {
    "nodes": [{"id": "start", "type": "start", "data": {}},
              {"id": "llm", "type": "chat_model", "data": {"model": "offline-echo"}},
              {"id": "end", "type": "end", "data": {}}],
    "edges": [{"id": "e1", "source": "start", "target": "llm"}, {"id": "e2", "source": "llm", "target": "end"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_suite(data_dir: str) -> tuple[subprocess.Popen, int, float]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    gateway_port = free_port()
    env["GATEWAY_PORT"] = str(gateway_port)
    for spec in SERVICES:
        env[f"{spec.name.upper()}_PORT"] = str(free_port())
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "services.launcher", "--data-dir", data_dir], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "Ctrl-C stops everything" in line:
            return proc, gateway_port, time.monotonic() - started
    raise RuntimeError("the suite did not start")


def drain(proc: subprocess.Popen) -> collections.deque[str]:
    """Keep reading the suite's output (a full pipe would block its logging) and keep the last lines."""
    tail: collections.deque[str] = collections.deque(maxlen=50)
    threading.Thread(target=lambda: tail.extend(proc.stdout), daemon=True).start()
    return tail


def executor_rss_mib(proc: subprocess.Popen) -> float:
    """Resident memory of the executor service process (the launcher's child running services.executor)."""
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if "services.executor" in " ".join(child.cmdline()):
                return child.memory_info().rss / 2**20
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return float("nan")


def tree_rss_mib(proc: subprocess.Popen) -> tuple[float, float]:
    """(platform processes, embedded PostgreSQL) resident memory in MiB."""
    ours = pg = 0
    for child in psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]:
        try:
            rss = child.memory_info().rss
            if "postgres" in child.name():
                pg += rss
            else:
                ours += rss
        except psutil.NoSuchProcess:
            pass
    for p in psutil.process_iter(["name", "cmdline"]):  # pgserver's postmaster is not our child
        try:
            if p.info["name"] == "postgres" and any(data_dir_marker in " ".join(p.info["cmdline"] or [])
                                                    for data_dir_marker in ("agentic-bench",)):
                pg += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return ours / 2**20, pg / 2**20


async def count_executions(client: httpx.AsyncClient, headers: dict, workflow_id: str) -> int:
    """Executions of one workflow the service has stored (bounded: at most 100 pages of 1000)."""
    count, token = 0, ""
    for _ in range(100):
        reply = await client.get("/api/v1/executions", headers=headers,
                                 params={"workflow_id": workflow_id, "page_size": 1000, "page_token": token})
        reply.raise_for_status()
        body = reply.json()
        count += len(body.get("executions", []))
        token = body.get("next_page_token", "")
        if not token:
            break
    return count


async def measure_executor(port: int, bearer: dict, proc: subprocess.Popen) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        await _measure_executor(port, client, bearer, proc)


async def _measure_executor(port: int, client: httpx.AsyncClient, bearer: dict, proc: subprocess.Popen) -> None:
    ids = {}
    for name, flow in (("bench-template", TEMPLATE_FLOW), ("bench-echo", ECHO_FLOW)):
        created = await client.post("/api/v1/workflows", headers=bearer, json={"name": name, "flow_data": flow})
        if created.status_code >= 400:
            raise RuntimeError(f"creating the {name} workflow: HTTP {created.status_code}: {created.text}")
        ids[name] = created.json()["id"]
    template_id = ids["bench-template"]
    run_path = f"/api/v1/workflows/{template_id}:run"
    check = await client.post(run_path, headers=bearer, json={"input": "world"})
    if check.status_code >= 400 or "Hello world" not in check.text:
        raise RuntimeError(f"a run of the template workflow: HTTP {check.status_code}: {check.text}")

    print("\nexecutor, through the gateway (3-node start -> template -> end, no LLM; every run stored)")
    markers = (b"EXECUTION_STATUS_SUCCEEDED", b"Hello world")
    run = dict(method="POST", body={"input": "world"}, markers=markers)
    warm = await run_load("127.0.0.1", port, run_path, bearer, concurrency=8, seconds=1, **run)
    many = await run_load("127.0.0.1", port, run_path, bearer, concurrency=8, seconds=SECONDS, **run)
    print(f"{'runs to completion, 8 clients':<34} {many.rate:8.0f} runs/s  p50 {many.percentile(0.5):6.2f} ms   "
          f"p99 {many.percentile(0.99):6.2f} ms   errors {many.errors}/{many.requests}")
    print(f"{'':<34} [target >= 300/s; LangGraph Server 122/s, Flowise 78/s, Langflow 13/s]")
    one = await run_load("127.0.0.1", port, run_path, bearer, concurrency=1, seconds=min(SECONDS, 3),
                         max_requests=5000, **run)
    print(f"{'run latency, 1 client':<34} p50 {one.percentile(0.5):6.2f} ms   p90 {one.percentile(0.9):6.2f} ms   "
          f"p99 {one.percentile(0.99):6.2f} ms   ({one.rate:.0f} runs/s, errors {one.errors}/{one.requests})")
    print(f"{'':<34} [target p50 <= 6 ms; Flowise 19 ms, Langflow 62 ms]")
    for result in (many, one):
        if result.first_error:
            print(f"  first failed run: {result.first_error}")

    # Time to the first SSE event: sequential streamed runs on one keep-alive connection, each read to its end.
    stream_path = f"/api/v1/workflows/{template_id}:stream"
    request = build_request("POST", "127.0.0.1", port, stream_path, bearer, {"input": "world"})
    firsts: list[float] = []
    errors, first_error, streams = 0, "", 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        deadline = time.perf_counter() + max(30.0, SECONDS * 6)
        for i in range(SSE_REQUESTS + 10):
            if time.perf_counter() > deadline:
                break
            result = await sse_request(reader, writer, request, timeout=30, keep_types=(i == 0))
            if i == 0:
                event_types = result.event_types
            if result.status != 200 or math.isnan(result.first_event_ms):
                errors += 1
                first_error = first_error or result.error
            elif i >= 10:  # the first ten warm up
                firsts.append(result.first_event_ms)
            streams += 1
    finally:
        writer.close()
    print(f"{'first SSE event (sequential)':<34} p50 {percentile(firsts, 0.5):6.2f} ms   "
          f"p90 {percentile(firsts, 0.9):6.2f} ms   over {len(firsts)} streams, errors {errors}/{streams}")
    print(f"{'':<34} [target <= 5 ms; Flowise 7.7 ms, Langflow 52 ms]")
    print(f"{'':<34} one stream's events: {' '.join(event_types) if streams else '-'}")
    if first_error:
        print(f"  first failed stream: {first_error}")

    # Streamed token events of one long run: offline-echo emits one token event per word of its answer.
    echo_path = f"/api/v1/workflows/{ids['bench-echo']}:stream"
    words = " ".join(f"w{i}" for i in range(TOKEN_WORDS))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await sse_request(reader, writer, build_request("POST", "127.0.0.1", port, echo_path, bearer,
                                                        {"input": "warm up"}), timeout=30)
        result = await sse_request(reader, writer, build_request("POST", "127.0.0.1", port, echo_path, bearer,
                                                                 {"input": words}), timeout=120)
    finally:
        writer.close()
    if result.status != 200:
        print(f"{'streamed token events, 1 run':<34} failed: {result.error}")
    else:
        rate = result.events / (result.total_ms / 1000)
        print(f"{'streamed token events, 1 run':<34} {rate:8.0f} events/s ({result.events} events in "
              f"{result.total_ms / 1000:.2f} s, first after {result.first_event_ms:.1f} ms)   [target >= 5,000/s]")

    stored = await count_executions(client, bearer, template_id)
    ran = 1 + warm.requests + many.requests + one.requests + streams
    print(f"{'stored executions of the workflow':<34} {stored} of the {ran} runs and streamed runs started")
    print(f"{'executor RSS after the runs':<34} {executor_rss_mib(proc):8.0f} MiB")


async def measure(port: int, proc: subprocess.Popen, sections: list[str]) -> None:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        session = (await client.post("/api/v1/auth/signup", json={
            "email": "bench@example.com", "password": "benchmark password", "display_name": "bench"})).json()
        bearer = {"Authorization": f"Bearer {session['access_token']}"}
        key = (await client.post("/api/v1/api-keys", json={"name": "bench", "role": "member"}, headers=bearer)).json()
        # A realistic graph: the RAG template (5 nodes, credentials, prompts), not a two-node toy.
        created = await client.post("/api/v1/templates/builtin:rag-qa:instantiate", headers=bearer,
                                    json={"name": "bench"})
        created.raise_for_status()
        workflow_path = f"/api/v1/workflows/{created.json()['id']}"

    if sections and "gateway" not in sections:
        return await _sections(port, bearer, proc, sections)
    print(f"\n{'route':<34} {'rate':>8}")
    cases = [("GET /healthz (no downstream)", "/healthz", {}),
             ("GET /api/v1/auth/jwks (gRPC, no DB)", "/api/v1/auth/jwks", {}),
             ("GET /api/v1/auth/profile (JWT)", "/api/v1/auth/profile", bearer)]
    cases += [("GET workflow (JWT)", workflow_path, bearer),
              ("GET workflow (X-API-Key)", workflow_path, {"X-API-Key": key["key"]}),
              ("GET /api/v1/workflows (list of 1)", "/api/v1/workflows", bearer)]
    for name, path, headers in cases:
        await run_load("127.0.0.1", port, path, headers, concurrency=8, seconds=1)  # warm-up
        result = await run_load("127.0.0.1", port, path, headers, concurrency=32, seconds=SECONDS)
        print(result.line(name))
    await _sections(port, bearer, proc, sections)


async def _sections(port: int, bearer: dict, proc: subprocess.Popen, sections: list[str]) -> None:
    if not sections or "executor" in sections:
        await measure_executor(port, bearer, proc)
    if not sections or "vectorstore" in sections:
        await measure_vectorstore(port, bearer)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="agentic-bench-") as data_dir:
        proc, port, startup = start_suite(data_dir)
        tail = drain(proc)
        try:
            print(f"start-up (embedded PostgreSQL, migrations, services, gateway): {startup:.2f} s   [target <= 5 s]")
            time.sleep(1)
            ours, pg = tree_rss_mib(proc)
            print(f"idle memory: platform processes {ours:.0f} MiB (of which executor {executor_rss_mib(proc):.0f} "
                  f"MiB), embedded PostgreSQL {pg:.0f} MiB")
            asyncio.run(measure(port, proc, sys.argv[1:]))
        except Exception:
            print("the suite's last output lines:\n" + "".join(tail), file=sys.stderr)
            raise
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
