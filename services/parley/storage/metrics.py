"""The storage service's own metrics, on the app's registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class StorageMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.uploaded_bytes = Counter(
            "parley_storage_uploaded_bytes_total", "Bytes of completed uploads.", registry=registry
        )
        self.uploads = Counter(
            "parley_storage_uploads_total", "Uploads started, by kind.", ["kind"], registry=registry
        )
        self.failures = Counter(
            "parley_storage_failures_total",
            "Attachments refused or failed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.ready = Counter(
            "parley_storage_ready_total", "Attachments that became readable.", registry=registry
        )
        self.previews = Counter("parley_storage_previews_total", "Pictures previewed.", registry=registry)
