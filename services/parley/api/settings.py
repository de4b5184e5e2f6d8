"""Settings of the api service (on top of what every service has)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from parley.common.settings import SERVERS, TOKEN_CHECKS, BaseServiceSettings


class ApiSettings(BaseServiceSettings):
    service_name: str = "api"
    deploy_required: ClassVar[frozenset[str]] = (
        frozenset({"service_name", "postgres_dsn"}) | SERVERS | TOKEN_CHECKS
    )

    api_max_group_members: int = Field(
        default=1000, ge=2, le=100_000, description="Members per group, owner included."
    )
    api_db_pool_size: int = Field(default=10, ge=1, le=200)
    # The outbox drainer: how often it looks without being woken, and how long it waits at most
    # between attempts while Redis or Kafka is away.
    api_outbox_poll_seconds: float = Field(default=5.0, gt=0)
    api_outbox_max_backoff_seconds: float = Field(default=30.0, gt=0)
