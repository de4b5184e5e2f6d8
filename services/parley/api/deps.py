"""FastAPI dependencies of the api: a database connection per request, the settings, the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.api.settings import ApiSettings
from parley.common.chat.publish import EventPublisher
from parley.common.db import get_database
from parley.common.outbox import OutboxDrainer


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """Core, not ORM: the api reads and writes rows, not objects. Write paths open their own
    transaction on it; reads run in the implicit one, which is rolled back (nothing to keep)."""
    async with get_database(request).engine.connect() as conn:
        yield conn


def settings(request: Request) -> ApiSettings:
    value = request.app.state.settings
    assert isinstance(value, ApiSettings)
    return value


def drainer(request: Request) -> OutboxDrainer:
    value = request.app.state.outbox
    assert isinstance(value, OutboxDrainer)
    return value


def publisher(request: Request) -> EventPublisher:
    value = request.app.state.publisher
    assert isinstance(value, EventPublisher)
    return value


ConnDep = Annotated[AsyncConnection, Depends(connection)]
SettingsDep = Annotated[ApiSettings, Depends(settings)]
OutboxDep = Annotated[OutboxDrainer, Depends(drainer)]
PublisherDep = Annotated[EventPublisher, Depends(publisher)]
