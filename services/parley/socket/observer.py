"""The seam for presence: what the socket tells about its connections, to whoever listens.

The presence service's reporter implements `ConnectionObserver` and is handed to the socket server
(`SocketServer(observer=...)`). Calls are synchronous and must not block: a reporter buffers and
sends on its own. `heartbeat` comes with every client `ping` (clients ping every
`heartbeat_seconds`, announced in `hello`). To push presence to clients, the reporter's side calls
`SocketServer.deliver_to_users(user_ids, payload)` with a `presence` frame (docs/protocol.md).
"""

from __future__ import annotations

import uuid
from typing import Protocol


class ConnectionObserver(Protocol):
    def connected(self, user_id: uuid.UUID, connection_id: str) -> None: ...

    def heartbeat(self, user_id: uuid.UUID, connection_id: str) -> None: ...

    def disconnected(self, user_id: uuid.UUID, connection_id: str) -> None: ...


class NoObserver:
    """No presence wired in: connections go unreported."""

    def connected(self, user_id: uuid.UUID, connection_id: str) -> None:
        return None

    def heartbeat(self, user_id: uuid.UUID, connection_id: str) -> None:
        return None

    def disconnected(self, user_id: uuid.UUID, connection_id: str) -> None:
        return None
