"""The connections topic into presence state: a consumer group, so replicas share the partitions
(`parley.common.group_consumer`: at least once, retried with backoff while Redis or Kafka is away,
never ending the service). Applying a batch again is harmless: the scripts set state, they do not
count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError

from parley.common.events import parse_connection_event
from parley.common.group_consumer import GroupConsumer, Record
from parley.presence.store import AnyConnectionEvent

log = logging.getLogger(__name__)

Apply = Callable[[Sequence[AnyConnectionEvent]], Awaitable[object]]


class ConnectionsConsumer(GroupConsumer):
    name = "consumer"

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        apply: Apply,
        batch_size: int = 500,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            bootstrap=bootstrap,
            topic=topic,
            group_id=group_id,
            batch_size=batch_size,
            max_backoff=max_backoff,
        )
        self.apply = apply
        self.applied = 0  # events applied since start, for tests and metrics

    async def handle(self, records: Sequence[Record]) -> None:
        events = [event for event in (self._parse(record.value) for record in records) if event is not None]
        await self.apply(events)
        self.applied += len(events)

    @staticmethod
    def _parse(value: bytes | None) -> AnyConnectionEvent | None:
        if value is None:
            return None
        try:
            return parse_connection_event(value)
        except ValidationError as exc:
            log.error(
                "skipping a connection event that cannot be read: %s", exc.errors(include_input=False)[:3]
            )
            return None
