"""Smoke tests of the dev stack's Kubernetes control plane: each one makes the real servers work
together (apiserver + etcd, controller-manager + scheduler + kwok, helm against the apiserver)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from parley.devstack import versions

pytestmark = pytest.mark.kube


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def crd_group(k8s_api: Any) -> Iterator[str]:
    """A CRD group of the test's own (CRDs are cluster-wide); its CRDs are deleted after."""
    group = f"t{uuid.uuid4().hex[:10]}.parley.test"
    yield group
    ext = kubernetes.client.ApiextensionsV1Api(k8s_api)
    for crd in ext.list_custom_resource_definition().items:
        if crd.spec.group == group:
            ext.delete_custom_resource_definition(crd.metadata.name)


def test_crd_is_served_and_stores_custom_objects(k8s_api: Any, k8s_namespace: str, crd_group: str) -> None:
    ext = kubernetes.client.ApiextensionsV1Api(k8s_api)
    name = f"widgets.{crd_group}"
    ext.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": crd_group,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "required": ["size"],
                                        "properties": {"size": {"type": "integer", "minimum": 1}},
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    )

    def established() -> bool:
        crd = ext.read_custom_resource_definition(name)
        conditions = (crd.status and crd.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, 30, f"CRD {name} to be established")
    custom = kubernetes.client.CustomObjectsApi(k8s_api)
    body = {
        "apiVersion": f"{crd_group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    custom.create_namespaced_custom_object(crd_group, "v1", k8s_namespace, "widgets", body)

    stored = custom.get_namespaced_custom_object(crd_group, "v1", k8s_namespace, "widgets", "w1")
    assert stored["spec"] == {"size": 3}
    assert stored["metadata"]["uid"]
    listed = custom.list_namespaced_custom_object(crd_group, "v1", k8s_namespace, "widgets")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["w1"]
    # The schema is enforced by the apiserver, so an invalid object is refused.
    bad = {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}}
    with pytest.raises(kubernetes.client.ApiException) as refused:
        custom.create_namespaced_custom_object(crd_group, "v1", k8s_namespace, "widgets", bad)
    assert refused.value.status == 422


def test_deployment_becomes_ready_on_fake_nodes(
    k8s_api: Any, k8s_namespace: str, kube_server: dict[str, dict[str, str]]
) -> None:
    apps = kubernetes.client.AppsV1Api(k8s_api)
    core = kubernetes.client.CoreV1Api(k8s_api)
    labels = {"app": "smoke"}
    apps.create_namespaced_deployment(
        k8s_namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "smoke"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    # kwok never pulls or runs the image; any name does.
                    "spec": {"containers": [{"name": "app", "image": "parley-smoke/pause:1"}]},
                },
            },
        },
    )

    def ready() -> bool:
        status = apps.read_namespaced_deployment_status("smoke", k8s_namespace).status
        return bool(status and status.ready_replicas == 2)

    wait_for(ready, 120, "deployment smoke to have 2 ready replicas")
    replica_sets = apps.list_namespaced_replica_set(k8s_namespace).items
    assert len(replica_sets) == 1  # made by the deployment controller
    pods = core.list_namespaced_pod(k8s_namespace, label_selector="app=smoke").items
    assert len(pods) == 2
    fake_nodes = set(kube_server["kwok"]["nodes"].split(","))
    for pod in pods:
        assert pod.spec.node_name in fake_nodes  # bound by the scheduler
        assert pod.status.phase == "Running"  # played by kwok
        assert pod.status.pod_ip
        assert pod.metadata.owner_references[0].kind == "ReplicaSet"


def write_chart(root: Path) -> Path:
    chart = root / "smoke-chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "smoke-chart",
                "version": "0.1.0",
                # Fails unless the apiserver reports its real version (the build's ldflags).
                "kubeVersion": ">=1.34.0-0",
            }
        )
    )
    (chart / "values.yaml").write_text(yaml.safe_dump({"greeting": "hello"}))
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: {{ .Release.Name }}-config\n"
        "data:\n"
        "  greeting: {{ .Values.greeting | quote }}\n"
        "  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    return chart


def test_helm_installs_and_uninstalls_a_chart(
    helm_bin: Path, kubeconfig: Path, k8s_api: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    chart = write_chart(tmp_path)
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        # helm's caches and repositories stay in the test's tmp dir.
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
    }

    def helm(*args: str) -> str:
        done = subprocess.run(
            [str(helm_bin), *args, "--namespace", k8s_namespace],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    helm("install", "smoke", str(chart), "--set", "greeting=hi there", "--wait", "--timeout", "60s")
    core = kubernetes.client.CoreV1Api(k8s_api)
    config = core.read_namespaced_config_map("smoke-config", k8s_namespace)
    assert config.data["greeting"] == "hi there"
    assert config.data["kubeVersion"] == versions.KUBERNETES
    assert "smoke" in helm("list", "--short")

    helm("uninstall", "smoke", "--wait")
    with pytest.raises(kubernetes.client.ApiException) as gone:
        core.read_namespaced_config_map("smoke-config", k8s_namespace)
    assert gone.value.status == 404
    assert "smoke" not in helm("list", "--short")


def _job(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": image}]}},
        },
    }


def _job_outcome(batch: Any, namespace: str, name: str) -> str | None:
    conditions = batch.read_namespaced_job_status(name, namespace).status.conditions or []
    done = [c.type for c in conditions if c.status == "True" and c.type in ("Complete", "Failed")]
    return done[0] if done else None


def test_jobs_finish_and_fail_by_image_tag(k8s_api: Any, k8s_namespace: str) -> None:
    """kwok plays the kubelet for Job pods: they succeed, unless the image tag contains `fail`
    (what tests use to make a migration fail), and the Job controller draws its conclusion."""
    batch = kubernetes.client.BatchV1Api(k8s_api)
    batch.create_namespaced_job(k8s_namespace, _job("works", "parley-smoke/migrate:1.0.0"))
    batch.create_namespaced_job(k8s_namespace, _job("breaks", "registry.local:5000/parley:1.1.0-fail"))
    outcomes: dict[str, str | None] = {}

    def finished() -> bool:
        outcomes.update({name: _job_outcome(batch, k8s_namespace, name) for name in ("works", "breaks")})
        return all(outcomes.values())

    wait_for(finished, 60, "both Jobs to finish")
    assert outcomes == {"works": "Complete", "breaks": "Failed"}
    core = kubernetes.client.CoreV1Api(k8s_api)
    (failed_pod,) = core.list_namespaced_pod(k8s_namespace, label_selector="job-name=breaks").items
    assert failed_pod.status.phase == "Failed"
    assert failed_pod.status.container_statuses[0].state.terminated.exit_code == 1


def test_fake_nodes_hold_hundreds_of_pods(k8s_api: Any, kube_server: dict[str, dict[str, str]]) -> None:
    core = kubernetes.client.CoreV1Api(k8s_api)
    for name in kube_server["kwok"]["nodes"].split(","):
        # The apiserver gives quantities back in canonical form ("1k").
        assert kubernetes.utils.parse_quantity(core.read_node(name).status.allocatable["pods"]) >= 1000


def test_services_have_room_beyond_the_first_range(
    k8s_api: Any, kube_server: dict[str, dict[str, str]]
) -> None:
    """A second ServiceCIDR: the flag's /24 holds 254 Services, the operator's benchmark makes 450."""
    networking: Any = kubernetes.client.NetworkingV1Api(k8s_api)
    cidr = networking.read_service_cidr("parley-dev-services")
    assert cidr.spec.cidrs == ["10.1.0.0/16"]
    conditions = {c.type: c.status for c in cidr.status.conditions or []}
    assert conditions.get("Ready") == "True"
