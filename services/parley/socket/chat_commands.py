"""The frames that become commands (send, edit, delete, react: to Kafka, answered `accepted`
once acked) or ephemeral events (typing, read positions: to the chat's Redis channel), and the
connection's status (for presence).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime

from pydantic import ValidationError

from parley.common import tracing
from parley.common.backoff import RepeatedLog
from parley.common.chat.channels import chat_channel
from parley.common.events import (
    DeleteMessage,
    EditMessage,
    ReactToMessage,
    ReadUpdated,
    SendMessage,
    Typing,
    encode,
)
from parley.common.topics import chat_key
from parley.socket import protocol
from parley.socket.protocol import (
    CommandFrame,
    DeleteFrame,
    EditFrame,
    ErrorCode,
    ReadFrame,
    SendFrame,
    StatusFrame,
    TypingFrame,
)
from parley.socket.session_state import SessionState

log = logging.getLogger(__name__)
# Failures that repeat for every frame while a server is away: logged once per interval, counted.
_membership_failures = RepeatedLog(log, "membership checks failed")
_publish_failures = RepeatedLog(log, "typing not published to Redis")
_read_failures = RepeatedLog(log, "read positions not stored")

# Command ids are derived from (user, client_id): a resend of the same command carries the same id,
# so the consumer knows it whichever way it looks (by command id, or by sender and client_id).
COMMAND_NAMESPACE = uuid.UUID("0b7c4a52-6f1e-4c5e-9d0c-1a7f3f1f5e11")


def command_id(user_id: uuid.UUID, client_id: str) -> uuid.UUID:
    return uuid.uuid5(COMMAND_NAMESPACE, f"{user_id}/{client_id}")


class ChatCommands(SessionState):
    __slots__ = ()

    def set_status(self, frame: StatusFrame) -> None:
        user = self.user
        assert user is not None
        if frame.status == "away":
            self.ctx.observer.away(user.user_id, self.id)
        else:
            self.ctx.observer.active(user.user_id, self.id)

    def command(self, frame: CommandFrame) -> None:
        user = self.user
        assert user is not None
        wait = user.bucket.take()
        if wait:
            self.error(
                ErrorCode.RATE_LIMITED,
                "Too many commands; slow down.",
                client_id=frame.client_id,
                chat_id=frame.chat_id,
                retry_after_ms=int(wait * 1000) + 1,
            )
            return
        if frame.chat_id in user.chats:
            self._produce(frame)
        else:
            self.ctx.spawn(self._check_membership(frame), "membership")

    async def _check_membership(self, frame: CommandFrame) -> None:
        user = self.user
        assert user is not None
        try:
            member = await self.ctx.chat_db.is_member(frame.chat_id, user.user_id)
        except Exception as exc:
            _membership_failures.note(exc)
            self.error(ErrorCode.UNAVAILABLE, "Try again.", client_id=frame.client_id, chat_id=frame.chat_id)
            return
        if not member:
            self.error(
                ErrorCode.NOT_A_MEMBER,
                "Only members of a chat can write to it.",
                client_id=frame.client_id,
                chat_id=frame.chat_id,
            )
            return
        self.ctx.hub.add_chats(user, [frame.chat_id])
        self._produce(frame)

    def _produce(self, frame: CommandFrame) -> None:
        user = self.user
        assert user is not None
        cid = command_id(user.user_id, frame.client_id)
        fields: dict[str, object] = {
            "command_id": cid,
            "chat_id": frame.chat_id,
            "user_id": user.user_id,
            "issued_at": datetime.now(UTC),
        }
        try:
            command: SendMessage | EditMessage | DeleteMessage | ReactToMessage
            if isinstance(frame, SendFrame):
                command = SendMessage.model_validate(
                    {
                        **fields,
                        "client_id": frame.client_id,
                        "body": frame.body,
                        "attachments": frame.attachments,
                        "reply_to_seq": frame.reply_to_seq,
                    }
                )
            elif isinstance(frame, EditFrame):
                command = EditMessage.model_validate(
                    {**fields, "message_seq": frame.message_seq, "body": frame.body}
                )
            elif isinstance(frame, DeleteFrame):
                command = DeleteMessage.model_validate({**fields, "message_seq": frame.message_seq})
            else:
                command = ReactToMessage.model_validate(
                    {**fields, "message_seq": frame.message_seq, "emoji": frame.emoji, "action": frame.action}
                )
        except ValidationError as exc:
            details = [{"msg": error["msg"]} for error in exc.errors(include_url=False)[:3]]
            self.error(
                ErrorCode.BAD_FRAME,
                "The command is not valid.",
                client_id=frame.client_id,
                chat_id=frame.chat_id,
                details=details,
            )
            return
        metrics = self.ctx.metrics
        started = time.perf_counter()
        # The message's trace starts here (sampled or not by the ratio); it ends at Kafka's ack.
        span = tracing.start_root("socket send", chat_id=str(frame.chat_id), command_id=str(cid))

        def answer(outcome: str | None) -> None:
            if span is not None:
                span.set_attribute("outcome", outcome or "accepted")
                span.end()
            if outcome is None:
                metrics.acked.observe(time.perf_counter() - started)
                self.send(protocol.accepted_frame(frame.client_id, frame.chat_id, cid))
            else:
                self.error(
                    ErrorCode.UNAVAILABLE,
                    "The command could not be confirmed; resend it with the same client_id.",
                    client_id=frame.client_id,
                    chat_id=frame.chat_id,
                    command_id=cid,
                    details={"reason": outcome},
                )

        self.ctx.producer.submit(chat_key(frame.chat_id), encode(command), answer, tracing.context_of(span))

    def typing(self, frame: TypingFrame) -> None:
        user = self.user
        assert user is not None
        if frame.chat_id not in user.chats:
            self.error(ErrorCode.NOT_A_MEMBER, "Not a member of that chat.", chat_id=frame.chat_id)
            return
        now = time.monotonic()
        interval = self.ctx.settings.socket_typing_interval_seconds
        if now - user.typing_at.get(frame.chat_id, -interval) < interval:
            return  # throttled: the others heard it a moment ago
        user.typing_at[frame.chat_id] = now
        event = Typing(chat_id=frame.chat_id, user_id=user.user_id, at=datetime.now(UTC))
        self.ctx.spawn(self._publish(frame.chat_id, encode(event)), "typing")

    async def _publish(self, chat_id: uuid.UUID, data: bytes) -> None:
        try:
            await self.ctx.hub.publish(chat_channel(self.ctx.settings.redis_key_prefix, chat_id), data)
        except Exception as exc:  # ephemeral: never worth failing anything for
            _publish_failures.note(exc)

    async def mark_read(self, frame: ReadFrame) -> None:
        user = self.user
        assert user is not None
        try:
            result = await self.ctx.chat_db.mark_read(frame.chat_id, user.user_id, frame.seq)
        except Exception as exc:
            _read_failures.note(exc)
            self.error(ErrorCode.UNAVAILABLE, "The read position was not stored.", chat_id=frame.chat_id)
            return
        if result is None:
            self.error(ErrorCode.NOT_A_MEMBER, "Not a member of that chat.", chat_id=frame.chat_id)
            return
        position, moved = result
        if moved:
            event = ReadUpdated(
                chat_id=frame.chat_id, user_id=user.user_id, last_read_seq=position, at=datetime.now(UTC)
            )
            await self._publish(frame.chat_id, encode(event))
