"""The Prometheus Operator's objects the operator renders, against a real apiserver serving the
Prometheus Operator's CRDs (from the github.com/prometheus-operator/prometheus-operator module's
example/prometheus-operator-crd files, devstack modulecrds.py): server-side dry-run applies with
strict field validation, then a platform that asks for them (Monitoring: Rendered), and the same
platform once the CRDs are gone (Monitoring: CRDsMissing, nothing failing). The CRDs are installed
again at the end; nothing else in the dev stack uses these kinds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from chatplatform_specs import FULL
from parley.devstack.components.kube import modulecrds
from parley.devstack.stack import Stack
from parley.testing.chatplatforms import Platforms, condition, dry_run_apply, platform_spec
from parley.testing.operator_process import OperatorProcess
from parley.testing.waiting import wait_for
from parley_operator.api.spec import parse_spec
from parley_operator.names import Installation
from parley_operator.render import RenderInput, render_all
from parley_operator.render.monitoring import MONITORING_API, is_monitoring

pytestmark = pytest.mark.kube

GROUP, VERSION = MONITORING_API.split("/")
PLURALS = {
    "ServiceMonitor": "servicemonitors",
    "PodMonitor": "podmonitors",
    "PrometheusRule": "prometheusrules",
}


def _definitions() -> list[dict[str, Any]]:
    stack = Stack()
    log = stack.paths.logs / "prometheus-operator-crds.setup.log"
    return modulecrds.crds(stack.paths, modulecrds.PROMETHEUS_OPERATOR, log)


@pytest.fixture(scope="module")
def monitoring_crds(k8s_api: Any) -> Iterator[list[str]]:
    definitions = _definitions()
    names = modulecrds.install(k8s_api, definitions)
    try:
        yield names
    finally:
        # Whatever a test removed comes back (the dev stack installs them too).
        modulecrds.install(k8s_api, definitions)


def _rendered(namespace: str) -> list[dict[str, Any]]:
    objs = render_all(RenderInput.steady(parse_spec(FULL), Installation(namespace, "acme"))).all
    return [o for o in objs if is_monitoring(o)]


def test_rendered_monitors_and_rules_pass_the_apiserver(
    k8s_api: Any, k8s_namespace: str, monitoring_crds: list[str]
) -> None:
    assert {f"{plural}.{GROUP}" for plural in PLURALS.values()} <= set(monitoring_crds)
    objs = _rendered(k8s_namespace)
    assert {o["kind"] for o in objs} == set(PLURALS)
    for obj in objs:
        dry_run_apply(k8s_api, obj)
    # The check can fail: the CRDs' schemas refuse what they do not describe.
    (rule,) = [o for o in objs if o["kind"] == "PrometheusRule"]
    broken = copy.deepcopy(rule)
    broken["spec"]["groups"][0]["rules"][0]["notAField"] = "x"
    with pytest.raises(kubernetes.dynamic.exceptions.DynamicApiError):
        dry_run_apply(k8s_api, broken)
    monitor = copy.deepcopy(next(o for o in objs if o["kind"] == "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["scheme"] = "gopher"
    with pytest.raises(kubernetes.dynamic.exceptions.UnprocessibleEntityError):
        dry_run_apply(k8s_api, monitor)


def _delete_crds(api: Any, names: list[str]) -> None:
    ext: Any = kubernetes.client.ApiextensionsV1Api(api)
    for name in names:
        try:
            ext.delete_custom_resource_definition(name)
        except kubernetes.client.exceptions.ApiException as error:
            if error.status != 404:
                raise

    def gone() -> bool:
        for name in names:
            try:
                ext.read_custom_resource_definition(name)
            except kubernetes.client.exceptions.ApiException as error:
                if error.status == 404:
                    continue
                raise
            return False
        return True

    wait_for(gone, 60, "the monitoring CRDs deleted")


def test_the_operator_renders_them_and_says_when_the_cluster_cannot_take_them(
    operator: OperatorProcess,
    platforms: Platforms,
    namespace: str,
    infra: dict[str, Any],
    k8s_api: Any,
    monitoring_crds: list[str],
) -> None:
    spec = platform_spec(infra["kafka_bootstrap"])
    spec["observability"] = {
        "traceSampleRatio": 0.25,
        "metrics": {"prometheusOperator": {"enabled": True, "labels": {"release": "prom"}}},
    }
    platforms.create(namespace, "acme", spec)
    inst = Installation(namespace, "acme")
    custom: Any = kubernetes.client.CustomObjectsApi(k8s_api)

    def names(kind: str) -> set[str]:
        found = custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], label_selector=f"{inst.owned_selector},release=prom"
        )
        return {item["metadata"]["name"] for item in found["items"]}

    def monitoring(reason: str) -> Any:
        return lambda p: condition(p, "Monitoring").get("reason") == reason

    platform = platforms.wait(namespace, "acme", monitoring("Rendered"), "Monitoring: Rendered", timeout=120)
    assert condition(platform, "Monitoring")["status"] == "True"
    assert names("ServiceMonitor") == {
        inst.service(s)
        for s in ("auth", "api", "socket", "consumer", "presence", "storage", "notification", "web", "search")
    }
    assert names("PodMonitor") == {inst.service("gateway")}
    assert names("PrometheusRule") == {"acme-parley"}
    config = kubernetes.client.CoreV1Api(k8s_api).read_namespaced_config_map(inst.config_map, namespace)
    assert (config.data or {}).get("PARLEY_TRACE_SAMPLE_RATIO") == "0.25"

    # The CRDs go away (the objects with them): the next passes skip the kinds and say so, and the
    # platform is not degraded for it.
    _delete_crds(k8s_api, monitoring_crds)
    platforms.patch_spec(namespace, "acme", {"observability": {"traceSampleRatio": 0.5}})
    platform = platforms.wait(
        namespace, "acme", monitoring("CRDsMissing"), "Monitoring: CRDsMissing", timeout=180
    )
    cond = condition(platform, "Monitoring")
    assert cond["status"] == "False" and "ServiceMonitor" in cond["message"]

    def settled(p: dict[str, Any]) -> bool:
        return monitoring("CRDsMissing")(p) and condition(p, "Degraded").get("status") == "False"

    platforms.wait(namespace, "acme", settled, "not degraded without the CRDs", timeout=180)
