"""`make bench`: bring the suite up as a user would and print its figures.

Targets (DEVELOPERS.md): >= 1,500 GET/s through the gateway, start-up <= 5 s; peers on this machine:
Langflow ~105 GET-flow/s and 40 s cold start / 1.1 GiB idle, Flowise ~25 GET/s with an API key.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import psutil

from benchmarks.load import run_load
from services.launcher import SERVICES

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))


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


async def measure(port: int) -> None:
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
    print("runs/s and first SSE event: not measured yet (the executor service does not exist yet)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="agentic-bench-") as data_dir:
        proc, port, startup = start_suite(data_dir)
        try:
            print(f"start-up (embedded PostgreSQL, migrations, services, gateway): {startup:.2f} s   [target <= 5 s]")
            time.sleep(1)
            ours, pg = tree_rss_mib(proc)
            print(f"idle memory: platform processes {ours:.0f} MiB, embedded PostgreSQL {pg:.0f} MiB")
            asyncio.run(measure(port))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
