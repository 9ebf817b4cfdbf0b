"""The async SQLAlchemy engine every service uses, and the embedded PostgreSQL for a machine with nothing."""

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)


def async_url(url: str) -> str:
    """`postgresql://...` (as pgserver and most tools print it) -> the asyncpg dialect URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


def make_engine(url: str, pool_size: int = 10, pre_ping: bool = False) -> AsyncEngine:
    """Pooled engine. `pre_ping` is off by default: with asyncpg it costs three extra round trips per
    checkout (measured: a GET went from 1 to 4 round trips, ~0.5 ms to ~1 ms). Dead connections are
    detected on use instead (SQLAlchemy invalidates them on a disconnect error) and recycled every 30 min."""
    if not url:
        raise RuntimeError("no database configured: set DATABASE_URL (the launcher sets it for you)")
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping, pool_recycle=1800,
        hide_parameters=True,  # statement parameters hold password hashes and ciphertexts: never in an error text
    )


def start_embedded_postgres(data_dir: Path, cleanup: str | None = None):
    """Start (or reuse) an embedded PostgreSQL 16 with pgvector under `data_dir`; returns the pgserver handle."""
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # pgserver's platformdirs, harmless
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=cleanup)
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    log.info("embedded PostgreSQL at %s", data_dir)
    return server


class Row(dict):
    """A driver record with attribute access, like SQLAlchemy's rows."""

    __slots__ = ()

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Repository:
    """Base of every service's repository: one connection, one unit of work."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def _fetch_one(self, sql: str, *args) -> Row | None:
        """Hot-path read straight through asyncpg (the driver prepares and caches the statement).

        SQLAlchemy's statement building and result processing cost ~0.3 ms of CPU per query here, more than
        the query; the few reads on every request's path (get a workflow, check a session) skip it.
        """
        raw = await self.conn.get_raw_connection()
        record = await raw.driver_connection.fetchrow(sql, *args)
        return None if record is None else Row(record)

    async def _one(self, stmt):
        return (await self.conn.execute(stmt)).first()

    async def _all(self, stmt):
        return (await self.conn.execute(stmt)).all()


R = TypeVar("R", bound=Repository)


class Database(Generic[R]):
    """Hands out a service's repository bound to a connection: in a transaction, or for one-statement reads."""

    def __init__(self, engine: AsyncEngine, repository: type[R]):
        self.engine = engine
        self._repository = repository
        # Single-statement reads need no BEGIN/COMMIT: two round trips saved on every GET.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[R]:
        async with self.engine.begin() as conn:
            yield self._repository(conn)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[R]:
        async with self._autocommit.connect() as conn:
            yield self._repository(conn)
