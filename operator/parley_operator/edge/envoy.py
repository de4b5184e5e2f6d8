"""The Envoy bootstrap (static resources) of the entry point.

One listener serves the origin; one cluster per backend, plus a cluster of its own for fetching the
JWKS (sharing the auth backend's connections with the JWKS fetch gave 503s when the backend closed a
kept-alive connection under the fetch). A second listener serves `/ready` and `/stats/prometheus` of
the admin interface, which itself stays on loopback (it can stop the server).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley_operator.edge.routes import TOKEN_SUBPROTOCOL_PREFIX, EdgePolicy, Route, Upstream

JWKS_CLUSTER = "jwks"
ADMIN_CLUSTER = "admin"
PROVIDER = "parley"
RATE_LIMIT_STAT = "edge_rate_limit"

_T = "type.googleapis.com/envoy.extensions"
HCM_TYPE = f"{_T}.filters.network.http_connection_manager.v3.HttpConnectionManager"

# Access log: what happened, never a credential. The path is logged without its query string and no
# header but the request id and user agent is logged (so neither Authorization nor the subprotocol
# that may carry a token, nor cookies).
ACCESS_LOG_FORMAT: dict[str, str] = {
    "time": "%START_TIME%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "method": "%REQ(:METHOD)%",
    "path": "%PATH(NQ)%",
    "protocol": "%PROTOCOL%",
    "status": "%RESPONSE_CODE%",
    "flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "bytes_in": "%BYTES_RECEIVED%",
    "bytes_out": "%BYTES_SENT%",
    "duration_ms": "%DURATION%",
    "upstream": "%UPSTREAM_CLUSTER%",
    "user_agent": "%REQ(USER-AGENT)%",
}


def _address(up: Upstream) -> dict[str, Any]:
    return {"socket_address": {"address": up.host, "port_value": up.port}}


def _cluster(name: str, up: Upstream, *, timeout: str = "2s") -> dict[str, Any]:
    # LOGICAL_DNS resolves a name (a Kubernetes Service) per new connection; an IP needs no lookup.
    literal = up.host.replace(".", "").isdigit() or ":" in up.host
    return {
        "name": name,
        "type": "STATIC" if literal else "STRICT_DNS",
        "connect_timeout": timeout,
        "dns_lookup_family": "V4_PREFERRED",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(up)}}]}],
        },
    }


def _match(route: Route) -> dict[str, Any]:
    return {"path": route.path} if route.exact else {"prefix": route.path}


def _route(route: Route, policy: EdgePolicy) -> list[dict[str, Any]]:
    action: dict[str, Any] = {"cluster": route.backend}
    per_filter: dict[str, Any] = {}
    if route.rewrite is not None:
        action["prefix_rewrite"] = route.rewrite
    if route.websocket:
        # A WebSocket lives long; it ends when idle (the protocol's heartbeats keep it busy), not
        # after a request timeout. Its frames are not a request body: nothing is buffered.
        action |= {"timeout": "0s", "idle_timeout": f"{policy.websocket_idle_seconds}s"}
        per_filter["envoy.filters.http.buffer"] = {
            "@type": f"{_T}.filters.http.buffer.v3.BufferPerRoute",
            "disabled": True,
        }
    else:
        action["timeout"] = "30s"
    body: dict[str, Any] = {"name": route.name, "match": _match(route), "route": action}
    if per_filter:
        body["typed_per_filter_config"] = per_filter
    if not route.csrf:
        return [body]
    # Browsers send Origin with every cross-site POST: such requests must name this host. Clients
    # that send no Origin (API clients, not browsers) are not held to it (Envoy's CSRF filter would
    # refuse them), and carry no cookie that another site could ride on.
    browser = {
        **body,
        "name": f"{route.name}-browser",
        "match": {**_match(route), "headers": [{"name": "origin", "present_match": True}]},
        "typed_per_filter_config": {
            **per_filter,
            "envoy.filters.http.csrf": {
                "@type": f"{_T}.filters.http.csrf.v3.CsrfPolicy",
                "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            },
        },
    }
    return [browser, body]


def _jwt_filter(policy: EdgePolicy, jwks_url: str) -> dict[str, Any]:
    requirement = {"provider_name": PROVIDER}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": f"{_T}.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {
                PROVIDER: {
                    "issuer": policy.issuer,
                    "audiences": [policy.audience],
                    "remote_jwks": {
                        "http_uri": {"uri": jwks_url, "cluster": JWKS_CLUSTER, "timeout": "2s"},
                        "cache_duration": f"{policy.jwks_cache_seconds}s",
                        # Fetched at start-up, so the first request does not wait for it.
                        "async_fetch": {"fast_listener": False},
                        "retry_policy": {"num_retries": 3},
                    },
                    "from_headers": [
                        {"name": "Authorization", "value_prefix": "Bearer "},
                        # Browsers cannot set headers on a WebSocket: the token rides as a subprotocol.
                        {"name": "Sec-WebSocket-Protocol", "value_prefix": TOKEN_SUBPROTOCOL_PREFIX},
                    ],
                    # Tokens in a query string are not looked for: they would end up in logs.
                    "from_params": [],
                    # The services verify the token again: it must reach them unchanged.
                    "forward": True,
                    "clock_skew_seconds": 30,
                }
            },
            "rules": _jwt_rules(policy, requirement),
        },
    }


def _jwt_rules(policy: EdgePolicy, requirement: dict[str, Any]) -> list[dict[str, Any]]:
    """In route order, the first matching rule wins: a public route inside a JWT route's prefix
    (the one-click unsubscribe under `/api/notifications`) gets a rule of its own without a
    requirement, before the prefix's."""
    rules: list[dict[str, Any]] = []
    for index, route in enumerate(policy.routes):
        if route.jwt:
            rules.append({"match": _match(route), "requires": requirement})
        elif any(
            later.jwt and not later.exact and route.path.startswith(later.path)
            for later in policy.routes[index + 1 :]
        ):
            rules.append({"match": _match(route)})
    return rules


def _rate_limit_filter(policy: EdgePolicy) -> dict[str, Any]:
    bucket = {
        "max_tokens": policy.burst,
        "tokens_per_fill": policy.requests_per_second,
        "fill_interval": "1s",
    }
    enabled = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "edge_rl"}
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": f"{_T}.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": RATE_LIMIT_STAT,
            # The bucket of a request without a descriptor (none should be without one); each client
            # address gets a bucket of its own below.
            "token_bucket": bucket,
            "filter_enabled": enabled,
            "filter_enforced": enabled,
            # An empty value makes one bucket per distinct client address, created on demand.
            "descriptors": [{"entries": [{"key": "remote_address"}], "token_bucket": bucket}],
            "max_dynamic_descriptors": 10_000,
            # Else every request would also take a token from the shared bucket above: one limit
            # for all clients together.
            "always_consume_default_token_bucket": False,
            "rate_limits": [{"actions": [{"remote_address": {}}]}],
            "response_headers_to_add": [
                {
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    "header": {"key": "retry-after", "value": "1"},
                }
            ],
            "local_rate_limit_per_downstream_connection": False,
        },
    }


def _http_filters(policy: EdgePolicy, jwks_url: str) -> list[dict[str, Any]]:
    return [
        _rate_limit_filter(policy),
        {
            # Enabled per route (the state-changing /auth calls); Origin must match the host.
            "name": "envoy.filters.http.csrf",
            "typed_config": {
                "@type": f"{_T}.filters.http.csrf.v3.CsrfPolicy",
                "filter_enabled": {"default_value": {"numerator": 0, "denominator": "HUNDRED"}},
            },
        },
        _jwt_filter(policy, jwks_url),
        {
            "name": "envoy.filters.http.buffer",
            "typed_config": {
                "@type": f"{_T}.filters.http.buffer.v3.Buffer",
                "max_request_bytes": policy.max_request_bytes,
            },
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": f"{_T}.filters.http.router.v3.Router"},
        },
    ]


def _headers(values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        for key, value in values.items()
    ]


def _edge_listener(policy: EdgePolicy, listen: Upstream, jwks_url: str) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": HCM_TYPE,
        "stat_prefix": "edge",
        "codec_type": "AUTO",
        "use_remote_address": True,
        "xff_num_trusted_hops": policy.trusted_hops,
        "skip_xff_append": False,
        # Request ids: a client's x-request-id is kept (a browser may correlate its own logs),
        # otherwise one is made; either way it goes upstream and back in the response.
        "generate_request_id": True,
        "preserve_external_request_id": True,
        "always_set_request_id_in_response": True,
        # The id stays as it came: no trace flag packed into it (Envoy's default rewrites a character).
        "request_id_extension": {
            "typed_config": {
                "@type": f"{_T}.request_id.uuid.v3.UuidRequestIdConfig",
                "pack_trace_reason": False,
            }
        },
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "server_header_transformation": "PASS_THROUGH",
        "common_http_protocol_options": {
            "headers_with_underscores_action": "REJECT_REQUEST",
            "idle_timeout": "300s",
        },
        "request_headers_timeout": "10s",
        "stream_idle_timeout": "300s",
        "max_request_headers_kb": 32,
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "access_log": [
            {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {
                    "@type": f"{_T}.access_loggers.stream.v3.StdoutAccessLog",
                    "log_format": {"json_format": ACCESS_LOG_FORMAT},
                },
            }
        ],
        "route_config": {
            "name": "parley",
            "response_headers_to_add": _headers(policy.security_headers()),
            "response_headers_to_remove": ["server", "x-powered-by", "x-envoy-upstream-service-time"],
            "request_headers_to_remove": ["x-envoy-internal"],
            "virtual_hosts": [
                {
                    "name": "parley",
                    "domains": ["*"],
                    "routes": [r for route in policy.routes for r in _route(route, policy)],
                }
            ],
        },
        "http_filters": _http_filters(policy, jwks_url),
    }
    return {
        "name": "edge",
        "address": _address(listen),
        "per_connection_buffer_limit_bytes": 65536,
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }


def _health_listener(listen: Upstream) -> dict[str, Any]:
    """Readiness and metrics for the kubelet and Prometheus, from the loopback-only admin."""
    routes: list[dict[str, Any]] = [
        {"match": {"path": path}, "route": {"cluster": ADMIN_CLUSTER, "timeout": "2s"}}
        for path in ("/ready", "/stats/prometheus")
    ]
    routes.append({"match": {"prefix": "/"}, "direct_response": {"status": 404}})
    return {
        "name": "health",
        "address": _address(listen),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM_TYPE,
                            "stat_prefix": "health",
                            "route_config": {
                                "name": "health",
                                "virtual_hosts": [{"name": "health", "domains": ["*"], "routes": routes}],
                            },
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {"@type": f"{_T}.filters.http.router.v3.Router"},
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }


def envoy_bootstrap(
    policy: EdgePolicy,
    upstreams: Mapping[str, Upstream],
    *,
    listen: Upstream,
    health: Upstream,
    admin: Upstream,
) -> dict[str, Any]:
    """The whole bootstrap; `upstreams` maps every backend the routes name to where it listens
    (Kubernetes Service names in the cluster, loopback ports in the dev stack)."""
    backends = sorted({route.backend for route in policy.routes})
    missing = [name for name in backends if name not in upstreams]
    if missing:
        raise ValueError(f"no upstream address for {', '.join(missing)}")
    auth = upstreams["auth"]
    authority = f"{auth.host}:{auth.port}"
    jwks_url = f"http://{authority}{policy.jwks_path}"
    return {
        "node": {"id": "parley-edge", "cluster": "parley-edge"},
        "admin": {"address": _address(admin)},
        "static_resources": {
            "listeners": [_edge_listener(policy, listen, jwks_url), _health_listener(health)],
            "clusters": [
                *(_cluster(name, upstreams[name]) for name in backends),
                _cluster(JWKS_CLUSTER, auth),
                _cluster(ADMIN_CLUSTER, admin),
            ],
        },
        "layered_runtime": {
            "layers": [
                {
                    "name": "static",
                    # Envoy's own protection against too many downstream connections.
                    "static_layer": {"overload": {"global_downstream_max_connections": 50_000}},
                }
            ]
        },
    }
