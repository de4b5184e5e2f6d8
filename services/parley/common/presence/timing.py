"""How long a socket instance's connections count as open after its last sign of life.

A socket instance sends one heartbeat every `interval` seconds for all its connections. The
presence service counts them open until `lifetime(ttl, interval)` after the newest heartbeat (or
connection event) of that instance; a periodic sweep then turns its users offline. So a socket
process that dies without a word leaves its users online for at most the lifetime plus one sweep
interval. The lifetime is never less than two intervals, so one late or lost heartbeat does not
flap every user of an instance offline and back.
"""

from __future__ import annotations

HEARTBEAT_SECONDS = 10.0
"""The socket's default heartbeat interval."""

TTL_SECONDS = 30.0
"""The presence service's default time to live of an instance after its last heartbeat."""

SWEEP_SECONDS = 2.0
"""How often the presence service looks for instances whose time is up."""


def lifetime(ttl: float, interval: float) -> float:
    return max(ttl, 2 * interval)
