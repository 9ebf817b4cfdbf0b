"""`python -m gateway`: serve the REST + SSE gateway with uvicorn (uvloop, httptools)."""

import logging

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, loop="uvloop", http="httptools",
                access_log=False, log_level=settings.log_level.lower(), timeout_graceful_shutdown=10,
                proxy_headers=bool(settings.forwarded_allow_ips),
                forwarded_allow_ips=settings.forwarded_allow_ips or None)


if __name__ == "__main__":
    main()
