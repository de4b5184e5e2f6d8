"""Both charts installed, the operator run from the source tree as the chart's ServiceAccount (so with
exactly the rights the chart grants): the ChatPlatform made by the parley chart reaches Ready against
the dev stack's real Kafka, S3 server and OpenSearch, and its external resources go with it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from chartkit import OPERATOR_CHART, PLATFORM_CHART, REPO, Helm, single_broker_topics, wait_for
from parley.testing.waiting import free_port

pytestmark = pytest.mark.kube

READY_TIMEOUT = 240.0
PLATFORM = "chat"


def service_account_kubeconfig(admin: Path, api: Any, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount (a bound token from the TokenRequest API),
    for the same apiserver and CA as the admin's."""
    request = kubernetes.client.AuthenticationV1TokenRequest(
        spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = kubernetes.client.CoreV1Api(api).create_namespaced_service_account_token(
        account, namespace, request
    )
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": account, "user": {"token": token.status.token}}],
                "contexts": [{"name": "sa", "context": {"cluster": cluster["name"], "user": account}}],
                "current-context": "sa",
            }
        )
    )
    path.chmod(0o600)
    return path


def allowed(
    kubeconfig: Path, verb: str, resource: str, namespace: str, subresource: str | None = None
) -> bool:
    """Whether the kubeconfig's identity may `verb` `resource` in `namespace` (the apiserver's own
    authorizer answers, as SelfSubjectAccessReview)."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with kubernetes.client.ApiClient(configuration) as api:
        review = kubernetes.client.V1SelfSubjectAccessReview(
            spec=kubernetes.client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=kubernetes.client.V1ResourceAttributes(
                    verb=verb, resource=resource, namespace=namespace, subresource=subresource
                )
            )
        )
        result = kubernetes.client.AuthorizationV1Api(api).create_self_subject_access_review(review)
        return bool(result.status.allowed)


def create_secret(api: Any, namespace: str, name: str, data: dict[str, str]) -> None:
    body = kubernetes.client.V1Secret(
        metadata=kubernetes.client.V1ObjectMeta(name=name),
        data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    )
    kubernetes.client.CoreV1Api(api).create_namespaced_secret(namespace, body)


class OperatorProcess:
    """`python -m parley_operator` from the source tree, watching one namespace."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        argv = [
            sys.executable,
            "-m",
            "parley_operator",
            "--standalone",
            "--namespace",
            namespace,
            "--liveness",
            f"http://127.0.0.1:{self.port}/healthz",
        ]
        with log.open("w") as out:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited ({self.process.returncode}):\n{self.tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def tail(self, lines: int = 60) -> str:
        kept = [line for line in self.log.read_text().splitlines() if "aiohttp.access" not in line]
        return "\n".join(kept[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def releases(helm: Helm, k8s_namespace: str) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in reversed(names):
        helm.run("uninstall", name, "--namespace", k8s_namespace, "--wait", "--timeout", "120s", check=False)


def release_finalizers(api: Any, namespace: str) -> None:
    """Last resort after a failure: with no operator left, a ChatPlatform's finalizer would keep the
    test's namespace from ever being deleted."""
    custom = kubernetes.client.CustomObjectsApi(api)
    for item in custom.list_namespaced_custom_object("parley.dev", "v1alpha1", namespace, "chatplatforms")[
        "items"
    ]:
        name = item["metadata"]["name"]
        patch = {"metadata": {"finalizers": []}}
        custom.patch_namespaced_custom_object(
            "parley.dev", "v1alpha1", namespace, "chatplatforms", name, patch
        )


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


async def topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()


@pytest.mark.timeout(600)
def test_the_platform_reaches_ready_with_the_operator_from_the_source_tree(
    helm: Helm,
    releases: list[str],
    k8s_api: Any,
    kubeconfig: Path,
    k8s_namespace: str,
    chart_crd: None,
    tmp_path: Path,
    pg_dsn: str,
    redis_server: dict[str, str],
    kafka_bootstrap: str,
    s3_server: dict[str, str],
    opensearch_url: str,
) -> None:
    ns = k8s_namespace
    # The operator chart limited to this namespace: its rights come from a RoleBinding here only.
    helm.run("install", "op", str(OPERATOR_CHART), "-n", ns, "--set", f"watchNamespaces={{{ns}}}", "--wait")
    releases.append("op")

    # The connection Secrets the parley chart's default values name, pointing at the dev stack.
    create_secret(k8s_api, ns, "parley-postgresql", {"dsn": pg_dsn})
    create_secret(k8s_api, ns, "parley-redis", {"url": redis_server["url"]})
    create_secret(
        k8s_api,
        ns,
        "parley-s3",
        {
            "endpoint": s3_server["endpoint"],
            "accessKey": s3_server["access_key"],
            "secretKey": s3_server["secret_key"],
        },
    )
    create_secret(k8s_api, ns, "parley-opensearch", {"url": opensearch_url})

    sa_kubeconfig = service_account_kubeconfig(kubeconfig, k8s_api, ns, "op-parley-operator", tmp_path / "sa")
    # The chart's rights, and no more: Secrets here, none elsewhere; never Secrets' deletion.
    assert allowed(sa_kubeconfig, "list", "secrets", ns)
    assert not allowed(sa_kubeconfig, "list", "secrets", "kube-system")
    assert not allowed(sa_kubeconfig, "delete", "secrets", ns)
    assert not allowed(sa_kubeconfig, "create", "pods", ns)
    # The socket scaler's reading of the pods' /metrics through the apiserver (not exercised below:
    # kwok's pod addresses lead nowhere, see operator/tests/live/test_socket_scaling_live.py).
    assert allowed(sa_kubeconfig, "list", "pods", ns)
    assert allowed(sa_kubeconfig, "get", "pods", ns, subresource="proxy")
    assert not allowed(sa_kubeconfig, "get", "pods", ns, subresource="exec")
    operator = OperatorProcess(sa_kubeconfig, ns, tmp_path / "operator.log")
    try:
        wait_for("the operator's liveness endpoint", operator.alive, timeout=60)
        services = {
            "gateway": {"replicas": 1, "podDisruptionBudget": {"maxUnavailable": 1}},
            "socket": {"autoscaling": {"minReplicas": 1, "maxReplicas": 3}},
        }
        single_broker = single_broker_topics()
        values = [
            "--set",
            f"kafka.bootstrapServers={kafka_bootstrap}",
            "--set",
            "platform.deletionPolicy=Delete",
            "--set",
            "platform.opensearch.numberOfReplicas=0",
            "--set-json",
            f"platform.kafka.topics={json.dumps(single_broker)}",
            "--set-json",
            # The socket service with an HPA (on CPU; scaling on open connections would have the
            # operator read the pods' metrics), so the chart's HPA rights are exercised too.
            f"platform.services={json.dumps(services)}",
        ]
        helm.run("install", PLATFORM, str(PLATFORM_CHART), "-n", ns, *values)
        releases.append(PLATFORM)
        custom = kubernetes.client.CustomObjectsApi(k8s_api)

        def current() -> dict[str, Any]:
            found: dict[str, Any] = custom.get_namespaced_custom_object(
                "parley.dev", "v1alpha1", ns, "chatplatforms", PLATFORM
            )
            return found

        def ready() -> bool:
            operator.alive()  # fails fast, with the log, if the operator died
            return conditions(current()).get("Ready", {}).get("status") == "True"

        try:
            wait_for("the ChatPlatform to be Ready", ready, timeout=READY_TIMEOUT, interval=2)
        except AssertionError as error:
            status = yaml.safe_dump(current().get("status"))
            raise AssertionError(f"{error}\nstatus:\n{status}\noperator log:\n{operator.tail()}") from error

        status = current()["status"]
        by_type = conditions(current())
        assert by_type["InfrastructureReady"]["status"] == "True"
        assert by_type["ServicesReady"]["status"] == "True"
        # Degraded only for what does not block serving: the dev S3 server has no bucket lifecycle.
        blocking = [p for p in status["infrastructure"].get("problems", []) if p.get("blocking")]
        assert blocking == [], yaml.safe_dump(status)
        assert status["observedGeneration"] == current()["metadata"]["generation"]
        assert status["services"]["gateway"] == {
            "desiredReplicas": 1,
            "readyReplicas": 1,
            "updatedReplicas": 1,
        }
        prefix = f"{ns}.{PLATFORM}."
        topics = asyncio.run(topics_with_prefix(kafka_bootstrap, prefix))
        suffixes = (
            "commands",
            "events",
            "connections",
            "presence",
            "notifications",
            "notifications.dlq",
            "attachments.jobs",
        )
        assert topics == sorted(f"{prefix}{suffix}.v1" for suffix in suffixes)
        hpa = kubernetes.client.AutoscalingV2Api(k8s_api).read_namespaced_horizontal_pod_autoscaler(
            f"{PLATFORM}-socket", ns
        )
        assert hpa.spec.max_replicas == 3
        apps = kubernetes.client.AppsV1Api(k8s_api)
        assert apps.read_namespaced_deployment(f"{PLATFORM}-gateway", ns).status.ready_replicas == 1
        # The services run the release only after its migration Job succeeded (kwok completed its pod).
        assert status["version"] == "0.1.0"

        # Uninstalling the release deletes the ChatPlatform; with deletionPolicy Delete the operator's
        # finalizer removes its topics before the object goes.
        helm.run("uninstall", PLATFORM, "-n", ns, "--wait")
        releases.remove(PLATFORM)

        def deleted() -> bool:
            try:
                current()
            except kubernetes.client.ApiException as error:
                return error.status == 404
            return False

        wait_for("the ChatPlatform's finalizer", deleted, timeout=120, interval=1)
        assert asyncio.run(topics_with_prefix(kafka_bootstrap, prefix)) == []
        log = operator.log.read_text()
        assert "Not enough permissions" not in log and "Forbidden" not in log, operator.tail()
        assert "forbidden" not in yaml.safe_dump(status).lower(), yaml.safe_dump(status)
    finally:
        try:
            # While the operator still runs: its finalizer must see the ChatPlatform go.
            if PLATFORM in releases:
                helm.run("uninstall", PLATFORM, "-n", ns, "--wait", "--timeout", "120s", check=False)
                releases.remove(PLATFORM)
        finally:
            operator.stop()
            release_finalizers(k8s_api, ns)
