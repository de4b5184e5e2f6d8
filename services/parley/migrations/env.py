"""Alembic environment: synchronous psycopg, one transaction, serialised by an advisory lock so
two `parley migrate` runs at once (two services starting, a retried Job) take turns."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from parley.common.db import sync_url
from parley.migrations.metadata import target_metadata

# Any constant shared by every run; "parley" in ASCII.
MIGRATION_LOCK = 0x7061726C6579

config = context.config
dsn = config.attributes["dsn"]


def run_offline() -> None:
    context.configure(url=sync_url(dsn), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(sync_url(dsn), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
