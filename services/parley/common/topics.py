"""The Kafka topics of one installation, by name; producers and consumers both take names from here.

Names are `<prefix>.<name>.v<n>`; the prefix is `<namespace>.<platform>` on Kubernetes (so two
installations sharing a Kafka never meet) and `PARLEY_KAFKA_TOPIC_PREFIX` locally. A breaking change
to a topic's records gets a new topic (`.v2`), drained side by side with the old one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str

    def _name(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    @property
    def commands(self) -> str:
        """Chat commands from the socket (key: chat id), persisted in order by the consumer."""
        return self._name("commands.v1")

    @property
    def events(self) -> str:
        """Stored chat events (key: chat id): search and notification read them."""
        return self._name("events.v1")

    @property
    def connections(self) -> str:
        """WebSocket connects, aways and disconnects (key: user id) and socket instance heartbeats
        and stops (key: instance id), for presence."""
        return self._name("connections.v1")

    @property
    def presence(self) -> str:
        """Presence changes (key: user id)."""
        return self._name("presence.v1")

    @property
    def notifications(self) -> str:
        """Notifications to deliver by email or SMS (key: user id)."""
        return self._name("notifications.v1")

    @property
    def notifications_dlq(self) -> str:
        """Notifications that failed every retry."""
        return self._name("notifications.dlq.v1")

    @property
    def attachment_jobs(self) -> str:
        """Completed uploads to scan and preview (key: attachment id), for the storage service."""
        return self._name("attachments.jobs.v1")

    def all(self) -> list[str]:
        return [
            self.commands,
            self.events,
            self.connections,
            self.presence,
            self.notifications,
            self.notifications_dlq,
            self.attachment_jobs,
        ]


def chat_key(chat_id: uuid.UUID) -> bytes:
    """Record key of everything about one chat: one partition, so one order."""
    return str(chat_id).encode()


def user_key(user_id: uuid.UUID) -> bytes:
    return str(user_id).encode()


def instance_key(instance_id: str) -> bytes:
    """Record key of a socket instance's own events (heartbeats, its stop)."""
    return instance_id.encode()
