"""Storing a batch of chat commands (send, edit, delete, react) in one transaction: the consumer's
write path, for any number of chats at once.

Order of work, all inside the caller's transaction:
1. lock every chat of the batch, in id order (seq.lock_chats): from here on no other writer of
   these chats runs, so what we read next stays true until commit;
2. find the commands already stored (a send by sender + client_id, anything else by command id)
   and answer them with the event stored then: a replay takes no seq, so it leaves no gap;
3. check each remaining command against the chat as it is, including the effects of the commands
   before it in the same batch (membership, the target message, existing reactions);
4. give each accepted command the next seq of its chat and write everything with one statement
   per kind of row; the chats' `last_seq` is set once per chat.
The caller commits, then publishes the events of the `Stored` outcomes (also the duplicates: the
publish after the first attempt may never have happened).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.chat.attachments import AttachmentClaims, release_attachments
from parley.common.chat.changes import insert_changes
from parley.common.chat.models import chat_changes, chat_members, chats, message_reactions, messages
from parley.common.chat.seq import LockedChat, lock_chats
from parley.common.events import (
    CommandRejected,
    DeleteMessage,
    EditMessage,
    MessageCreated,
    MessageData,
    MessageDeleted,
    MessageEdited,
    ReactionAdded,
    ReactionRemoved,
    ReactToMessage,
    SendMessage,
    StoredEventType,
    parse_stored_event,
)

ChatCommand = SendMessage | EditMessage | DeleteMessage | ReactToMessage


@dataclass(frozen=True)
class Stored:
    command: ChatCommand
    event: StoredEventType
    duplicate: bool = False  # stored by an earlier attempt; `event` is the one stored then


@dataclass(frozen=True)
class Rejected:
    command: ChatCommand
    code: str
    message: str

    def event(self) -> CommandRejected:
        """What the sender's devices are told."""
        command = self.command
        return CommandRejected(
            chat_id=command.chat_id,
            user_id=command.user_id,
            command_id=command.command_id,
            client_id=command.client_id if isinstance(command, SendMessage) else None,
            code=self.code,
            message=self.message,
        )


Outcome = Stored | Rejected


@dataclass
class _MessageState:
    sender_id: uuid.UUID
    deleted: bool
    edited: bool
    body: str | None = None  # the new body, when edited in this batch
    created_here: bool = False
    deleted_here: bool = False


@dataclass
class _Batch:
    """What the checks need to know, loaded up front and kept current while the batch is checked."""

    chats: dict[uuid.UUID, LockedChat]
    roles: dict[tuple[uuid.UUID, uuid.UUID], str]
    sent: dict[tuple[uuid.UUID, str], StoredEventType]
    by_command: dict[uuid.UUID, StoredEventType]
    targets: dict[tuple[uuid.UUID, int], _MessageState]
    reactions: set[tuple[uuid.UUID, int, str, uuid.UUID]]
    next_seq: dict[uuid.UUID, int] = field(default_factory=dict)
    events: list[StoredEventType] = field(default_factory=list)
    added_reactions: set[tuple[uuid.UUID, int, str, uuid.UUID]] = field(default_factory=set)
    removed_reactions: set[tuple[uuid.UUID, int, str, uuid.UUID]] = field(default_factory=set)
    # Events of this batch rewritten after they were decided (content of messages deleted in the
    # same batch), by the id of the object first made.
    replaced: dict[int, StoredEventType] = field(default_factory=dict)

    def take_seq(self, chat_id: uuid.UUID) -> int:
        seq = self.next_seq.get(chat_id, self.chats[chat_id].last_seq) + 1
        self.next_seq[chat_id] = seq
        return seq


async def store_commands(
    conn: AsyncConnection, commands: Sequence[ChatCommand], *, now: datetime | None = None
) -> list[Outcome]:
    """Store what can be stored; one outcome per command, in the commands' order."""
    if not commands:
        return []
    now = now or datetime.now(UTC)
    batch = await _load(conn, commands)
    claims = await AttachmentClaims.load(conn, commands)
    outcomes: list[Outcome] = []
    earlier: dict[object, Outcome] = {}  # repeats inside the batch get the first one's outcome
    for command in commands:
        keys: list[object] = [command.command_id]
        if isinstance(command, SendMessage):
            keys.append((command.user_id, command.client_id))
        repeat = next((earlier[key] for key in keys if key in earlier), None)
        if repeat is not None:
            outcome: Outcome = (
                Stored(command, repeat.event, duplicate=True) if isinstance(repeat, Stored) else repeat
            )
        else:
            outcome = _decide(batch, command, now, claims)
        for key in keys:
            earlier.setdefault(key, outcome)
        outcomes.append(outcome)
    # Before the messages are written: a message deleted in this batch releases what it took.
    await claims.write(conn)
    await _write(conn, batch, now)
    return [
        Stored(o.command, batch.replaced[id(o.event)], o.duplicate)
        if isinstance(o, Stored) and id(o.event) in batch.replaced
        else o
        for o in outcomes
    ]


async def _load(conn: AsyncConnection, commands: Sequence[ChatCommand]) -> _Batch:
    locked = await lock_chats(conn, (command.chat_id for command in commands))
    present = [command for command in commands if command.chat_id in locked]

    pairs = {(command.chat_id, command.user_id) for command in present}
    roles: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
    if pairs:
        rows = await conn.execute(
            sa.select(chat_members.c.chat_id, chat_members.c.user_id, chat_members.c.role).where(
                sa.tuple_(chat_members.c.chat_id, chat_members.c.user_id).in_(list(pairs))
            )
        )
        roles = {(row.chat_id, row.user_id): row.role for row in rows}

    sends = {(c.user_id, c.client_id) for c in commands if isinstance(c, SendMessage)}
    sent: dict[tuple[uuid.UUID, str], StoredEventType] = {}
    if sends:
        rows = await conn.execute(
            sa.select(messages.c.sender_id, messages.c.client_id, chat_changes.c.event)
            .join(
                chat_changes,
                sa.and_(chat_changes.c.chat_id == messages.c.chat_id, chat_changes.c.seq == messages.c.seq),
            )
            .where(sa.tuple_(messages.c.sender_id, messages.c.client_id).in_(list(sends)))
        )
        sent = {(row.sender_id, row.client_id): parse_stored_event(row.event) for row in rows}

    command_ids = [command.command_id for command in commands]
    rows = await conn.execute(
        sa.select(chat_changes.c.command_id, chat_changes.c.event).where(
            chat_changes.c.command_id.in_(command_ids)
        )
    )
    by_command = {row.command_id: parse_stored_event(row.event) for row in rows}

    wanted: set[tuple[uuid.UUID, int]] = set()
    for command in present:
        if isinstance(command, SendMessage):
            if command.reply_to_seq is not None:
                wanted.add((command.chat_id, command.reply_to_seq))
        else:
            wanted.add((command.chat_id, command.message_seq))
    targets: dict[tuple[uuid.UUID, int], _MessageState] = {}
    if wanted:
        rows = await conn.execute(
            sa.select(
                messages.c.chat_id,
                messages.c.seq,
                messages.c.sender_id,
                messages.c.deleted_at.is_not(None).label("deleted"),
                messages.c.edited_at.is_not(None).label("edited"),
            ).where(sa.tuple_(messages.c.chat_id, messages.c.seq).in_(list(wanted)))
        )
        targets = {
            (row.chat_id, row.seq): _MessageState(row.sender_id, row.deleted, row.edited) for row in rows
        }

    reaction_keys = {
        (c.chat_id, c.message_seq, c.emoji, c.user_id) for c in present if isinstance(c, ReactToMessage)
    }
    reactions: set[tuple[uuid.UUID, int, str, uuid.UUID]] = set()
    if reaction_keys:
        rows = await conn.execute(
            sa.select(
                message_reactions.c.chat_id,
                message_reactions.c.message_seq,
                message_reactions.c.emoji,
                message_reactions.c.user_id,
            ).where(
                sa.tuple_(
                    message_reactions.c.chat_id,
                    message_reactions.c.message_seq,
                    message_reactions.c.emoji,
                    message_reactions.c.user_id,
                ).in_(list(reaction_keys))
            )
        )
        reactions = {(row.chat_id, row.message_seq, row.emoji, row.user_id) for row in rows}

    return _Batch(locked, roles, sent, by_command, targets, reactions)


def _decide(batch: _Batch, command: ChatCommand, now: datetime, claims: AttachmentClaims) -> Outcome:
    stored = batch.by_command.get(command.command_id)
    if stored is None and isinstance(command, SendMessage):
        stored = batch.sent.get((command.user_id, command.client_id))
    if stored is not None:
        return Stored(command, stored, duplicate=True)

    chat = batch.chats.get(command.chat_id)
    if chat is None:
        return Rejected(command, "chat_not_found", "The chat does not exist.")
    role = batch.roles.get((command.chat_id, command.user_id))
    if role is None:
        return Rejected(command, "not_a_member", "Only members of a chat can write to it.")

    if isinstance(command, SendMessage):
        if command.reply_to_seq is not None and (command.chat_id, command.reply_to_seq) not in batch.targets:
            return Rejected(command, "reply_target_not_found", "The message replied to does not exist.")
        if command.attachments:
            if (problem := claims.problem(command)) is not None:
                return Rejected(command, *problem)
            accepted = _accept(batch, command, now)
            claims.claim(command, accepted.event.seq)
            return accepted
        return _accept(batch, command, now)

    target = batch.targets.get((command.chat_id, command.message_seq))
    if target is None or target.deleted:
        return Rejected(command, "message_not_found", "The message does not exist or was deleted.")
    if isinstance(command, EditMessage) and target.sender_id != command.user_id:
        return Rejected(command, "not_your_message", "Only the sender can edit a message.")
    if (
        isinstance(command, DeleteMessage)
        and target.sender_id != command.user_id
        and not (chat.kind == "group" and role in ("owner", "admin"))
    ):
        return Rejected(command, "forbidden", "Only the sender or a group's admins can delete a message.")
    if isinstance(command, ReactToMessage):
        key = (command.chat_id, command.message_seq, command.emoji, command.user_id)
        present = key in batch.reactions
        if present == (command.action == "add"):
            code = "already_reacted" if present else "not_reacted"
            return Rejected(command, code, "Nothing to change.")
    return _accept(batch, command, now)


class _Head(TypedDict):
    """What every stored event carries about where, when and by whom (StoredEventBase)."""

    chat_id: uuid.UUID
    seq: int
    actor_id: uuid.UUID
    at: datetime
    command_id: uuid.UUID


def _accept(batch: _Batch, command: ChatCommand, now: datetime) -> Stored:
    chat_id = command.chat_id
    seq = batch.take_seq(chat_id)
    event: StoredEventType
    head: _Head = {
        "chat_id": chat_id,
        "seq": seq,
        "actor_id": command.user_id,
        "at": now,
        "command_id": command.command_id,
    }
    if isinstance(command, SendMessage):
        event = MessageCreated(
            **head,
            message=MessageData(
                seq=seq,
                sender_id=command.user_id,
                client_id=command.client_id,
                body=command.body,
                attachments=command.attachments,
                reply_to_seq=command.reply_to_seq,
                created_at=now,
            ),
        )
        batch.targets[(chat_id, seq)] = _MessageState(command.user_id, False, False, created_here=True)
    elif isinstance(command, EditMessage):
        event = MessageEdited(
            **head,
            message_seq=command.message_seq,
            body=command.body,
        )
        target = batch.targets[(chat_id, command.message_seq)]
        target.body, target.edited = command.body, True
    elif isinstance(command, DeleteMessage):
        event = MessageDeleted(
            **head,
            message_seq=command.message_seq,
        )
        target = batch.targets[(chat_id, command.message_seq)]
        target.deleted = target.deleted_here = True
        gone = {key for key in batch.reactions if key[:2] == (chat_id, command.message_seq)}
        batch.reactions -= gone
        batch.added_reactions -= gone
    else:
        key = (chat_id, command.message_seq, command.emoji, command.user_id)
        kind = ReactionAdded if command.action == "add" else ReactionRemoved
        event = kind(
            **head,
            message_seq=command.message_seq,
            emoji=command.emoji,
            user_id=command.user_id,
        )
        if command.action == "add":
            batch.reactions.add(key)
            batch.added_reactions.add(key)
            batch.removed_reactions.discard(key)
        else:
            batch.reactions.discard(key)
            if key in batch.added_reactions:
                batch.added_reactions.discard(key)
            else:
                batch.removed_reactions.add(key)
    batch.events.append(event)
    return Stored(command, event)


async def _write(conn: AsyncConnection, batch: _Batch, now: datetime) -> None:
    if not batch.events:
        return
    created = [event for event in batch.events if isinstance(event, MessageCreated)]
    if created:
        await conn.execute(
            sa.insert(messages),
            [
                {
                    "chat_id": event.chat_id,
                    "seq": event.seq,
                    "sender_id": event.message.sender_id,
                    "client_id": event.message.client_id,
                    "body": event.message.body,
                    "attachments": [str(a) for a in event.message.attachments],
                    "reply_to_seq": event.message.reply_to_seq,
                    "created_at": event.message.created_at,
                }
                for event in created
            ],
        )

    edited = [
        {"b_chat": chat_id, "b_seq": seq, "b_body": state.body}
        for (chat_id, seq), state in batch.targets.items()
        if state.body is not None and not state.deleted
    ]
    if edited:
        await conn.execute(
            sa.update(messages)
            .where(messages.c.chat_id == sa.bindparam("b_chat"), messages.c.seq == sa.bindparam("b_seq"))
            .values(body=sa.bindparam("b_body"), edited_at=now),
            edited,
        )

    deleted = [key for key, state in batch.targets.items() if state.deleted_here]
    if deleted:
        await _delete_messages(conn, deleted, batch, now)

    if batch.removed_reactions:
        await conn.execute(
            sa.delete(message_reactions).where(
                sa.tuple_(
                    message_reactions.c.chat_id,
                    message_reactions.c.message_seq,
                    message_reactions.c.emoji,
                    message_reactions.c.user_id,
                ).in_(list(batch.removed_reactions))
            )
        )

    # Inserted last among the message rows: a message created and reacted to in this batch exists
    # by now (the reactions reference it).
    if batch.added_reactions:
        await conn.execute(
            sa.insert(message_reactions),
            [
                {"chat_id": c, "message_seq": s, "emoji": e, "user_id": u, "created_at": now}
                for (c, s, e, u) in batch.added_reactions
            ],
        )

    await insert_changes(conn, batch.events)

    last_message: dict[uuid.UUID, int] = {}
    for event in created:
        last_message[event.chat_id] = event.seq
    await conn.execute(
        sa.update(chats)
        .where(chats.c.id == sa.bindparam("b_id"))
        .values(
            last_seq=sa.bindparam("b_last_seq"),
            last_message_seq=sa.func.coalesce(
                sa.bindparam("b_last_message", sa.BigInteger), chats.c.last_message_seq
            ),
            last_activity_at=sa.case(
                (sa.bindparam("b_active", sa.Boolean), sa.func.greatest(chats.c.last_activity_at, now)),
                else_=chats.c.last_activity_at,
            ),
        ),
        [
            {
                "b_id": chat_id,
                "b_last_seq": last_seq,
                "b_last_message": last_message.get(chat_id),
                "b_active": chat_id in last_message,
            }
            for chat_id, last_seq in batch.next_seq.items()
        ],
    )

    # Writing in a chat means having read it up to there.
    read_up_to: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for event in created:
        read_up_to[(event.chat_id, event.message.sender_id)] = event.seq
    if read_up_to:
        await conn.execute(
            sa.update(chat_members)
            .where(
                chat_members.c.chat_id == sa.bindparam("b_chat"),
                chat_members.c.user_id == sa.bindparam("b_user"),
                chat_members.c.last_read_seq < sa.bindparam("b_seq"),
            )
            .values(last_read_seq=sa.bindparam("b_seq")),
            [{"b_chat": c, "b_user": u, "b_seq": s} for (c, u), s in read_up_to.items()],
        )


async def _delete_messages(
    conn: AsyncConnection, keys: list[tuple[uuid.UUID, int]], batch: _Batch, now: datetime
) -> None:
    """A deleted message keeps its place (a tombstone, so history and sync stay in step) but loses
    its content: body, attachments and reactions, also in the change log's earlier events."""
    key_list = sa.tuple_(messages.c.chat_id, messages.c.seq).in_(keys)
    await release_attachments(conn, keys)
    await conn.execute(sa.update(messages).where(key_list).values(body="", attachments=[], deleted_at=now))
    await conn.execute(
        sa.delete(message_reactions).where(
            sa.tuple_(message_reactions.c.chat_id, message_reactions.c.message_seq).in_(keys)
        )
    )
    # The creation event, by primary key; created in this batch means not logged yet (the event
    # objects are scrubbed instead).
    logged = [key for key in keys if not batch.targets[key].created_here]
    if logged:
        scrubbed = sa.func.jsonb_set(
            sa.func.jsonb_set(chat_changes.c.event, _path("message", "body"), _EMPTY_STRING),
            _path("message", "attachments"),
            _EMPTY_LIST,
        )
        await conn.execute(
            sa.update(chat_changes)
            .where(sa.tuple_(chat_changes.c.chat_id, chat_changes.c.seq).in_(logged))
            .values(event=scrubbed)
        )
        # Edits: only messages that were ever edited have any, so the scan from the message onwards
        # happens only for those.
        for chat_id, seq in logged:
            if batch.targets[(chat_id, seq)].edited:
                await conn.execute(
                    sa.update(chat_changes)
                    .where(
                        chat_changes.c.chat_id == chat_id,
                        chat_changes.c.seq > seq,
                        chat_changes.c.type == "message.edited",
                        chat_changes.c.event["message_seq"].as_integer() == seq,
                    )
                    .values(event=sa.func.jsonb_set(chat_changes.c.event, _path("body"), _EMPTY_STRING))
                )
    _scrub_batch_events(batch, keys)


_EMPTY_STRING: sa.ColumnElement[object] = sa.literal_column("'\"\"'::jsonb")
_EMPTY_LIST: sa.ColumnElement[object] = sa.literal_column("'[]'::jsonb")


def _path(*keys: str) -> sa.ColumnElement[object]:
    return sa.literal_column("'{" + ",".join(keys) + "}'::text[]")


def _scrub_batch_events(batch: _Batch, keys: list[tuple[uuid.UUID, int]]) -> None:
    doomed = set(keys)
    for index, event in enumerate(batch.events):
        scrubbed: StoredEventType | None = None
        if isinstance(event, MessageCreated) and (event.chat_id, event.seq) in doomed:
            message = event.message.model_copy(update={"body": "", "attachments": []})
            scrubbed = event.model_copy(update={"message": message})
        elif isinstance(event, MessageEdited) and (event.chat_id, event.message_seq) in doomed:
            scrubbed = event.model_copy(update={"body": ""})
        if scrubbed is not None:
            batch.replaced[id(event)] = scrubbed
            batch.events[index] = scrubbed
