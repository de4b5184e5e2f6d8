"""Fixtures shared by the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from parley.migrations import runner
from parley.testing.plugin import unique


@pytest.fixture(scope="session")
def migrated_template(postgres_server: dict[str, str]) -> Iterator[str]:
    """A database brought to the newest schema once per session; tests get copies of it."""
    base = postgres_server["dsn"].rsplit("/", 1)[0]
    name = unique("tmpl_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        runner.upgrade(f"{base}/{name}")
        yield name
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_dsn(postgres_server: dict[str, str], migrated_template: str) -> Iterator[str]:
    """A fresh database with the whole schema (a copy of the template: much faster than migrating)."""
    base = postgres_server["dsn"].rsplit("/", 1)[0]
    name = unique("t_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
