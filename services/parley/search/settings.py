"""Settings of the search service (on top of what every service has)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from parley.common.settings import TOKEN_CHECKS, BaseServiceSettings


class SearchSettings(BaseServiceSettings):
    service_name: str = "search"
    deploy_required: ClassVar[frozenset[str]] = (
        frozenset({"service_name", "postgres_dsn", "opensearch_url", "kafka_bootstrap", "kafka_topic_prefix"})
        | TOKEN_CHECKS
    )

    opensearch_url: SecretStr = Field(
        default=SecretStr("http://127.0.0.1:19200"),
        description="OpenSearch, credentials (if any) in the URL.",
    )
    search_index_prefix: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9._-]{1,200}$",
        description="Prefix of the alias `<prefix>.messages` and its indices `<prefix>.messages-NNNNNN`; "
        "default: the Kafka topic prefix (`<namespace>.<platform>` on Kubernetes, as the operator "
        "names them).",
    )
    search_group: str | None = Field(
        default=None,
        description="Kafka consumer group of the indexer; default `<kafka_topic_prefix>.search`.",
    )
    # Records per bulk request: one bulk and one offset commit each.
    search_max_batch: int = Field(default=2000, ge=1, le=20_000)
    search_fetch_max_wait_ms: int = Field(default=100, ge=0, le=1000)
    search_db_pool_size: int = Field(default=10, ge=1, le=200)
    search_retry_max_seconds: float = Field(default=5.0, gt=0)
    search_refresh_interval: str = Field(
        default="500ms",
        pattern=r"^[0-9]+(ms|s)$",
        description="How often new writes become searchable (OpenSearch's index refresh interval).",
    )
    search_page_max: int = Field(default=50, ge=1, le=200)
    search_query_max_chars: int = Field(default=1000, ge=10, le=10_000)
    search_timeout_seconds: float = Field(default=5.0, gt=0)
    # The dev stack has no operator; there the service creates the events topic at start.
    search_ensure_topics: bool = False
    search_topic_partitions: int = Field(default=6, ge=1, le=1000)

    @property
    def index_prefix(self) -> str:
        return self.search_index_prefix or self.kafka_topic_prefix.lower()

    @property
    def group_id(self) -> str:
        return self.search_group or f"{self.kafka_topic_prefix}.search"
