"""LISTEN on a dedicated PostgreSQL connection (not from the pool), reconnecting after a loss.

Each (re)connection calls `on_connect`, so the owner re-reads whatever a NOTIFY lost while it was away.
"""

import asyncio
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)


class Listener:
    def __init__(self, dsn: str, channels: tuple[str, ...], on_notify: Callable[[str, str], None],
                 on_connect: Callable[[], None]):
        self.dsn, self.channels, self.on_notify, self.on_connect = dsn, channels, on_notify, on_connect
        self._connection: asyncpg.Connection | None = None

    async def run(self) -> None:
        def notified(_conn, _pid, channel: str, payload: str) -> None:
            self.on_notify(channel, payload)

        while True:
            try:
                self._connection = await asyncpg.connect(self.dsn)
                for channel in self.channels:
                    await self._connection.add_listener(channel, notified)
                self.on_connect()
                while not self._connection.is_closed():
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
            await asyncio.sleep(1)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
