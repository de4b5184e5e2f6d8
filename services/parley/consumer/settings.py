"""Settings of the consumer service (on top of what every service has)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from parley.common.settings import SERVERS, BaseServiceSettings


class ConsumerSettings(BaseServiceSettings):
    service_name: str = "consumer"
    deploy_required: ClassVar[frozenset[str]] = frozenset({"service_name", "postgres_dsn"}) | SERVERS

    consumer_group: str | None = Field(
        default=None, description="Kafka consumer group; default `<kafka_topic_prefix>.consumer`."
    )
    consumer_instance_id: str | None = Field(
        default=None,
        description="Static group membership (e.g. a StatefulSet pod name): a restarted consumer gets "
        "its partitions back at once instead of after the session timeout. Unique per replica.",
    )
    # Records per batch: one database transaction and one offset commit each.
    consumer_max_batch: int = Field(default=500, ge=1, le=10_000)
    # How long the broker holds a fetch that found nothing new. It adds no latency: the fetch asks
    # for at least one byte, and the broker answers it as soon as a record arrives. It bounds only
    # idle polling: 5 ms means 200 empty fetches a second, ~6% of a core here for the consumer and
    # more for the broker, measured; 100 ms makes that ~0.6%.
    consumer_fetch_max_wait_ms: int = Field(default=100, ge=0, le=1000)
    consumer_session_timeout_ms: int = Field(default=10_000, ge=6_000, le=300_000)
    consumer_db_pool_size: int = Field(default=4, ge=1, le=100)
    consumer_retry_max_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Longest wait between retries of a step: bounds how long the consumer takes to go on "
        "after a server returns.",
    )

    # The dev stack has no operator to create topics; there the consumer does it at start.
    consumer_ensure_topics: bool = False
    consumer_topic_partitions: int = Field(default=6, ge=1, le=1000)

    @property
    def group_id(self) -> str:
        return self.consumer_group or f"{self.kafka_topic_prefix}.consumer"
