"""`helm template` of both charts with the default values and every ci/ values file: every rendered
object is accepted by the real apiserver (server-side dry run, strict field validation), and carries
what the charts promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import pytest
from chartkit import (
    OPERATOR_CHART,
    PLATFORM_CHART,
    Helm,
    dry_run_create,
    values_files,
    values_id,
)
from parley_operator.api.spec import parse_spec
from parley_operator.cli import parse_args
from parley_operator.prune import OPTIONAL_PRUNABLE_KINDS, PRUNABLE_KINDS

pytestmark = pytest.mark.kube

CASES = [(chart, values) for chart in (OPERATOR_CHART, PLATFORM_CHART) for values in values_files(chart)]
RECOMMENDED = ("name", "instance", "version", "part-of", "managed-by")


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


@pytest.mark.parametrize(("chart", "values"), CASES, ids=[f"{c.name}-{values_id(v)}" for c, v in CASES])
def test_every_rendered_object_is_accepted_by_the_apiserver(
    helm: Helm,
    k8s_api: Any,
    k8s_namespace: str,
    cluster_version: str,
    chart_crd: None,
    extra_namespaces: list[str],
    chart: Path,
    values: Path | None,
) -> None:
    objs = helm.template(chart, k8s_namespace, cluster_version, values)
    assert objs
    # Objects the chart puts in other namespaces (RoleBindings of watched namespaces) need those.
    core = kubernetes.client.CoreV1Api(k8s_api)
    for namespace in sorted({o["metadata"].get("namespace") for o in objs} - {None, k8s_namespace}):
        core.create_namespace({"metadata": {"name": namespace, "labels": {"parley.dev/test": "true"}}})
        extra_namespaces.append(namespace)
    assert dry_run_create(k8s_api, objs) == []
    for obj in objs:
        labels = obj["metadata"].get("labels") or {}
        missing = [k for k in RECOMMENDED if f"app.kubernetes.io/{k}" not in labels]
        assert missing == [], f"{obj['kind']}/{obj['metadata']['name']} lacks app.kubernetes.io/{missing}"


def test_the_dry_run_rejects_what_the_apiserver_would(k8s_api: Any, k8s_namespace: str) -> None:
    """The check above can fail: a misspelt field and a bad value are refused."""
    bad = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": k8s_namespace},
            "dataa": {"a": "b"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "Bad_Name", "namespace": k8s_namespace},
            "spec": {},
        },
    ]
    problems = dry_run_create(k8s_api, bad)
    assert len(problems) == 2
    assert 'unknown field "dataa"' in problems[0]


def test_the_operator_deployment(helm: Helm, cluster_version: str) -> None:
    objs = helm.template(OPERATOR_CHART, "ops", cluster_version)
    (deployment,) = by_kind(objs, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    (container,) = spec["template"]["spec"]["containers"]
    assert "--standalone" in container["args"] and "--all-namespaces" in container["args"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    probe = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["path"] == "/healthz" and ports[probe["port"]] == 8080
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    (service,) = by_kind(objs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics" and ports["metrics"] == 9090
    assert "--metrics=:9090" in container["args"]


@pytest.mark.parametrize("values", values_files(OPERATOR_CHART), ids=values_id)
def test_the_operator_accepts_the_arguments_the_chart_gives_it(
    helm: Helm, cluster_version: str, values: Path | None
) -> None:
    (deployment,) = by_kind(helm.template(OPERATOR_CHART, "ops", cluster_version, values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["parley-operator"]
    args = parse_args(container["args"])  # exits (SystemExit) on an argument the CLI does not know
    assert args.standalone
    watched = (values is not None and "namespaced" in values.name) or None
    assert bool(args.namespace) == bool(watched) and args.all_namespaces != bool(watched)
    port = int(args.liveness.rsplit(":", 1)[1].split("/")[0])
    probe_port = container["livenessProbe"]["httpGet"]["port"] if "livenessProbe" in container else None
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe_port is None or ports[probe_port] == port


def _rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_rbac_is_least_privilege(helm: Helm, cluster_version: str) -> None:
    objs = helm.template(OPERATOR_CHART, "ops", cluster_version)
    roles = {r["metadata"]["name"].rsplit("-", 1)[1]: _rules(r) for r in by_kind(objs, "ClusterRole")}
    reconcile, discovery = roles["reconcile"], roles["discovery"]
    for verbs in (*reconcile.values(), *discovery.values()):
        assert "*" not in verbs and "escalate" not in verbs and "bind" not in verbs
    assert all(group != "*" and resource != "*" for group, resource in (*reconcile, *discovery))
    # Secrets: read, watch, create the signing key; never change or delete one.
    assert reconcile[("", "secrets")] == {"get", "list", "watch", "create"}
    assert reconcile[("parley.dev", "chatplatforms")] == {"get", "list", "watch", "patch"}
    assert reconcile[("parley.dev", "chatplatforms/status")] == {"get", "patch"}
    assert discovery == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
        ("", "namespaces"): {"get", "list", "watch"},
    }
    # Pods: only listed and their /metrics read through the apiserver (the socket scaler).
    assert reconcile[("", "pods")] == {"list"}
    assert reconcile[("", "pods/proxy")] == {"get"}
    # No leases, no RBAC objects: the operator never needs them.
    touched = {resource for _, resource in reconcile}
    assert not touched & {"pods/exec", "leases", "roles", "rolebindings", "clusterroles", "nodes"}


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def test_the_operator_may_apply_and_prune_every_kind_it_renders(helm: Helm, cluster_version: str) -> None:
    objs = helm.template(OPERATOR_CHART, "ops", cluster_version)
    (reconcile,) = [
        _rules(r) for r in by_kind(objs, "ClusterRole") if r["metadata"]["name"].endswith("-reconcile")
    ]
    for api_version, kind in (*PRUNABLE_KINDS, *OPTIONAL_PRUNABLE_KINDS):
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        verbs = reconcile.get((group, _plural(kind)), set())
        assert {"get", "list", "watch", "create", "patch", "delete"} <= verbs, (api_version, kind)


def test_watching_namespaces_binds_the_rights_there_only(helm: Helm, cluster_version: str) -> None:
    namespaced = OPERATOR_CHART / "ci" / "namespaced-values.yaml"
    objs = helm.template(OPERATOR_CHART, "ops", cluster_version, namespaced)
    cluster_bindings = [b["roleRef"]["name"] for b in by_kind(objs, "ClusterRoleBinding")]
    assert all(name.endswith("-discovery") for name in cluster_bindings)
    bindings = by_kind(objs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["parley-team-a", "parley-team-b"]
    assert all(b["roleRef"]["name"].endswith("-reconcile") for b in bindings)
    (deployment,) = by_kind(objs, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=parley-team-a" in args and "--all-namespaces" not in args


def test_two_releases_in_two_namespaces_share_no_cluster_object(helm: Helm, cluster_version: str) -> None:
    first = {
        o["metadata"]["name"]
        for o in helm.template(OPERATOR_CHART, "a", cluster_version)
        if "namespace" not in o["metadata"]
    }
    second = {
        o["metadata"]["name"]
        for o in helm.template(OPERATOR_CHART, "b", cluster_version)
        if "namespace" not in o["metadata"]
    }
    assert first and not first & second


def test_kube_version_is_checked(helm: Helm, cluster_version: str) -> None:
    assert cluster_version.startswith("v1.")
    for chart in (OPERATOR_CHART, PLATFORM_CHART):
        result = helm.run("template", "t", str(chart), "--kube-version", "1.27.0", check=False)
        assert result.returncode != 0 and "incompatible with Kubernetes v1.27.0" in result.stderr


def test_the_platform_points_at_in_cluster_servers(helm: Helm, cluster_version: str) -> None:
    objs = helm.template(PLATFORM_CHART, "chat", cluster_version, PLATFORM_CHART / "ci" / "kind-values.yaml")
    (platform,) = by_kind(objs, "ChatPlatform")
    spec = platform["spec"]
    assert spec["kafka"]["bootstrapServers"] == "t-parley-kafka.chat.svc:9092"
    assert {t["replicationFactor"] for t in spec["kafka"]["topics"].values()} == {1}
    # The chart gives every topic its replication factor; those the values size (commands: 3) keep
    # that, the others only got the factor and keep their own partitions (presence 6, the DLQ 1).
    topics = parse_spec(spec).kafka.topics
    sized = (topics.commands.partitions, topics.presence.partitions, topics.notifications_dlq.partitions)
    assert sized == (3, 6, 1)
    assert spec["opensearch"]["numberOfReplicas"] == 0
    secrets = {s["metadata"]["name"]: s["stringData"] for s in by_kind(objs, "Secret")}
    pg = secrets[spec["postgres"]["secretName"]]
    assert pg["dsn"] == f"postgresql://parley:{pg['password']}@t-parley-postgresql.chat.svc:5432/parley"
    assert set(secrets[spec["s3"]["secretName"]]) == {"endpoint", "accessKey", "secretKey"}
    sets = {s["metadata"]["name"].rsplit("-", 1)[1] for s in by_kind(objs, "StatefulSet")}
    assert sets == {"postgresql", "redis", "kafka", "s3", "opensearch"}
    # The servers' pods must not be caught by the operator's NetworkPolicies (name=parley).
    for sts in by_kind(objs, "StatefulSet"):
        assert sts["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] != "parley"


def test_production_values_use_existing_secrets_only(helm: Helm, cluster_version: str) -> None:
    objs = helm.template(
        PLATFORM_CHART, "chat", cluster_version, PLATFORM_CHART / "ci" / "production-values.yaml"
    )
    assert by_kind(objs, "Secret") == [] and by_kind(objs, "StatefulSet") == []
    (platform,) = by_kind(objs, "ChatPlatform")
    spec = platform["spec"]
    assert spec["postgres"] == {"secretName": "chat-postgresql", "dsnKey": "dsn"}
    assert spec["opensearch"]["urlKey"] == "endpoint"
    assert spec["auth"]["signingKey"]["secretName"] == "chat-signing-key"
