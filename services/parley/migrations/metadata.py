"""Every table of the platform, for Alembic's autogenerate and for checks that models and
migrations agree. A service that adds tables imports its models module here."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import parley.auth.models  # noqa: F401  (registers the auth tables on SQLModel.metadata)

target_metadata: MetaData = SQLModel.metadata
