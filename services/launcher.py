"""Start the whole suite on one machine (`make run`): database, migrations, services, gateway.

With no DATABASE_URL it starts the embedded PostgreSQL (pgvector) under .data/. Each service is a child
process; the launcher waits until each reports SERVING on gRPC health, prints the URLs, and on Ctrl-C or
SIGTERM stops the gateway first, then the services, then the database. A new service is one SERVICES entry.
"""

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Set for the services it starts: the rest of their environment comes on stdin (services.common.cli).
ENV_ON_STDIN = "AGENTIC_ENV_ON_STDIN"


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the schema and the env prefix (upper-cased)
    port: int

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    @property
    def directory(self) -> Path:
        return ROOT / "services" / self.name

    @property
    def schema(self) -> str:
        return self.name

    @property
    def bound_port(self) -> int:
        """The configured port (<NAME>_PORT), so a second suite can run beside the first."""
        return int(os.environ.get(f"{self.name.upper()}_PORT", self.port))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.bound_port}"


SERVICES: list[ServiceSpec] = [
    ServiceSpec("auth", 50051),
    ServiceSpec("workflow", 50052),
    ServiceSpec("executor", 50053),
    ServiceSpec("vectorstore", 50054),
]
GATEWAY_PORT = 8080
# Who may obtain a service identity from auth (IssueServiceToken).
SERVICE_IDENTITIES = ("gateway", "executor", "workflow", "vectorstore")


def dev_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets for a local run, generated once and kept under .data/ so restarts keep sessions and data."""
    path = data_dir / "dev-secrets.env"
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        values = {
            "AUTH_SIGNING_KEYS": json.dumps({"dev-1": base64.b64encode(pem).decode()}),
            "AUTH_CREDENTIAL_KEYS": json.dumps({"1": base64.b64encode(secrets.token_bytes(32)).decode()}),
            "AUTH_SERVICE_SECRETS": json.dumps(
                {name: secrets.token_urlsafe(24) for name in SERVICE_IDENTITIES}
            ),
        }
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))
        path.chmod(0o600)
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value.strip("'")
    # Secrets from an older version: add what it did not have yet (service identities, database roles).
    identities = json.loads(values.get("AUTH_SERVICE_SECRETS") or "{}")
    missing = [name for name in SERVICE_IDENTITIES if name not in identities]
    identities.update({name: secrets.token_urlsafe(24) for name in missing})
    values["AUTH_SERVICE_SECRETS"] = json.dumps(identities)
    role_passwords = [f"{spec.name.upper()}_DB_ROLE_PASSWORD" for spec in SERVICES]
    added = {key: secrets.token_urlsafe(24) for key in role_passwords if key not in values}
    values.update(added)
    if missing or added:
        path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))
    return values


def child_env(database_url: str, extra: dict[str, str], role_passwords: dict[str, str]) -> dict[str, str]:
    from services.common.db import role_url

    env = {**os.environ, **extra, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    for spec in SERVICES:
        if spec.name in role_passwords:  # the service connects as its own role, not as the administrator
            env.setdefault(f"{spec.name.upper()}_DATABASE_URL",
                           role_url(database_url, spec.schema, role_passwords[spec.name]))
        env.setdefault(f"{spec.name.upper()}_PORT", str(spec.bound_port))
        env.setdefault(f"GATEWAY_{spec.name.upper()}_ADDRESS", spec.address)
        env.setdefault(f"{spec.name.upper()}_AUTH_ADDRESS", SERVICES[0].address)
    addresses = {spec.name: spec.address for spec in SERVICES}
    env.setdefault("WORKFLOW_EXECUTOR_ADDRESS", addresses["executor"])
    env.setdefault("EXECUTOR_WORKFLOW_ADDRESS", addresses["workflow"])
    env.setdefault("EXECUTOR_VECTORSTORE_ADDRESS", addresses["vectorstore"])
    # Each service (and the gateway) proves its identity to auth with its entry of AUTH_SERVICE_SECRETS.
    service_secrets = json.loads(env.get("AUTH_SERVICE_SECRETS") or "{}")
    for name, secret in service_secrets.items():
        env.setdefault(f"{name.upper()}_SERVICE_SECRET", secret)
    env.setdefault("GATEWAY_PORT", str(GATEWAY_PORT))
    return env


class Exited(Exception):
    """A child process ended during start-up (a failed migration, a port in use...): its output says why."""


def check_running(process: subprocess.Popen, deadline: float, what: str) -> None:
    if process.poll() is not None:
        raise Exited(process.args[2])  # the module: gateway, services.<name>
    if time.monotonic() > deadline:
        raise TimeoutError(f"{what} did not start in time")


async def wait_serving(address: str, deadline: float, process: subprocess.Popen) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            check_running(process, deadline, address)
            await asyncio.sleep(0.05)


async def wait_http(port: str, path: str, deadline: float, process: subprocess.Popen) -> None:
    """Until GET `path` on the loopback `port` answers 200 (a plain HTTP/1.0 request: httpx's import would
    cost the launcher a tenth of a second of CPU while every process starts)."""
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", int(port)), 1)
            try:
                writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                status = await asyncio.wait_for(reader.readline(), 1)
            finally:
                writer.close()
            if status.split()[1:2] == [b"200"]:
                return
        except (OSError, TimeoutError):
            pass
        check_running(process, deadline, f"http://127.0.0.1:{port}{path}")
        await asyncio.sleep(0.05)


def send(child: subprocess.Popen, message: dict) -> None:
    try:
        child.stdin.write(json.dumps(message) + "\n")
        child.stdin.close()
    except BrokenPipeError:  # it has exited: the launcher's watch reports it
        pass


def migrate(spec: ServiceSpec, database_url: str, role_passwords: dict[str, str]) -> None:
    """One service's migrations; with role passwords (the embedded database, which we administer) the
    service's own role is provisioned first and owns what its migrations create."""
    from services.common import migrations

    migrations.upgrade(spec.directory, spec.schema, database_url, role_passwords.get(spec.name, ""))


async def run(args) -> int:
    started = time.monotonic()
    data_dir = Path(args.data_dir).resolve()
    local_secrets = dev_secrets(data_dir)
    children: list[subprocess.Popen] = []  # the services, auth first
    gateway = None
    embedded = None
    try:
        if not args.migrate_only:
            # Every process starts at once: their imports (about a second of CPU each) overlap the database's
            # start and the migrations. The gateway needs no database and connects to the services lazily;
            # each service imports its code, then waits for the database URLs on stdin (services.common.cli).
            # The suite is announced once the gateway answers and every service is SERVING.
            early_env = child_env("", local_secrets, {})
            gateway = subprocess.Popen([sys.executable, "-m", "gateway"], env=early_env, cwd=ROOT)
            children = [subprocess.Popen([sys.executable, "-m", spec.module, "serve"], cwd=ROOT, text=True,
                                         env={**early_env, ENV_ON_STDIN: "1"}, stdin=subprocess.PIPE)
                        for spec in SERVICES]
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url:
            from services.common.db import start_embedded_postgres

            embedded = await asyncio.to_thread(start_embedded_postgres, data_dir / "pg", cleanup="stop")
            database_url = embedded.get_uri()
        # An external DATABASE_URL's roles are the operator's to provision (see README, Deployment).
        role_passwords = {spec.name: local_secrets[f"{spec.name.upper()}_DB_ROLE_PASSWORD"]
                          for spec in SERVICES} if embedded else {}
        env = child_env(database_url, local_secrets, role_passwords)
        if args.migrate_only:
            for spec in SERVICES:
                await asyncio.to_thread(migrate, spec, database_url, role_passwords)
            print("migrations applied")
            return 0
        # Each service migrates its own schema (it touches no other), then serves: in parallel, and in a
        # process that has the libraries loaded already.
        late_env = {k: v for k, v in env.items() if early_env.get(k) != v}
        for spec, child in zip(SERVICES, children, strict=True):
            send(child, {"env": late_env, "migrate": [database_url, role_passwords.get(spec.name, "")]})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        deadline = time.monotonic() + 60
        port = env["GATEWAY_PORT"]
        waits = [wait_serving(spec.address, deadline, child) for spec, child in zip(SERVICES, children, strict=True)]
        try:
            await asyncio.gather(*waits, wait_http(port, "/healthz", deadline, gateway))
        except Exited as exited:
            print(f"{exited} exited during start-up; stopping the suite", file=sys.stderr)
            return 1
        print(f"\nAgentic Platform is up in {time.monotonic() - started:.1f}s", flush=True)
        print(f"  gateway   http://127.0.0.1:{port}   (API docs: http://127.0.0.1:{port}/docs)")
        for spec in SERVICES:
            print(f"  {spec.name:<9} grpc://{spec.address}")
        print("Ctrl-C stops everything.", flush=True)
        while not stop.is_set():
            if any(child.poll() is not None for child in [gateway, *children]):
                print("a service exited; stopping the suite", file=sys.stderr)
                return 1
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
        return 0
    finally:
        # The gateway first, then the services; auth (the first) last: the others poll its revocation feed
        # until they are down.
        first = [p for p in (gateway, *reversed(children[1:])) if p is not None]
        for group in (first, children[:1]):
            for child in group:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in group:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
        if embedded is not None:
            embedded.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(ROOT / ".data"))
    parser.add_argument("--migrate-only", action="store_true")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
