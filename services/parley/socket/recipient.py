"""What the hub and the presence watch need of a connection: small protocols, so that neither
depends on the session (which depends on them). `session.Session` implements both."""

from __future__ import annotations

import uuid
from typing import Any, Protocol


class Recipient(Protocol):
    """A connection the hub delivers to (hub.py)."""

    def push(self, frame: bytes) -> bool:
        """A ready frame (from `wsserver.text_frame`), written if the connection is authenticated."""
        ...

    def deliver(self, chat_id: uuid.UUID, seq: int, frame: bytes) -> None:
        """A stored event's ready frame: written if it is the chat's next seq here, else caught up."""
        ...

    def follow(self, chat_id: uuid.UUID, cursor: int | None) -> None: ...

    def unfollow(self, chat_id: uuid.UUID) -> None: ...

    def catch_up(self, chat_id: uuid.UUID) -> None: ...


class Watcher(Protocol):
    """A connection that watches the presence of users (presence.py)."""

    watching: frozenset[uuid.UUID] | None

    def push(self, frame: bytes) -> bool: ...

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
        details: Any = None,
    ) -> None: ...
