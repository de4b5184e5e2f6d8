"""Storing a batch of chat commands (send, edit, delete, react) in one transaction: the consumer's
write path, for any number of chats at once.

Order of work, all inside the caller's transaction:
1. one statement (`_LOAD`) locks every chat of the batch, in id order, and reads what the checks
   need: memberships, the commands already stored (a send by sender + client_id, anything else by
   command id), the messages the commands refer to and the reactions they touch. The lock may have
   waited for another writer of a chat (the api changing its membership, say): the row locked is
   then newer than the statement's snapshot, which the rest of the statement read. Every change of
   a chat takes a seq, so a chat whose locked `last_seq` differs from the snapshot's changed in
   between: the statement is run once more, now holding every lock, and its answer is current;
2. the commands already stored are answered with the event stored then: a replay takes no seq, so
   it leaves no gap;
3. check each remaining command against the chat as it is, including the effects of the commands
   before it in the same batch (membership, the target message, existing reactions);
4. give each accepted command the next seq of its chat and write the messages, the change log, the
   chats' `last_seq` (`last_seq + n`, checked against the seqs given) and the senders' read
   positions in one statement (`_WRITE`, data-modifying CTEs over arrays); edits, deletions and
   reactions, rarer, follow with a statement per kind.
So a batch of sends costs four round trips: begin, load, write, commit. Each event is encoded to
JSON once, for the change log and for publishing (`Stored.data`).
The caller commits, then publishes the events of the `Stored` outcomes (also the duplicates: the
publish after the first attempt may never have happened).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.chat.attachments import AttachmentClaims, release_attachments
from parley.common.chat.models import chat_changes, message_reactions, messages
from parley.common.chat.seq import LockedChat
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
    encode,
    parse_stored_event,
)

ChatCommand = SendMessage | EditMessage | DeleteMessage | ReactToMessage


@dataclass(frozen=True)
class Stored:
    command: ChatCommand
    event: StoredEventType
    duplicate: bool = False  # stored by an earlier attempt; `event` is the one stored then
    data: bytes | None = None  # `event` encoded (common.events.encode), when this batch stored it


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
    # The encoded form of each event written (by the id of the event object returned).
    encoded: dict[int, bytes] = field(default_factory=dict)

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
    return [_final(batch, o) if isinstance(o, Stored) else o for o in outcomes]


def _final(batch: _Batch, outcome: Stored) -> Stored:
    event = batch.replaced.get(id(outcome.event), outcome.event)
    data = None if outcome.duplicate else batch.encoded.get(id(event))
    if event is outcome.event and data is None:
        return outcome
    return Stored(outcome.command, event, outcome.duplicate, data)


# One round trip for everything the checks need. Rows of every kind share one shape (tag, then
# columns whose meaning depends on the tag); `locked` is the lock, in id order.
_LOAD = sa.text(
    """
WITH locked AS MATERIALIZED (
    SELECT id, kind, title, last_seq, member_count FROM chats
    WHERE id = ANY(CAST(:chat_ids AS uuid[])) ORDER BY id FOR UPDATE
)
SELECT 0 AS tag, l.id AS chat, NULL::uuid AS who, l.last_seq AS seq, l.kind AS a, l.title AS b,
       l.member_count AS n, s.last_seq = l.last_seq AS flag1, NULL::boolean AS flag2, NULL::text AS ev
FROM locked l LEFT JOIN chats s ON s.id = l.id
UNION ALL
SELECT 1, m.chat_id, m.user_id, NULL, m.role, NULL, NULL, NULL, NULL, NULL
FROM chat_members m
JOIN unnest(CAST(:pair_chats AS uuid[]), CAST(:pair_users AS uuid[])) AS p(c, u)
  ON m.chat_id = p.c AND m.user_id = p.u
UNION ALL
SELECT 2, NULL, m.sender_id, NULL, m.client_id, NULL, NULL, NULL, NULL, ch.event::text
FROM messages m
JOIN unnest(CAST(:send_users AS uuid[]), CAST(:send_clients AS text[])) AS p(u, k)
  ON m.sender_id = p.u AND m.client_id = p.k
JOIN chat_changes ch ON ch.chat_id = m.chat_id AND ch.seq = m.seq
UNION ALL
SELECT 3, NULL, ch.command_id, NULL, NULL, NULL, NULL, NULL, NULL, ch.event::text
FROM chat_changes ch WHERE ch.command_id = ANY(CAST(:command_ids AS uuid[]))
UNION ALL
SELECT 4, m.chat_id, m.sender_id, m.seq, NULL, NULL, NULL, m.deleted_at IS NOT NULL,
       m.edited_at IS NOT NULL, NULL
FROM messages m
JOIN unnest(CAST(:target_chats AS uuid[]), CAST(:target_seqs AS bigint[])) AS p(c, s)
  ON m.chat_id = p.c AND m.seq = p.s
UNION ALL
SELECT 5, r.chat_id, r.user_id, r.message_seq, r.emoji, NULL, NULL, NULL, NULL, NULL
FROM message_reactions r
JOIN unnest(CAST(:react_chats AS uuid[]), CAST(:react_seqs AS bigint[]),
            CAST(:react_emojis AS text[]), CAST(:react_users AS uuid[])) AS p(c, s, e, u)
  ON r.chat_id = p.c AND r.message_seq = p.s AND r.emoji = p.e AND r.user_id = p.u
"""
)


async def _load(conn: AsyncConnection, commands: Sequence[ChatCommand]) -> _Batch:
    pairs = {(command.chat_id, command.user_id) for command in commands}
    sends = {(c.user_id, c.client_id) for c in commands if isinstance(c, SendMessage)}
    wanted: set[tuple[uuid.UUID, int]] = set()
    for command in commands:
        if isinstance(command, SendMessage):
            if command.reply_to_seq is not None:
                wanted.add((command.chat_id, command.reply_to_seq))
        else:
            wanted.add((command.chat_id, command.message_seq))
    reaction_keys = {
        (c.chat_id, c.message_seq, c.emoji, c.user_id) for c in commands if isinstance(c, ReactToMessage)
    }
    params: dict[str, Any] = {
        "chat_ids": sorted({command.chat_id for command in commands}),
        "pair_chats": [c for c, _ in pairs],
        "pair_users": [u for _, u in pairs],
        "send_users": [u for u, _ in sends],
        "send_clients": [k for _, k in sends],
        "command_ids": list({command.command_id for command in commands}),
        "target_chats": [c for c, _ in wanted],
        "target_seqs": [s for _, s in wanted],
        "react_chats": [k[0] for k in reaction_keys],
        "react_seqs": [k[1] for k in reaction_keys],
        "react_emojis": [k[2] for k in reaction_keys],
        "react_users": [k[3] for k in reaction_keys],
    }
    rows = (await conn.execute(_LOAD, params)).all()
    if any(row.tag == 0 and not row.flag1 for row in rows):
        # A chat changed while the lock waited (see the module's text): read again, every lock held.
        rows = (await conn.execute(_LOAD, params)).all()

    locked: dict[uuid.UUID, LockedChat] = {}
    roles: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
    sent: dict[tuple[uuid.UUID, str], StoredEventType] = {}
    by_command: dict[uuid.UUID, StoredEventType] = {}
    targets: dict[tuple[uuid.UUID, int], _MessageState] = {}
    reactions: set[tuple[uuid.UUID, int, str, uuid.UUID]] = set()
    for row in rows:
        tag = row.tag
        if tag == 0:
            locked[row.chat] = LockedChat(row.chat, row.a, row.b, row.seq, row.n)
        elif tag == 1:
            roles[(row.chat, row.who)] = row.a
        elif tag == 2:
            sent[(row.who, row.a)] = parse_stored_event(row.ev)
        elif tag == 3:
            by_command[row.who] = parse_stored_event(row.ev)
        elif tag == 4:
            targets[(row.chat, row.seq)] = _MessageState(row.who, row.flag1, row.flag2)
        else:
            reactions.add((row.chat, row.seq, row.a, row.who))
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


# One round trip for the rows every batch writes: its messages, its change log, the chats' seqs
# (`last_seq + n`: what comes back must be the last seq given, or the transaction fails) and the
# senders' read positions. Data-modifying CTEs all run, to completion, whatever the query reads.
_WRITE = sa.text(
    """
WITH new_messages AS (
    INSERT INTO messages (chat_id, seq, sender_id, client_id, body, attachments, reply_to_seq, created_at)
    SELECT c, s, u, k, b, a::jsonb, r, CAST(:now AS timestamptz)
    FROM unnest(CAST(:m_chats AS uuid[]), CAST(:m_seqs AS bigint[]), CAST(:m_senders AS uuid[]),
                CAST(:m_clients AS text[]), CAST(:m_bodies AS text[]), CAST(:m_attachments AS text[]),
                CAST(:m_replies AS bigint[])) AS t(c, s, u, k, b, a, r)
), new_changes AS (
    INSERT INTO chat_changes (chat_id, seq, type, command_id, event)
    SELECT c, s, t, k, e::jsonb
    FROM unnest(CAST(:e_chats AS uuid[]), CAST(:e_seqs AS bigint[]), CAST(:e_types AS text[]),
                CAST(:e_commands AS uuid[]), CAST(:e_events AS text[])) AS t(c, s, t, k, e)
), heads AS (
    UPDATE chats SET
        last_seq = chats.last_seq + h.n,
        last_message_seq = coalesce(h.last_message, chats.last_message_seq),
        last_activity_at = CASE WHEN h.last_message IS NOT NULL
            THEN greatest(chats.last_activity_at, CAST(:now AS timestamptz))
            ELSE chats.last_activity_at END
    FROM unnest(CAST(:h_chats AS uuid[]), CAST(:h_counts AS bigint[]), CAST(:h_lasts AS bigint[]),
                CAST(:h_messages AS bigint[])) AS h(id, n, last, last_message)
    WHERE chats.id = h.id
    RETURNING chats.last_seq = h.last AS ok
), reads AS (
    UPDATE chat_members SET last_read_seq = r.s
    FROM unnest(CAST(:r_chats AS uuid[]), CAST(:r_users AS uuid[]), CAST(:r_seqs AS bigint[]))
        AS r(c, u, s)
    WHERE chat_members.chat_id = r.c AND chat_members.user_id = r.u AND chat_members.last_read_seq < r.s
)
SELECT count(*) FILTER (WHERE ok) AS ok, count(*) AS chats FROM heads
"""
)


class SeqMismatch(RuntimeError):
    """A chat's `last_seq` moved under the batch's lock: nothing is written (the transaction fails)."""


async def _write(conn: AsyncConnection, batch: _Batch, now: datetime) -> None:
    if not batch.events:
        return
    deleted = [key for key, state in batch.targets.items() if state.deleted_here]
    if deleted:
        _scrub_batch_events(batch, deleted)  # before the events are encoded and logged
    created = [event for event in batch.events if isinstance(event, MessageCreated)]
    encoded = [(event, encode(event)) for event in batch.events]
    batch.encoded = {id(event): data for event, data in encoded}

    counts: dict[uuid.UUID, int] = {}
    for event in batch.events:
        counts[event.chat_id] = counts.get(event.chat_id, 0) + 1
    last_message: dict[uuid.UUID, int] = {}
    read_up_to: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for event in created:
        last_message[event.chat_id] = event.seq
        read_up_to[(event.chat_id, event.message.sender_id)] = event.seq
    params: dict[str, Any] = {
        "now": now,
        "m_chats": [e.chat_id for e in created],
        "m_seqs": [e.seq for e in created],
        "m_senders": [e.message.sender_id for e in created],
        "m_clients": [e.message.client_id for e in created],
        "m_bodies": [e.message.body for e in created],
        "m_attachments": [_json_list(e.message.attachments) for e in created],
        "m_replies": [e.message.reply_to_seq for e in created],
        "e_chats": [e.chat_id for e, _ in encoded],
        "e_seqs": [e.seq for e, _ in encoded],
        "e_types": [e.type for e, _ in encoded],
        "e_commands": [e.command_id for e, _ in encoded],
        "e_events": [data.decode() for _, data in encoded],
        "h_chats": list(counts),
        "h_counts": list(counts.values()),
        "h_lasts": [batch.next_seq[chat_id] for chat_id in counts],
        "h_messages": [last_message.get(chat_id) for chat_id in counts],
        "r_chats": [c for c, _ in read_up_to],
        "r_users": [u for _, u in read_up_to],
        "r_seqs": list(read_up_to.values()),
    }
    check = (await conn.execute(_WRITE, params)).one()
    if check.ok != len(counts) or check.chats != len(counts):
        raise SeqMismatch(f"{check.chats - check.ok} of {len(counts)} chats' seqs moved under the lock")

    # The rest after the messages exist (edits and reactions of messages created in this batch).
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

    if batch.added_reactions:
        await conn.execute(
            sa.insert(message_reactions),
            [
                {"chat_id": c, "message_seq": s, "emoji": e, "user_id": u, "created_at": now}
                for (c, s, e, u) in batch.added_reactions
            ],
        )


def _json_list(items: Sequence[object]) -> str:
    return json.dumps([str(item) for item in items]) if items else "[]"


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
    # The creation event, by primary key, when an earlier batch logged it (this batch's events were
    # scrubbed before they were logged).
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
