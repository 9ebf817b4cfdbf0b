"""Each service connects to PostgreSQL as its own non-superuser role that owns its schema and nothing else."""

import asyncpg
import pytest

from services.common.db import provision_role, role_url
from tests.conftest import ROLE_PASSWORD, as_service

SCHEMAS = ("auth", "workflow", "executor")


async def test_every_service_role_is_no_superuser_and_cannot_read_another_schema(migrated_database):
    for schema in SCHEMAS:
        conn = await asyncpg.connect(as_service(migrated_database, schema))
        try:
            role = await conn.fetchrow("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                                       "WHERE rolname = current_user")
            assert tuple(role) == (False, False, False), schema
            # It owns every table of its schema ...
            owners = await conn.fetch("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = $1", schema)
            assert [r["tableowner"] for r in owners] == [f"agentic_{schema}"]
            await conn.fetchval(f"SELECT count(*) FROM {schema}.alembic_version")
            # ... and can neither read nor write another service's.
            for other in SCHEMAS:
                if other != schema:
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.fetchval(f"SELECT count(*) FROM {other}.alembic_version")
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.execute(f"CREATE TABLE {other}.intruder (id int)")
        finally:
            await conn.close()


async def test_provisioning_takes_over_tables_an_administrator_created_before(migrated_database):
    admin = await asyncpg.connect(migrated_database)
    try:
        await admin.execute("CREATE SCHEMA legacy; CREATE TABLE legacy.items (id bigserial PRIMARY KEY, name text)")
        await provision_role(migrated_database, "legacy", ROLE_PASSWORD)
        owner = await admin.fetchval("SELECT tableowner FROM pg_tables WHERE schemaname = 'legacy'")
        assert owner == "agentic_legacy"
    finally:
        await admin.close()
    conn = await asyncpg.connect(role_url(migrated_database, "legacy", ROLE_PASSWORD))
    try:  # the role can use its table, sequence included
        assert await conn.fetchval("INSERT INTO legacy.items (name) VALUES ('x') RETURNING id") == 1
    finally:
        await conn.close()
