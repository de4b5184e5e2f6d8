"""The entry point, rendered once: the routes of one Parley origin and the Envoy bootstrap or Gateway API
objects that serve them. Pure functions (plain data in, dicts out), used by the operator in the cluster
and by the dev stack on loopback; they differ only in the upstream addresses they are given."""

from parley_operator.edge.envoy import envoy_bootstrap
from parley_operator.edge.routes import ROUTES, EdgePolicy, Route, Upstream

__all__ = ["ROUTES", "EdgePolicy", "Route", "Upstream", "envoy_bootstrap"]
