"""Alembic, one environment per service, each with its version table in its own schema."""

import ast
import asyncio
from pathlib import Path

import asyncpg

from services.common.db import async_url, driver_url, provision_role, role_url


def upgrade(service_dir: Path, schema: str, database_url: str, role_password: str = "") -> None:
    """Apply every pending migration of one service (`python -m services.<svc> migrate`).

    With a `role_password`, `database_url` is an administrator's: the service's own role is created or
    updated first (see db.provision_role) and the migrations run as that role, so it owns what they create.
    Without one, they run as `database_url`'s user (an operator-provisioned service role)."""
    if role_password:
        asyncio.run(provision_role(database_url, schema, role_password))
        database_url = role_url(database_url, schema, role_password)
    # Nearly every start finds the schema at head: a look at its version table then replaces loading Alembic
    # and its environment (~0.5 s of CPU per process, measured).
    if asyncio.run(_applied(database_url, schema)) == head_revisions(service_dir):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.attributes.update(database_url=database_url, schema=schema)
    command.upgrade(config, "head")


def head_revisions(service_dir: Path) -> set[str]:
    """The revisions no other revision builds on, read from the scripts' `revision` / `down_revision`
    assignments (the only two Alembic needs to order them)."""
    revisions, parents = set(), set()
    for path in (service_dir / "migrations" / "versions").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            elif isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            else:
                continue
            for target in targets:
                if isinstance(target, ast.Name) and target.id == "revision":
                    revisions.add(ast.literal_eval(value))
                elif isinstance(target, ast.Name) and target.id == "down_revision":
                    parent = ast.literal_eval(value)
                    parents.update(parent if isinstance(parent, tuple | list) else [parent])
    return revisions - parents


async def _applied(database_url: str, schema: str) -> set[str]:
    """The revisions recorded in the schema's version table (none if it has no table yet)."""
    conn = await asyncpg.connect(driver_url(database_url))
    try:
        if await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".alembic_version') is None:
            return set()
        return {row[0] for row in await conn.fetch(f'SELECT version_num FROM "{schema}".alembic_version')}
    finally:
        await conn.close()


def run_env() -> None:
    """Body of every service's migrations/env.py (online mode only: we always have a database)."""
    from alembic import context
    from sqlalchemy import pool, text
    from sqlalchemy.ext.asyncio import create_async_engine

    attributes = context.config.attributes
    schema, url = attributes["schema"], attributes["database_url"]

    def migrate(connection) -> None:
        context.configure(connection=connection, version_table_schema=schema, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
        async with engine.connect() as connection:
            # A service role may not create schemas (it was given its own): only create one that is missing.
            missing = (await connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                                                {"s": schema})).first() is None
            if missing:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            await connection.commit()
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())
