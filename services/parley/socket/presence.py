"""Presence for the socket's clients: which users each connection watches, and `presence` frames.

A `watch` frame replaces a connection's list of users. This process listens on a user's presence
channel exactly while some connection here watches them. The channel is confirmed before the
state is read from Redis, so no change published afterwards can slip by; and `latest` keeps the
newest state this process forwarded per watched user, so a connection never gets an older version
after a newer one (replicas of the presence service may publish out of order, and the snapshot read
may race a change on the channel).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from parley.common.presence import PresenceKeys, UserPresence, read_presence
from parley.common.redis import Redis
from parley.socket.protocol import ErrorCode, PresenceEntry, presence_frame
from parley.socket.pubsub import Subscriber
from parley.socket.wsserver import text_frame

if TYPE_CHECKING:
    from parley.socket.session import Session

log = logging.getLogger(__name__)


class PresenceWatch:
    def __init__(self, subscriber: Subscriber, redis: Redis, keys: PresenceKeys) -> None:
        self.subscriber = subscriber
        self.redis = redis
        self.keys = keys
        self.watchers: dict[uuid.UUID, set[Session]] = {}
        self.latest: dict[uuid.UUID, PresenceEntry] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- connections --------------------------------------------------------------------------

    def watch(self, session: Session, user_ids: Iterable[uuid.UUID]) -> None:
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
        self._spawn(self._snapshot(session, wanted, confirmed), "presence-snapshot")

    def unwatch(self, session: Session) -> None:
        watching, session.watching = session.watching, None
        if watching:
            self._forget(session, watching)

    def _forget(self, session: Session, user_ids: Iterable[uuid.UUID]) -> None:
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
        self, session: Session, user_ids: list[uuid.UUID], confirmed: Awaitable[None]
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
        user_id = entry[0]
        known = self.latest.get(user_id)
        if known is not None and known[3] >= entry[3]:
            return known
        if user_id in self.watchers:
            self.latest[user_id] = entry
        return entry

    # --- from Redis -----------------------------------------------------------------------------

    def changed(self, event: Mapping[str, Any]) -> None:
        """A `presence.changed` from a user's channel: to every connection here watching them."""
        user_id = uuid.UUID(event["user_id"])
        self._forward((user_id, str(event["status"]), event.get("last_seen"), int(event["version"])))

    def _forward(self, entry: PresenceEntry) -> None:
        user_id = entry[0]
        sessions = self.watchers.get(user_id)
        known = self.latest.get(user_id)
        if not sessions or (known is not None and known[3] >= entry[3]):
            return  # nobody here watches, or older than what was already forwarded
        self.latest[user_id] = entry
        frame = text_frame(presence_frame([entry]))
        for session in sessions:
            session.push(frame)

    def refresh(self) -> None:
        """After the Redis subscriber reconnected: changes published meanwhile were lost to pub/sub,
        so the state of every watched user is read again and what moved is forwarded."""
        if self.watchers:
            self._spawn(self._refresh(), "presence-refresh")

    async def _refresh(self) -> None:
        user_ids = list(self.watchers)
        try:
            states = await read_presence(self.redis, self.keys, user_ids)
        except Exception as exc:
            log.warning("presence refresh after a Redis reconnect failed: %r", exc)
            return
        for state in states:
            self._forward(_entry(state))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _entry(state: UserPresence) -> PresenceEntry:
    # The same text as a PresenceChanged on the channel carries (pydantic writes UTC as "Z").
    last_seen = state.last_seen.isoformat().replace("+00:00", "Z") if state.last_seen else None
    return state.user_id, state.status, last_seen, state.version
