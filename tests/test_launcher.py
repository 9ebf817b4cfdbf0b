"""The launcher as a user runs it (`make run`): embedded database, migrations, every service, the gateway."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from services.launcher import SERVICES
from tests.conftest import ROLE_PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(data_dir, **extra_env) -> tuple[subprocess.Popen, int]:
    gateway_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GATEWAY_PORT"] = str(gateway_port)
    for spec in SERVICES:
        env[f"{spec.name.upper()}_PORT"] = str(free_port())
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.launcher", "--data-dir", str(data_dir)],
        env={**env, **extra_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return proc, gateway_port


def wait_until_up(proc: subprocess.Popen, output: list[str]) -> None:
    for line in proc.stdout:
        output.append(line)
        if "Ctrl-C stops everything" in line:
            break
    assert proc.poll() is None, "".join(output)


def stop(proc: subprocess.Popen, output: list[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    output.append(proc.stdout.read())
    assert proc.returncode == 0, "".join(output)


def test_launcher_brings_the_suite_up_and_stops_it_cleanly(tmp_path):
    started = time.monotonic()
    proc, gateway_port = launch(tmp_path / "data")
    output: list[str] = []
    try:
        wait_until_up(proc, output)
        startup = time.monotonic() - started
        print(f"suite start-up (embedded PostgreSQL included): {startup:.1f}s")
        base = f"http://127.0.0.1:{gateway_port}"
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        signed_up = httpx.post(f"{base}/api/v1/auth/signup", timeout=10,
                               json={"email": "launcher@example.com", "password": "long enough pw", "display_name": "L"})
        assert signed_up.status_code == 200, signed_up.text
        token = signed_up.json()["access_token"]
        profile = httpx.get(f"{base}/api/v1/auth/profile", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert profile.json()["email"] == "launcher@example.com"
        templates = httpx.get(f"{base}/api/v1/templates", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert templates.status_code == 200 and len(templates.json()["templates"]) >= 6
        # The gateway has its service identity: it can exchange an API key.
        key = httpx.post(f"{base}/api/v1/api-keys", headers={"Authorization": f"Bearer {token}"}, timeout=5,
                         json={"name": "launcher", "role": "viewer"}).json()["key"]
        assert httpx.get(f"{base}/api/v1/templates", headers={"X-API-Key": key}, timeout=5).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5).json()
        assert ready["services"] == {spec.name: "SERVING" for spec in SERVICES}
        assert (tmp_path / "data" / "dev-secrets.env").stat().st_mode & 0o077 == 0
    finally:
        stop(proc, output)
    # Every service had its identity for the revocation feed (auth starting or stopping is another matter).
    for failure in "".join(output).split("revocation poll failed")[1:]:
        assert "UNAUTHENTICATED" not in failure[:300], failure[:300]

    # `make run` again on the same data directory: the schemas are at head, the account is still there.
    proc, gateway_port = launch(tmp_path / "data")
    output: list[str] = []
    try:
        wait_until_up(proc, output)
        signed_in = httpx.post(f"http://127.0.0.1:{gateway_port}/api/v1/auth/signin", timeout=10,
                               json={"email": "launcher@example.com", "password": "long enough pw"})
        assert signed_in.status_code == 200, signed_in.text
    finally:
        stop(proc, output)


def test_a_service_failing_at_start_up_stops_the_suite_at_once(tmp_path):
    proc, _ = launch(tmp_path / "data", WORKFLOW_LOG_LEVEL="NO-SUCH-LEVEL")
    try:
        output, _ = proc.communicate(timeout=50)  # well before the 60 s readiness deadline
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 1, output
    assert "exited during start-up; stopping the suite" in output
    assert "Ctrl-C stops everything" not in output


def test_migrations_find_the_heads_that_alembic_finds():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from services.common.migrations import head_revisions

    for spec in SERVICES:
        config = Config()
        config.set_main_option("script_location", str(spec.directory / "migrations"))
        assert head_revisions(spec.directory) == set(ScriptDirectory.from_config(config).get_heads()), spec.name


def test_a_schema_at_head_is_checked_without_loading_alembic(migrated_database):
    # A fresh interpreter: upgrade() on a migrated schema must not import Alembic (its cost is the point).
    code = ("import sys; from services.common import migrations; from services.launcher import SERVICES; "
            "spec = SERVICES[0]; "
            f"migrations.upgrade(spec.directory, spec.schema, {migrated_database!r}, {ROLE_PASSWORD!r}); "
            "assert 'alembic' not in sys.modules, 'alembic was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_services_of_the_embedded_database_connect_as_their_own_roles():
    from services.launcher import child_env

    env = child_env("postgresql://postgres:@/postgres?host=/tmp/pg", {}, {spec.name: "pw" for spec in SERVICES})
    for spec in SERVICES:
        assert env[f"{spec.name.upper()}_DATABASE_URL"].startswith(f"postgresql://agentic_{spec.schema}:pw@/postgres")
    # An operator's database: the URL they gave, their roles.
    assert not any(k.endswith("_DATABASE_URL") and k != "DATABASE_URL" for k in child_env("postgresql://x/y", {}, {}))
