"""An engine on a fresh copy of the migrated database, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from parley.common.db import Database


@pytest.fixture
async def db(migrated_dsn: str) -> AsyncIterator[Database]:
    database = Database(migrated_dsn, pool_size=12)
    yield database
    await database.dispose()
