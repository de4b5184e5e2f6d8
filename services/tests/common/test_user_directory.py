# ruff: noqa: RUF001  (look-alike letters are the test data)
"""The user directory's view of auth's table stays true to it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from parley.common.db import sync_url
from parley.common.users.directory import username_key, users
from parley.migrations.metadata import target_metadata


def test_prefixes_of_keys_match_keys_of_prefixes_for_real_usernames() -> None:
    for name in ["Ada", "ADA_Lovelace", "иван", "Ωmega", "ｆｕｌｌ", "straße", "٣٤user"]:
        key = username_key(name)
        assert all(key.startswith(username_key(name[:n])) for n in range(1, len(name) + 1)), name


def test_migrations_match_the_models_and_the_directory_matches_auths_table(migrated_dsn: str) -> None:
    engine = sa.create_engine(sync_url(migrated_dsn))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, target_metadata) == []
            # Each column of the directory exists in auth's table, with the same type and nullability.
            actual = {c["name"]: c for c in sa.inspect(conn).get_columns("auth_users")}
            for column in users.columns:
                assert actual[column.name]["nullable"] == column.nullable, column.name
                assert actual[column.name]["type"].compile(conn.dialect) == column.type.compile(conn.dialect)
    finally:
        engine.dispose()
