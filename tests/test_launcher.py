"""The launcher as a user runs it (`make run`): embedded database, migrations, every service, the gateway."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from services.launcher import SERVICES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launcher_brings_the_suite_up_and_stops_it_cleanly(tmp_path):
    gateway_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GATEWAY_PORT"] = str(gateway_port)
    for spec in SERVICES:
        env[f"{spec.name.upper()}_PORT"] = str(free_port())
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.launcher", "--data-dir", str(tmp_path / "data")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = []
    try:
        for line in proc.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert proc.poll() is None, "".join(output)
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
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    output.append(proc.stdout.read())
    assert proc.returncode == 0, "".join(output)
    # Every service had its identity for the revocation feed (auth starting or stopping is another matter).
    for failure in "".join(output).split("revocation poll failed")[1:]:
        assert "UNAUTHENTICATED" not in failure[:300], failure[:300]


def test_services_of_the_embedded_database_connect_as_their_own_roles():
    from services.launcher import child_env

    env = child_env("postgresql://postgres:@/postgres?host=/tmp/pg", {}, {spec.name: "pw" for spec in SERVICES})
    for spec in SERVICES:
        assert env[f"{spec.name.upper()}_DATABASE_URL"].startswith(f"postgresql://agentic_{spec.schema}:pw@/postgres")
    # An operator's database: the URL they gave, their roles.
    assert not any(k.endswith("_DATABASE_URL") and k != "DATABASE_URL" for k in child_env("postgresql://x/y", {}, {}))
