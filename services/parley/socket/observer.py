"""The seam for presence: what the socket tells about its connections, to whoever listens.

`parley.common.presence.ConnectionReporter` implements it (the socket server makes one per
process); tests may hand `SocketServer(observer=...)` another. Calls are synchronous and must not
block: a reporter queues and sends on its own. Liveness is the reporter's own heartbeat per
process, so a client's `ping` is no event here.
"""

from __future__ import annotations

import uuid
from typing import Protocol


class ConnectionObserver(Protocol):
    def connected(self, user_id: uuid.UUID, connection_id: str) -> None: ...

    def away(self, user_id: uuid.UUID, connection_id: str) -> None: ...

    def active(self, user_id: uuid.UUID, connection_id: str) -> None: ...

    def disconnected(self, user_id: uuid.UUID, connection_id: str) -> None: ...
