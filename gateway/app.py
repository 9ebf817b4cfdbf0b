"""The FastAPI application: transcoded routes, SSE streams, health, metrics, JWKS, docs and the console.

No middleware stack: every transcoded request goes through one endpoint function that reads the body
within limits, builds the gRPC request, calls the one pooled channel of its service, and maps errors.
"""

import asyncio
import collections
import json
import logging
import time
from contextlib import asynccontextmanager

import grpc
import orjson
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.staticfiles import StaticFiles

from agentic.auth.v1 import auth_pb2
from agentic.executor.v1.executor_pb2 import ExecutionEvent
from gateway import errors, langgraph_api, uploads
from gateway.body import BodyTooLarge, parse_json, read_limited
from gateway.edge import ApiKeyExchange
from gateway.openapi import build_openapi
from gateway.pages import DOCS_HTML, NOSNIFF, SWAGGER_ASSETS, Page
from gateway.request_checks import EdgeRefusal, check_headers, check_json_content_type, deadline
from gateway.settings import GatewaySettings
from gateway.static import mount_console
from gateway.transcoder import Binding, RequestError, build_request, discover, to_json_dict
from services.common.protojson import struct_json
from services.common.tokens import ServiceIdentity
from services.common.validation import request_id_or_new

log = logging.getLogger("gateway")

REQUESTS = Counter("gateway_requests_total", "HTTP requests by route and status", ["route", "status"])
LATENCY = Histogram("gateway_request_seconds", "HTTP request latency by route", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
# Routes the gateway serves itself, without a downstream policy. Everything else is transcoded and the
# owning service's explicit per-RPC policy decides (unlisted RPCs are refused there).
PUBLIC_ROUTES = ("/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/docs", "/docs/assets", "/openapi.json",
                 "/")
NO_STORE = {"cache-control": "no-store"}  # replies that hand out a token or key


class Downstream:
    """One pooled gRPC channel per downstream service and a callable per bound method."""

    def __init__(self, settings: GatewaySettings, bindings: list[Binding]):
        options = [("grpc.max_receive_message_length", settings.max_message_bytes),
                   ("grpc.max_send_message_length", settings.max_message_bytes),
                   ("grpc.lb_policy_name", "round_robin"),
                   ("grpc.keepalive_time_ms", 60_000),
                   # The gateway never retries on its own (clients see the error and decide); skipping the
                   # retry machinery makes every call cheaper.
                   ("grpc.enable_retries", 0)]
        self.services = sorted({b.service for b in bindings})
        self.channels = {svc: grpc.aio.insecure_channel(settings.address_of(svc) or "unconfigured:0", options=options)
                         for svc in self.services}
        self.calls = {}
        for b in bindings:
            channel = self.channels[b.service]
            factory = channel.unary_stream if b.server_streaming else channel.unary_unary
            self.calls[b.full_method] = factory(b.full_method, request_serializer=b.request_class.SerializeToString,
                                                response_deserializer=b.response_class.FromString)
        auth = self.channels["auth"]
        self.authenticate_api_key = auth.unary_unary(
            "/agentic.auth.v1.AuthService/AuthenticateApiKey",
            request_serializer=auth_pb2.AuthenticateApiKeyRequest.SerializeToString,
            response_deserializer=auth_pb2.AccessToken.FromString)
        self.identity = ServiceIdentity(auth, "gateway", settings.service_secret)
        self.get_jwks = auth.unary_unary(
            "/agentic.auth.v1.AuthService/GetJwks", request_serializer=auth_pb2.GetJwksRequest.SerializeToString,
            response_deserializer=auth_pb2.Jwks.FromString)

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.channels.values()))


def reply_is_current(request: Request, headers: dict) -> bool:
    """If-None-Match with the resource's current etag: the client's copy is current (304, no body)."""
    etag = headers.get("etag")
    return bool(etag) and request.headers.get("if-none-match") == etag


class Gateway(FastAPI):
    """FastAPI, with the transcoded routes dispatched straight to their endpoint when no middleware was added.

    Each transcoded endpoint reads its body within limits and turns every error into a response itself, so
    Starlette's stack around it (error page, exception handlers, body limit, exit stack: ~7% of a GET's CPU
    here) has nothing to do. A request's method's routes are tried in the router's order (the transcoded ones
    come first there too); anything else goes through the full stack as before (405, 404, the docs, the console)."""

    transcoded: dict[str, list[Route]]  # by HTTP method (a GET route also answers HEAD)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not self.user_middleware:
            for route in self.transcoded.get(scope["method"], ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["app"] = self
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    bindings = discover()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        downstream = Downstream(settings, bindings)  # channels belong to this event loop
        state["downstream"] = downstream
        state["api_keys"] = ApiKeyExchange(downstream.authenticate_api_key, settings.api_key_cache_size,
                                           downstream.identity)
        if not settings.service_secret:
            log.warning("GATEWAY_SERVICE_SECRET is not set: API keys are refused and sign-ins are throttled by "
                        "the gateway's address")
        yield
        await downstream.close()

    app = Gateway(title="Agentic Platform API", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    openapi_document = build_openapi(bindings)

    async def metadata_for(request: Request, request_id: str, to_auth: bool) -> list[tuple[str, str]]:
        md = [("x-request-id", request_id), ("x-client-address", request.client.host if request.client else "")]
        if to_auth:  # auth believes x-client-address only with the gateway's identity beside it
            md.extend(await state["downstream"].identity.metadata("x-service-authorization"))
        authorization = request.headers.get("authorization")
        if authorization:
            md.append(("authorization", authorization))
        else:
            api_key = request.headers.get("x-api-key")
            if api_key:
                token = await state["api_keys"].access_token(api_key.strip(), request_id)
                md.append(("authorization", f"Bearer {token}"))
        return md

    def endpoint(binding: Binding):
        route = binding.template
        reads_body = bool(binding.body)
        reply_headers = {**NOSNIFF, **NO_STORE} if binding.response_carries_secret else {**NOSNIFF}
        is_get = binding.http_method == "GET"
        to_auth = binding.service == "auth"
        metrics = {}  # status -> (counter, histogram): label lookups once per route and status, not per request

        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            request_id = request_id_or_new(request.headers.get("x-request-id", ""))
            headers = {"x-request-id": request_id, **reply_headers}
            try:
                check_headers(request.scope, settings)
                payload = None
                if reads_body:
                    raw = await read_limited(request, settings.max_body_bytes)
                    if raw.strip():
                        check_json_content_type(request.headers.get("content-type"))
                        payload = parse_json(raw, settings.max_json_depth)
                message = build_request(binding, request.path_params, request.query_params.multi_items(), payload,
                                        request.headers.get("if-match", ""), request.headers.get("last-event-id", ""))
                md = await metadata_for(request, request_id, to_auth)
                call = state["downstream"].calls[binding.full_method]
                if binding.server_streaming:
                    response = await _stream(call, message, md, headers, settings)
                else:
                    timeout = deadline(request.headers.get("grpc-timeout"), settings)
                    reply = await call(message, metadata=md, timeout=timeout)
                    if binding.response_has_etag and reply.etag:
                        headers["etag"] = reply.etag
                    if is_get and reply_is_current(request, headers):
                        response = Response(status_code=304, headers=headers)
                    else:
                        response = Response(orjson.dumps(to_json_dict(reply)), media_type="application/json",
                                            headers=headers)
            except RequestError as exc:
                response = errors.bad_request(400, str(exc), exc.field, headers)
            except EdgeRefusal as exc:
                response = errors.bad_request(exc.http_status, str(exc), exc.field, headers)
            except BodyTooLarge:
                response = errors.error_response(
                    413, "INVALID_ARGUMENT", f"request body larger than {settings.max_body_bytes} bytes", None, headers)
            except grpc.aio.AioRpcError as exc:
                api_key = request.headers.get("x-api-key")
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED and api_key and not request.headers.get("authorization"):
                    state["api_keys"].forget(api_key.strip())
                response = errors.from_rpc_error(exc, headers)
            except Exception:
                log.exception("unexpected error on %s %s request_id=%s", binding.http_method, route, request_id)
                response = errors.error_response(500, "INTERNAL", "internal error", None, headers)
            counted = metrics.get(response.status_code)
            if counted is None:
                counted = metrics[response.status_code] = (REQUESTS.labels(route, response.status_code),
                                                            LATENCY.labels(route))
            counted[0].inc()
            counted[1].observe(time.perf_counter() - started)
            return response

        handle.__name__ = binding.method.name
        return handle

    routes = [Route(binding.route_path, endpoint(binding), methods=[binding.http_method]) for binding in bindings]
    app.router.routes.extend(routes)
    app.transcoded = {}
    for route in routes:
        for method in route.methods:
            app.transcoded.setdefault(method, []).append(route)
    app.router.routes.append(uploads.upload_route(settings, lambda: state["downstream"], metadata_for))
    app.router.routes.extend(langgraph_api.routes(settings, state, metadata_for))

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        downstream: Downstream = state["downstream"]

        async def check(service: str) -> str:
            try:
                reply = await health_pb2_grpc.HealthStub(downstream.channels[service]).Check(
                    health_pb2.HealthCheckRequest(), timeout=2)
                return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                return exc.code().name

        statuses = dict(zip(downstream.services, await asyncio.gather(*map(check, downstream.services)), strict=True))
        ready = all(s == "SERVING" for s in statuses.values())
        return JSONResponse({"ready": ready, "services": statuses}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    jwks_cache: dict = {}

    @app.get("/.well-known/jwks.json", include_in_schema=False)
    async def jwks():
        if jwks_cache.get("until", 0) < time.monotonic():
            try:
                reply = await state["downstream"].get_jwks(auth_pb2.GetJwksRequest(), timeout=5)
            except grpc.aio.AioRpcError as exc:
                return errors.from_rpc_error(exc)
            jwks_cache.update(body=to_json_dict(reply), until=time.monotonic() + 60)
        return JSONResponse(jwks_cache["body"], headers={"cache-control": "public, max-age=60"})

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi():
        return JSONResponse(openapi_document)

    docs_page = Page(DOCS_HTML)
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return docs_page.response()

    mount_console(app)

    @app.exception_handler(404)
    async def not_found(request: Request, exc):
        return errors.error_response(404, "NOT_FOUND", f"no route for {request.method} {request.url.path}")

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc):
        return errors.error_response(405, "UNIMPLEMENTED", f"{request.method} is not allowed on {request.url.path}")

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["ETag", "X-Request-Id"])
    return app


async def _stream(call, message, metadata, headers: dict, settings: GatewaySettings) -> Response:
    """Server-streaming RPC -> SSE. The first event is awaited before answering, so an error that happens
    before any event is a normal JSON error; after it, errors become an `event: error`."""
    stream = call(message, metadata=metadata)
    first = await stream.read()
    return EventSourceResponse(_sse_chunks(stream, first), headers=headers, ping=settings.sse_heartbeat_seconds)


SSE_BATCH = 256  # messages read ahead of the client at most (the gRPC stream's flow control does the rest)


async def _sse_chunks(stream, first):
    """The SSE text of the stream's messages. A reader task takes messages off the gRPC stream while the last
    chunk is being written, and the next chunk carries every message read meanwhile: when the client keeps up
    that is one event per write, when a run emits faster (token events) one write carries many."""
    read: collections.deque = collections.deque()
    arrived, room = asyncio.Event(), asyncio.Event()
    ended: list = []  # [None] at EOF, [AioRpcError] when the stream failed

    async def reader():
        try:
            item = first
            while item is not grpc.aio.EOF:
                read.append(item)
                arrived.set()
                if len(read) >= SSE_BATCH:
                    room.clear()
                    await room.wait()
                item = await stream.read()
            ended.append(None)
        except grpc.aio.AioRpcError as exc:
            ended.append(exc)
        finally:
            arrived.set()

    task = asyncio.get_running_loop().create_task(reader())
    try:
        while True:
            if read:
                batch = [_event_bytes(read.popleft()) for _ in range(len(read))]
                room.set()
                yield b"".join(batch)
            elif ended:
                if ended[0] is not None:
                    body = json.loads(errors.from_rpc_error(ended[0]).body)
                    yield ServerSentEvent(data=json.dumps(body), event="error")
                return
            else:
                arrived.clear()
                await arrived.wait()
    finally:
        task.cancel()
        stream.cancel()


def _event_bytes(message) -> bytes:
    """One SSE event. Run events (every stream today, one per token) are framed directly, as ServerSentEvent
    frames them, with the protojson fields of to_json_dict: about 3x cheaper than the generic path."""
    if type(message) is not ExecutionEvent:
        return _event(message).encode()
    data = {"execution_id": message.execution_id, "seq": message.seq, "type": message.type,
            "node_id": message.node_id}
    if message.HasField("payload"):
        data["payload"] = struct_json(message.payload, integers=True)  # as to_json_dict prints Structs
    if message.HasField("timestamp"):
        data["timestamp"] = message.timestamp.ToJsonString()
    kind = message.type.replace("\r", "").replace("\n", "").encode()
    return b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (message.seq, kind, orjson.dumps(data))


def _event(message) -> ServerSentEvent:
    fields = message.DESCRIPTOR.fields_by_name
    event_id = str(message.seq) if "seq" in fields else None
    event_type = None
    if "type" in fields:
        value = message.type
        enum = fields["type"].enum_type
        event_type = enum.values_by_number[value].name if enum is not None and value in enum.values_by_number else str(value)
    return ServerSentEvent(data=orjson.dumps(to_json_dict(message)).decode(), id=event_id, event=event_type)
