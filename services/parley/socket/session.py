"""One client connection after the handshake: its frames, dispatched to the concerns that handle
them (session_state.py explains the split).

Frames are handled synchronously as they arrive; work that waits (verifying a token the first
time, the database, Kafka's ack) runs in a task or a callback and answers when done.
"""

from __future__ import annotations

import time

from parley.socket import protocol
from parley.socket.authentication import EARLY_FRAMES_MAX, Authentication
from parley.socket.chat_commands import ChatCommands
from parley.socket.protocol import (
    AuthFrame,
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
from parley.socket.session_state import AUTHENTICATING, OPEN


class Session(Authentication, ChatCommands):
    __slots__ = ()

    # --- from the server ------------------------------------------------------------------------

    def start(self, token: str | None) -> None:
        if token is not None:
            self.authenticate(token, None)

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
        ctx = self.ctx
        ctx.metrics.frames.labels(frame.type).inc()
        if isinstance(frame, AuthFrame):
            self.authenticate(frame.token, frame.resume)
            return
        if isinstance(frame, PingFrame):
            self.send(protocol.pong_frame(frame.ref, time.time()))
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
            self.command(frame)
        elif isinstance(frame, TypingFrame):
            self.typing(frame)
        elif isinstance(frame, ReadFrame):
            ctx.spawn(self.mark_read(frame), "read")
        elif isinstance(frame, SyncFrame):
            self.sync(frame.chats)
        elif isinstance(frame, StatusFrame):
            self.set_status(frame)
        elif isinstance(frame, WatchFrame):
            ctx.hub.presence.watch(self, frame.user_ids)

    def oversized(self, size: int) -> None:
        limit = self.ctx.settings.socket_max_frame_bytes
        self.error(
            ErrorCode.FRAME_TOO_LARGE,
            f"Frames are limited to {limit} bytes.",
            details={"size": size, "limit": limit},
        )

    def binary(self) -> None:
        self.error(ErrorCode.BAD_FRAME, "Frames are JSON text; binary frames are not understood.")

    def closed(self) -> None:
        if self._catchup is not None:
            self._catchup.cancel()
        hub = self.ctx.hub
        if self.watching is not None:
            hub.presence.unwatch(self)
        user = self.user
        if user is not None:
            user.connections.discard(self)
            hub.release_if_unused(user)
            self.ctx.observer.disconnected(user.user_id, self.id)
