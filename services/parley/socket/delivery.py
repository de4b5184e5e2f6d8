"""Ordered delivery to one connection: live events, and catch-up from the change log.

Per chat, `cursors[chat]` is the last seq this connection was sent. A live event is written only
if it is the next one; anything else is either old (dropped) or ahead (the session catches up
from the change log, then goes on live). Duplicates are dropped by the same comparison, so
at-least-once publishing never shows. See hub.py for where live events come from.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from parley.socket import protocol
from parley.socket.protocol import ErrorCode
from parley.socket.session_state import SessionState
from parley.socket.wsserver import CloseCode, text_frame

log = logging.getLogger(__name__)


class Delivery(SessionState):
    __slots__ = ()

    def follow(self, chat_id: uuid.UUID, cursor: int | None) -> None:
        """Start delivering a chat: from the seq after `cursor`, or (None) from the end of the
        change log as the catch-up finds it."""
        if chat_id in self.cursors:
            return
        if cursor is None:
            self.cursors[chat_id] = -1  # a baseline is read first
            self.catch_up(chat_id)
        else:
            self.cursors[chat_id] = cursor

    def unfollow(self, chat_id: uuid.UUID) -> None:
        self.cursors.pop(chat_id, None)

    def deliver(self, chat_id: uuid.UUID, seq: int, frame: bytes) -> None:
        cursor = self.cursors.get(chat_id)
        if cursor is None or seq <= cursor:
            return
        behind = self.behind
        if seq == cursor + 1 and (behind is None or chat_id not in behind):
            if self.conn.write(frame):
                self.cursors[chat_id] = seq
            return
        self.catch_up(chat_id)

    def catch_up(self, chat_id: uuid.UUID) -> None:
        if self.behind is None:
            self.behind, self.dirty = set(), set()
        assert self.dirty is not None
        self.behind.add(chat_id)
        self.dirty.add(chat_id)
        if self._catchup is None:
            self._catchup = asyncio.create_task(self._catch_up(), name="catch-up")

    async def _catch_up(self) -> None:
        chat_db = self.ctx.chat_db
        page = self.ctx.settings.socket_replay_page
        try:
            while self.behind:
                assert self.dirty is not None
                chat_id = next(iter(self.behind))
                while chat_id in self.cursors and self.conn.open:
                    self.dirty.discard(chat_id)
                    if self.cursors[chat_id] < 0:
                        baseline = await chat_db.last_seqs([chat_id])
                        if chat_id in self.cursors:
                            self.cursors[chat_id] = baseline.get(chat_id, 0)
                        continue
                    rows = await chat_db.changes_after(chat_id, self.cursors[chat_id], page)
                    for seq, payload in rows:
                        cursor = self.cursors.get(chat_id)
                        if cursor is None or seq != cursor + 1:
                            break
                        if not self.conn.write_now(text_frame(protocol.event_frame(payload))):
                            return
                        self.cursors[chat_id] = seq
                        if self.conn.writing_paused:
                            await self.conn.drain()  # as fast as the client reads, no faster
                    self.ctx.metrics.replayed.inc(len(rows))
                    if len(rows) < page and chat_id not in self.dirty:
                        break
                self.behind.discard(chat_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("catching a connection up failed; closing it (the client reconnects)")
            self.error(ErrorCode.INTERNAL, "Delivery failed; reconnect and sync.")
            self.conn.close(CloseCode.INTERNAL_ERROR, "catch-up failed")
        finally:
            self._catchup = None
            if self.behind is not None and not self.behind:
                self.behind = self.dirty = None

    async def caught_up(self) -> None:
        while self._catchup is not None:
            await asyncio.shield(self._catchup)

    def sync(self, chats: dict[uuid.UUID, int]) -> None:
        """Send every change after the given seqs, then `synced` with where each chat stands."""
        wanted = [chat_id for chat_id in chats if chat_id in self.cursors]
        for chat_id in wanted:
            self.cursors[chat_id] = max(0, min(chats[chat_id], self.cursors[chat_id]))
            self.catch_up(chat_id)
        self.ctx.spawn(self._report_synced(wanted), "synced")

    async def _report_synced(self, chat_ids: list[uuid.UUID]) -> None:
        try:
            await self.caught_up()
        except asyncio.CancelledError:
            return
        self.send(protocol.synced_frame({c: self.cursors[c] for c in chat_ids if c in self.cursors}))
