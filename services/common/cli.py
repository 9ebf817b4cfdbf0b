"""`python -m services.<name> <command>`: the command line every service shares (serve, migrate, its own)."""

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from services.common import migrations
from services.common.server import configure_logging
from services.common.settings import ServiceSettings


def run_command(directory: Path, schema: str, settings: ServiceSettings,
                commands: dict[str, Callable[[ServiceSettings], Awaitable[None]]]) -> None:
    """`migrate` applies the service's Alembic migrations to its schema (with <SVC>_DB_ROLE_PASSWORD set, as an
    administrator who first provisions the service's own role); the other commands are coroutines
    (the first is the default). Unknown commands exit with the list of known ones."""
    configure_logging(settings.log_level)
    command = sys.argv[1] if len(sys.argv) > 1 else next(iter(commands))
    if command == "migrate":
        migrations.upgrade(directory, schema, settings.database_url, settings.db_role_password)
    elif command in commands:
        uvloop.run(commands[command](settings))
    else:
        sys.exit(f"unknown command {command!r}; use {', '.join([*commands, 'migrate'])}")
