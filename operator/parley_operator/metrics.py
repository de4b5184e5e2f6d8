"""Prometheus metrics of the operator process (`--metrics host:port`), for the chart's metrics Service.

Only the process and the Python runtime for now (memory, CPU, open files, garbage collection) plus the
operator's version; kopf itself publishes no metrics.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Info, start_http_server

INFO = Info("parley_operator", "The running operator's version")


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
