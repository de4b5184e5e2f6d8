"""Parley's Grafana dashboards as code (grafana-foundation-sdk), written as JSON into the parley
chart (charts/parley/dashboards), where a ConfigMap per dashboard carries the label Grafana's
sidecar watches (`grafana_dashboard: "1"`).

    .venv/bin/python observability/dashboards.py          # regenerate the JSON files
    .venv/bin/python observability/dashboards.py --check  # fail when they are not up to date

Every panel's PromQL is run against a real Prometheus with data in it by
services/tests/messaging/test_dashboards.py. The data source is a variable (`datasource`), so the
dashboards work with whatever Prometheus the cluster's Grafana has.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).resolve().parents[1] / "charts" / "parley" / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


def _p(q: float, histogram: str, by: str = "") -> str:
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (rate({histogram}_bucket[{RATE}])))"


def timeseries(title: str, unit: str, *queries: Query, description: str = "") -> Timeseries:
    panel = Timeseries().title(title).unit(unit).datasource(DATASOURCE).height(8).span(12).min(0)
    if description:
        panel = panel.description(description)
    for index, query in enumerate(queries):
        target = Dataquery().expr(query.expr).ref_id(chr(ord("A") + index)).datasource(DATASOURCE)
        if query.legend:
            target = target.legend_format(query.legend)
        panel = panel.with_target(target)
    return panel


def stat(title: str, unit: str, query: Query, description: str = "") -> Stat:
    panel = Stat().title(title).unit(unit).datasource(DATASOURCE).height(4).span(6)
    if description:
        panel = panel.description(description)
    return panel.with_target(Dataquery().expr(query.expr).ref_id("A").datasource(DATASOURCE))


def _dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["parley", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )


def message_path() -> Dashboard:
    return (
        _dashboard(
            "parley-message-path",
            "Parley / Message path",
            "A chat message from the sender's socket to Kafka, the consumer's store, and every "
            "receiving socket.",
        )
        .with_row(Row("Latency (p50, p99)"))
        .with_panel(
            timeseries(
                "Send → accepted (Kafka's ack)",
                "s",
                Query(_p(0.5, "socket_command_ack_seconds"), "p50"),
                Query(_p(0.99, "socket_command_ack_seconds"), "p99"),
                description="From a send frame on the socket to Kafka's ack (acks=all): the client's "
                "`accepted`.",
            )
        )
        .with_panel(
            timeseries(
                "Send → stored (database commit)",
                "s",
                Query(_p(0.5, "parley_consumer_send_to_stored_seconds"), "p50"),
                Query(_p(0.99, "parley_consumer_send_to_stored_seconds"), "p99"),
            )
        )
        .with_panel(
            timeseries(
                "Stored → delivered (to each socket)",
                "s",
                Query(_p(0.5, "parley_socket_stored_to_delivered_seconds"), "p50"),
                Query(_p(0.99, "parley_socket_stored_to_delivered_seconds"), "p99"),
            )
        )
        .with_panel(
            timeseries(
                "Consumer steps (p99 per batch)",
                "s",
                Query(_p(0.99, "parley_consumer_step_seconds", "step"), "{{step}}"),
            )
        )
        .with_row(Row("Throughput"))
        .with_panel(
            timeseries(
                "Commands by outcome",
                "ops",
                Query(f"sum by (outcome) (rate(parley_consumer_records_total[{RATE}]))", "{{outcome}}"),
            )
        )
        .with_panel(
            timeseries(
                "Client frames by type",
                "ops",
                Query(f"sum by (type) (rate(socket_frames_total[{RATE}]))", "{{type}}"),
            )
        )
    )


def services() -> Dashboard:
    return (
        _dashboard(
            "parley-services",
            "Parley / Services (RED)",
            "Rate, errors and duration of every service's HTTP routes; the socket's error frames.",
        )
        .with_row(Row("Rate"))
        .with_panel(
            timeseries(
                "Requests by service",
                "reqps",
                Query(f"sum by (service) (rate(http_requests_total[{RATE}]))", "{{service}}"),
            )
        )
        .with_panel(
            timeseries(
                "Requests by route",
                "reqps",
                Query(
                    f"sum by (service, method, route) (rate(http_requests_total[{RATE}]))",
                    "{{service}} {{method}} {{route}}",
                ),
            )
        )
        .with_row(Row("Errors"))
        .with_panel(
            timeseries(
                "5xx share by service",
                "percentunit",
                # (`or … * 0`: a service without any 5xx shows 0, not "no data")
                Query(
                    f'(sum by (service) (rate(http_requests_total{{status=~"5.."}}[{RATE}]))'
                    f" or sum by (service) (rate(http_requests_total[{RATE}])) * 0)"
                    f" / sum by (service) (rate(http_requests_total[{RATE}]))",
                    "{{service}}",
                ),
            )
        )
        .with_panel(
            timeseries(
                "Socket error frames by code",
                "ops",
                Query(f"sum by (code) (rate(socket_errors_total[{RATE}]))", "{{code}}"),
            )
        )
        .with_row(Row("Duration"))
        .with_panel(
            timeseries(
                "p99 by service",
                "s",
                Query(_p(0.99, "http_request_duration_seconds", "service"), "{{service}}"),
            )
        )
        .with_panel(
            timeseries(
                "p99 by route",
                "s",
                Query(_p(0.99, "http_request_duration_seconds", "service, route"), "{{service}} {{route}}"),
            )
        )
    )


def kafka() -> Dashboard:
    return (
        _dashboard(
            "parley-kafka",
            "Parley / Kafka and consumer lag",
            "Commands not yet stored, per partition, as the broker sees the consumer group.",
        )
        .with_panel(
            stat(
                "Total lag",
                "short",
                Query("sum(max by (group, topic, partition) (parley_kafka_consumergroup_lag))"),
            )
        )
        .with_panel(
            stat(
                "Lag monitor up",
                "short",
                Query("max(parley_kafka_lag_monitor_up)"),
                description="1 when a socket replica read the group's offsets from Kafka.",
            )
        )
        .with_panel(
            timeseries(
                "Lag per partition",
                "short",
                Query(
                    "max by (group, topic, partition) (parley_kafka_consumergroup_lag)",
                    "{{topic}}-{{partition}}",
                ),
            )
        )
        .with_panel(
            timeseries(
                "Consumer step failures (retried)",
                "ops",
                Query(f"sum by (step) (rate(parley_consumer_step_failures_total[{RATE}]))", "{{step}}"),
            )
        )
    )


def presence() -> Dashboard:
    return (
        _dashboard(
            "parley-presence",
            "Parley / Connections and presence",
            "Open WebSocket connections, presence reporting from the sockets, the presence service.",
        )
        .with_panel(stat("Connections", "short", Query("sum(socket_connections)")))
        .with_panel(
            timeseries(
                "Connections per socket",
                "short",
                Query("sum by (instance) (socket_connections)", "{{instance}}"),
            )
        )
        .with_panel(
            timeseries(
                "Presence sends failing in a row",
                "short",
                Query("max by (instance) (socket_presence_send_failures)", "{{instance}}"),
                description="0: presence hears this socket's connection events and heartbeats.",
            )
        )
        .with_panel(
            timeseries(
                "Presence service requests",
                "reqps",
                Query(
                    f'sum by (route, status) (rate(http_requests_total{{service="presence"}}[{RATE}]))',
                    "{{route}} {{status}}",
                ),
            )
        )
    )


def operator() -> Dashboard:
    return (
        _dashboard(
            "parley-operator",
            "Parley / Operator",
            "The operator's reconcile passes of ChatPlatforms.",
        )
        .with_panel(
            timeseries(
                "Reconciles by result",
                "ops",
                Query(f"sum by (result) (rate(parley_operator_reconciles_total[{RATE}]))", "{{result}}"),
            )
        )
        .with_panel(
            timeseries(
                "Reconcile duration",
                "s",
                Query(_p(0.5, "parley_operator_reconcile_seconds"), "p50"),
                Query(_p(0.99, "parley_operator_reconcile_seconds"), "p99"),
            )
        )
    )


DASHBOARDS = {
    "message-path": message_path,
    "services": services,
    "kafka": kafka,
    "presence": presence,
    "operator": operator,
}


def render() -> dict[str, str]:
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {f"{name}.json": encoder.encode(build().build()) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [n for n, text in files.items() if not (OUT / n).exists() or (OUT / n).read_text() != text]
        if stale:
            print(
                f"out of date: {', '.join(stale)}; run: python observability/dashboards.py", file=sys.stderr
            )
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
        json.loads(text)
    print(f"wrote {len(files)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
