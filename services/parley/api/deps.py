"""FastAPI dependencies of the api: a database connection per request, the settings, the outbox.
All `async def`: FastAPI runs a plain `def` dependency in a worker thread."""

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
    """For routes that write: Core, not ORM (the api reads and writes rows, not objects). Write
    paths open their own transaction on it."""
    async with get_database(request).engine.connect() as conn:
        yield conn


async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """For routes that only read: autocommit, so no BEGIN and ROLLBACK round trips around the
    queries. Each statement sees its own snapshot, as it would in a READ COMMITTED transaction."""
    async with get_database(request).engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


async def settings(request: Request) -> ApiSettings:
    value = request.app.state.settings
    assert isinstance(value, ApiSettings)
    return value


async def drainer(request: Request) -> OutboxDrainer:
    value = request.app.state.outbox
    assert isinstance(value, OutboxDrainer)
    return value


async def publisher(request: Request) -> EventPublisher:
    value = request.app.state.publisher
    assert isinstance(value, EventPublisher)
    return value


ConnDep = Annotated[AsyncConnection, Depends(connection)]
ReadConnDep = Annotated[AsyncConnection, Depends(read_connection)]
SettingsDep = Annotated[ApiSettings, Depends(settings)]
OutboxDep = Annotated[OutboxDrainer, Depends(drainer)]
PublisherDep = Annotated[EventPublisher, Depends(publisher)]
