"""Settings of the socket service (on top of what every service has)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from parley.common.presence import HEARTBEAT_SECONDS
from parley.common.settings import SERVERS, TOKEN_CHECKS, BaseServiceSettings

KiB = 1024


class SocketSettings(BaseServiceSettings):
    service_name: str = "socket"
    deploy_required: ClassVar[frozenset[str]] = (
        frozenset({"service_name", "postgres_dsn"}) | SERVERS | TOKEN_CHECKS
    )

    # Frames: above the soft limit a frame is refused with an error frame and the connection stays;
    # above the hard limit the connection is closed (1009), so nobody makes us buffer megabytes.
    socket_max_frame_bytes: int = Field(default=16 * KiB, ge=1 * KiB, le=1024 * KiB)
    socket_hard_max_frame_bytes: int = Field(default=64 * KiB, ge=1 * KiB, le=16 * 1024 * KiB)
    # What a client may have unsent in our buffers before it counts as too slow and is closed (it
    # reconnects and catches up from its last seqs; holding more would cost every process memory).
    socket_max_buffered_bytes: int = Field(default=1024 * KiB, ge=64 * KiB)

    # Commands (send, edit, delete, react) per user and process: a token bucket.
    socket_commands_per_second: float = Field(default=50.0, gt=0)
    socket_commands_burst: int = Field(default=200, ge=1)
    # Other frames (typing, read, sync, ping) per connection, a looser bucket against floods.
    socket_frames_per_second: float = Field(default=100.0, gt=0)
    socket_frames_burst: int = Field(default=400, ge=1)
    # One typing indicator per user and chat per this many seconds; more are dropped quietly.
    socket_typing_interval_seconds: float = Field(default=2.0, ge=0)

    # Kafka: how long a command may wait for the broker's ack before the client is told to retry.
    socket_send_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # Connections: time to authenticate, silence tolerated (clients ping every heartbeat).
    socket_auth_timeout_seconds: float = Field(default=10.0, gt=0)
    socket_heartbeat_seconds: float = Field(default=25.0, gt=0)
    socket_idle_timeout_seconds: float = Field(default=75.0, gt=0)
    socket_max_auth_failures: int = Field(default=3, ge=1)

    # One heartbeat per process to presence covers all its connections; presence takes a process
    # as gone (its users offline) when no beat came for max(its TTL, 2 beats).
    socket_presence_heartbeat_seconds: float = Field(default=HEARTBEAT_SECONDS, gt=0, le=300)
    # The consumer group whose lag this process reports (common/kafka_lag.py); default the
    # consumer's own default group, `<kafka_topic_prefix>.consumer`.
    socket_lag_group: str | None = None
    socket_lag_interval_seconds: float = Field(default=5.0, gt=0, le=300)

    socket_replay_page: int = Field(default=500, ge=1, le=10_000)
    socket_db_pool_size: int = Field(default=10, ge=1, le=200)
    socket_uvloop: bool = Field(default=True, description="Run on uvloop (faster) when installed.")
