"""Presence, the parts the socket and the presence service share: the socket's reporter of its
connections, the Redis names of presence, the timing rules, and reading a user's presence."""

from parley.common.presence.keys import PresenceKeys
from parley.common.presence.read import UserPresence, read_presence
from parley.common.presence.reporter import ConnectionReporter, new_instance_id
from parley.common.presence.timing import HEARTBEAT_SECONDS, SWEEP_SECONDS, TTL_SECONDS, lifetime

__all__ = [
    "HEARTBEAT_SECONDS",
    "SWEEP_SECONDS",
    "TTL_SECONDS",
    "ConnectionReporter",
    "PresenceKeys",
    "UserPresence",
    "lifetime",
    "new_instance_id",
    "read_presence",
]
