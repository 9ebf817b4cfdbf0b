"""`python -m services.<name> <command>`: the command line every service shares (serve, migrate, its own)."""

import importlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from services.common import migrations
from services.common.server import configure_logging
from services.common.settings import ServiceSettings
from services.launcher import ENV_ON_STDIN


def run_command(directory: Path, schema: str, settings_type: type[ServiceSettings],
                commands: dict[str, Callable[[ServiceSettings], Awaitable[None]]]) -> None:
    """`migrate` applies the service's Alembic migrations to its schema (with <SVC>_DB_ROLE_PASSWORD set, as an
    administrator who first provisions the service's own role); the other commands are coroutines
    (the first is the default). Unknown commands exit with the list of known ones."""
    command = sys.argv[1] if len(sys.argv) > 1 else next(iter(commands))
    launched = wait_for_launcher(f"services.{directory.name}.server") if os.environ.get(ENV_ON_STDIN) else None
    settings = settings_type()
    configure_logging(settings.log_level)
    if launched is not None:  # the launcher's services migrate their own schemas, all at once
        migrations.upgrade(directory, schema, *launched["migrate"])
    if command == "migrate":
        migrations.upgrade(directory, schema, settings.database_url, settings.db_role_password)
    elif command in commands:
        uvloop.run(commands[command](settings))
    else:
        sys.exit(f"unknown command {command!r}; use {', '.join([*commands, 'migrate'])}")


def wait_for_launcher(module: str) -> dict:
    """Import the service's code (most of a service's start-up: about a second) while the launcher starts the
    database, then take the environment's last entries (the database URLs) and the migration's arguments from
    it. An empty stdin means the launcher stopped first."""
    importlib.import_module(module)
    try:
        line = sys.stdin.readline()
    except KeyboardInterrupt:  # Ctrl-C during start-up: the launcher stops everything
        sys.exit(130)
    if not line:
        sys.exit(1)
    message = json.loads(line)
    os.environ.update(message["env"])
    return message
