"""The one migration chain: it builds exactly the models' schema, goes down and up again, and
`parley migrate` runs it (idempotently) from the environment like the operator's Job will."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from parley import cli
from parley.common.db import sync_url
from parley.migrations import runner
from parley.migrations.metadata import target_metadata
from parley.migrations.runner import alembic_config
from sqlalchemy import create_engine
from typer.testing import CliRunner


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_migrations_match_the_models(migrated_dsn: str) -> None:
    engine = create_engine(sync_url(migrated_dsn))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, target_metadata) == []
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(migrated_dsn: str) -> None:
    assert {"auth_users", "auth_refresh_tokens", "alembic_version"} <= tables(migrated_dsn)
    runner.downgrade(migrated_dsn, "base")
    assert tables(migrated_dsn) == {"alembic_version"}
    runner.upgrade(migrated_dsn)
    assert {"auth_users", "auth_refresh_tokens"} <= tables(migrated_dsn)


def test_parley_migrate_command(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As the operator's Job runs it: a process of its own, the DSN from the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_POSTGRES_DSN")}
    result = subprocess.run(
        [sys.executable, "-m", "parley", "migrate"],
        env={**env, "PARLEY_POSTGRES_DSN": pg_dsn},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert {"auth_users", "auth_refresh_tokens"} <= tables(pg_dsn)
    # Again, with the DSN in a mounted secret file: nothing left to do, and no error.
    secret = tmp_path / "dsn"
    secret.write_text(pg_dsn + "\n")
    monkeypatch.delenv("PARLEY_POSTGRES_DSN", raising=False)
    monkeypatch.setenv("PARLEY_POSTGRES_DSN_FILE", str(secret))
    again = CliRunner().invoke(cli.app, ["migrate"])
    assert again.exit_code == 0, again.output
    with psycopg.connect(pg_dsn) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    head = ScriptDirectory.from_config(alembic_config(pg_dsn)).get_current_head()
    assert version == (head,)
