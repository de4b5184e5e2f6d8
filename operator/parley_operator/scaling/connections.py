"""The open-connections gauge in a socket pod's /metrics (Prometheus text exposition format)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

CONNECTIONS_METRIC = "parley_socket_open_connections"


class MetricMissing(ValueError):
    """The page parsed, but holds no usable open-connections sample."""


def open_connections(exposition: str, metric: str = CONNECTIONS_METRIC) -> int:
    """The pod's open connections: the sum of the gauge's samples (one per label set, if labelled).

    Raises MetricMissing when the gauge is absent or not a finite, non-negative number, and
    ValueError when the page is not in the exposition format.
    """
    values = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == metric
        for sample in family.samples
        if sample.name == metric
    ]
    if not values:
        raise MetricMissing(f"no {metric} in the pod's metrics")
    total = sum(values)
    # NaN fails both comparisons; a gauge of connections is never negative or infinite.
    if not 0 <= total < float("inf"):
        raise MetricMissing(f"{metric} is {total}")
    return round(total)
