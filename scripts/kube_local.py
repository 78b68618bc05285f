"""Render deploy/kubernetes/ for `podman kube play` on one host (scripts/container_check.sh).

Podman plays Pods, not Jobs, and one replica per Deployment; this host's PostgreSQL and Redis
stand in for the cluster's. So: the migration Job becomes a Pod run once, each API replica a
Pod of its own with the Deployment's pod spec on the host network and a PORT of its own, and
the ConfigMap's values are overridden for this host. Everything else is the cluster's spec.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
from pathlib import Path
from typing import Any

import yaml

KUBERNETES_DIR = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"


def load(name: str) -> list[dict[str, Any]]:
    with (KUBERNETES_DIR / name).open() as file:
        return [document for document in yaml.safe_load_all(file) if document]


def only(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = (document for document in documents if document["kind"] == kind)
    return found


def on_this_host(template: dict[str, Any], *, name: str, image: str) -> dict[str, Any]:
    """A Pod from a pod template: the local image, the host's network (where its services are)."""
    spec = copy.deepcopy(template["spec"])
    spec["hostNetwork"] = True
    # Podman makes a pod's emptyDir a named volume: one per pod, as in a cluster.
    for volume in spec.get("volumes", []):
        volume["name"] = f"{name}-{volume['name']}"
    for container in spec["containers"]:
        container["image"] = image
        for mount in container.get("volumeMounts", []):
            mount["name"] = f"{name}-{mount['name']}"
    metadata = {"name": name, "labels": template["metadata"]["labels"]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def with_port(pod: dict[str, Any], port: int) -> dict[str, Any]:
    """Replicas share the host's network, so each listens on a port of its own.

    On the host network podman refuses port declarations: the readiness probe (which podman
    does not run; the check script polls its path) gets the number instead. Podman would turn
    the liveness probe into a curl command the image lacks; the image's HEALTHCHECK probes the
    same path.
    """
    for container in pod["spec"]["containers"]:
        container["env"] = [e for e in container.get("env", []) if e["name"] != "PORT"]
        container["env"].append({"name": "PORT", "value": str(port)})
        container.pop("ports", None)
        container.pop("livenessProbe", None)
        container["readinessProbe"]["httpGet"]["port"] = port
    return pod


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", required=True)
    parser.add_argument("--ports", required=True, help="one port per API replica: 8081,8082")
    parser.add_argument("--set", action="append", default=[], help="ConfigMap KEY=VALUE")
    parser.add_argument("--secret", action="append", default=[], help="Secret KEY=VALUE")
    parser.add_argument("--out", type=Path, required=True, help="folder for the rendered files")
    arguments = parser.parse_args()

    config_map = only(load("configmap.yaml"), "ConfigMap")
    config_map["data"].update(parse_pairs(arguments.set))
    deployment = only(load("api.yaml"), "Deployment")
    job = only(load("migrate-job.yaml"), "Job")
    ports = [int(port) for port in arguments.ports.split(",")]
    if len(ports) != deployment["spec"]["replicas"]:
        parser.error(
            f"--ports names {len(ports)} ports for {deployment['spec']['replicas']} replicas"
        )

    migrate = on_this_host(
        job["spec"]["template"], name=job["metadata"]["name"], image=arguments.image
    )
    migrate["spec"]["restartPolicy"] = "Never"
    replicas = [
        with_port(
            on_this_host(
                deployment["spec"]["template"],
                name=f"{deployment['metadata']['name']}-{index}",
                image=arguments.image,
            ),
            port,
        )
        for index, port in enumerate(ports, start=1)
    ]
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "migrate.yaml").write_text(yaml.safe_dump_all([config_map, migrate]))
    (arguments.out / "api.yaml").write_text(yaml.safe_dump_all([config_map, *replicas]))
    # Podman 4 reads a Secret's data from a podman secret holding a JSON map of base64 values.
    secret = {
        key: base64.b64encode(value.encode()).decode()
        for key, value in parse_pairs(arguments.secret).items()
    }
    (arguments.out / "secret.json").write_text(json.dumps(secret))


if __name__ == "__main__":
    main()
