"""One connection's state after the handshake, and writing to it.

A session is cheap while idle (a few small attributes; sets for catch-up are made when needed).
Its behaviour is split by concern over the classes built on this one: delivery.py (live delivery
and catch-up), authentication.py (auth frames, tokens), chat_commands.py (the frames that become
commands or ephemeral events) and session.py (the dispatch of frames), each using of the server
only what `SessionContext` holds.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from parley.socket import protocol
from parley.socket.context import SessionContext
from parley.socket.hub import UserState
from parley.socket.wsserver import WsConnection, text_frame

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TIMEOUT = 4408
CLOSE_TOO_SLOW = 4429

AUTH_WAIT, AUTHENTICATING, OPEN = 0, 1, 2


class SessionState:
    __slots__ = (
        "_catchup",
        "auth_failures",
        "behind",
        "bucket",
        "conn",
        "ctx",
        "cursors",
        "dirty",
        "early",
        "expires_at",
        "id",
        "opened_at",
        "state",
        "user",
        "watching",
    )

    def __init__(self, ctx: SessionContext, conn: WsConnection) -> None:
        self.ctx = ctx
        self.conn = conn
        self.id = uuid.uuid4().hex
        self.state = AUTH_WAIT
        self.user: UserState | None = None
        self.expires_at = 0.0
        self.auth_failures = 0
        self.opened_at = time.monotonic()
        self.bucket = ctx.frame_bucket()
        self.cursors: dict[uuid.UUID, int] = {}  # per chat, the last seq sent here
        self.behind: set[uuid.UUID] | None = None  # chats being caught up
        self.dirty: set[uuid.UUID] | None = None  # ... that got a live event meanwhile
        self._catchup: asyncio.Task[None] | None = None
        self.early: list[bytes] | None = None  # frames that came right behind an auth frame
        self.watching: frozenset[uuid.UUID] | None = None  # users whose presence this one gets

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
        self.ctx.metrics.errors.labels(code).inc()
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
