"""Who may read a chat, the one rule every read path applies: a current member reads the chat's
whole history (also what was said before they joined); someone removed, or who left, reads nothing
of it any more (docs/api.md). The api's per-chat check (api/access.py) and search's filter over
all of a user's chats both follow it; a change to the rule (say, history from the join on) goes
here and into api/access.py together.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.chat.models import chat_members


async def readable_chat_ids(
    conn: AsyncConnection, user_id: uuid.UUID, among: Collection[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """The chats `user_id` may read (of `among`, when given), from the (user_id, chat_id) index."""
    query = sa.select(chat_members.c.chat_id).where(chat_members.c.user_id == user_id)
    if among is not None:
        if not among:
            return []
        query = query.where(chat_members.c.chat_id.in_(list(among)))
    return list((await conn.execute(query)).scalars())
