"""`python -m services.workflow [serve|migrate]`."""


import logging
import sys
from pathlib import Path

import uvloop

from services.common import migrations
from services.common.server import configure_logging, run_until_signalled
from services.workflow.settings import WorkflowSettings

log = logging.getLogger("services.workflow")


async def serve(settings: WorkflowSettings) -> None:
    from services.workflow import server

    running = await server.start(settings)
    log.info("workflow service listening on %s:%d", settings.host, running.grpc.port)

    async def cleanup() -> None:
        await running.revocations.stop()
        await running.auth_channel.close()
        await running.engine.dispose()

    await run_until_signalled(running.grpc, settings.shutdown_grace_seconds, cleanup)


def main() -> None:
    settings = WorkflowSettings()
    configure_logging(settings.log_level)
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        migrations.upgrade(Path(__file__).parent, "workflow", settings.database_url)
    elif command == "serve":
        uvloop.run(serve(settings))
    else:
        sys.exit(f"unknown command {command!r}; use serve or migrate")


if __name__ == "__main__":
    main()
