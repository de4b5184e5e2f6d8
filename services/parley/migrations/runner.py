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
