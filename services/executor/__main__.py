"""`python -m services.executor [serve|migrate|prune]`."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.cli import run_command
from services.common.server import run_until_signalled
from services.executor.settings import ExecutorSettings

log = logging.getLogger("services.executor")


async def serve(settings: ExecutorSettings) -> None:
    from services.executor import server

    running = await server.start(settings)
    log.info("executor service listening on %s:%d as %s", settings.host, running.grpc.port, running.replica.name)
    await run_until_signalled(running.grpc, settings.shutdown_grace_seconds, running.close)


async def prune(settings: ExecutorSettings) -> None:
    from services.common.db import make_engine
    from services.executor.repository import Database

    engine = make_engine(settings.database_url)
    cutoff = datetime.now(UTC) - timedelta(days=settings.retention_days)
    async with Database(engine).transaction() as repo:
        events, checkpoints = await repo.prune(cutoff)
    await engine.dispose()
    print(f"pruned {events} event(s) and {checkpoints} checkpoint(s) of runs that ended more than "
          f"{settings.retention_days} days ago")


def main() -> None:
    run_command(Path(__file__).parent, "executor", ExecutorSettings, {"serve": serve, "prune": prune})


if __name__ == "__main__":
    main()
