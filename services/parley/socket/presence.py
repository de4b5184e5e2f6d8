"""Presence for the socket's clients: which users each connection watches, and `presence` frames.

A `watch` frame replaces a connection's list of users. This process listens on a user's presence
channel exactly while some connection here watches them. The channel is confirmed before the
state is read from Redis, so no change published afterwards can slip by; and `latest` keeps the
newest state this process forwarded per watched user, so a connection never gets an older version
after a newer one (replicas of the presence service may publish out of order, and the snapshot read
may race a change on the channel).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

from parley.common.presence import PresenceKeys, UserPresence, read_presence
from parley.common.redis import Redis
from parley.socket.protocol import ErrorCode, PresenceEntry, presence_frame
from parley.socket.pubsub import Subscriber
from parley.socket.recipient import Watcher
from parley.socket.wsserver import text_frame

log = logging.getLogger(__name__)


Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class PresenceWatch:
    def __init__(self, subscriber: Subscriber, redis: Redis, keys: PresenceKeys, spawn: Spawn) -> None:
        self.subscriber = subscriber
        self.redis = redis
        self.keys = keys
        self.spawn = spawn  # the hub's: its tasks end with it
        self.watchers: dict[uuid.UUID, set[Watcher]] = {}
        self.latest: dict[uuid.UUID, PresenceEntry] = {}

    # --- connections --------------------------------------------------------------------------

    def watch(self, session: Watcher, user_ids: Iterable[uuid.UUID]) -> None:
        """Replace what the session watches; it gets the current state of all of them, then changes."""
        wanted = list(dict.fromkeys(user_ids))
        before = session.watching or frozenset()
        session.watching = frozenset(wanted) or None
        self._forget(session, [user_id for user_id in before if user_id not in wanted])
        added = [user_id for user_id in wanted if user_id not in before]
        new_channels: list[str] = []
        for user_id in added:
            sessions = self.watchers.get(user_id)
            if sessions is None:
                sessions = self.watchers[user_id] = set()
                new_channels.append(self.keys.channel(user_id))
            sessions.add(session)
        # Subscribing is counted now, confirmed later: a second watch frame meanwhile is consistent.
        confirmed = self.subscriber.subscribe(new_channels)
        self.spawn(self._snapshot(session, wanted, confirmed), "presence-snapshot")

    def unwatch(self, session: Watcher) -> None:
        watching, session.watching = session.watching, None
        if watching:
            self._forget(session, watching)

    def _forget(self, session: Watcher, user_ids: Iterable[uuid.UUID]) -> None:
        gone: list[str] = []
        for user_id in user_ids:
            sessions = self.watchers.get(user_id)
            if sessions is None:
                continue
            sessions.discard(session)
            if not sessions:
                del self.watchers[user_id]
                self.latest.pop(user_id, None)
                gone.append(self.keys.channel(user_id))
        if gone:
            self.subscriber.release(gone)

    async def _snapshot(
        self, session: Watcher, user_ids: list[uuid.UUID], confirmed: Awaitable[None]
    ) -> None:
        try:
            await confirmed
            states = await read_presence(self.redis, self.keys, user_ids) if user_ids else []
        except Exception as exc:
            log.warning("presence snapshot failed: %r", exc)
            session.error(
                ErrorCode.UNAVAILABLE,
                "Presence cannot be read right now; send watch again.",
                frame_type="watch",
            )
            return
        watching = session.watching or frozenset()
        # A user a later watch frame dropped meanwhile is left out.
        entries = [self._newest(_entry(state)) for state in states if state.user_id in watching]
        session.push(text_frame(presence_frame(entries)))

    def _newest(self, entry: PresenceEntry) -> PresenceEntry:
        """The newer of `entry` and what was forwarded for the user so far (kept while watched)."""
        known = self.latest.get(entry.user_id)
        if known is not None and known.version >= entry.version:
            return known
        if entry.user_id in self.watchers:
            self.latest[entry.user_id] = entry
        return entry

    # --- from Redis -----------------------------------------------------------------------------

    def changed(self, event: Mapping[str, Any]) -> None:
        """A `presence.changed` from a user's channel: to every connection here watching them."""
        self._forward(
            PresenceEntry(
                uuid.UUID(event["user_id"]),
                str(event["status"]),
                event.get("last_seen"),
                int(event["version"]),
            )
        )

    def _forward(self, entry: PresenceEntry) -> None:
        sessions = self.watchers.get(entry.user_id)
        if not sessions or self._newest(entry) is not entry:
            return  # nobody here watches, or not newer than what was already forwarded
        frame = text_frame(presence_frame([entry]))
        for session in sessions:
            session.push(frame)

    def refresh(self) -> None:
        """After the Redis subscriber reconnected: changes published meanwhile were lost to pub/sub,
        so the state of every watched user is read again and what moved is forwarded."""
        if self.watchers:
            self.spawn(self._refresh(), "presence-refresh")

    async def _refresh(self) -> None:
        user_ids = list(self.watchers)
        try:
            states = await read_presence(self.redis, self.keys, user_ids)
        except Exception as exc:
            log.warning("presence refresh after a Redis reconnect failed: %r", exc)
            return
        for state in states:
            self._forward(_entry(state))


def _entry(state: UserPresence) -> PresenceEntry:
    # Serialised by pydantic, as the PresenceChanged messages on the channels are: the same text.
    fields = state.model_dump(mode="json")
    return PresenceEntry(state.user_id, state.status, fields["last_seen"], state.version)
