"""Request and response bodies of the api, with the limits a client can read from the schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from parley.common.chat.types import ChatKind, ChatTitle, Role, SeqOrZero
from parley.common.events import StoredEvent
from parley.common.text import single_line
from parley.common.types import Timestamp
from parley.common.users.models import DISPLAY_NAME_MAX, NotificationPreferences

# Page sizes: defaults and ceilings.
CHATS_PAGE_DEFAULT, CHATS_PAGE_MAX = 30, 100
MEMBERS_PAGE_DEFAULT, MEMBERS_PAGE_MAX = 100, 200
MESSAGES_PAGE_DEFAULT, MESSAGES_PAGE_MAX = 50, 200
USERS_PAGE_DEFAULT, USERS_PAGE_MAX = 20, 50
# Users named in one request (create a group, add members).
USERS_PER_REQUEST = 100
# Unread counts stop counting here: a badge shows "1000+" either way, and the count stays cheap.
UNREAD_CAP = 1000
PREVIEW_CHARS = 200

DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX),
    AfterValidator(single_line),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- users ----------------------------------------------------------------------------------


class PublicProfile(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str = Field(description="What to show for this user (the username unless they chose one).")
    avatar_attachment_id: uuid.UUID | None


class OwnProfile(PublicProfile):
    custom_display_name: str | None = Field(description="The display name they chose, if any.")
    notification_preferences: NotificationPreferences


class ProfileUpdate(Body):
    """Only the fields present change; `null` clears a display name or an avatar."""

    display_name: DisplayName | None = None
    avatar_attachment_id: uuid.UUID | None = None
    notification_preferences: NotificationPreferences | None = None


class UserList(BaseModel):
    users: list[PublicProfile]


# --- chats ----------------------------------------------------------------------------------


class MessagePreview(BaseModel):
    seq: int
    sender_id: uuid.UUID
    body: str = Field(description=f"The first {PREVIEW_CHARS} characters.")
    attachment_count: int
    created_at: datetime
    deleted: bool


class ChatSummary(BaseModel):
    id: uuid.UUID
    kind: ChatKind
    title: str | None = Field(description="Groups only; a direct chat shows its `peer`.")
    peer: PublicProfile | None = Field(description="The other user of a direct chat.")
    member_count: int
    role: Role = Field(description="The caller's role.")
    last_seq: int = Field(description="The seq of the chat's latest change.")
    last_activity_at: datetime
    last_message: MessagePreview | None
    last_read_seq: int = Field(description="The caller has read everything up to this seq.")
    unread_count: int = Field(
        description=f"Messages from others after `last_read_seq`, not deleted; at most {UNREAD_CAP}."
    )
    muted: bool
    muted_until: datetime | None


class ChatList(BaseModel):
    chats: list[ChatSummary] = Field(description="Most recent activity first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more.")


class CreateDirectChat(Body):
    user_id: uuid.UUID


class CreateGroupChat(Body):
    title: ChatTitle
    member_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=USERS_PER_REQUEST,
        description="Who else is in it; the caller is its owner.",
    )


class RenameChat(Body):
    title: ChatTitle


class MuteChat(Body):
    muted: bool
    until: Timestamp | None = Field(default=None, description="Muted until then; null: until unmuted.")


# --- members --------------------------------------------------------------------------------


class MemberOut(BaseModel):
    user_id: uuid.UUID
    username: str
    display_name: str
    avatar_attachment_id: uuid.UUID | None
    role: Role
    joined_at: datetime
    last_read_seq: int = Field(description="For read receipts: this member has read up to here.")


class MemberList(BaseModel):
    members: list[MemberOut]
    next_cursor: str | None


class AddMembers(Body):
    user_ids: list[uuid.UUID] = Field(min_length=1, max_length=USERS_PER_REQUEST)


class ChangeRole(Body):
    role: Role = Field(description="`owner` hands the chat over: the caller becomes an admin.")


# --- history and read state -----------------------------------------------------------------


class ReactionCount(BaseModel):
    emoji: str
    count: int
    me: bool = Field(description="Whether the caller is among them.")


class MessageOut(BaseModel):
    seq: int
    sender_id: uuid.UUID
    client_id: str
    body: str = Field(description="Empty once deleted.")
    attachments: list[uuid.UUID]
    reply_to_seq: int | None
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    reactions: list[ReactionCount]


class MessagePage(BaseModel):
    messages: list[MessageOut] = Field(
        description="Current state of the page's messages, in the requested order."
    )
    changes: list[StoredEvent] | None = Field(
        description="With `after_seq`: every change after it, oldest first (null otherwise)."
    )
    last_seq: int = Field(description="The chat's latest seq when this page was read.")
    next_before_seq: int | None = Field(description="History: pass as `before_seq` for older messages.")
    next_after_seq: int | None = Field(description="Sync: pass as `after_seq` for the following changes.")
    has_more: bool


class MarkRead(Body):
    seq: SeqOrZero = Field(description="Read up to here; larger than the chat's last seq means all.")


class ReadState(BaseModel):
    chat_id: uuid.UUID
    last_read_seq: int
    unread_count: int


Order = Literal["newest_first", "oldest_first"]
