"""The Containerfile and deploy/kubernetes/ agree with the service (probes, settings, commands),
and their rendering for one host keeps the cluster's pod specs. `make container-check` runs them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from movie_collections.core.settings import Settings
from movie_collections.health.router import LIVE_PATH, READY_PATH

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
# Read by the server command rather than by Settings (see the Containerfile's CMD).
SERVER_VARIABLES = {"WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "PORT"}
# An older cluster still in service, and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
MANIFESTS = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def documents(name: str) -> dict[str, dict[str, Any]]:
    with (KUBERNETES / name).open() as file:
        return {document["kind"]: document for document in yaml.safe_load_all(file)}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_the_manifests_validate_strictly_against_the_kubernetes_schemas(
    name: str, version: str
) -> None:
    for document in documents(name).values():
        kubernetes_validate.validate(document, version, strict=True)


def test_the_kustomization_applies_every_manifest() -> None:
    with (KUBERNETES / "kustomization.yaml").open() as file:
        assert sorted(yaml.safe_load(file)["resources"]) == MANIFESTS


def test_the_api_deployment_probes_the_health_endpoints_with_two_replicas() -> None:
    deployment = documents("api.yaml")["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
    assert container["livenessProbe"]["httpGet"]["path"] == LIVE_PATH
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    service = documents("api.yaml")["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_migrations_are_a_job_of_their_own() -> None:
    job = documents("migrate-job.yaml")["Job"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["movie-collections", "migrate"]


def test_every_configured_name_is_a_setting_or_read_by_the_server() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    config = documents("configmap.yaml")["ConfigMap"]["data"]
    assert set(config) - settings - SERVER_VARIABLES == set()
    assert {"SECRET_KEY", "DATABASE_URL", "MOVIES_API_PASSWORD"} <= settings
    assert "SECRET_KEY" not in config  # secrets go in the Secret, made outside git


def test_the_api_answers_to_its_service_name() -> None:
    """Callers in the cluster name the Service: a Host that ALLOWED_HOSTS lacks would be 400
    (the default names only localhost)."""
    config = documents("configmap.yaml")["ConfigMap"]["data"]
    service = documents("api.yaml")["Service"]["metadata"]["name"]
    allowed = Settings.model_construct(allowed_hosts=config["ALLOWED_HOSTS"]).allowed_host_names
    assert allowed is not None
    assert service in allowed


def test_the_data_dir_is_on_a_writable_volume() -> None:
    """The root filesystem is read-only; the rate limits fall back to DATA_DIR when Redis is
    down, so it must be on a mounted volume."""
    config = documents("configmap.yaml")["ConfigMap"]["data"]
    deployment = documents("api.yaml")["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = [Path(mount["mountPath"]) for mount in container["volumeMounts"]]
    assert any(Path(config["DATA_DIR"]).is_relative_to(mount) for mount in mounts)


def test_the_server_keeps_idle_connections_longer_than_the_ingress_controller() -> None:
    """ingress-nginx reuses an idle upstream connection for up to 60 s: a server that closes it
    sooner now and then loses a request sent as it closes (a 502 to the client)."""
    config = documents("configmap.yaml")["ConfigMap"]["data"]
    assert int(config["HTTP_KEEP_ALIVE_TIMEOUT"]) > 60


def test_the_image_checks_liveness_and_runs_unprivileged_on_a_base_given_as_argument() -> None:
    containerfile = (ROOT / "Containerfile").read_text()
    assert containerfile.startswith("#")
    assert "ARG BASE_IMAGE=docker.io/library/python:3.11-slim" in containerfile
    healthcheck = next(line for line in containerfile.splitlines() if "/health/" in line)
    assert LIVE_PATH in healthcheck
    assert "USER ${APP_UID}" in containerfile
    assert "EXPOSE 8000" in containerfile


def test_the_rendering_for_one_host_keeps_the_pod_specs_with_a_port_per_replica(
    tmp_path: Path,
) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "kube_local.py"),
            "--image=localhost/mc:test",
            "--ports=18081,18082",
            "--set=REDIS_URL=redis://127.0.0.1:6379/3",
            "--secret=SECRET_KEY=not-a-real-key",
            f"--out={tmp_path}",
        ],
        check=True,
    )
    api = list(yaml.safe_load_all((tmp_path / "api.yaml").read_text()))
    config, pods = api[0], api[1:]
    assert config["data"]["REDIS_URL"] == "redis://127.0.0.1:6379/3"
    assert config["data"]["WEB_CONCURRENCY"] == "2"  # the rest is the cluster's
    deployment = documents("api.yaml")["Deployment"]
    (cluster_container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = []
    for pod in pods:
        kubernetes_validate.validate(pod, KUBERNETES_VERSIONS[-1], strict=True)
        assert pod["spec"]["hostNetwork"] is True
        (container,) = pod["spec"]["containers"]
        assert container["image"] == "localhost/mc:test"
        assert container["envFrom"] == cluster_container["envFrom"]
        assert container["securityContext"] == cluster_container["securityContext"]
        assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
        ports.append(next(e["value"] for e in container["env"] if e["name"] == "PORT"))
    assert ports == ["18081", "18082"]
    assert len({pod["metadata"]["name"] for pod in pods}) == 2

    config, migrate = yaml.safe_load_all((tmp_path / "migrate.yaml").read_text())
    kubernetes_validate.validate(migrate, KUBERNETES_VERSIONS[-1], strict=True)
    assert migrate["kind"] == "Pod"
    assert migrate["spec"]["restartPolicy"] == "Never"
    assert migrate["spec"]["containers"][0]["command"] == ["movie-collections", "migrate"]
    secret = json.loads((tmp_path / "secret.json").read_text())
    assert base64.b64decode(secret["SECRET_KEY"]) == b"not-a-real-key"
