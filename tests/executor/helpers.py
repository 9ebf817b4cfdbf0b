"""Helpers for executor tests: users over HTTP, graphs built from a few lines, SSE reading."""

import asyncio
import json
import uuid

import httpx
from httpx_sse import aconnect_sse

PASSWORD = "correct horse battery"


async def user(http: httpx.AsyncClient, tag: str = "exec") -> dict:
    response = await http.post("/auth/signup", json={"email": f"{tag}-{uuid.uuid4().hex[:8]}@example.com",
                                                     "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def flow(nodes: list[tuple], edges: list[tuple]) -> dict:
    """nodes: (id, type, data); edges: (source, target[, sourceHandle])."""
    return {
        "nodes": [{"id": i, "type": t, "position": {"x": 100 * n, "y": 0}, "data": d} for n, (i, t, d) in enumerate(nodes)],
        "edges": [{"id": f"e{n}", "source": e[0], "target": e[1], **({"sourceHandle": e[2]} if len(e) > 2 else {})}
                  for n, e in enumerate(edges)],
    }


def linear(*middle: tuple) -> dict:
    """start -> middle nodes in order -> end."""
    nodes = [("start", "start", {}), *middle, ("end", "end", {})]
    ids = [n[0] for n in nodes]
    return flow(nodes, list(zip(ids, ids[1:], strict=False)))


async def create_workflow(http, headers, graph: dict, name: str = "wf") -> str:
    created = await http.post("/workflows", headers=headers, json={"name": name, "flow_data": graph})
    assert created.status_code == 200, created.text
    return created.json()["id"]


async def run(http, headers, workflow_id: str, value=None, **extra) -> dict:
    response = await http.post(f"/workflows/{workflow_id}:run", headers=headers, json={"input": value, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def sse_events(http, method: str, path: str, headers: dict, body=None, limit: int = 10_000) -> list[dict]:
    """Every SSE event of a stream as {id, event, data}; stops after `limit` events."""
    events = []
    kwargs = {"json": body} if body is not None else {}
    async with aconnect_sse(http, method, path, headers=headers, **kwargs) as source:
        assert source.response.status_code == 200, await source.response.aread()
        async for sse in source.aiter_sse():
            events.append({"id": sse.id, "event": sse.event, "data": json.loads(sse.data) if sse.data else None})
            if len(events) >= limit:
                break
    return events


async def background(http, headers, workflow_id: str, value) -> dict:
    """A StartExecution run (queued, claimed by a replica; no caller token goes with it), waited for until it
    ends."""
    started = await http.post("/executions", headers=headers, json={"workflow_id": workflow_id, "input": value})
    assert started.status_code == 200, started.text
    for _ in range(200):
        execution = (await http.get(f"/executions/{started.json()['id']}", headers=headers)).json()
        if execution["status"] not in ("EXECUTION_STATUS_QUEUED", "EXECUTION_STATUS_RUNNING"):
            return execution
        await asyncio.sleep(0.05)
    raise AssertionError(f"the background run did not end: {execution}")
