"""`python -m services.workflow [serve|migrate|purge-deleted]`."""


import logging
from pathlib import Path

from services.common.cli import run_command
from services.common.server import run_until_signalled
from services.workflow.settings import WorkflowSettings

log = logging.getLogger("services.workflow")


async def serve(settings: WorkflowSettings) -> None:
    from services.workflow import server

    running = await server.start(settings)
    log.info("workflow service listening on %s:%d", settings.host, running.grpc.port)
    await run_until_signalled(running.grpc, settings.shutdown_grace_seconds, running.close)


async def purge(settings: WorkflowSettings) -> None:
    from services.common.db import make_engine
    from services.common.flowgraph import Limits
    from services.workflow.node_catalog import NodeCatalogClient
    from services.workflow.repository import Database
    from services.workflow.workflows import Workflows

    engine = make_engine(settings.database_url)
    workflows = Workflows(Database(engine), NodeCatalogClient(), Limits(0, 0, 0), settings.undelete_days)
    removed = await workflows.purge_deleted()
    await engine.dispose()
    print(f"purged {removed} workflow(s) deleted more than {settings.undelete_days} days ago")


def main() -> None:
    run_command(Path(__file__).parent, "workflow", WorkflowSettings, {"serve": serve, "purge-deleted": purge})


if __name__ == "__main__":
    main()
