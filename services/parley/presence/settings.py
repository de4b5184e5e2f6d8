"""Settings of the presence service (on top of what every service has)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from parley.common.presence import SWEEP_SECONDS, TTL_SECONDS
from parley.common.settings import SERVERS, TOKEN_CHECKS, BaseServiceSettings

DAY = 86400


class PresenceSettings(BaseServiceSettings):
    service_name: str = "presence"
    deploy_required: ClassVar[frozenset[str]] = frozenset({"service_name"}) | SERVERS | TOKEN_CHECKS

    presence_ttl_seconds: float = Field(
        default=TTL_SECONDS,
        gt=0,
        le=3600,
        description="A socket instance's connections count until this long after its newest heartbeat "
        "(and at least two of its heartbeat intervals).",
    )
    presence_sweep_seconds: float = Field(
        default=SWEEP_SECONDS, gt=0, le=60, description="How often instances whose time is up are looked for."
    )
    presence_forget_seconds: float = Field(
        default=3600,
        ge=0,
        description="How long an expired instance's connections are kept: a heartbeat within this time "
        "(a paused socket, presence catching up on a backlog) makes them count again.",
    )
    presence_last_seen_retention_seconds: int = Field(
        default=90 * DAY, ge=60, description="How long an offline user's last-seen is kept."
    )
    presence_stopped_tombstone_seconds: int = Field(
        default=DAY, ge=60, description="How long news of a cleanly stopped instance is ignored."
    )
    presence_query_max_ids: int = Field(default=200, ge=1, le=1000, description="User ids per GET /presence.")
    presence_outbox_max: int = Field(
        default=100_000, ge=100, description="Changes kept for the presence topic while Kafka is away."
    )
    presence_consumer_batch: int = Field(default=500, ge=1, le=10_000)
    presence_max_backoff_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait between attempts while Kafka or Redis is away."
    )
