"""Health of a service: readiness that follows the database, and a command for container health checks.

`DatabaseWatch` keeps the server's readiness (health service "" and each service name) NOT_SERVING while the
database does not answer `SELECT 1` within a short timeout, so load balancers and the gateway's /readyz stop
sending traffic that could only fail. The health service name `liveness` stays SERVING while the process
runs: a database outage must not make Kubernetes restart every replica.

`python -m services.common.healthcheck [HOST:]PORT`: exit 0 when the gRPC server reports SERVING
(docker-compose; Kubernetes uses its native gRPC probes instead).
"""

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

import asyncpg
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

log = logging.getLogger(__name__)
LIVENESS = "liveness"


class DatabaseWatch:
    def __init__(self, database_url: str, health_servicer: health.aio.HealthServicer, names: Sequence[str],
                 interval: float = 2.0, timeout: float = 1.0):
        # asyncpg takes the plain URL (SQLAlchemy's dialect prefix is not its business)
        self._url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._health, self._names = health_servicer, list(names)
        self._interval, self._timeout = interval, timeout
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None
        self.serving: bool | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            self._conn.terminate()

    async def check(self) -> bool:
        """One probe: True when the database answered within the timeout. Updates the health status."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncio.wait_for(asyncpg.connect(self._url), self._timeout)
            await self._conn.fetchval("SELECT 1", timeout=self._timeout)
            answered = True
        except Exception as exc:  # any failure to answer in time means not ready; the reason goes to the log
            answered = False
            if self.serving is not False:
                log.warning("database did not answer within %.1fs (%s): not ready", self._timeout, type(exc).__name__)
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None
        if answered != self.serving:
            status = health_pb2.HealthCheckResponse.SERVING if answered else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in ("", *self._names):
                await self._health.set(name, status)
            self.serving = answered
        return answered

    async def _run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._interval)


def main() -> int:
    address = sys.argv[1] if len(sys.argv) > 1 else "50051"
    if address.isdigit():  # a bare port: the server in this container
        address = f"127.0.0.1:{address}"
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError as exc:
            print(f"{address}: {exc.code().name}", file=sys.stderr)
            return 1
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    print(f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}")
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
