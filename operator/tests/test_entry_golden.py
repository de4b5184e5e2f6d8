"""The entry point's renderings against golden files: the Envoy bootstrap the dev stack runs (loopback
upstreams) and the cluster's (Service names) come from one function; Gateway API objects for a named
Gateway."""

from __future__ import annotations

from typing import Any

from chatplatform_specs import FULL, GATEWAY_API, NAME, NAMESPACE
from golden_files import check_golden
from parley_operator.api.spec import parse_spec
from parley_operator.edge import EdgePolicy, Upstream, envoy_bootstrap
from parley_operator.edge.routes import BACKENDS
from parley_operator.names import Installation
from parley_operator.render import RenderInput, render_all
from parley_operator.render.entry import envoy_config

INST = Installation(NAMESPACE, NAME)


def _kinds(objs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] in kinds]


def test_loopback_bootstrap() -> None:
    """What the dev stack runs: every backend on a loopback port."""
    upstreams = {name: Upstream("127.0.0.1", 8001 + i) for i, name in enumerate(sorted(BACKENDS))}
    config = envoy_bootstrap(
        EdgePolicy(issuer="http://127.0.0.1:8001"),
        upstreams,
        listen=Upstream("127.0.0.1", 8080),
        health=Upstream("127.0.0.1", 19902),
        admin=Upstream("127.0.0.1", 19901),
    )
    check_golden("edge-loopback", [config])


def test_cluster_bootstrap() -> None:
    """The operator's own Envoy behind a TLS Ingress: upstreams by cluster DNS name, HSTS, one
    trusted hop."""
    check_golden("edge-cluster", [envoy_config(parse_spec(FULL), INST)])


def test_gateway_api_objects() -> None:
    spec = parse_spec(GATEWAY_API)
    objs = render_all(RenderInput.steady(spec, INST)).all
    check_golden(
        "edge-gateway-api",
        _kinds(objs, "HTTPRoute", "SecurityPolicy", "BackendTrafficPolicy", "NetworkPolicy"),
    )


def test_same_routes_in_both_renderings() -> None:
    """The two ways of serving the origin route the same paths to the same backends."""
    spec = parse_spec(GATEWAY_API)
    objs = render_all(RenderInput.steady(spec, INST)).all
    routed = {
        (m["path"]["value"], rule["backendRefs"][0]["name"])
        for route in _kinds(objs, "HTTPRoute")
        for rule in route["spec"]["rules"]
        for m in rule["matches"]
    }
    config = envoy_config(parse_spec(FULL), INST)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    envoy_routes = {
        (r["match"].get("path") or r["match"]["prefix"], f"{NAME}-{r['route']['cluster']}")
        for r in hcm["route_config"]["virtual_hosts"][0]["routes"]
    }
    assert {(path.rstrip("/") or "/", backend) for path, backend in envoy_routes} == routed


def test_no_own_envoy_nor_ingress_with_a_gateway() -> None:
    raw = {**GATEWAY_API, "ingress": {"host": "chat.example.org"}}
    objs = render_all(RenderInput.steady(parse_spec(raw), INST)).all
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert ("Deployment", f"{NAME}-gateway") not in names
    assert ("Service", f"{NAME}-gateway") not in names
    assert not _kinds(objs, "Ingress")
    assert ("Deployment", f"{NAME}-web") in names
