"""Who is connected to this process, which chats they are in, and live delivery to them.

- `UserState`: one per user with connections here; its chat ids are the membership cache (loaded
  when the user's first connection authenticates, then kept current from membership events on
  the user's channel and the chats' channels).
- `ChatFeed`: one per chat that has a member connected here; the process is subscribed to the
  chat's Redis channel exactly while the feed exists.
- Delivery is ordered per connection: each session keeps the last seq it sent per chat and sends
  an event only when it is the next one. An event ahead of that (a publish overtook another, a
  connection joined mid-stream, a channel was briefly lost) puts the session into catch-up, which
  reads the missing seqs from the change log (see delivery.py). Duplicates are dropped by the same
  comparison, so at-least-once publishing never shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any

import orjson
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from prometheus_client import Histogram

from parley.common import tracing
from parley.common.chat.channels import chat_channel, user_channel
from parley.common.events import STORED_EVENT_TYPES
from parley.common.presence import PresenceKeys
from parley.common.redis import Redis, create_redis
from parley.socket.chat_db import ChatDb
from parley.socket.presence import PresenceWatch
from parley.socket.protocol import error_frame, event_frame, read_frame, typing_frame
from parley.socket.pubsub import Subscriber
from parley.socket.ratelimit import TokenBucket
from parley.socket.recipient import Recipient
from parley.socket.wsserver import text_frame

log = logging.getLogger(__name__)

# Stored events are delivered live as they are, in seq order: all of them, whatever is added to the
# union later (common/events.py); a test checks that none is left out.
STORED_TYPES = STORED_EVENT_TYPES


class UserState:
    __slots__ = ("bucket", "chats", "connections", "ready", "typing_at", "user_id")

    def __init__(self, user_id: uuid.UUID, bucket: TokenBucket) -> None:
        self.user_id = user_id
        self.chats: set[uuid.UUID] = set()
        self.connections: set[Recipient] = set()
        self.bucket = bucket
        self.typing_at: dict[uuid.UUID, float] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class ChatFeed:
    __slots__ = ("chat_id", "max_seen", "users")

    def __init__(self, chat_id: uuid.UUID) -> None:
        self.chat_id = chat_id
        self.users: set[UserState] = set()
        self.max_seen = 0  # the highest seq this process has received for the chat


class Hub:
    def __init__(
        self,
        chat_db: ChatDb,
        redis_url: str,
        redis_prefix: str,
        bucket: Callable[[], TokenBucket],
    ) -> None:
        self.chat_db = chat_db
        self.prefix = redis_prefix
        self.new_bucket = bucket
        self.users: dict[uuid.UUID, UserState] = {}
        self.feeds: dict[uuid.UUID, ChatFeed] = {}
        # From a stored event's commit to its delivery here (the socket sets it: SocketMetrics).
        self.delivery_latency: Histogram | None = None
        self.subscriber = Subscriber(redis_url, self.on_message, on_resubscribed=self.catch_up_everyone)
        self.redis: Redis = create_redis(redis_url)
        self.presence = PresenceWatch(self.subscriber, self.redis, PresenceKeys(redis_prefix), self.spawn)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.subscriber.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.subscriber.stop()
        await self.redis.aclose()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- users and their chats ----------------------------------------------------------------

    def _chat_channels(self, chat_ids: Iterable[uuid.UUID]) -> list[str]:
        return [chat_channel(self.prefix, chat_id) for chat_id in chat_ids]

    async def attach_user(self, user_id: uuid.UUID) -> UserState:
        """The user's state, subscribed to their channel and their chats' channels (made by the
        first of their connections; the others wait for it)."""
        while True:
            user = self.users.get(user_id)
            if user is None:
                break
            try:
                await asyncio.shield(user.ready)
                return user
            except Exception as exc:
                log.info("attaching user %s failed elsewhere (%r); trying again", user_id, exc)
        user = UserState(user_id, self.new_bucket())
        self.users[user_id] = user
        channels: list[str] = []
        try:
            positions = await self.chat_db.chats_of(user_id)
            chat_ids = [p.chat_id for p in positions]
            channels = [user_channel(self.prefix, user_id), *self._chat_channels(chat_ids)]
            await self.subscriber.subscribe(channels)
        except BaseException as exc:
            del self.users[user_id]
            self.subscriber.release(channels)
            user.ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            user.ready.exception()  # retrieved: waiters get their own error
            raise
        for chat_id in chat_ids:
            self._join_feed(user, chat_id)
        user.ready.set_result(None)
        return user

    def release_if_unused(self, user: UserState) -> None:
        if user.connections or self.users.get(user.user_id) is not user or not user.ready.done():
            return
        del self.users[user.user_id]
        chat_ids = list(user.chats)
        for chat_id in chat_ids:
            self._leave_feed(user, chat_id)
        self.subscriber.release([user_channel(self.prefix, user.user_id), *self._chat_channels(chat_ids)])

    def _join_feed(self, user: UserState, chat_id: uuid.UUID) -> None:
        user.chats.add(chat_id)
        feed = self.feeds.get(chat_id)
        if feed is None:
            feed = self.feeds[chat_id] = ChatFeed(chat_id)
        feed.users.add(user)

    def _leave_feed(self, user: UserState, chat_id: uuid.UUID) -> None:
        user.chats.discard(chat_id)
        feed = self.feeds.get(chat_id)
        if feed is not None:
            feed.users.discard(user)
            if not feed.users:
                del self.feeds[chat_id]

    def add_chats(
        self, user: UserState, chat_ids: Iterable[uuid.UUID], *, from_seq: int | None = None
    ) -> None:
        """The user is in these chats too (the database said so, or an event did): follow them
        here and on every connection, from `from_seq` on (else from the change log's end)."""
        if self.users.get(user.user_id) is not user or not user.ready.done():
            return
        new = [chat_id for chat_id in dict.fromkeys(chat_ids) if chat_id not in user.chats]
        if not new:
            return
        for chat_id in new:
            self._join_feed(user, chat_id)
            for session in user.connections:
                session.follow(chat_id, from_seq - 1 if from_seq is not None else None)
        confirmed = self.subscriber.subscribe(self._chat_channels(new))
        self.spawn(self._caught_up_after(user, new, confirmed), name="follow-chats")

    async def _caught_up_after(
        self, user: UserState, chat_ids: list[uuid.UUID], confirmed: Awaitable[None]
    ) -> None:
        """Once the channels are live, anything published before is read from the change log."""
        try:
            await confirmed
        except Exception as exc:
            log.warning("could not subscribe to chats of user %s: %r", user.user_id, exc)
        for session in user.connections:
            for chat_id in chat_ids:
                if chat_id in user.chats:
                    session.catch_up(chat_id)

    def remove_chat(self, user: UserState, chat_id: uuid.UUID) -> None:
        if chat_id not in user.chats or self.users.get(user.user_id) is not user:
            return
        for session in user.connections:
            session.unfollow(chat_id)
        self._leave_feed(user, chat_id)
        self.subscriber.release(self._chat_channels([chat_id]))

    # --- messages from Redis --------------------------------------------------------------------

    def on_message(self, channel: bytes, data: bytes) -> None:
        trace = None
        if data[:1] == b"@":  # a sampled message's trace context (common/tracing)
            trace, data = tracing.unwrap(data)
        try:
            event = orjson.loads(data)  # the payload stays as published: see protocol.event_frame
            kind = event["type"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed message on %r", channel)
            return
        try:
            if kind in STORED_TYPES:
                self._stored(event, data, trace)
            elif kind == "typing":
                self._typing(event)
            elif kind == "read.updated":
                self._read(event)
            elif kind == "command.rejected":
                self._rejected(event)
            elif kind == "presence.changed":
                self.presence.changed(event)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a message on %r: %r", channel, exc)

    def _stored(self, event: dict[str, Any], data: bytes, trace: Context | None = None) -> None:
        chat_id = uuid.UUID(event["chat_id"])
        seq = int(event["seq"])
        kind = event["type"]
        # Someone joining hears of it on their own channel, before this process may even listen to
        # the chat: they follow it from this event on, which the feed then delivers to them too.
        if kind == "chat.created":
            for member in event.get("members", []):
                self._joined(uuid.UUID(member["user_id"]), chat_id, seq)
        elif kind == "member.added":
            self._joined(uuid.UUID(event["user_id"]), chat_id, seq)
        feed = self.feeds.get(chat_id)
        if feed is not None and seq > feed.max_seen:
            feed.max_seen = seq
            if self.delivery_latency is not None and "at" in event:
                stored_at = datetime.fromisoformat(event["at"]).timestamp()
                self.delivery_latency.observe(max(0.0, time.time() - stored_at))
            frame = text_frame(event_frame(data))
            if trace is None:  # the common case: no per-connection span to start
                for user in feed.users:
                    for session in user.connections:
                        session.deliver(chat_id, seq, frame)
            else:
                for user in feed.users:
                    for session in user.connections:
                        span = tracing.start_child(
                            "socket deliver", trace, SpanKind.CONSUMER, user_id=str(user.user_id), seq=seq
                        )
                        session.deliver(chat_id, seq, frame)
                        if span is not None:
                            span.end()
        if kind == "member.removed":
            removed = self.users.get(uuid.UUID(event["user_id"]))
            if removed is not None:
                self.remove_chat(removed, chat_id)

    def _joined(self, user_id: uuid.UUID, chat_id: uuid.UUID, seq: int) -> None:
        user = self.users.get(user_id)
        if user is not None:
            self.add_chats(user, [chat_id], from_seq=seq)

    def _typing(self, event: dict[str, Any]) -> None:
        feed = self.feeds.get(uuid.UUID(event["chat_id"]))
        if feed is None:
            return
        typist = uuid.UUID(event["user_id"])
        frame = text_frame(typing_frame(event["chat_id"], event["user_id"]))
        for user in feed.users:
            if user.user_id != typist:
                for session in user.connections:
                    session.push(frame)

    def _read(self, event: dict[str, Any]) -> None:
        feed = self.feeds.get(uuid.UUID(event["chat_id"]))
        if feed is None:
            return
        frame = text_frame(read_frame(event["chat_id"], event["user_id"], int(event["last_read_seq"])))
        for user in feed.users:
            for session in user.connections:
                session.push(frame)

    def _rejected(self, event: dict[str, Any]) -> None:
        user = self.users.get(uuid.UUID(event["user_id"]))
        if user is None:
            return
        frame = text_frame(
            error_frame(
                str(event["code"]),
                str(event.get("message", "")),
                client_id=event.get("client_id"),
                chat_id=event.get("chat_id"),
                command_id=event.get("command_id"),
            )
        )
        for session in user.connections:
            session.push(frame)

    def deliver_to_users(self, user_ids: Iterable[uuid.UUID], payload: bytes) -> int:
        """A frame for every connection of these users here (the seam for presence); returns how
        many connections got it."""
        frame = text_frame(payload)
        sent = 0
        for user_id in user_ids:
            user = self.users.get(user_id)
            if user is not None:
                for session in user.connections:
                    sent += session.push(frame)
        return sent

    def catch_up_everyone(self) -> None:
        """After Redis was lost for a while: whatever was published meanwhile is in the change log."""
        log.info("re-subscribed to Redis; catching every connection up")
        for user in self.users.values():
            for session in user.connections:
                for chat_id in user.chats:
                    session.catch_up(chat_id)
        self.presence.refresh()

    async def publish(self, channel: str, data: bytes) -> None:
        """Ephemeral events (typing, read positions) go straight to a chat's channel."""
        await self.redis.publish(channel, data)
