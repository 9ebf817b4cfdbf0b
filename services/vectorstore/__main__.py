"""`python -m services.vectorstore [serve|migrate]`."""

import logging
from pathlib import Path

from services.common.cli import run_command
from services.common.server import run_until_signalled
from services.vectorstore.settings import VectorstoreSettings

log = logging.getLogger("services.vectorstore")


async def serve(settings: VectorstoreSettings) -> None:
    from services.vectorstore import server

    running = await server.start(settings)
    log.info("vectorstore service listening on %s:%d as %s", settings.host, running.grpc.port,
             running.ingestor.name)
    await run_until_signalled(running.grpc, settings.shutdown_grace_seconds, running.close)


def main() -> None:
    run_command(Path(__file__).parent, "vectorstore", VectorstoreSettings, {"serve": serve})


if __name__ == "__main__":
    main()
