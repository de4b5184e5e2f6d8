"""Objects of the Prometheus Operator (monitoring.coreos.com/v1), when the spec asks for them
(observability.metrics.prometheusOperator.enabled): a ServiceMonitor per service that runs the
Parley image (/metrics on the Service's `http` port), a PodMonitor for the gateway's Envoy pods
(/stats/prometheus on their `health` port) and a PrometheusRule whose groups are the recording rules
and alerts of observability/prometheus/rules/parley.rules.yaml, the file the dev stack's Prometheus
loads and `promtool test rules` checks.

Every target gets the `parley_service` label the rules and dashboards use. Whether the cluster serves
these kinds is the reconcile's business (it skips them and says so in the Monitoring condition);
this module renders them regardless.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from parley_operator.names import Installation
from parley_operator.render.context import RenderInput

MONITORING_API = "monitoring.coreos.com/v1"
MONITORING_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
RULES_FILE = "parley.rules.yaml"
SERVICE_LABEL = "parley_service"
GATEWAY = "gateway"


@functools.cache
def rule_groups() -> tuple[dict[str, Any], ...]:
    """The groups of parley.rules.yaml: packaged with the operator (the wheel force-includes it as
    parley_operator/data), else read from the repository (a source checkout, an editable install)."""
    packaged = resources.files("parley_operator").joinpath("data", RULES_FILE)
    if packaged.is_file():
        text = packaged.read_text(encoding="utf-8")
    else:
        repo = Path(__file__).resolve().parents[3]
        text = (repo / "observability" / "prometheus" / "rules" / RULES_FILE).read_text(encoding="utf-8")
    groups = yaml.safe_load(text)["groups"]
    return tuple(groups)


def _meta(inp: RenderInput, name: str, component: str | None) -> dict[str, Any]:
    inst = inp.installation
    extra = inp.spec.observability.metrics.prometheus_operator.labels
    # The operator's own labels win: they select what it owns and prunes.
    return {"name": name, "namespace": inst.namespace, "labels": {**extra, **inst.labels(component)}}


def _relabel(service: str) -> list[dict[str, Any]]:
    return [{"action": "replace", "targetLabel": SERVICE_LABEL, "replacement": service}]


def _service_monitor(inp: RenderInput, service: str) -> dict[str, Any]:
    inst: Installation = inp.installation
    return {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": _meta(inp, inst.service(service), service),
        "spec": {
            "selector": {"matchLabels": inst.selector(service)},
            "namespaceSelector": {"matchNames": [inst.namespace]},
            "endpoints": [
                {"port": "http", "path": "/metrics", "scheme": "http", "relabelings": _relabel(service)}
            ],
        },
    }


def _pod_monitor(inp: RenderInput) -> dict[str, Any]:
    inst = inp.installation
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": _meta(inp, inst.service(GATEWAY), GATEWAY),
        "spec": {
            "selector": {"matchLabels": inst.selector(GATEWAY)},
            "namespaceSelector": {"matchNames": [inst.namespace]},
            "podMetricsEndpoints": [
                {
                    "port": "health",
                    "path": "/stats/prometheus",
                    "scheme": "http",
                    "relabelings": _relabel(GATEWAY),
                }
            ],
        },
    }


def _prometheus_rule(inp: RenderInput) -> dict[str, Any]:
    inst = inp.installation
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": _meta(inp, f"{inst.name}-parley", None),
        "spec": {"groups": copy.deepcopy(list(rule_groups()))},
    }


def monitoring_wanted(inp: RenderInput) -> bool:
    return inp.spec.observability.metrics.prometheus_operator.enabled


def render_monitoring(inp: RenderInput) -> list[dict[str, Any]]:
    if not monitoring_wanted(inp):
        return []
    services = [name for name in inp.spec.deployed_services() if name != GATEWAY]
    objs = [_service_monitor(inp, name) for name in services]
    if inp.spec.entry_point.own_envoy:
        objs.append(_pod_monitor(inp))
    objs.append(_prometheus_rule(inp))
    return objs


def is_monitoring(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"] == MONITORING_API and obj["kind"] in MONITORING_KINDS
