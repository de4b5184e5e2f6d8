"""Presence state in Redis, changed only through the scripts in `lua`.

The model: a user's connections each belong to one socket instance and are online or away. An
instance is live until its time is up (`lifetime` after its newest sign of life); connections of an
instance that is not live count for nothing. A user is online if any counted connection is online,
away if all counted ones are away, offline otherwise.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.commands.core import AsyncScript

from parley.common.events import (
    Connected,
    ConnectionActive,
    ConnectionAway,
    ConnectionEventType,
    Disconnected,
    InstanceEventType,
    InstanceHeartbeat,
    InstanceStopped,
    PresenceChanged,
    PresenceStatus,
    encode,
)
from parley.common.presence import PresenceKeys, lifetime
from parley.common.presence.read import epoch_to_datetime
from parley.common.redis import Redis
from parley.presence import lua

Clock = Callable[[], float]
AnyConnectionEvent = ConnectionEventType | InstanceEventType

_KINDS: dict[type[ConnectionEventType], str] = {
    Connected: "c",
    ConnectionAway: "a",
    ConnectionActive: "A",
    Disconnected: "d",
}
_STATUSES: dict[str, PresenceStatus] = {"online": "online", "away": "away", "offline": "offline"}


@dataclass(frozen=True)
class Change:
    """A user's aggregate presence changed (as the scripts record it: `user|status|last|version|at`)."""

    user_id: uuid.UUID
    status: PresenceStatus
    last_seen: float
    version: int
    changed_at: float

    @classmethod
    def parse(cls, raw: str) -> Change:
        user, status, last_seen, version, changed_at = raw.split("|")
        return cls(uuid.UUID(user), _STATUSES[status], float(last_seen), int(version), float(changed_at))

    def event(self) -> PresenceChanged:
        changed_at = epoch_to_datetime(self.changed_at)
        assert changed_at is not None
        return PresenceChanged(
            user_id=self.user_id,
            status=self.status,
            last_seen=epoch_to_datetime(self.last_seen),
            version=self.version,
            changed_at=changed_at,
        )


@dataclass(frozen=True)
class Timing:
    ttl: float
    """Seconds an instance stays live after a sign of life (at least two heartbeat intervals)."""
    forget: float
    """Seconds an expired instance's connections are kept in case it turns out alive after all."""
    last_seen_retention: int
    """Seconds an offline user's last-seen is kept."""
    stopped_tombstone: int
    """Seconds a stopped instance is remembered, so late news of it is ignored."""
    outbox_max: int
    """Changes kept for Kafka while it is away; beyond that the oldest are dropped."""


class PresenceStore:
    def __init__(self, redis: Redis, keys: PresenceKeys, timing: Timing, *, clock: Clock = time.time) -> None:
        self.redis = redis
        self.keys = keys
        self.timing = timing
        self.clock = clock
        self._context = json.dumps(
            {
                "alive": keys.alive,
                "expired": keys.expired,
                "beats": keys.beats,
                "dirty": keys.dirty,
                "outbox": keys.outbox,
                "user": keys.user_prefix,
                "conns": keys.connections_prefix,
                "instance": keys.instance_prefix,
                "stopped": keys.stopped_prefix,
                "ttl": timing.ttl,
                # A backstop only: the sweep and forget clean up long before (an interval is at
                # most an hour, see InstanceHeartbeat).
                "instance_keep": int(timing.forget + 2 * lifetime(timing.ttl, 3600) + 3600),
                "retention": int(timing.last_seen_retention),
                "tombstone": int(timing.stopped_tombstone),
                "outbox_max": int(timing.outbox_max),
            }
        )
        self._apply = self._script(lua.APPLY)
        self._sweep = self._script(lua.SWEEP)
        self._recompute_dirty = self._script(lua.RECOMPUTE_DIRTY)
        self._forget = self._script(lua.FORGET)

    def _script(self, source: str) -> AsyncScript:
        return self.redis.register_script(source)

    async def _run(self, script: AsyncScript, now: float | None, *args: Any) -> Any:
        return await script(args=[self._context, repr(self.clock() if now is None else now), *args])

    async def apply(self, events: Sequence[AnyConnectionEvent], *, now: float | None = None) -> list[Change]:
        """Apply connection events in order, atomically; the changes they made directly (those of
        a stop or a revival come out of `recompute_dirty`)."""
        if not events:
            return []
        raw = await self._run(self._apply, now, json.dumps([self._compact(event) for event in events]))
        return [Change.parse(item) for item in raw]

    async def sweep(self, *, now: float | None = None, limit: int = 100) -> list[str]:
        """Expire instances whose time is up; returns their ids. Their users are then dirty."""
        return list(await self._run(self._sweep, now, limit))

    async def recompute_dirty(
        self, *, now: float | None = None, limit: int = 1000
    ) -> tuple[int, list[Change]]:
        """Recompute up to `limit` users marked dirty; returns (still dirty, changes)."""
        remaining, *raw = await self._run(self._recompute_dirty, now, limit)
        return int(remaining), [Change.parse(item) for item in raw]

    async def settle(self, *, now: float | None = None, chunk: int = 1000) -> list[Change]:
        """Recompute every dirty user, a chunk per script (a big instance's users do not block
        Redis in one go)."""
        changes: list[Change] = []
        while True:
            remaining, chunk_changes = await self.recompute_dirty(now=now, limit=chunk)
            changes.extend(chunk_changes)
            if remaining == 0:
                return changes

    async def forget(self, *, now: float | None = None, limit: int = 100) -> int:
        current = self.clock() if now is None else now
        return int(await self._run(self._forget, now, repr(current - self.timing.forget), limit))

    async def publish(self, changes: Sequence[Change]) -> None:
        """On each user's Redis channel, for the sockets."""
        if not changes:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for change in changes:
                pipe.publish(self.keys.channel(change.user_id), encode(change.event()))
            await pipe.execute()

    def _compact(self, event: AnyConnectionEvent) -> list[Any]:
        at = event.at.timestamp()
        if isinstance(event, InstanceHeartbeat):
            return ["h", event.instance_id, at, lifetime(self.timing.ttl, event.interval_seconds)]
        if isinstance(event, InstanceStopped):
            return ["s", event.instance_id, at]
        return [_KINDS[type(event)], str(event.user_id), event.connection_id, event.instance_id, at]
