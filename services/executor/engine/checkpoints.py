"""LangGraph checkpoints in PostgreSQL (langgraph-checkpoint-postgres), kept in the executor's schema.

The saver's tables are created by our Alembic migration (its SQL, run inside our migration so the schema has
one history); at start-up `open_checkpointer` applies any migration a newer library version adds.
"""

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text

SCHEMA = "executor"


def setup_checkpoint_tables(connection) -> None:
    """Run the saver's migrations on an Alembic (synchronous SQLAlchemy) connection, inside its transaction."""
    from langgraph.checkpoint.postgres.base import BasePostgresSaver

    connection.execute(text(f"SET LOCAL search_path TO {SCHEMA}"))
    for version, statement in enumerate(BasePostgresSaver.MIGRATIONS):
        # CONCURRENTLY cannot run in a transaction; the tables are empty here, so a plain index is as good.
        connection.exec_driver_sql(statement.replace("CONCURRENTLY", ""))
        if version > 0:
            connection.exec_driver_sql(f"INSERT INTO checkpoint_migrations (v) VALUES ({version})")
    connection.execute(text("SET LOCAL search_path TO public"))


def psycopg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


async def open_checkpointer(database_url: str, pool_size: int = 4):
    """An AsyncPostgresSaver on its own small psycopg pool (the saver speaks psycopg 3, not asyncpg)."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    pool = AsyncConnectionPool(
        psycopg_url(database_url), min_size=1, max_size=pool_size, open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row,
                "options": f"-c search_path={SCHEMA}"},
    )
    await pool.open()
    saver = AsyncPostgresSaver(pool)
    await saver.setup()
    return saver, pool
