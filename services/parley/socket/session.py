"""One client connection after the handshake: authentication, its frames, and ordered delivery.

A session is cheap while idle (a few small attributes; sets for catch-up are made when needed).
Frames are handled synchronously as they arrive; work that waits (verifying a token the first
time, the database, Kafka's ack) runs in a task or a callback and answers when done.

Delivery per chat: `cursors[chat]` is the last seq this connection was sent. A live event is
written only if it is the next one; anything else is either old (dropped) or ahead (the session
catches up from the change log, then goes on live). See hub.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from parley.common import tracing
from parley.common.auth import InvalidToken, KeysUnavailable, Principal
from parley.common.backoff import RepeatedLog
from parley.common.chat.channels import chat_channel
from parley.common.events import (
    DeleteMessage,
    EditMessage,
    ReactToMessage,
    ReadUpdated,
    SendMessage,
    Typing,
    encode,
)
from parley.common.topics import chat_key
from parley.socket import protocol
from parley.socket.hub import UserState
from parley.socket.protocol import (
    AuthFrame,
    CommandFrame,
    DeleteFrame,
    EditFrame,
    ErrorCode,
    FrameError,
    PingFrame,
    ReactFrame,
    ReadFrame,
    SendFrame,
    StatusFrame,
    SyncFrame,
    TypingFrame,
    WatchFrame,
)
from parley.socket.ratelimit import TokenBucket
from parley.socket.wsserver import CloseCode, WsConnection, text_frame

if TYPE_CHECKING:
    from parley.socket.server import SocketServer

log = logging.getLogger(__name__)
# Failures that repeat for every frame while a server is away: logged once per interval, counted.
_membership_failures = RepeatedLog(log, "membership checks failed")
_publish_failures = RepeatedLog(log, "typing not published to Redis")
_read_failures = RepeatedLog(log, "read positions not stored")

# Command ids are derived from (user, client_id): a resend of the same command carries the same id,
# so the consumer knows it whichever way it looks (by command id, or by sender and client_id).
COMMAND_NAMESPACE = uuid.UUID("0b7c4a52-6f1e-4c5e-9d0c-1a7f3f1f5e11")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TIMEOUT = 4408
CLOSE_TOO_SLOW = 4429

AUTH_WAIT, AUTHENTICATING, OPEN = 0, 1, 2
EARLY_FRAMES_MAX = 32


def command_id(user_id: uuid.UUID, client_id: str) -> uuid.UUID:
    return uuid.uuid5(COMMAND_NAMESPACE, f"{user_id}/{client_id}")


class Session:
    __slots__ = (
        "_catchup",
        "auth_failures",
        "behind",
        "bucket",
        "conn",
        "cursors",
        "dirty",
        "early",
        "expires_at",
        "id",
        "opened_at",
        "server",
        "state",
        "user",
        "watching",
    )

    def __init__(self, server: SocketServer, conn: WsConnection) -> None:
        self.server = server
        self.conn = conn
        self.id = uuid.uuid4().hex
        self.state = AUTH_WAIT
        self.user: UserState | None = None
        self.expires_at = 0.0
        self.auth_failures = 0
        self.opened_at = time.monotonic()
        settings = server.settings
        self.bucket = TokenBucket(settings.socket_frames_per_second, settings.socket_frames_burst)
        self.cursors: dict[uuid.UUID, int] = {}
        self.behind: set[uuid.UUID] | None = None  # chats being caught up
        self.dirty: set[uuid.UUID] | None = None  # ... that got a live event meanwhile
        self._catchup: asyncio.Task[None] | None = None
        self.early: list[bytes] | None = None
        self.watching: frozenset[uuid.UUID] | None = None  # users whose presence this one gets

    # --- writing ------------------------------------------------------------------------------

    def push(self, frame: bytes) -> bool:
        """A ready frame (from `text_frame`), if this session is authenticated."""
        return self.user is not None and self.conn.write(frame)

    def send(self, payload: bytes) -> bool:
        return self.conn.write(text_frame(payload))

    def error(
        self,
        code: str,
        message: str,
        *,
        client_id: str | None = None,
        chat_id: uuid.UUID | None = None,
        command_id: uuid.UUID | None = None,
        frame_type: str | None = None,
        retry_after_ms: int | None = None,
        details: object = None,
    ) -> None:
        self.server.metrics.errors.labels(code).inc()
        self.send(
            protocol.error_frame(
                code,
                message,
                client_id=client_id,
                chat_id=chat_id,
                command_id=command_id,
                frame_type=frame_type,
                retry_after_ms=retry_after_ms,
                details=details,
            )
        )

    # --- from the server ------------------------------------------------------------------------

    def start(self, token: str | None) -> None:
        if token is not None:
            self._authenticate(token, None)

    def received(self, text: bytes) -> None:
        if self.state == AUTHENTICATING:
            # Frames right behind the auth frame (same read): kept until it is decided.
            if self.early is None:
                self.early = []
            if len(self.early) < EARLY_FRAMES_MAX:
                self.early.append(text)
            else:
                self.error(ErrorCode.NOT_AUTHENTICATED, "Wait for hello before sending more.")
            return
        wait = self.bucket.take()
        if wait:
            self.error(ErrorCode.RATE_LIMITED, "Too many frames.", retry_after_ms=int(wait * 1000) + 1)
            return
        try:
            frame = protocol.parse_client_frame(text)
        except FrameError as exc:
            self.error(exc.code, exc.message, details=exc.details)
            return
        self.server.metrics.frames.labels(frame.type).inc()
        if isinstance(frame, AuthFrame):
            self._authenticate(frame.token, frame.resume)
            return
        if isinstance(frame, PingFrame):
            self._ping(frame)
            return
        if self.state != OPEN:
            self.error(
                ErrorCode.NOT_AUTHENTICATED, "Authenticate first (an auth frame).", frame_type=frame.type
            )
            return
        if time.time() >= self.expires_at:
            self.error(
                ErrorCode.TOKEN_EXPIRED,
                "The access token has expired; send an auth frame with a fresh one.",
                frame_type=frame.type,
            )
            return
        if isinstance(frame, SendFrame | EditFrame | DeleteFrame | ReactFrame):
            self._command(frame)
        elif isinstance(frame, TypingFrame):
            self._typing(frame)
        elif isinstance(frame, ReadFrame):
            self.server.spawn(self._read(frame), "read")
        elif isinstance(frame, SyncFrame):
            self._sync(frame.chats)
        elif isinstance(frame, StatusFrame):
            self._status(frame)
        elif isinstance(frame, WatchFrame):
            self.server.hub.presence.watch(self, frame.user_ids)

    def oversized(self, size: int) -> None:
        self.error(
            ErrorCode.FRAME_TOO_LARGE,
            f"Frames are limited to {self.server.settings.socket_max_frame_bytes} bytes.",
            details={"size": size, "limit": self.server.settings.socket_max_frame_bytes},
        )

    def binary(self) -> None:
        self.error(ErrorCode.BAD_FRAME, "Frames are JSON text; binary frames are not understood.")

    def closed(self) -> None:
        if self._catchup is not None:
            self._catchup.cancel()
        if self.watching is not None:
            self.server.hub.presence.unwatch(self)
        user = self.user
        if user is not None:
            user.connections.discard(self)
            self.server.hub.release_if_unused(user)
            self.server.observer.disconnected(user.user_id, self.id)

    # --- authentication -------------------------------------------------------------------------

    def _authenticate(self, token: str, resume: dict[uuid.UUID, int] | None) -> None:
        if self.state == OPEN:
            # A fresher token for an open connection: frames keep flowing meanwhile.
            self.server.spawn(self._reauth(token), "reauth")
            return
        self.state = AUTHENTICATING
        transport = self.conn.transport
        if transport is not None:
            transport.pause_reading()  # frames after auth wait until it is decided
        self.server.spawn(self._auth(token, resume), "auth")

    async def _auth(self, token: str, resume: dict[uuid.UUID, int] | None) -> None:
        try:
            principal = await self._verify(token)
            if principal is not None:
                await self._open(principal, resume)
        except Exception:
            log.exception("authentication failed unexpectedly")
            self.error(ErrorCode.INTERNAL, "Authentication failed; try again.")
        finally:
            if self.state == AUTHENTICATING:
                self.state = AUTH_WAIT
            early, self.early = self.early, None
            for text in early or ():
                self.received(text)
            transport = self.conn.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    async def _reauth(self, token: str) -> None:
        principal = await self._verify(token)
        if principal is None or self.user is None:
            return
        if principal.user_id != self.user.user_id:
            self.error(ErrorCode.WRONG_USER, "A connection stays with the user it was opened for.")
            return
        self.expires_at = float(principal.expires_at)
        self.send(protocol.authenticated_frame(principal.expires_at))

    async def _verify(self, token: str) -> Principal | None:
        try:
            return await self.server.verifier.verify(token)
        except InvalidToken as exc:
            self.auth_failures += 1
            self.error(exc.code, str(exc), frame_type="auth")
            if self.auth_failures >= self.server.settings.socket_max_auth_failures:
                self.conn.close(CLOSE_UNAUTHENTICATED, "too many failed authentications")
            return None
        except KeysUnavailable:
            self.error(ErrorCode.AUTH_UNAVAILABLE, "Tokens cannot be checked right now.", frame_type="auth")
            return None

    async def _open(self, principal: Principal, resume: dict[uuid.UUID, int] | None) -> None:
        hub = self.server.hub
        user = await hub.attach_user(principal.user_id)
        # Read after the user's channels are live: anything committed later reaches us by Redis.
        positions = await self.server.chat_db.chats_of(principal.user_id)
        if not self.conn.open:
            hub.release_if_unused(user)
            return
        hub.add_chats(user, [p.chat_id for p in positions if p.chat_id not in user.chats])
        self.user = user
        self.expires_at = float(principal.expires_at)
        self.cursors = {p.chat_id: p.last_seq for p in positions if p.chat_id in user.chats}
        self.state = OPEN
        user.connections.add(self)
        for chat_id in user.chats - self.cursors.keys():
            # Joined while we read (the event came first): follow from the change log's end.
            self.follow(chat_id, None)
        settings = self.server.settings
        self.send(
            protocol.hello_frame(
                connection_id=self.id,
                user_id=user.user_id,
                expires_at=principal.expires_at,
                chats=[(p.chat_id, p.last_seq, p.last_read_seq) for p in positions],
                heartbeat_seconds=settings.socket_heartbeat_seconds,
                limits={
                    "max_frame_bytes": settings.socket_max_frame_bytes,
                    "commands_per_second": settings.socket_commands_per_second,
                    "commands_burst": settings.socket_commands_burst,
                    "typing_interval_seconds": settings.socket_typing_interval_seconds,
                },
            )
        )
        self.server.observer.connected(user.user_id, self.id)
        # Events that reached this process between the read and now went by this connection.
        for chat_id, cursor in self.cursors.items():
            feed = hub.feeds.get(chat_id)
            if feed is not None and feed.max_seen > cursor:
                self.catch_up(chat_id)
        if resume:
            self._sync(resume)

    # --- delivery -------------------------------------------------------------------------------

    def follow(self, chat_id: uuid.UUID, cursor: int | None) -> None:
        """Start delivering a chat: from the seq after `cursor`, or (None) from the end of the
        change log as the catch-up finds it."""
        if chat_id in self.cursors:
            return
        if cursor is None:
            self.cursors[chat_id] = -1  # a baseline is read first
            self.catch_up(chat_id)
        else:
            self.cursors[chat_id] = cursor

    def unfollow(self, chat_id: uuid.UUID) -> None:
        self.cursors.pop(chat_id, None)

    def deliver(self, chat_id: uuid.UUID, seq: int, frame: bytes) -> None:
        cursor = self.cursors.get(chat_id)
        if cursor is None or seq <= cursor:
            return
        behind = self.behind
        if seq == cursor + 1 and (behind is None or chat_id not in behind):
            if self.conn.write(frame):
                self.cursors[chat_id] = seq
            return
        self.catch_up(chat_id)

    def catch_up(self, chat_id: uuid.UUID) -> None:
        if self.behind is None:
            self.behind, self.dirty = set(), set()
        assert self.dirty is not None
        self.behind.add(chat_id)
        self.dirty.add(chat_id)
        if self._catchup is None:
            self._catchup = asyncio.create_task(self._catch_up(), name="catch-up")

    async def _catch_up(self) -> None:
        chat_db = self.server.chat_db
        page = self.server.settings.socket_replay_page
        try:
            while self.behind:
                assert self.dirty is not None
                chat_id = next(iter(self.behind))
                while chat_id in self.cursors and self.conn.open:
                    self.dirty.discard(chat_id)
                    if self.cursors[chat_id] < 0:
                        baseline = await chat_db.last_seqs([chat_id])
                        if chat_id in self.cursors:
                            self.cursors[chat_id] = baseline.get(chat_id, 0)
                        continue
                    rows = await chat_db.changes_after(chat_id, self.cursors[chat_id], page)
                    for seq, payload in rows:
                        cursor = self.cursors.get(chat_id)
                        if cursor is None or seq != cursor + 1:
                            break
                        if not self.conn.write_now(text_frame(protocol.event_frame(payload))):
                            return
                        self.cursors[chat_id] = seq
                        if self.conn.writing_paused:
                            await self.conn.drain()  # as fast as the client reads, no faster
                    self.server.metrics.replayed.inc(len(rows))
                    if len(rows) < page and chat_id not in self.dirty:
                        break
                self.behind.discard(chat_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("catching a connection up failed; closing it (the client reconnects)")
            self.error(ErrorCode.INTERNAL, "Delivery failed; reconnect and sync.")
            self.conn.close(CloseCode.INTERNAL_ERROR, "catch-up failed")
        finally:
            self._catchup = None
            if self.behind is not None and not self.behind:
                self.behind = self.dirty = None

    async def _caught_up(self) -> None:
        while self._catchup is not None:
            await asyncio.shield(self._catchup)

    def _sync(self, chats: dict[uuid.UUID, int]) -> None:
        """Send every change after the given seqs, then `synced` with where each chat stands."""
        wanted = [chat_id for chat_id in chats if chat_id in self.cursors]
        for chat_id in wanted:
            self.cursors[chat_id] = max(0, min(chats[chat_id], self.cursors[chat_id]))
            self.catch_up(chat_id)
        self.server.spawn(self._report_synced(wanted), "synced")

    async def _report_synced(self, chat_ids: list[uuid.UUID]) -> None:
        try:
            await self._caught_up()
        except asyncio.CancelledError:
            return
        self.send(protocol.synced_frame({c: self.cursors[c] for c in chat_ids if c in self.cursors}))

    # --- frames ---------------------------------------------------------------------------------

    def _ping(self, frame: PingFrame) -> None:
        self.send(protocol.pong_frame(frame.ref, time.time()))

    def _status(self, frame: StatusFrame) -> None:
        user = self.user
        assert user is not None
        if frame.status == "away":
            self.server.observer.away(user.user_id, self.id)
        else:
            self.server.observer.active(user.user_id, self.id)

    def _command(self, frame: CommandFrame) -> None:
        user = self.user
        assert user is not None
        wait = user.bucket.take()
        if wait:
            self.error(
                ErrorCode.RATE_LIMITED,
                "Too many commands; slow down.",
                client_id=frame.client_id,
                chat_id=frame.chat_id,
                retry_after_ms=int(wait * 1000) + 1,
            )
            return
        if frame.chat_id in user.chats:
            self._produce(frame)
        else:
            self.server.spawn(self._check_membership(frame), "membership")

    async def _check_membership(self, frame: CommandFrame) -> None:
        user = self.user
        assert user is not None
        try:
            member = await self.server.chat_db.is_member(frame.chat_id, user.user_id)
        except Exception as exc:
            _membership_failures.note(exc)
            self.error(ErrorCode.UNAVAILABLE, "Try again.", client_id=frame.client_id, chat_id=frame.chat_id)
            return
        if not member:
            self.error(
                ErrorCode.NOT_A_MEMBER,
                "Only members of a chat can write to it.",
                client_id=frame.client_id,
                chat_id=frame.chat_id,
            )
            return
        self.server.hub.add_chats(user, [frame.chat_id])
        self._produce(frame)

    def _produce(self, frame: CommandFrame) -> None:
        user = self.user
        assert user is not None
        cid = command_id(user.user_id, frame.client_id)
        fields: dict[str, object] = {
            "command_id": cid,
            "chat_id": frame.chat_id,
            "user_id": user.user_id,
            "issued_at": datetime.now(UTC),
        }
        try:
            command: SendMessage | EditMessage | DeleteMessage | ReactToMessage
            if isinstance(frame, SendFrame):
                command = SendMessage.model_validate(
                    {
                        **fields,
                        "client_id": frame.client_id,
                        "body": frame.body,
                        "attachments": frame.attachments,
                        "reply_to_seq": frame.reply_to_seq,
                    }
                )
            elif isinstance(frame, EditFrame):
                command = EditMessage.model_validate(
                    {**fields, "message_seq": frame.message_seq, "body": frame.body}
                )
            elif isinstance(frame, DeleteFrame):
                command = DeleteMessage.model_validate({**fields, "message_seq": frame.message_seq})
            else:
                command = ReactToMessage.model_validate(
                    {**fields, "message_seq": frame.message_seq, "emoji": frame.emoji, "action": frame.action}
                )
        except ValidationError as exc:
            details = [{"msg": error["msg"]} for error in exc.errors(include_url=False)[:3]]
            self.error(
                ErrorCode.BAD_FRAME,
                "The command is not valid.",
                client_id=frame.client_id,
                chat_id=frame.chat_id,
                details=details,
            )
            return
        metrics = self.server.metrics
        started = time.perf_counter()
        # The message's trace starts here (sampled or not by the ratio); it ends at Kafka's ack.
        span = tracing.start_root("socket send", chat_id=str(frame.chat_id), command_id=str(cid))

        def answer(outcome: str | None) -> None:
            if span is not None:
                span.set_attribute("outcome", outcome or "accepted")
                span.end()
            if outcome is None:
                metrics.acked.observe(time.perf_counter() - started)
                self.send(protocol.accepted_frame(frame.client_id, frame.chat_id, cid))
            else:
                self.error(
                    ErrorCode.UNAVAILABLE,
                    "The command could not be confirmed; resend it with the same client_id.",
                    client_id=frame.client_id,
                    chat_id=frame.chat_id,
                    command_id=cid,
                    details={"reason": outcome},
                )

        self.server.producer.submit(
            chat_key(frame.chat_id), encode(command), answer, tracing.context_of(span)
        )

    def _typing(self, frame: TypingFrame) -> None:
        user = self.user
        assert user is not None
        if frame.chat_id not in user.chats:
            self.error(ErrorCode.NOT_A_MEMBER, "Not a member of that chat.", chat_id=frame.chat_id)
            return
        now = time.monotonic()
        interval = self.server.settings.socket_typing_interval_seconds
        if now - user.typing_at.get(frame.chat_id, -interval) < interval:
            return  # throttled: the others heard it a moment ago
        user.typing_at[frame.chat_id] = now
        event = Typing(chat_id=frame.chat_id, user_id=user.user_id, at=datetime.now(UTC))
        self.server.spawn(self._publish(frame.chat_id, encode(event)), "typing")

    async def _publish(self, chat_id: uuid.UUID, data: bytes) -> None:
        try:
            await self.server.hub.publish(chat_channel(self.server.settings.redis_key_prefix, chat_id), data)
        except Exception as exc:  # ephemeral: never worth failing anything for
            _publish_failures.note(exc)

    async def _read(self, frame: ReadFrame) -> None:
        user = self.user
        assert user is not None
        try:
            result = await self.server.chat_db.mark_read(frame.chat_id, user.user_id, frame.seq)
        except Exception as exc:
            _read_failures.note(exc)
            self.error(ErrorCode.UNAVAILABLE, "The read position was not stored.", chat_id=frame.chat_id)
            return
        if result is None:
            self.error(ErrorCode.NOT_A_MEMBER, "Not a member of that chat.", chat_id=frame.chat_id)
            return
        position, moved = result
        if moved:
            event = ReadUpdated(
                chat_id=frame.chat_id, user_id=user.user_id, last_read_seq=position, at=datetime.now(UTC)
            )
            await self._publish(frame.chat_id, encode(event))
