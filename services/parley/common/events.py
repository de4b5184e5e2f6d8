"""Every event Parley's services exchange, defined once; producers and consumers import these.

Chat events come in three families, each a discriminated union on `type`:
- `Command`: what the socket produces to the commands topic for a client's send, edit, delete or
  react (keyed by chat id). `user_id` is the authenticated issuer, set by the socket from the
  token and never taken from the client.
- `StoredEvent`: a change to a chat after it was stored, with the chat's next `seq`. These are
  what the events topic carries, what the chat's Redis channel delivers, and what
  `GET /chats/{id}/messages?after_seq=` returns: one schema for the live and the catch-up path.
- `LiveEvent`: what a chat's Redis channel carries: the stored events plus ephemeral ones that
  never get a seq (read positions, typing, a rejected command).

Presence has two more:
- `ConnectionEvent`: what the socket produces to the connections topic about its WebSocket
  connections (keyed by user id) and about itself (heartbeats and a clean stop, keyed by its
  instance id). One heartbeat covers every connection of its instance; see docs/presence.md.
- `PresenceEvent`: a user's aggregate presence changed; the presence service produces it to the
  presence topic (keyed by user id) and publishes it on the user's Redis presence channel.

Versioning: every event has `v`. A backwards-compatible change (a new optional field) keeps the
version and readers ignore fields they do not know; a breaking change is a new model with
`v: Literal[2]` next to the old one, and readers accept both until no producer writes v1.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from parley.common.chat.types import (
    ATTACHMENTS_MAX,
    ChatKind,
    ChatTitle,
    ClientId,
    Emoji,
    MessageBody,
    Role,
    Seq,
    SeqOrZero,
)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = 1


# --- commands (socket -> commands topic) -------------------------------------------------------


class CommandBase(Event):
    command_id: uuid.UUID = Field(description="Made by the socket per accepted command; replays repeat it.")
    chat_id: uuid.UUID
    user_id: uuid.UUID = Field(description="Who issued it, from the access token.")
    issued_at: AwareDatetime


class SendMessage(CommandBase):
    type: Literal["send"] = "send"
    client_id: ClientId = Field(description="Chosen by the client; a resend with the same id is stored once.")
    body: MessageBody = ""
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=ATTACHMENTS_MAX)
    reply_to_seq: Seq | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> SendMessage:
        if not self.body.strip() and not self.attachments:
            raise ValueError("a message needs a body or an attachment")
        return self


class EditMessage(CommandBase):
    type: Literal["edit"] = "edit"
    message_seq: Seq
    body: MessageBody

    @model_validator(mode="after")
    def _not_empty(self) -> EditMessage:
        if not self.body.strip():
            raise ValueError("an edit needs a body; delete the message instead")
        return self


class DeleteMessage(CommandBase):
    type: Literal["delete"] = "delete"
    message_seq: Seq


class ReactToMessage(CommandBase):
    type: Literal["react"] = "react"
    message_seq: Seq
    emoji: Emoji
    action: Literal["add", "remove"] = "add"


Command = Annotated[SendMessage | EditMessage | DeleteMessage | ReactToMessage, Field(discriminator="type")]


# --- stored events (the chat's change log, the events topic, the Redis channel) ---------------


class MessageData(BaseModel):
    """A message as it was created."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    seq: Seq
    sender_id: uuid.UUID
    client_id: ClientId
    body: MessageBody
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=ATTACHMENTS_MAX)
    reply_to_seq: Seq | None = None
    created_at: AwareDatetime


class MemberData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    user_id: uuid.UUID
    role: Role


class StoredEventBase(Event):
    chat_id: uuid.UUID
    seq: Seq = Field(description="This change's place in the chat: the chat's previous seq plus one.")
    actor_id: uuid.UUID | None = Field(description="Who made the change (null: the system).")
    at: AwareDatetime
    command_id: uuid.UUID | None = Field(default=None, description="The command it was stored from, if any.")


class ChatCreated(StoredEventBase):
    type: Literal["chat.created"] = "chat.created"
    kind: ChatKind
    title: ChatTitle | None = None
    members: list[MemberData]


class ChatRenamed(StoredEventBase):
    type: Literal["chat.renamed"] = "chat.renamed"
    title: ChatTitle


class MemberAdded(StoredEventBase):
    type: Literal["member.added"] = "member.added"
    user_id: uuid.UUID
    role: Role


class MemberRemoved(StoredEventBase):
    type: Literal["member.removed"] = "member.removed"
    user_id: uuid.UUID
    reason: Literal["removed", "left"]


class MemberRoleChanged(StoredEventBase):
    type: Literal["member.role_changed"] = "member.role_changed"
    user_id: uuid.UUID
    role: Role
    previous_role: Role


class MessageCreated(StoredEventBase):
    type: Literal["message.created"] = "message.created"
    message: MessageData


class MessageEdited(StoredEventBase):
    type: Literal["message.edited"] = "message.edited"
    message_seq: Seq
    body: MessageBody


class MessageDeleted(StoredEventBase):
    type: Literal["message.deleted"] = "message.deleted"
    message_seq: Seq


class ReactionAdded(StoredEventBase):
    type: Literal["reaction.added"] = "reaction.added"
    message_seq: Seq
    emoji: Emoji
    user_id: uuid.UUID


class ReactionRemoved(StoredEventBase):
    type: Literal["reaction.removed"] = "reaction.removed"
    message_seq: Seq
    emoji: Emoji
    user_id: uuid.UUID


StoredEventType = (
    ChatCreated
    | ChatRenamed
    | MemberAdded
    | MemberRemoved
    | MemberRoleChanged
    | MessageCreated
    | MessageEdited
    | MessageDeleted
    | ReactionAdded
    | ReactionRemoved
)
StoredEvent = Annotated[StoredEventType, Field(discriminator="type")]
# The `type` of every stored event, derived from the union: a new stored event is in it by itself
# (the socket delivers exactly these live, as they are; socket/hub.py).
STORED_EVENT_TYPES: frozenset[str] = frozenset(
    model.model_fields["type"].default for model in get_args(StoredEventType)
)

MEMBERSHIP_EVENTS = (ChatCreated, MemberAdded, MemberRemoved, MemberRoleChanged)


# --- ephemeral events (the chat's Redis channel only; no seq, never stored) -------------------


class ReadUpdated(Event):
    type: Literal["read.updated"] = "read.updated"
    chat_id: uuid.UUID
    user_id: uuid.UUID
    last_read_seq: SeqOrZero
    at: AwareDatetime


class Typing(Event):
    type: Literal["typing"] = "typing"
    chat_id: uuid.UUID
    user_id: uuid.UUID
    at: AwareDatetime


class CommandRejected(Event):
    """A command the consumer would not store (the chat is gone, the sender left, not theirs to edit…)."""

    type: Literal["command.rejected"] = "command.rejected"
    chat_id: uuid.UUID
    user_id: uuid.UUID
    command_id: uuid.UUID
    client_id: ClientId | None = None
    code: str = Field(max_length=64)
    message: str = Field(max_length=500)


LiveEvent = Annotated[StoredEventType | ReadUpdated | Typing | CommandRejected, Field(discriminator="type")]


# --- connections (socket -> connections topic) and presence (presence -> presence topic) -------

ConnectionId = Annotated[
    str,
    Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="Unique per socket instance."
    ),
]
InstanceId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="One socket process: a new id every time a process starts.",
    ),
]
PresenceStatus = Literal["online", "away", "offline"]


class ConnectionEventBase(Event):
    user_id: uuid.UUID
    connection_id: ConnectionId
    instance_id: InstanceId
    at: AwareDatetime


class Connected(ConnectionEventBase):
    """A WebSocket was accepted for the user; it counts as online until told otherwise."""

    type: Literal["connection.connected"] = "connection.connected"


class ConnectionAway(ConnectionEventBase):
    """The client says its user is away (idle, in the background)."""

    type: Literal["connection.away"] = "connection.away"


class ConnectionActive(ConnectionEventBase):
    """The client says its user is back."""

    type: Literal["connection.active"] = "connection.active"


class Disconnected(ConnectionEventBase):
    type: Literal["connection.disconnected"] = "connection.disconnected"


class InstanceHeartbeat(Event):
    """A socket instance is alive, and with it every connection it reported and has not closed."""

    type: Literal["instance.heartbeat"] = "instance.heartbeat"
    instance_id: InstanceId
    at: AwareDatetime
    interval_seconds: float = Field(gt=0, le=3600, description="When the next heartbeat is due.")
    connections: int = Field(ge=0, description="Its open connections (for metrics; not a roster).")


class InstanceStopped(Event):
    """A socket instance shut down cleanly: every connection it had is closed."""

    type: Literal["instance.stopped"] = "instance.stopped"
    instance_id: InstanceId
    at: AwareDatetime


ConnectionEventType = Connected | ConnectionAway | ConnectionActive | Disconnected
InstanceEventType = InstanceHeartbeat | InstanceStopped
ConnectionEvent = Annotated[ConnectionEventType | InstanceEventType, Field(discriminator="type")]


class PresenceChanged(Event):
    type: Literal["presence.changed"] = "presence.changed"
    user_id: uuid.UUID
    status: PresenceStatus
    last_seen: AwareDatetime | None = Field(
        description="The last moment one of the user's connections was known to be open (null: never)."
    )
    version: int = Field(
        ge=1,
        description="Grows with every change of this user's presence: of two changes, the larger "
        "version is the newer (several presence replicas may publish out of order).",
    )
    changed_at: AwareDatetime


PresenceEvent = Annotated[PresenceChanged, Field(discriminator="type")]


# --- attachments (storage service -> its own job topic) -----------------------------------------


class AttachmentUploaded(Event):
    """An upload was completed and passed the size and type checks: scan it, preview it."""

    type: Literal["attachment.uploaded"] = "attachment.uploaded"
    attachment_id: uuid.UUID
    chat_id: uuid.UUID
    uploader_id: uuid.UUID
    content_type: str


AttachmentEvent = Annotated[AttachmentUploaded, Field(discriminator="type")]


COMMANDS: TypeAdapter[SendMessage | EditMessage | DeleteMessage | ReactToMessage] = TypeAdapter(Command)
STORED_EVENTS: TypeAdapter[StoredEventType] = TypeAdapter(StoredEvent)
LIVE_EVENTS: TypeAdapter[StoredEventType | ReadUpdated | Typing | CommandRejected] = TypeAdapter(LiveEvent)
CONNECTION_EVENTS: TypeAdapter[ConnectionEventType | InstanceEventType] = TypeAdapter(ConnectionEvent)
PRESENCE_EVENTS: TypeAdapter[PresenceChanged] = TypeAdapter(PresenceEvent)
ATTACHMENT_EVENTS: TypeAdapter[AttachmentUploaded] = TypeAdapter(AttachmentEvent)


def encode(event: Event) -> bytes:
    """The wire form (Kafka value, Redis message): compact JSON."""
    return event.model_dump_json().encode()


def parse_command(data: bytes | str) -> SendMessage | EditMessage | DeleteMessage | ReactToMessage:
    return COMMANDS.validate_json(data)


def parse_stored_event(data: bytes | str | dict[str, Any]) -> StoredEventType:
    if isinstance(data, dict):
        return STORED_EVENTS.validate_python(data)
    return STORED_EVENTS.validate_json(data)


def parse_live_event(data: bytes | str) -> StoredEventType | ReadUpdated | Typing | CommandRejected:
    return LIVE_EVENTS.validate_json(data)


def parse_connection_event(data: bytes | str) -> ConnectionEventType | InstanceEventType:
    return CONNECTION_EVENTS.validate_json(data)


def parse_presence_event(data: bytes | str) -> PresenceChanged:
    return PRESENCE_EVENTS.validate_json(data)


def parse_attachment_event(data: bytes | str) -> AttachmentUploaded:
    return ATTACHMENT_EVENTS.validate_json(data)


def audience(event: StoredEventType) -> list[uuid.UUID]:
    """Users who must hear of a membership change on their own channel as well as the chat's:
    someone just added is not yet listening to the chat's channel, someone removed soon stops."""
    if isinstance(event, ChatCreated):
        return [member.user_id for member in event.members]
    if isinstance(event, MemberAdded | MemberRemoved | MemberRoleChanged):
        return [event.user_id]
    return []
