import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useLayoutEffect, useRef, useState } from "react";

import type { PendingCommand } from "../protocol/client";
import type { Message, Timeline } from "../protocol/timeline";
import type { ChatSummary, Seq } from "../protocol/types";
import { strings } from "../strings";
import { useApp } from "./context";

const QUICK_REACTIONS = ["👍", "❤️", "😂"];

type Row = { key: string; message: Message; pending?: undefined } | { key: string; message?: undefined; pending: PendingCommand };

interface Props {
  chat: ChatSummary;
  timeline: Timeline;
  version: number;
  onReply: (seq: Seq) => void;
  onEdit: (seq: Seq, body: string) => void;
}

export function MessageList({ chat, timeline, onReply, onEdit }: Props) {
  const { client, me, directory } = useApp();
  const scroller = useRef<HTMLDivElement>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [awayFromBottom, setAwayFromBottom] = useState(false);
  const messages = timeline.messages();
  const pending = client.pendingSends(chat.id);
  const rows: Row[] = [
    ...messages.map((m) => ({ key: `s${m.seq}`, message: m })),
    ...pending.map((p) => ({ key: `p${p.command.client_id}`, pending: p })),
  ];

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 72,
    overscan: 8,
    getItemKey: (i) => rows[i]!.key,
  });

  // Keep the view still when older messages arrive above it, and follow the newest messages
  // when the reader is at the bottom.
  const firstKey = rows[0]?.key;
  const lastKey = rows[rows.length - 1]?.key;
  const anchor = useRef<{ key: string; offset: number } | null>(null);
  const atBottom = useRef(true);
  const previous = useRef<{ first?: string; last?: string }>({});

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el === null) return;
    const prev = previous.current;
    previous.current = { first: firstKey, last: lastKey };
    if (prev.first === undefined || prev.last === undefined) {
      virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
      return;
    }
    const kept = anchor.current;
    if (prev.first !== firstKey && kept !== null) {
      // Older messages came in above: put the row that was at the top back where it was.
      const index = rows.findIndex((r) => r.key === kept.key);
      const item = index >= 0 ? virtualizer.measurementsCache[index] : undefined;
      if (item !== undefined) el.scrollTop = item.start - kept.offset;
    }
    if (prev.last !== lastKey && atBottom.current) {
      virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
    }
  });

  /** Remember which row is at the top of the view and where, to keep it there. */
  const rememberTop = () => {
    const el = scroller.current;
    if (el === null) return;
    // From every row's position, not the rendered range: that may still be the one before this
    // scroll (right after a restore it is), and the anchor would be lost.
    const all = virtualizer.measurementsCache;
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid]!.end <= el.scrollTop) lo = mid + 1;
      else hi = mid;
    }
    const top = all[lo];
    anchor.current = top === undefined ? null : { key: String(top.key), offset: top.start - el.scrollTop };
  };

  const items = virtualizer.getVirtualItems();
  const firstVisible = items[0]?.index ?? 0;

  useEffect(() => {
    if (firstVisible > 3 || loadingOlder || !timeline.hasMoreBefore) return;
    setLoadingOlder(true);
    client
      .loadOlder(chat.id)
      .catch(() => undefined)
      .finally(() => setLoadingOlder(false));
  }, [firstVisible, loadingOlder, timeline.hasMoreBefore, client, chat.id]);

  // What is on screen at the bottom counts as read (while the tab is visible).
  const newest = timeline.applied;
  useEffect(() => {
    const mark = () => {
      if (atBottom.current && document.visibilityState === "visible") client.markRead(chat.id);
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    return () => document.removeEventListener("visibilitychange", mark);
  }, [client, chat.id, newest]);

  const onScroll = () => {
    const el = scroller.current;
    if (el === null) return;
    rememberTop();
    const wasAtBottom = atBottom.current;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    setAwayFromBottom(el.scrollHeight - el.scrollTop - el.clientHeight > el.clientHeight);
    if (atBottom.current && !wasAtBottom) client.markRead(chat.id);
  };

  // Who has read my latest message (read markers).
  const reads = client.reads.get(chat.id);
  const myLast = [...messages].reverse().find((m) => m.senderId === me.id && !m.deleted);
  const seenBy =
    myLast === undefined || reads === undefined
      ? []
      : [...reads].filter(([user, seq]) => user !== me.id && seq >= myLast.seq).map(([user]) => directory.names.get(user) ?? "…");
  const canModerate = chat.kind === "group" && (chat.role === "owner" || chat.role === "admin");

  return (
    <div className="messages-wrap">
    {awayFromBottom && (
      <button
        type="button"
        className="jump secondary small"
        onClick={() => {
          atBottom.current = true;
          virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
        }}
      >
        {strings.jumpToLatest}
      </button>
    )}
    <div
      ref={scroller}
      className="messages"
      onScroll={onScroll}
      tabIndex={0}
      role="log"
      aria-label={strings.messagesLabel}
      aria-busy={loadingOlder}
    >
      <p className="history-edge muted small">
        {timeline.hasMoreBefore ? strings.loadingOlder : strings.beginning}
      </p>
      <div style={{ height: virtualizer.getTotalSize(), position: "relative" }} role="list">
        {items.map((item) => {
          const row = rows[item.index]!;
          return (
            <div
              key={item.key}
              data-index={item.index}
              ref={virtualizer.measureElement}
              role="listitem"
              className="row"
              style={{ transform: `translateY(${item.start}px)` }}
            >
              {row.message !== undefined ? (
                <StoredMessage
                  message={row.message}
                  previous={rows[item.index - 1]?.message}
                  chat={chat}
                  timeline={timeline}
                  mine={row.message.senderId === me.id}
                  canDelete={row.message.senderId === me.id || canModerate}
                  seenBy={row.message === myLast ? seenBy : []}
                  onReply={onReply}
                  onEdit={onEdit}
                />
              ) : (
                <PendingMessage pending={row.pending} />
              )}
            </div>
          );
        })}
      </div>
    </div>
    </div>
  );
}

function StoredMessage({
  message,
  previous,
  chat,
  timeline,
  mine,
  canDelete,
  seenBy,
  onReply,
  onEdit,
}: {
  message: Message;
  previous: Message | undefined;
  chat: ChatSummary;
  timeline: Timeline;
  mine: boolean;
  canDelete: boolean;
  seenBy: string[];
  onReply: (seq: Seq) => void;
  onEdit: (seq: Seq, body: string) => void;
}) {
  const { client, directory } = useApp();
  const name = mine ? strings.you : (directory.names.get(message.senderId) ?? "…");
  const showName = chat.kind === "group" && !mine && previous?.senderId !== message.senderId;
  const newDay = previous === undefined || previous.createdAt.slice(0, 10) !== message.createdAt.slice(0, 10);
  const replied = message.replyToSeq === null ? undefined : timeline.get(message.replyToSeq);
  return (
    <>
      {newDay && (
        <p className="day muted small">
          <time dateTime={message.createdAt}>{strings.day(message.createdAt)}</time>
        </p>
      )}
      {/* Focusable so that a tap (no hover on phones) or a click shows its actions. */}
      <div
        className={`msg ${mine ? "mine" : "theirs"} ${message.deleted ? "deleted" : ""}`}
        data-seq={message.seq}
        tabIndex={-1}
      >
        <div className="bubble">
          {showName && <p className="sender">{name}</p>}
          {message.replyToSeq !== null && !message.deleted && (
            <blockquote className="quote">
              {replied
                ? `${replied.senderId === client.userId ? strings.you : (directory.names.get(replied.senderId) ?? "…")}: ${replied.deleted ? strings.deletedMessage : replied.body}`
                : "…"}
            </blockquote>
          )}
          {/* Text only: React escapes it, nothing is ever parsed as HTML. */}
          <p className="body">{message.deleted ? strings.deletedMessage : message.body}</p>
          <p className="meta">
            {message.edited && !message.deleted && <span>{strings.edited} · </span>}
            <time dateTime={message.createdAt}>{strings.time(message.createdAt)}</time>
            {seenBy.length > 0 && (
              <span className="seen" title={strings.seenBy(seenBy.join(", "))}>
                {" "}
                · {chat.kind === "direct" ? strings.seen : strings.seenBy(seenBy.join(", "))}
              </span>
            )}
          </p>
          {message.reactions.length > 0 && (
            <ul className="reactions" aria-label="Reactions">
              {message.reactions.map((r) => (
                <li key={r.emoji}>
                  <button
                    type="button"
                    className={`reaction ${r.me ? "me" : ""}`}
                    aria-pressed={r.me}
                    aria-label={strings.reactionCount(r.emoji, r.count, r.me)}
                    onClick={() => client.react(chat.id, message.seq, r.emoji, r.me ? "remove" : "add")}
                  >
                    {r.emoji} {r.count}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
        {!message.deleted && (
          <div className="actions" role="group" aria-label={strings.messageActions}>
            {QUICK_REACTIONS.map((emoji) => {
              const mineAlready = message.reactions.some((r) => r.emoji === emoji && r.me);
              return (
                <button
                  key={emoji}
                  type="button"
                  className="icon"
                  aria-label={strings.react(emoji)}
                  aria-pressed={mineAlready}
                  onClick={() => client.react(chat.id, message.seq, emoji, mineAlready ? "remove" : "add")}
                >
                  {emoji}
                </button>
              );
            })}
            <button type="button" className="icon text" onClick={() => onReply(message.seq)}>
              {strings.reply}
            </button>
            {mine && (
              <button type="button" className="icon text" onClick={() => onEdit(message.seq, message.body)}>
                {strings.edit}
              </button>
            )}
            {canDelete && (
              <button
                type="button"
                className="icon text"
                onClick={() => {
                  if (window.confirm(strings.confirmDelete)) client.deleteMessage(chat.id, message.seq);
                }}
              >
                {strings.delete}
              </button>
            )}
          </div>
        )}
      </div>
    </>
  );
}

function PendingMessage({ pending }: { pending: PendingCommand }) {
  const { client } = useApp();
  const command = pending.command;
  if (command.type !== "send") return null;
  const label =
    pending.state === "failed" ? strings.failed : pending.state === "accepted" ? strings.accepted : strings.pending;
  return (
    <div className={`msg mine pending state-${pending.state}`} data-client-id={command.client_id}>
      <div className="bubble">
        <p className="body">{command.body}</p>
        <p className="meta">
          <span className="pending-state">{label}</span>
          {pending.state === "failed" && (
            <>
              {" "}
              <button type="button" className="link" onClick={() => client.retry(command.client_id)}>
                {strings.retry}
              </button>{" "}
              <button type="button" className="link" onClick={() => client.discard(command.client_id)}>
                {strings.discard}
              </button>
            </>
          )}
        </p>
      </div>
    </div>
  );
}
