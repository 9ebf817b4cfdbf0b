"""Deployment files, validated offline: Kubernetes schemas, wiring rules, compose structure, the image."""

import asyncio
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.launcher import SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.30.0"


def documents() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [(name, d) for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def of_kind(kind: str) -> list[dict]:
    return [d for _, d in documents() if d["kind"] == kind]


def test_every_manifest_validates_against_the_kubernetes_schema():
    for name, doc in documents():
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc}") from None
    example = yaml.safe_load((K8S / "secrets.example.yaml").read_text())
    kubernetes_validate.validate(example, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_caught():
    deployment = of_kind("Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_and_excludes_the_secret_example():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secrets.example.yaml"}
    assert listed == on_disk


def test_every_service_has_deployment_headless_service_pdb_and_migration_job():
    names = {spec.name for spec in SERVICES}
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    jobs = {j["metadata"]["name"] for j in of_kind("Job")}
    pdbs = {p["metadata"]["name"] for p in of_kind("PodDisruptionBudget")}
    assert names | {"gateway"} <= set(deployments) and names | {"gateway"} <= pdbs
    for spec in SERVICES:
        assert services[spec.name]["spec"]["clusterIP"] == "None"  # client-side gRPC balancing
        assert f"{spec.name}-migrate" in jobs
        container = deployments[spec.name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["python", "-m", f"services.{spec.name}", "serve"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == spec.port  # numeric: gRPC probes need it


def test_containers_are_locked_down_and_have_resources():
    for deployment in of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            assert "readinessProbe" in container and "livenessProbe" in container


def test_network_policy_denies_by_default_and_gateway_is_autoscaled():
    policies = {p["metadata"]["name"]: p for p in of_kind("NetworkPolicy")}
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    hpa = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind("HorizontalPodAutoscaler")}
    assert "gateway" in hpa
    purge = of_kind("CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert purge["args"] == ["python", "-m", "services.workflow", "purge-deleted"]


def test_secrets_are_referenced_never_inlined():
    for deployment in of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if any(word in env["name"] for word in ("KEY", "SECRET", "DATABASE_URL")):
                    assert "valueFrom" in env and "value" not in env, env["name"]


def test_compose_has_a_migration_step_per_service_and_waits_for_it():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg16")
    for spec in SERVICES:
        migrate = services[f"{spec.name}-migrate"]
        assert migrate["command"] == ["python", "-m", f"services.{spec.name}", "migrate"]
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[spec.name]["depends_on"][f"{spec.name}-migrate"]["condition"] == \
            "service_completed_successfully"
        assert services[spec.name]["healthcheck"]["test"][-1].endswith(str(spec.port))
    assert set(services["gateway"]["depends_on"]) == {spec.name for spec in SERVICES}


def test_image_runs_as_non_root_and_generates_stubs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "grpc_tools.protoc" in dockerfile
    assert dockerfile.rindex("USER 10001") > dockerfile.rindex("FROM ")


async def test_compose_health_check_command_works_against_a_real_server(auth_service):
    async def check(address: str) -> tuple[int, str]:
        # Async: the in-process server shares this event loop, so a blocking call would starve it.
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.common.healthcheck", address,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode, out.decode()

    code, out = await check(auth_service.address)
    assert code == 0 and "SERVING" in out
    code, _ = await check("127.0.0.1:1")
    assert code == 1
