"""What the operator renders for a user's Gateway, validated by a real apiserver that serves the
Gateway API CRDs (standard channel, from the sigs.k8s.io/gateway-api Go module) and Envoy Gateway's
(from the github.com/envoyproxy/gateway module's chart, devstack modulecrds.py): server-side dry-run
applies with strict field validation.
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes
import pytest
from chatplatform_specs import GATEWAY_API
from parley.devstack.components.kube import gatewayapi, modulecrds
from parley.devstack.stack import Stack
from parley.testing.chatplatforms import Platforms, dry_run_apply, platform_spec
from parley.testing.operator_process import OperatorProcess
from parley.testing.waiting import wait_for
from parley_operator.api.spec import parse_spec
from parley_operator.names import Installation
from parley_operator.render import RenderInput, render_all

pytestmark = pytest.mark.kube


@pytest.fixture(scope="module")
def gateway_crds(k8s_api: Any) -> list[str]:
    stack = Stack()
    log = stack.paths.logs / "gateway-api.setup.log"
    return gatewayapi.install(k8s_api, gatewayapi.crds(stack.paths, log))


@pytest.fixture(scope="module")
def envoy_gateway_crds(k8s_api: Any) -> list[str]:
    stack = Stack()
    log = stack.paths.logs / "envoy-gateway-crds.setup.log"
    return modulecrds.install(k8s_api, modulecrds.crds(stack.paths, modulecrds.ENVOY_GATEWAY, log))


def _routes(
    namespace: str, raw: dict[str, Any], kinds: tuple[str, ...] = ("HTTPRoute",)
) -> list[dict[str, Any]]:
    spec = parse_spec(raw)
    objs = render_all(RenderInput.steady(spec, Installation(namespace, "acme"))).all
    return [o for o in objs if o["kind"] in kinds]


POLICIES = ("SecurityPolicy", "BackendTrafficPolicy")


def test_rendered_envoy_gateway_policies_pass_the_apiserver(
    k8s_api: Any, k8s_namespace: str, gateway_crds: list[str], envoy_gateway_crds: list[str]
) -> None:
    wanted = {"securitypolicies.gateway.envoyproxy.io", "backendtrafficpolicies.gateway.envoyproxy.io"}
    assert wanted <= set(envoy_gateway_crds)
    policies = _routes(k8s_namespace, GATEWAY_API, POLICIES)
    assert sorted(p["kind"] for p in policies) == sorted(POLICIES)
    for policy in policies:
        dry_run_apply(k8s_api, policy)
    # The CRDs' own validation is at work: a rate-limit unit Envoy Gateway does not know is refused.
    (traffic,) = [p for p in policies if p["kind"] == "BackendTrafficPolicy"]
    broken = copy.deepcopy(traffic)
    broken["spec"]["rateLimit"]["local"]["rules"][0]["limit"]["unit"] = "Fortnight"
    with pytest.raises(kubernetes.dynamic.exceptions.UnprocessibleEntityError):
        dry_run_apply(k8s_api, broken)
    (security,) = [p for p in policies if p["kind"] == "SecurityPolicy"]
    unknown = copy.deepcopy(security)
    unknown["spec"]["jwt"]["providers"][0]["notAField"] = True
    with pytest.raises(kubernetes.dynamic.exceptions.DynamicApiError):
        dry_run_apply(k8s_api, unknown)


def test_rendered_httproutes_pass_the_apiserver(
    k8s_api: Any, k8s_namespace: str, gateway_crds: list[str]
) -> None:
    assert "httproutes.gateway.networking.k8s.io" in gateway_crds
    routes = _routes(k8s_namespace, GATEWAY_API)
    assert {r["metadata"]["name"] for r in routes} == {"acme-public", "acme-protected"}
    for route in routes:
        dry_run_apply(k8s_api, route)
    # Without hostnames, on all of the Gateway's listeners, in the platform's namespace.
    bare = copy.deepcopy(GATEWAY_API)
    bare["entryPoint"] = {"gatewayRef": {"name": "public"}}
    for route in _routes(k8s_namespace, bare):
        dry_run_apply(k8s_api, route)


def test_the_dry_run_refuses_what_the_schema_forbids(
    k8s_api: Any, k8s_namespace: str, gateway_crds: list[str]
) -> None:
    """The check can fail: a rule the CRD's validation refuses is refused."""
    (route, *_) = _routes(k8s_namespace, GATEWAY_API)
    broken = copy.deepcopy(route)
    broken["spec"]["rules"][0]["matches"][0]["path"]["value"] = "no-leading-slash"
    with pytest.raises(kubernetes.dynamic.exceptions.UnprocessibleEntityError):
        dry_run_apply(k8s_api, broken)
    unknown = copy.deepcopy(route)
    unknown["spec"]["rules"][0]["notAField"] = True
    with pytest.raises(kubernetes.dynamic.exceptions.DynamicApiError):
        dry_run_apply(k8s_api, unknown)


def test_routes_are_pruned_when_the_platform_stops_naming_a_gateway(
    operator: OperatorProcess,
    platforms: Platforms,
    namespace: str,
    infra: dict[str, Any],
    k8s_api: Any,
    gateway_crds: list[str],
) -> None:
    """A platform moved from a user's Gateway to its own Envoy loses its HTTPRoutes (and gains the
    gateway); Envoy Gateway's policy kinds, served or not (a kind not served is taken as none), have
    nothing to prune."""
    spec = platform_spec(infra["kafka_bootstrap"])
    spec["entryPoint"] = {"gatewayRef": {"name": "public"}}
    platforms.create(namespace, "acme", spec)
    platforms.wait_ready(namespace, "acme")
    inst = Installation(namespace, "acme")
    routes: Any = kubernetes.client.CustomObjectsApi(k8s_api)
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)

    def route_names() -> set[str]:
        found = routes.list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", namespace, "httproutes", label_selector=inst.owned_selector
        )
        return {item["metadata"]["name"] for item in found["items"]}

    def gateway_deployments() -> list[str]:
        deployments = apps.list_namespaced_deployment(namespace, label_selector=inst.owned_selector).items
        return [d.metadata.name for d in deployments if d.metadata.name == inst.service("gateway")]

    assert route_names() == {"acme-public", "acme-protected"}
    assert gateway_deployments() == []

    platforms.patch_spec(namespace, "acme", {"entryPoint": None})
    wait_for(lambda: route_names() == set(), 60, "the HTTPRoutes pruned")
    wait_for(gateway_deployments, 60, "the own gateway rendered instead")
