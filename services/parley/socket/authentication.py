"""Authentication of a connection: the first token (an auth frame, or the handshake's), fresher
tokens for an open connection, and opening it (the user's chats, `hello`, catching up).

While a token is verified the transport stops reading: frames right behind the auth frame wait
(up to EARLY_FRAMES_MAX) and are handled once it is decided.
"""

from __future__ import annotations

import logging
import uuid

from parley.common.auth import InvalidToken, KeysUnavailable, Principal
from parley.socket import protocol
from parley.socket.delivery import Delivery
from parley.socket.protocol import ErrorCode
from parley.socket.session_state import AUTH_WAIT, AUTHENTICATING, CLOSE_UNAUTHENTICATED, OPEN

log = logging.getLogger(__name__)

EARLY_FRAMES_MAX = 32


class Authentication(Delivery):
    __slots__ = ()

    def received(self, text: bytes) -> None:
        """A client's text frame (session.py): frames held back during authentication go there."""
        raise NotImplementedError

    def authenticate(self, token: str, resume: dict[uuid.UUID, int] | None) -> None:
        if self.state == OPEN:
            # A fresher token for an open connection: frames keep flowing meanwhile.
            self.ctx.spawn(self._reauth(token), "reauth")
            return
        self.state = AUTHENTICATING
        transport = self.conn.transport
        if transport is not None:
            transport.pause_reading()  # frames after auth wait until it is decided
        self.ctx.spawn(self._auth(token, resume), "auth")

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
            return await self.ctx.verify(token)
        except InvalidToken as exc:
            self.auth_failures += 1
            self.error(exc.code, str(exc), frame_type="auth")
            if self.auth_failures >= self.ctx.settings.socket_max_auth_failures:
                self.conn.close(CLOSE_UNAUTHENTICATED, "too many failed authentications")
            return None
        except KeysUnavailable:
            self.error(ErrorCode.AUTH_UNAVAILABLE, "Tokens cannot be checked right now.", frame_type="auth")
            return None

    async def _open(self, principal: Principal, resume: dict[uuid.UUID, int] | None) -> None:
        hub = self.ctx.hub
        user = await hub.attach_user(principal.user_id)
        # Read after the user's channels are live: anything committed later reaches us by Redis.
        positions = await self.ctx.chat_db.chats_of(principal.user_id)
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
        settings = self.ctx.settings
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
        self.ctx.observer.connected(user.user_id, self.id)
        # Events that reached this process between the read and now went by this connection.
        for chat_id, cursor in self.cursors.items():
            feed = hub.feeds.get(chat_id)
            if feed is not None and feed.max_seen > cursor:
                self.catch_up(chat_id)
        if resume:
            self.sync(resume)
