"""`python -m services.auth [serve|migrate|reencrypt-credentials]`."""

import asyncio
import logging
import sys
from pathlib import Path

import uvloop

from services.auth.settings import AuthSettings
from services.common import migrations
from services.common.server import configure_logging, run_until_signalled

log = logging.getLogger("services.auth")


async def serve(settings: AuthSettings) -> None:
    from services.auth import server

    running = await server.start(settings)
    log.info("auth service listening on %s:%d", settings.host, running.grpc.port)
    await run_until_signalled(running.grpc, settings.shutdown_grace_seconds, running.engine.dispose)


async def reencrypt(settings: AuthSettings) -> None:
    from services.auth.server import build_domain

    engine, _, _, credentials = build_domain(settings)
    moved = await credentials.reencrypt_all()
    await engine.dispose()
    print(f"re-encrypted {moved} credential(s) under key version {credentials.keyring.current_version}")


def main() -> None:
    settings = AuthSettings()
    configure_logging(settings.log_level)
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        migrations.upgrade(Path(__file__).parent, "auth", settings.database_url)
    elif command == "serve":
        uvloop.run(serve(settings))
    elif command == "reencrypt-credentials":
        asyncio.run(reencrypt(settings))
    else:
        sys.exit(f"unknown command {command!r}; use serve, migrate or reencrypt-credentials")


if __name__ == "__main__":
    main()
