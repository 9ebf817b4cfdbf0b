"""Alembic, one environment per service, each with its version table in its own schema."""

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.db import async_url, provision_role, role_url


def upgrade(service_dir: Path, schema: str, database_url: str, role_password: str = "") -> None:
    """Apply every pending migration of one service (`python -m services.<svc> migrate`).

    With a `role_password`, `database_url` is an administrator's: the service's own role is created or
    updated first (see db.provision_role) and the migrations run as that role, so it owns what they create.
    Without one, they run as `database_url`'s user (an operator-provisioned service role)."""
    if role_password:
        asyncio.run(provision_role(database_url, schema, role_password))
        database_url = role_url(database_url, schema, role_password)
    config = Config()
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.attributes.update(database_url=database_url, schema=schema)
    command.upgrade(config, "head")


def run_env() -> None:
    """Body of every service's migrations/env.py (online mode only: we always have a database)."""
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
