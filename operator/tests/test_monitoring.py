"""The Prometheus Operator's objects: what is rendered, where the rules come from, the Monitoring
condition, and a kind the cluster does not serve (skipped, or an ApplyFailed, never a crash)."""

from __future__ import annotations

import asyncio
import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from chatplatform_specs import FULL, NAME, NAMESPACE, REQUIRED
from parley_operator import reconcile
from parley_operator.api.spec import parse_spec
from parley_operator.kube import Kube, ResourceNotFoundError
from parley_operator.names import Installation
from parley_operator.render import RenderInput, render_all
from parley_operator.render.monitoring import MONITORING_API, RULES_FILE, render_monitoring, rule_groups
from parley_operator.rollout import JobState, decide
from parley_operator.status.conditions import find
from parley_operator.status.summary import MonitoringObservation, Observation, summarize
from test_status_summary import NEW, READY_INFRA, T1, _all

INST = Installation(NAMESPACE, NAME)
REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "observability" / "prometheus" / "rules" / RULES_FILE


def _render(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return render_monitoring(RenderInput.steady(parse_spec(raw), INST))


def _with_monitoring(raw: dict[str, Any], **prometheus_operator: Any) -> dict[str, Any]:
    spec = copy.deepcopy(raw)
    spec["observability"] = {"metrics": {"prometheusOperator": {"enabled": True, **prometheus_operator}}}
    return spec


def test_nothing_unless_asked() -> None:
    assert _render(REQUIRED) == []
    assert not [
        o
        for o in render_all(RenderInput.steady(parse_spec(REQUIRED), INST)).all
        if "monitoring" in o["apiVersion"]
    ]


def test_a_service_monitor_per_service_a_pod_monitor_for_envoy_and_the_rules() -> None:
    objs = _render(_with_monitoring(REQUIRED, labels={"release": "prom", "app.kubernetes.io/name": "no"}))
    kinds = [o["kind"] for o in objs]
    assert kinds.count("ServiceMonitor") == 9 and kinds.count("PodMonitor") == 1
    assert kinds[-1] == "PrometheusRule"
    assert {o["apiVersion"] for o in objs} == {MONITORING_API}
    for obj in objs:
        labels = obj["metadata"]["labels"]
        # The user's labels are added; the operator's own (that select what it owns) win.
        assert labels["release"] == "prom" and labels["app.kubernetes.io/name"] == "parley"
        assert labels["app.kubernetes.io/managed-by"] == "parley-operator"
    monitors = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ServiceMonitor"}
    assert "acme-gateway" not in monitors
    socket = monitors["acme-socket"]["spec"]
    assert socket["selector"]["matchLabels"]["app.kubernetes.io/component"] == "socket"
    (endpoint,) = socket["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert {"action": "replace", "targetLabel": "parley_service", "replacement": "socket"} in endpoint[
        "relabelings"
    ]
    (pod_monitor,) = [o for o in objs if o["kind"] == "PodMonitor"]
    (pod_endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    assert (pod_endpoint["port"], pod_endpoint["path"]) == ("health", "/stats/prometheus")


def test_with_a_users_gateway_there_is_no_envoy_of_ours_to_monitor() -> None:
    raw = _with_monitoring(REQUIRED)
    raw["entryPoint"] = {"gatewayRef": {"name": "public"}}
    assert "PodMonitor" not in [o["kind"] for o in _render(raw)]


def test_the_rule_groups_are_the_files() -> None:
    (rule,) = [o for o in _render(_with_monitoring(REQUIRED)) if o["kind"] == "PrometheusRule"]
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    # Each rendering has its own copy (kopf.adopt and callers may edit what they are given).
    rule["spec"]["groups"][0]["name"] = "changed"
    assert rule_groups()[0]["name"] != "changed"


def test_the_wheel_carries_the_rules_where_the_renderer_reads_them() -> None:
    pyproject = tomllib.loads((REPO / "operator" / "pyproject.toml").read_text())
    force = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert (REPO / "operator" / next(iter(force))).resolve() == RULES
    assert force == {f"../{RULES.relative_to(REPO)}": f"parley_operator/data/{RULES_FILE}"}
    dockerfile = (REPO / "operator" / "Dockerfile").read_text()
    assert f"COPY {RULES.relative_to(REPO)} {RULES.relative_to(REPO)}" in dockerfile


def test_the_trace_sample_ratio_reaches_every_service() -> None:
    def config(raw: dict[str, Any]) -> dict[str, str]:
        objs = render_all(RenderInput.steady(parse_spec(raw), INST)).all
        (config_map,) = [
            o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == INST.config_map
        ]
        return dict(config_map["data"])

    assert config(REQUIRED)["PARLEY_TRACE_SAMPLE_RATIO"] == "0.01"
    assert config(FULL)["PARLEY_TRACE_SAMPLE_RATIO"] == "0.1"
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            parse_spec({**REQUIRED, "observability": {"traceSampleRatio": bad}})


def _monitoring_status(mon: MonitoringObservation, errors: list[str] | None = None) -> tuple[str, str, str]:
    obs = Observation(
        generation=1,
        decision=decide(NEW, NEW, JobState.ABSENT, "j"),
        deployments=_all(NEW),
        infrastructure=READY_INFRA,
        endpoint="http://e",
        apply_errors=errors or [],
        monitoring=mon,
    )
    status = summarize({}, obs, T1)
    cond = find(status["conditions"], "Monitoring")
    assert cond is not None
    return cond["status"], cond["reason"], cond.get("message", "")


def test_the_monitoring_condition() -> None:
    assert _monitoring_status(MonitoringObservation())[:2] == ("False", "Disabled")
    applied = ("ServiceMonitor/acme-api", "ServiceMonitor/acme-auth", "PrometheusRule/acme-parley")
    status, reason, message = _monitoring_status(MonitoringObservation(True, (), applied))
    assert (status, reason) == ("True", "Rendered") and "2 ServiceMonitors, 1 PrometheusRule" in message
    status, reason, message = _monitoring_status(
        MonitoringObservation(True, ("PodMonitor", "PrometheusRule", "ServiceMonitor"), ())
    )
    assert (status, reason) == ("False", "CRDsMissing") and "ServiceMonitor" in message
    failed = _monitoring_status(
        MonitoringObservation(True, (), applied), ["ServiceMonitor/acme-api: refused", "Service/x: other"]
    )
    assert failed == ("False", "ApplyFailed", "ServiceMonitor/acme-api: refused")


# -- a kind the cluster does not serve ------------------------------------------------------------


class _Kube:
    """Serves everything but the kinds named; applies record, apply of an unserved kind raises
    as the dynamic client's discovery does."""

    def __init__(self, unserved: set[str]) -> None:
        self.unserved = unserved
        self.applied: list[str] = []

    async def served(self, api_version: str, kind: str) -> bool:
        return kind not in self.unserved

    async def apply(self, obj: dict[str, Any], manager: str = "") -> dict[str, Any]:
        if obj["kind"] in self.unserved:
            raise ResourceNotFoundError(f"No matches found for {{'api_version': {obj['apiVersion']!r}}}")
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return obj

    async def create_if_absent(self, obj: dict[str, Any]) -> bool:
        return await self.apply(obj) is not None


def test_an_unserved_kind_is_an_apply_error_not_a_crash() -> None:
    fake = _Kube({"HTTPRoute"})
    objs = render_all(RenderInput.steady(parse_spec(FULL), INST)).apply
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"}}
    errors = asyncio.run(reconcile._apply(fake, [], [*objs, route], [], {}))  # type: ignore[arg-type]
    served = "gateway.networking.k8s.io/v1 HTTPRoute"
    assert errors == [f"HTTPRoute/r: the cluster does not serve {served} (is its CRD installed?)"]
    assert len(fake.applied) == len(objs)


def test_unserved_monitoring_kinds_are_found() -> None:
    objs = render_all(RenderInput.steady(parse_spec(FULL), INST)).apply
    fake = _Kube({"PodMonitor"})
    assert asyncio.run(reconcile._unserved_monitoring_kinds(fake, objs)) == {"PodMonitor"}  # type: ignore[arg-type]
    assert asyncio.run(reconcile._unserved_monitoring_kinds(fake, [])) == set()  # type: ignore[arg-type]


# -- Kube: discovery misses and stale CRDs --------------------------------------------------------


class _Resources:
    def __init__(self, served: set[str]) -> None:
        self.served = served
        self.invalidated = 0

    def get(self, api_version: str, kind: str) -> Any:
        if kind not in self.served:
            raise ResourceNotFoundError(f"{api_version} {kind}")
        return kind

    def invalidate_cache(self) -> None:
        self.invalidated += 1


class _Dynamic:
    """Discovery says ServiceMonitor is served, but its CRD was deleted since: lists are 404s."""

    def __init__(self) -> None:
        self.resources = _Resources({"ServiceMonitor", "ConfigMap"})

    def get(self, resource: Any, **kwargs: Any) -> Any:
        from kubernetes.dynamic.exceptions import NotFoundError

        if resource == "ServiceMonitor":
            raise NotFoundError(_Raw(404, b"404 page not found"))  # type: ignore[no-untyped-call]
        raise AssertionError(resource)


class _Raw:
    """What the dynamic client wraps: an ApiException's fields."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.reason, self.body, self.headers = status, "Not Found", body, None


def test_list_if_served_takes_missing_and_stale_kinds_as_none() -> None:
    kube = Kube(api_client=object())  # type: ignore[arg-type]
    dynamic = _Dynamic()
    kube._dynamic = dynamic

    async def run() -> None:
        assert await kube.list_if_served(MONITORING_API, "PodMonitor", "ns", "a=b") == []
        assert not await kube.served(MONITORING_API, "PodMonitor")
        assert await kube.served(MONITORING_API, "ServiceMonitor")
        # Stale: discovery knew it, the list is a 404; forgotten, and then not served for a while.
        assert await kube.list_if_served(MONITORING_API, "ServiceMonitor", "ns", "a=b") == []
        assert dynamic.resources.invalidated == 1
        assert not await kube.served(MONITORING_API, "ServiceMonitor")

    asyncio.run(run())


class _ApplyDynamic(_Dynamic):
    """The apply of a kind whose CRD is gone is a plain 404; of a missing namespace a Status."""

    def server_side_apply(self, resource: Any, body: dict[str, Any], **kwargs: Any) -> Any:
        from kubernetes.dynamic.exceptions import NotFoundError

        if body["metadata"]["namespace"] == "gone":
            status = b'{"kind":"Status","details":{"name":"gone","kind":"namespaces"}}'
            raise NotFoundError(_Raw(404, status))  # type: ignore[no-untyped-call]
        raise NotFoundError(_Raw(404, b"404 page not found"))  # type: ignore[no-untyped-call]


def test_an_apply_to_a_deleted_crd_makes_discovery_ask_again() -> None:
    from kubernetes.dynamic.exceptions import NotFoundError

    kube = Kube(api_client=object())  # type: ignore[arg-type]
    dynamic = _ApplyDynamic()
    kube._dynamic = dynamic
    obj = {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": {"name": "m", "namespace": "gone"},
    }

    async def run() -> None:
        with pytest.raises(NotFoundError):
            await kube.apply(obj)
        assert await kube.served(MONITORING_API, "ServiceMonitor")  # a missing namespace: kind kept
        with pytest.raises(NotFoundError):
            await kube.apply({**obj, "metadata": {"name": "m", "namespace": "ns"}})
        assert dynamic.resources.invalidated == 1
        assert not await kube.served(MONITORING_API, "ServiceMonitor")

    asyncio.run(run())
