"""The gateway over real HTTP: limits, headers, health, docs, metrics, JWKS, SSE."""

import asyncio
import json
import uuid

import grpc
import httpx
import uvicorn
from grpc_health.v1 import health_pb2
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.app import _stream
from gateway.settings import GatewaySettings
from tests.fakes.servers import QuietServer

JSON = {"content-type": "application/json"}


async def session(http) -> dict:
    response = await http.post("/api/v1/auth/signup", json={
        "email": f"mech-{uuid.uuid4().hex[:8]}@example.com", "password": "long enough password"})
    return response.json()


async def test_body_over_the_limit_is_413(http):
    response = await http.post("/api/v1/auth/signup", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == 413


async def test_chunked_body_over_the_limit_is_413_without_content_length(http):
    async def chunks():
        for _ in range(40):
            yield b" " * 65536

    response = await http.post("/api/v1/auth/signup", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_deep_json_is_400_not_500(http):
    response = await http.post("/api/v1/auth/signup", content=b"[" * 10_000 + b"]" * 10_000, headers=JSON)
    assert response.status_code == 400 and "nested deeper" in response.json()["message"]


async def test_bad_json_is_400(http):
    response = await http.post("/api/v1/auth/signup", content=b'{"email": ', headers=JSON)
    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]


async def test_unknown_route_is_404_json_and_wrong_method_405(http):
    missing = await http.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["status"] == "NOT_FOUND"
    assert (await http.put("/api/v1/auth/signup", json={})).status_code == 405


async def test_request_id_is_echoed_and_generated(http):
    given = await http.get("/api/v1/auth/jwks", headers={"x-request-id": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    assert len((await http.get("/api/v1/auth/jwks")).headers["x-request-id"]) == 32


async def test_etag_header_and_if_match(http):
    s = await session(http)
    auth = {"Authorization": f"Bearer {s['access_token']}"}
    created = await http.post("/api/v1/credentials", headers=auth, json={
        "credential": {"name": "etag", "service_type": "openai"}, "secret": "sk-etag-test-secret-1"})
    etag = created.headers["etag"]
    path = f"/api/v1/credentials/{created.json()['id']}"
    assert (await http.get(path, headers=auth)).headers["etag"] == etag
    unchanged = await http.get(path, headers={**auth, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    first = await http.patch(path, headers={**auth, "If-Match": etag},
                             json={"credential": {"description": "one"}, "update_mask": "description"})
    assert first.status_code == 200 and first.headers["etag"] != etag
    stale = await http.patch(path, headers={**auth, "If-Match": etag},
                             json={"credential": {"description": "two"}, "update_mask": "description"})
    assert stale.status_code == 409 and stale.json()["status"] == "ABORTED"


async def test_query_parameters_reach_the_rpc(http):
    s = await session(http)
    auth = {"Authorization": f"Bearer {s['access_token']}"}
    for i in range(3):
        await http.post("/api/v1/credentials", headers=auth, json={
            "credential": {"name": f"q{i}", "service_type": "openai" if i else "serpapi"}, "secret": "sk-q-secret-xyz"})
    page = (await http.get("/api/v1/credentials?page_size=1&service_type=openai", headers=auth)).json()
    assert len(page["credentials"]) == 1 and page["next_page_token"]
    rest = (await http.get(f"/api/v1/credentials?page_size=5&service_type=openai&page_token={page['next_page_token']}",
                           headers=auth)).json()
    assert len(rest["credentials"]) == 1 and rest["next_page_token"] == ""
    bad = await http.get("/api/v1/credentials?page_size=lots", headers=auth)
    assert bad.status_code == 400 and bad.json()["details"][0]["field_violations"][0]["field"] == "page_size"


async def test_health_readiness_metrics_jwks_docs_console(http):
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["services"]["auth"] == "SERVING"
    jwks = (await http.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["alg"] == "EdDSA" and "d" not in jwks["keys"][0]  # never the private part
    await http.get("/api/v1/auth/jwks")
    metrics = (await http.get("/metrics")).text
    assert 'gateway_requests_total{route="/api/v1/auth/jwks",status="200"}' in metrics
    spec = (await http.get("/openapi.json")).json()
    assert "/api/v1/auth/signin" in spec["paths"] and "/api/v1/credentials/{id}" in spec["paths"]
    assert "swagger" in (await http.get("/docs")).text.lower()
    assert "<title>Agentic Platform</title>" in (await http.get("/")).text


async def test_readyz_is_503_when_a_service_is_down():
    from tests.conftest import serve_gateway

    url, server, task = await serve_gateway(auth="127.0.0.1:1")
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["services"]["auth"] == "UNAVAILABLE"
            signin = await client.post("/api/v1/auth/signin", json={"email": "a@b.co", "password": "x"})
            assert signin.status_code == 503 and "127.0.0.1:1" not in signin.text
    finally:
        server.should_exit = True
        await task


async def test_server_streaming_rpc_becomes_sse_and_early_errors_are_json(auth_service):
    """A real gRPC server stream (health Watch) through the gateway's SSE path, read over HTTP."""
    channel = grpc.aio.insecure_channel(auth_service.address)
    dead = grpc.aio.insecure_channel("127.0.0.1:1")
    settings = GatewaySettings()

    def watch(on):
        return on.unary_stream("/grpc.health.v1.Health/Watch",
                               request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                               response_deserializer=health_pb2.HealthCheckResponse.FromString)

    async def live(request):
        return await _stream(watch(channel), health_pb2.HealthCheckRequest(), [], {}, settings)

    async def broken(request):
        try:
            return await _stream(watch(dead), health_pb2.HealthCheckRequest(), [], {}, settings)
        except grpc.aio.AioRpcError as exc:
            from gateway.errors import from_rpc_error
            return from_rpc_error(exc)

    app = Starlette(routes=[Route("/live", live), Route("/broken", broken)])
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            async with client.stream("GET", "/live") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        assert json.loads(line[5:]) == {"status": "SERVING"}
                        break
            early = await client.get("/broken")
            assert early.status_code == 503 and early.headers["content-type"] == "application/json"
    finally:
        server.should_exit = True
        await task
        await channel.close()
        await dead.close()


def test_every_route_is_transcoded_or_in_the_explicit_public_list():
    from starlette.routing import Route as StarletteRoute

    from gateway import langgraph_api, uploads
    from gateway.app import PUBLIC_ROUTES, create_app
    from gateway.transcoder import discover

    # The multipart upload streams into UploadDocument, whose policy in the vectorstore decides (like a
    # transcoded route's RPC); the /langgraph routes only call transcoded RPCs with the caller's credentials.
    transcoded = {b.route_path for b in discover()} | {uploads.PATH}
    for route in create_app().routes:
        if isinstance(route, StarletteRoute) and not route.path.startswith(f"{langgraph_api.PREFIX}/"):
            assert route.path in transcoded or route.path in PUBLIC_ROUTES, route.path


async def test_nan_and_moderately_deep_json_are_400_not_500(http):
    nan = await http.post("/api/v1/auth/signup", content=b'{"email": "a@b.co", "password": NaN}', headers=JSON)
    assert nan.status_code == 400 and "finite" in nan.json()["message"]
    deep = b'{"display_name": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}"
    response = await http.post("/api/v1/auth/signup", content=deep, headers=JSON)
    assert response.status_code == 400 and "nested deeper than 32" in response.json()["message"]
