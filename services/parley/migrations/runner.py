"""Alembic driven from code: no alembic.ini, the DSN comes from settings."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an option: ConfigParser would read `%` in a password.
    config.attributes["dsn"] = dsn
    return config


def upgrade(dsn: str, revision: str = "head", *, sql: bool = False) -> None:
    command.upgrade(alembic_config(dsn), revision, sql=sql)


def downgrade(dsn: str, revision: str) -> None:
    command.downgrade(alembic_config(dsn), revision)


def current(dsn: str) -> None:
    command.current(alembic_config(dsn), verbose=False)


def is_current(dsn: str) -> bool:
    """Whether the database is at the chain's head(s) already (then `upgrade` would do nothing);
    False too when it cannot be told (no database yet, no version table)."""
    # Lighter than `parley migrate` in a process of its own: alembic and SQLAlchemy only (not
    # parley.common.db, which brings FastAPI along).
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    heads = set(ScriptDirectory.from_config(alembic_config(dsn)).get_heads())
    engine = create_engine(make_url(dsn).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads()) == heads
    except Exception:
        return False
    finally:
        engine.dispose()
