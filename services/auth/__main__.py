"""`python -m services.auth [serve|migrate|reencrypt-credentials]`."""

import logging
from pathlib import Path

from services.auth.settings import AuthSettings
from services.common.cli import run_command
from services.common.server import run_until_signalled

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
    run_command(Path(__file__).parent, "auth", AuthSettings, {"serve": serve, "reencrypt-credentials": reencrypt})


if __name__ == "__main__":
    main()
