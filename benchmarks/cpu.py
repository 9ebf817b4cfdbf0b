"""CPU cost per request of each process of the suite: `python -m benchmarks.cpu [requests]`.

Wall-clock rates on a shared 2-core machine swing with whatever else runs; the CPU time each process spends
on a fixed number of requests does not. For each case: the user+system CPU of the gateway, every service
and the PostgreSQL backends before and after `requests` requests (8 clients), divided by the count.
"""

import asyncio
import sys
import tempfile
import time

import httpx
import psutil

from benchmarks.__main__ import TEMPLATE_FLOW, drain, start_suite
from benchmarks.load import run_load

NAMES = ("gateway", "auth", "workflow", "executor", "vectorstore")


def processes(launcher: psutil.Process, data_dir: str) -> dict[str, list[psutil.Process]]:
    groups: dict[str, list[psutil.Process]] = {name: [] for name in (*NAMES, "postgres")}
    for child in launcher.children(recursive=True):
        cmd = " ".join(child.cmdline())
        for name in NAMES:
            if f"-m {name}" in cmd or f"services.{name}" in cmd:
                groups[name].append(child)
    for p in psutil.process_iter(["name", "cmdline"]):  # pgserver's postmaster is not the launcher's child
        if p.info["name"] == "postgres" and data_dir in " ".join(p.info["cmdline"] or []):
            groups["postgres"] = [p]
    return groups


def cpu_seconds(groups: dict[str, list[psutil.Process]]) -> dict[str, float]:
    totals = {}
    for name, procs in groups.items():
        total = 0.0
        members = [c for p in procs for c in [p, *p.children(recursive=True)]] if name == "postgres" else procs
        for p in members:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        totals[name] = total
    return totals


async def cost(port: int, groups, path: str, headers: dict, count: int, **request) -> str:
    await run_load("127.0.0.1", port, path, headers, concurrency=8, seconds=60, max_requests=200, **request)
    before = cpu_seconds(groups)  # postgres backends come and go: re-read the tree each time
    started = time.perf_counter()
    result = await run_load("127.0.0.1", port, path, headers, concurrency=8, seconds=600, max_requests=count,
                            **request)
    elapsed = time.perf_counter() - started
    after = cpu_seconds(groups)
    per = {name: (after[name] - before[name]) * 1000 / result.requests for name in after}
    parts = "  ".join(f"{name} {value:5.2f}" for name, value in per.items() if value >= 0.005)
    return (f"{sum(per.values()):6.2f} ms CPU/req  ({parts})  errors {result.errors}/{result.requests}"
            f"  [{result.requests / elapsed:.0f}/s wall]")


async def measure(port: int, groups, count: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        session = (await client.post("/api/v1/auth/signup", json={
            "email": "cpu@example.com", "password": "benchmark password", "display_name": "cpu"})).json()
        bearer = {"Authorization": f"Bearer {session['access_token']}"}
        key = (await client.post("/api/v1/api-keys", json={"name": "cpu", "role": "member"}, headers=bearer)).json()
        rag = await client.post("/api/v1/templates/builtin:rag-qa:instantiate", headers=bearer, json={"name": "cpu"})
        template = await client.post("/api/v1/workflows", headers=bearer,
                                     json={"name": "cpu-template", "flow_data": TEMPLATE_FLOW})
    workflow_path = f"/api/v1/workflows/{rag.json()['id']}"
    run_path = f"/api/v1/workflows/{template.json()['id']}:run"
    cases = [
        ("GET workflow (JWT)", workflow_path, bearer, {}),
        ("GET workflow (X-API-Key)", workflow_path, {"X-API-Key": key["key"]}, {}),
        ("run (3 nodes, stored)", run_path, bearer,
         dict(method="POST", body={"input": "world"}, markers=(b"EXECUTION_STATUS_SUCCEEDED", b"Hello world"))),
    ]
    for name, path, headers, request in cases:
        print(f"{name:<26} {await cost(port, groups, path, headers, count, **request)}", flush=True)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with tempfile.TemporaryDirectory(prefix="agentic-bench-") as data_dir:
        proc, port, startup = start_suite(data_dir)
        drain(proc)
        try:
            groups = processes(psutil.Process(proc.pid), data_dir)
            asyncio.run(measure(port, groups, count))
        finally:
            proc.send_signal(2)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
