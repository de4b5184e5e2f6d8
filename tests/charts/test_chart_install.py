"""`helm install` of both charts into the dev control plane (kwok plays the kubelet): the CRD is served,
the operator Deployment becomes ready, the ChatPlatform exists with the apiserver's defaults, the
in-cluster servers' StatefulSets become ready, and bad values fail at install with the schema's message."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from chartkit import CRD_NAME, OPERATOR_CHART, PLATFORM_CHART, Helm, crd_established, wait_for

pytestmark = pytest.mark.kube

Install = Callable[..., subprocess.CompletedProcess[str]]
SERVERS = ("postgresql", "redis", "kafka", "s3", "opensearch")


@pytest.fixture
def install(helm: Helm, k8s_namespace: str) -> Iterator[Install]:
    """helm install into the test's namespace; every release that got installed is uninstalled after
    (the namespace's deletion would leave the operator chart's cluster-scoped RBAC behind)."""
    installed: list[str] = []

    def run(name: str, chart: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = helm.run("install", name, str(chart), "--namespace", k8s_namespace, *args, check=False)
        if helm.run("status", name, "--namespace", k8s_namespace, check=False).returncode == 0:
            installed.append(name)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    yield run
    for name in reversed(installed):
        helm.run("uninstall", name, "--namespace", k8s_namespace, "--wait", check=False)


def platform(api: Any, namespace: str, name: str) -> dict[str, Any]:
    custom = kubernetes.client.CustomObjectsApi(api)
    found: dict[str, Any] = custom.get_namespaced_custom_object(
        "parley.dev", "v1alpha1", namespace, "chatplatforms", name
    )
    return found


def secret_data(api: Any, namespace: str, name: str) -> dict[str, str]:
    secret = kubernetes.client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def test_the_operator_chart_serves_the_crd_and_its_deployment_becomes_ready(
    helm: Helm, install: Install, k8s_api: Any, k8s_namespace: str
) -> None:
    rendered = helm.run("show", "crds", str(OPERATOR_CHART)).stdout
    assert yaml.safe_load(rendered) == yaml.safe_load(
        (OPERATOR_CHART / "crds" / "chatplatform.yaml").read_text()
    )

    install("op", OPERATOR_CHART, "--wait", "--timeout", "120s")

    assert crd_established(k8s_api)
    served = kubernetes.client.CustomObjectsApi(k8s_api).get_api_resources("parley.dev", "v1alpha1")
    assert "chatplatforms" in {r.name for r in served.resources}

    # helm's --wait counts the new ReplicaSet's ready pods; the Deployment's status follows a moment later.
    def deployment_ready() -> bool:
        status = (
            kubernetes.client.AppsV1Api(k8s_api)
            .read_namespaced_deployment("op-parley-operator", k8s_namespace)
            .status
        )
        return bool(status.ready_replicas == 1 and status.available_replicas == 1)

    wait_for("the operator's Deployment to count its pod ready", deployment_ready, 60)
    pods = kubernetes.client.CoreV1Api(k8s_api).list_namespaced_pod(
        k8s_namespace, label_selector="app.kubernetes.io/name=parley-operator,app.kubernetes.io/instance=op"
    )
    (pod,) = pods.items
    assert pod.status.phase == "Running" and pod.spec.node_name.startswith("kwok-")
    assert pod.spec.service_account_name == "op-parley-operator"

    rbac = kubernetes.client.RbacAuthorizationV1Api(k8s_api)
    prefix = f"{k8s_namespace}-op-parley-operator"
    assert rbac.read_cluster_role(f"{prefix}-reconcile").rules
    helm.run("uninstall", "op", "--namespace", k8s_namespace, "--wait")
    with pytest.raises(kubernetes.client.ApiException) as gone:
        rbac.read_cluster_role(f"{prefix}-reconcile")
    assert gone.value.status == 404
    # Helm never deletes a CRD (that would delete every ChatPlatform): it stays served.
    kubernetes.client.ApiextensionsV1Api(k8s_api).read_custom_resource_definition(CRD_NAME)


def test_the_platform_chart_with_in_cluster_servers(
    helm: Helm, install: Install, k8s_api: Any, k8s_namespace: str, chart_crd: None
) -> None:
    no_volumes = [f"{server}.persistence.enabled=false" for server in SERVERS]
    args = ["-f", str(PLATFORM_CHART / "ci" / "kind-values.yaml")]
    for item in no_volumes:  # no storage provisioner in the dev control plane
        args += ["--set", item]
    install("chat", PLATFORM_CHART, *args, "--wait", "--timeout", "180s")

    apps = kubernetes.client.AppsV1Api(k8s_api)
    for server in SERVERS:
        sts = apps.read_namespaced_stateful_set(f"chat-parley-{server}", k8s_namespace)
        assert sts.status.ready_replicas == 1, server

    spec = platform(k8s_api, k8s_namespace, "parley")["spec"]
    assert spec["kafka"]["bootstrapServers"] == f"chat-parley-kafka.{k8s_namespace}.svc:9092"
    assert spec["services"]["gateway"]["replicas"] == 1
    # Defaults the apiserver filled in from the CRD: the chart left them to it.
    assert spec["auth"]["accessTokenLifetime"] == "15m"
    assert spec["services"]["gateway"]["resources"]["requests"]["cpu"] == "100m"

    pg = secret_data(k8s_api, k8s_namespace, spec["postgres"]["secretName"])
    assert pg["dsn"].startswith(f"postgresql://parley:{pg['password']}@chat-parley-postgresql.")

    # An upgrade keeps the generated credentials (the chart looks them up), so the servers' volumes
    # and the platform's DSN keep agreeing.
    helm.run("upgrade", "chat", str(PLATFORM_CHART), "--namespace", k8s_namespace, *args)
    assert secret_data(k8s_api, k8s_namespace, spec["postgres"]["secretName"]) == pg


BAD_VALUES = [
    pytest.param(
        PLATFORM_CHART,
        ["--set", "platform.services.gateway.replicas=-1"],
        "at '/platform/services/gateway/replicas': minimum: got -1, want 0",
        id="negative-replicas",
    ),
    pytest.param(
        PLATFORM_CHART,
        ["--set", "platform.servics.gateway.replicas=2"],
        "at '/platform': additional properties 'servics' not allowed",
        id="misspelt-key",
    ),
    pytest.param(
        PLATFORM_CHART,
        ["--set", "postgresql.existingSecret=null"],
        "at '/postgresql': missing property 'existingSecret'",
        id="missing-secret-name",
    ),
    pytest.param(
        PLATFORM_CHART,
        ["--set-json", 'platform.ingress={"host": "chat.example.com", "tls": {}}'],
        "at '/platform/ingress/tls': missing property 'secretName'",
        id="tls-without-secret-name",
    ),
    pytest.param(
        OPERATOR_CHART,
        ["--set", "watchNamespace={a}"],
        "at '': additional properties 'watchNamespace' not allowed",
        id="operator-misspelt-key",
    ),
    pytest.param(
        OPERATOR_CHART,
        ["--set", "ports.liveness=0"],
        "at '/ports/liveness': minimum: got 0, want 1",
        id="operator-bad-port",
    ),
]


@pytest.mark.parametrize(("chart", "args", "message"), BAD_VALUES)
def test_bad_values_fail_at_install_with_the_schemas_message(
    helm: Helm, install: Install, k8s_api: Any, k8s_namespace: str, chart: Path, args: list[str], message: str
) -> None:
    result = install("bad", chart, *args, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema(s)" in result.stderr
    assert message in result.stderr
    assert helm.run("list", "--namespace", k8s_namespace, "--all", "-q").stdout.strip() == ""
    assert kubernetes.client.CoreV1Api(k8s_api).list_namespaced_secret(k8s_namespace).items == []


def test_rules_only_the_apiserver_knows_fail_at_install_with_its_message(
    install: Install, k8s_api: Any, k8s_namespace: str, chart_crd: None
) -> None:
    """CEL rules of the CRD (here minReplicas <= maxReplicas) are not JSON Schema: the values pass the
    chart's schema, and the apiserver refuses the ChatPlatform with the rule's message."""
    bad = '{"minReplicas": 5, "maxReplicas": 2}'
    result = install(
        "cel", PLATFORM_CHART, "--set-json", f"platform.services.api.autoscaling={bad}", check=False
    )
    assert result.returncode != 0
    assert "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" in result.stderr
    custom = kubernetes.client.CustomObjectsApi(k8s_api)
    assert (
        custom.list_namespaced_custom_object("parley.dev", "v1alpha1", k8s_namespace, "chatplatforms")[
            "items"
        ]
        == []
    )
