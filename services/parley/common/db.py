"""PostgreSQL through async SQLAlchemy/SQLModel: one engine per app, made in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def async_url(dsn: str) -> str:
    """`postgresql://…` (what people and the dev stack write) as the asyncpg driver URL."""
    url = make_url(dsn)
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def sync_url(dsn: str) -> str:
    """The same DSN for the psycopg driver (migrations run synchronously)."""
    url = make_url(dsn)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class Database:
    def __init__(self, dsn: str, *, pool_size: int = 10, pre_ping: bool = True) -> None:
        """`pre_ping` tests a pooled connection before each use (three round trips: begin, `;`,
        rollback), so a request never meets a connection the server dropped. A caller that retries
        a failed transaction anyway (the consumer) can do without it: a dropped connection fails
        one attempt, and SQLAlchemy then discards every connection made before the failure."""
        self.engine: AsyncEngine = create_async_engine(
            async_url(dsn), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping
        )
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


def get_database(request: Request) -> Database:
    db = request.app.state.db
    assert isinstance(db, Database)
    return db


async def get_session(db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[AsyncSession]:
    async with db.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
