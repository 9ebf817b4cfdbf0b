"""`python -m services.workflow [serve|migrate|purge-deleted]`."""


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


async def purge(settings: WorkflowSettings) -> None:
    from services.common.db import make_engine
    from services.workflow.graph import Limits
    from services.workflow.node_catalog import NodeCatalogClient
    from services.workflow.repository import Database
    from services.workflow.workflows import Workflows

    engine = make_engine(settings.database_url)
    workflows = Workflows(Database(engine), NodeCatalogClient(), Limits(0, 0, 0), settings.undelete_days)
    removed = await workflows.purge_deleted()
    await engine.dispose()
    print(f"purged {removed} workflow(s) deleted more than {settings.undelete_days} days ago")


def main() -> None:
    settings = WorkflowSettings()
    configure_logging(settings.log_level)
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        migrations.upgrade(Path(__file__).parent, "workflow", settings.database_url)
    elif command == "serve":
        uvloop.run(serve(settings))
    elif command == "purge-deleted":
        uvloop.run(purge(settings))
    else:
        sys.exit(f"unknown command {command!r}; use serve, migrate or purge-deleted")


if __name__ == "__main__":
    main()
