# ruff: noqa: RUF001  (the look-alike letters are the data)
"""The user directory: the columns of auth's `auth_users` that other services may read.

The auth service owns the table (and its model, which no other service may import); this is a
read-only description of the part of it that is a public contract: id, username, its canonical
key and whether the account is disabled. It lives on its own MetaData so Alembic keeps managing
the table from auth's model alone.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa

USERNAME_PREFIX_INDEX = "ix_auth_users_username_key_prefix"

directory_metadata = sa.MetaData()

users = sa.Table(
    "auth_users",
    directory_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("username_key", sa.String(128), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
)


def username_prefix_index(table: sa.Table) -> sa.Index:
    """Byte-wise ordering of the canonical username, so a prefix is an index range whatever the
    database's collation (the api's user lookup). Attached to auth's table by the migrations."""
    return sa.Index(
        USERNAME_PREFIX_INDEX, table.c.username_key, postgresql_ops={"username_key": "text_pattern_ops"}
    )


def username_key(name: str) -> str:
    """The canonical form usernames are compared in: NFKC, case-folded, decimal digits of any
    script as ASCII digits, look-alike letters as the Latin letter. The one definition: auth makes
    the stored keys with it (parley.auth.identity) and the api looks users up by a prefix of it."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    digits = "".join(str(unicodedata.digit(c)) if unicodedata.category(c) == "Nd" else c for c in folded)
    return digits.translate(_CONFUSABLE)


# Cyrillic and Greek letters (after case folding) that look like a Latin letter, upper or lower case.
_CONFUSABLE = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "i", "ї": "i", "ј": "j",
        "к": "k", "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "т": "t",
        "у": "y", "ү": "y", "х": "x", "с": "c", "ԁ": "d", "ԝ": "w", "ѡ": "w", "ь": "b", "з": "3",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "h", "ι": "i", "κ": "k", "μ": "m", "ν": "n", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "y", "χ": "x", "ζ": "z", "ϲ": "c", "ϳ": "j",
        # Latin letters that pass for others
        "ı": "i", "ȷ": "j", "ł": "l",
    }
)  # fmt: skip
