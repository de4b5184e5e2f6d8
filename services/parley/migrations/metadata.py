"""Every table of the platform, for Alembic's autogenerate and for checks that models and
migrations agree. A service that adds tables imports its models module here."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

# Each import registers its tables on SQLModel.metadata.
import parley.auth.models
import parley.common.chat.attachments
import parley.common.chat.models
import parley.common.outbox
import parley.common.users.models
import parley.notification.tables
from parley.common.users.directory import username_prefix_index

# The notification service's tables are SQLAlchemy Core on a MetaData of their own: copied onto
# the one Alembic compares with.
for _table in parley.notification.tables.metadata.tables.values():
    _table.to_metadata(SQLModel.metadata)

target_metadata: MetaData = SQLModel.metadata

# Auth's table, an index for another service's reads (user lookup by username prefix): declared
# here, where both are in view, so auth's models stay auth's and the migrations still match.
username_prefix_index(parley.auth.models.User.__table__)  # type: ignore[attr-defined]
