"""Redis pub/sub channel names for live delivery; the publishers (api, consumer) and the
subscriber (socket) all take them from here."""

from __future__ import annotations

import uuid


def chat_channel(prefix: str, chat_id: uuid.UUID) -> str:
    """Every live event of one chat: socket pods subscribe for the chats of their connections."""
    return f"{prefix}chat:{chat_id}"


def user_channel(prefix: str, user_id: uuid.UUID) -> str:
    """Events a user must get although they may not listen to the chat yet (added to a chat)."""
    return f"{prefix}user:{user_id}"
