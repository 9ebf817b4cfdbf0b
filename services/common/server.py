"""gRPC aio server bootstrap: servicers, health, reflection, the interceptor, graceful shutdown."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.healthcheck import LIVENESS, DatabaseWatch
from services.common.interceptor import ServiceInterceptor
from services.common.settings import ServiceSettings
from services.common.tokens import TokenVerifier

log = logging.getLogger(__name__)


def server_options(settings: ServiceSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Clients reconnect now and then, so new replicas behind a Kubernetes Service get traffic.
        ("grpc.max_connection_age_ms", 5 * 60 * 1000),
        ("grpc.max_connection_age_grace_ms", 30 * 1000),
        ("grpc.keepalive_time_ms", 60 * 1000),
    ]


class GrpcService:
    """A started server: its bound port, its health servicer, and how to stop it."""

    def __init__(self, server: grpc.aio.Server, port: int, health_servicer: health.aio.HealthServicer,
                 database_watch: DatabaseWatch | None = None):
        self.server, self.port, self.health = server, port, health_servicer
        self.database_watch = database_watch

    async def stop(self, grace: float) -> None:
        if self.database_watch is not None:
            await self.database_watch.stop()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_server(
    settings: ServiceSettings,
    add_servicers: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    policy: Mapping[str, str],
    verifier: TokenVerifier | None,
) -> GrpcService:
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(policy, verifier)], options=server_options(settings)
    )
    add_servicers(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    await server.start()
    for name in ("", LIVENESS, *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    watch = None
    if settings.database_url:  # ready only while the database answers
        watch = DatabaseWatch(settings.database_url, health_servicer, service_names)
        await watch.check()
        watch.start()
    return GrpcService(server, port, health_servicer, watch)


async def run_until_signalled(service: GrpcService, grace: float, on_stop: Callable[[], Awaitable[None]]) -> None:
    """Serve until SIGTERM/SIGINT, then stop taking new RPCs and give in-flight ones `grace` seconds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down, grace %.0fs", grace)
    await service.stop(grace)
    await on_stop()


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
