"""The socket's Prometheus metrics, one registry per server (served at `GET /metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SocketMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("socket_connections", "Open WebSocket connections.", registry=self.registry)
        self.frames = Counter(
            "socket_frames_total", "Client frames by type.", ["type"], registry=self.registry
        )
        self.errors = Counter(
            "socket_errors_total", "Error frames sent, by code.", ["code"], registry=self.registry
        )
        self.acked = Histogram(
            "socket_command_ack_seconds",
            "From a command frame to Kafka's ack.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=self.registry,
        )
        self.presence_failures = Gauge(
            "socket_presence_send_failures",
            "Failed sends of presence events and heartbeats in a row (0: presence hears us).",
            registry=self.registry,
        )
        self.stored_to_delivered = Histogram(
            "parley_socket_stored_to_delivered_seconds",
            "From a stored event's commit (its `at`) to its delivery to this process's connections.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
            registry=self.registry,
        )
        self.replayed = Counter(
            "socket_replayed_events_total", "Events sent from the change log.", registry=self.registry
        )
