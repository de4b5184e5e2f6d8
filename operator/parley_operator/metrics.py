"""Prometheus metrics of the operator process (`--metrics host:port`), for the chart's metrics Service.

The process and the Python runtime (memory, CPU, open files, garbage collection), the operator's
version, and its reconcile passes (count by result, duration); kopf itself publishes no metrics.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Counter, Histogram, Info, start_http_server

INFO = Info("parley_operator", "The running operator's version")
RECONCILES = Counter(
    "parley_operator_reconciles_total",
    "Full reconcile passes of a ChatPlatform, by result: ok, retry (a step waits), error (invalid "
    "spec or an exception).",
    ["result"],
)
RECONCILE_SECONDS = Histogram(
    "parley_operator_reconcile_seconds",
    "Duration of a full reconcile pass.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def _version() -> str:
    try:
        return version("parley-operator")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` or `:port` (all interfaces) into (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--metrics wants host:port or :port, not {address!r}")
    return (host or "0.0.0.0", int(port))


def serve(address: str) -> None:
    """Serves /metrics from a daemon thread; returns at once."""
    host, port = parse_address(address)
    INFO.info({"version": _version()})
    start_http_server(port, addr=host)
