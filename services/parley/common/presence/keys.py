"""Where presence lives in Redis: key and channel names, made in one place.

Read by the socket (a user's current presence, the channels of changes) and by the presence
service, which is the only writer. Layout under `<redis_key_prefix>presence:`:

- `user:<user id>`            hash: status, last_seen, version, changed_at (epoch seconds) — the
                              aggregate every reader uses. No TTL while online or away; an offline
                              user's expires after the last-seen retention.
- `conns:<user id>`           hash: `<instance id>|<connection id>` -> online | away
- `instance:<instance id>`    set of `<user id>|<connection id>`: what an instance's heartbeat
                              covers (TTL: refreshed by every heartbeat).
- `instances:alive`           sorted set: instance id -> the epoch second it expires (its TTL)
- `instances:expired`         sorted set: instance id -> when it expired (kept a while: a late
                              heartbeat revives it, its connections count again)
- `instances:beat`            hash: instance id -> its newest sign of life
- `stopped:<instance id>`     tombstone of an instance that stopped cleanly (TTL)
- `dirty`                     sorted set: user id -> seen-at, users whose aggregate must be
                              recomputed (survives a presence replica dying mid-sweep)
- `outbox`, `outbox:lock`     changes waiting to be produced to Kafka
- channel `changes:<user id>` every change of that user's presence, as PresenceChanged JSON;
                              PSUBSCRIBE `changes:*` for all of them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class PresenceKeys:
    redis_key_prefix: str

    @property
    def base(self) -> str:
        return f"{self.redis_key_prefix}presence:"

    # Prefixes, completed with an id (the service's Lua scripts build names from these).
    @property
    def user_prefix(self) -> str:
        return f"{self.base}user:"

    @property
    def connections_prefix(self) -> str:
        return f"{self.base}conns:"

    @property
    def instance_prefix(self) -> str:
        return f"{self.base}instance:"

    @property
    def stopped_prefix(self) -> str:
        return f"{self.base}stopped:"

    @property
    def channel_prefix(self) -> str:
        return f"{self.base}changes:"

    def user(self, user_id: uuid.UUID) -> str:
        return f"{self.user_prefix}{user_id}"

    def connections(self, user_id: uuid.UUID) -> str:
        return f"{self.connections_prefix}{user_id}"

    def instance(self, instance_id: str) -> str:
        return f"{self.instance_prefix}{instance_id}"

    def stopped(self, instance_id: str) -> str:
        return f"{self.stopped_prefix}{instance_id}"

    def channel(self, user_id: uuid.UUID) -> str:
        """Where a change of this user's presence is published."""
        return f"{self.channel_prefix}{user_id}"

    @property
    def channel_pattern(self) -> str:
        """PSUBSCRIBE pattern of every user's changes."""
        return f"{self.channel_prefix}*"

    @property
    def alive(self) -> str:
        return f"{self.base}instances:alive"

    @property
    def expired(self) -> str:
        return f"{self.base}instances:expired"

    @property
    def beats(self) -> str:
        return f"{self.base}instances:beat"

    @property
    def dirty(self) -> str:
        return f"{self.base}dirty"

    @property
    def outbox(self) -> str:
        return f"{self.base}outbox"

    @property
    def outbox_lock(self) -> str:
        return f"{self.base}outbox:lock"
