"""The async SQLAlchemy engine every service uses, and the embedded PostgreSQL for a machine with nothing."""

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Generic, TypeVar

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
EMBEDDED_SHARED_BUFFERS = "512MB"


def async_url(url: str) -> str:
    """`postgresql://...` (as pgserver and most tools print it) -> the asyncpg dialect URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


def driver_url(url: str) -> str:
    """Any of our database URLs -> the `postgresql://` form asyncpg.connect takes (password kept)."""
    return make_url(async_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


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


def role_name(schema: str) -> str:
    """The PostgreSQL role a service connects as: it owns its schema and nothing else."""
    return f"agentic_{schema}"


def role_url(url: str, schema: str, password: str) -> str:
    """`url` (an administrator's) with the service's own role and password instead."""
    return make_url(url).set(username=role_name(schema), password=password).render_as_string(hide_password=False)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"  # standard_conforming_strings is on (the default since 9.1)


async def provision_role(admin_url: str, schema: str, password: str) -> None:
    """As an administrator: create (or update) the service's login role - not a superuser, no CREATEDB or
    CREATEROLE - and make it the owner of its schema and of everything already in it. Other services' roles
    get no privilege on the schema, so they cannot read its tables."""
    role = role_name(schema)
    conn = await asyncpg.connect(driver_url(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        await conn.execute(f'{"ALTER" if exists else "CREATE"} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB '
                           f"NOCREATEROLE NOINHERIT PASSWORD {_literal(password)}")
        # pgvector is not a trusted extension: only an administrator can create it, so it is done here.
        if await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"):
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
        await conn.execute(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"')
        await conn.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC')
        # Tables an older version created as the administrator move to the role (sequences follow them).
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
        rows = await conn.fetch(
            "SELECT c.relname, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relkind::text = ANY($2::text[]) AND pg_get_userbyid(c.relowner) <> $3 "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))",
            schema, list(kinds), role)
        for name, kind in rows:
            await conn.execute(f'ALTER {kinds[kind]} "{schema}"."{name}" OWNER TO "{role}"')
    finally:
        await conn.close()


def start_embedded_postgres(data_dir: Path, cleanup: str | None = None):
    """Start (or reuse) an embedded PostgreSQL 16 with pgvector under `data_dir`; returns the pgserver handle."""
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # pgserver's platformdirs, harmless
    import pgserver

    class Server(pgserver.PostgresServer):
        def ensure_pgdata_inited(self) -> None:
            fresh = not (self.pgdata / "PG_VERSION").exists()
            super().ensure_pgdata_inited()
            if fresh:  # set before the first start: no restart (see _ensure_shared_buffers)
                with (self.pgdata / "postgresql.conf").open("a") as conf:
                    conf.write(f"shared_buffers = '{EMBEDDED_SHARED_BUFFERS}'\n")

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # pgserver.get_server, with our subclass: one handle per data directory and process.
    server = Server._instances.get(data_dir) or Server(data_dir, cleanup_mode=cleanup)
    # One psql process (each costs tens of ms): the extension (here, once, rather than in four services'
    # role provisioning at the same time) and the setting's check.
    _ensure_shared_buffers(server, server.psql(
        "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS vector; SHOW shared_buffers;"))
    log.info("embedded PostgreSQL at %s", data_dir)
    return server


def _ensure_shared_buffers(server, shown: str) -> None:
    """PostgreSQL's default 128MB of shared buffers holds less than one HNSW index of 100k 384-d vectors (195 MB,
    its table 85 MB): a search then read a quarter of its pages back through the kernel (measured here: the
    statement 1.5-2x slower, more at high ef_search). A new data directory has it in postgresql.conf from the
    start; one made by an older version gets it here, with a restart (pg_ctl restart keeps the server's
    options). Pages are only allocated when used."""
    from pgserver._commands import pg_ctl  # pgserver has no public restart; the version is pinned

    if EMBEDDED_SHARED_BUFFERS in shown:
        return
    server.psql(f"ALTER SYSTEM SET shared_buffers = '{EMBEDDED_SHARED_BUFFERS}';")
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=30)
    server.ensure_postgres_running()  # re-reads the new postmaster's pid (the handle stops it at exit)


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

    @contextlib.asynccontextmanager
    async def raw_reading(self) -> AsyncIterator[R]:
        """reading() for repository methods written in raw SQL (`_fetch_one` and the like): the pooled driver
        connection without SQLAlchemy's Connection around it, ~80 µs of CPU less per checkout (measured; a GET
        or a run's start, events and finish each take one). Statements run outside a transaction, as there."""
        pooled = await self.engine.raw_connection()
        try:
            yield self._repository(_DriverOnly(pooled))
        finally:
            # SQLAlchemy does not see errors raised here, so it cannot tell a connection the server dropped
            # (a restart, an idle timeout): asyncpg can, and such a connection must not go back to the pool.
            if pooled.driver_connection.is_closed():
                pooled.invalidate()
            else:
                pooled.close()  # back to the pool


class _DriverOnly:
    """Stands in for SQLAlchemy's AsyncConnection where a repository only asks it for the driver connection."""

    def __init__(self, pooled):
        self._pooled = pooled

    async def get_raw_connection(self):
        return self._pooled
