"""What a session uses of its server, and nothing more: the server builds one `SessionContext`
and hands it to every session, so a session never imports (or reaches into) the server."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from parley.common.auth import Principal
from parley.socket.chat_db import ChatDb
from parley.socket.commands import CommandProducer
from parley.socket.hub import Hub
from parley.socket.metrics import SocketMetrics
from parley.socket.observer import ConnectionObserver
from parley.socket.ratelimit import TokenBucket
from parley.socket.settings import SocketSettings

Spawn = Callable[[Coroutine[Any, Any, None], str], None]
Verify = Callable[[str], Coroutine[Any, Any, Principal]]


@dataclass(frozen=True, slots=True)
class SessionContext:
    settings: SocketSettings
    hub: Hub  # who is connected here, in which chats; live delivery; presence watches
    chat_db: ChatDb  # memberships, read positions, the change log (catch-up)
    producer: CommandProducer  # commands to Kafka, each answered once
    verify: Verify  # an access token to its principal (raises InvalidToken, KeysUnavailable)
    observer: ConnectionObserver  # connections' events, for presence
    metrics: SocketMetrics
    spawn: Spawn  # a task the server cancels when it stops
    frame_bucket: Callable[[], TokenBucket]  # a connection's limit of frames per second
