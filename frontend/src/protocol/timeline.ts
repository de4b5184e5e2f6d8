// One chat's messages as the client knows them: history pages loaded backwards, stored events
// applied strictly in seq order (each once), whatever order and however often they arrive.

import type { MessageOut, MessagePage, ReactionCount, Seq, StoredEvent } from "./types";

export interface Message {
  seq: Seq;
  senderId: string;
  clientId: string;
  body: string;
  replyToSeq: Seq | null;
  createdAt: string;
  edited: boolean;
  deleted: boolean;
  reactions: ReactionCount[];
  /** The chat's seq when this state was read: events at or below it are already in it. */
  asOf: Seq;
}

export type ApplyResult = "applied" | "duplicate" | "buffered";

export class Timeline {
  readonly chatId: string;
  private readonly me: string;
  private bySeq = new Map<Seq, Message>();
  /** Message seqs, ascending (messages only: other events take seqs too, so there are holes). */
  private order: Seq[] = [];
  /** Every change up to here is applied; events above it wait in `early` until the gap fills. */
  applied: Seq = 0;
  private early = new Map<Seq, StoredEvent>();
  /** Older history exists before the first loaded message. */
  hasMoreBefore = true;
  nextBeforeSeq: Seq | null = null;
  /** Whether the newest page has been loaded (before that, `applied` means nothing). */
  loaded = false;
  /** Bumped on every change, so views can tell cheaply that something moved. */
  version = 0;
  private cached: Message[] | null = null;

  constructor(chatId: string, me: string) {
    this.chatId = chatId;
    this.me = me;
  }

  get size(): number {
    return this.order.length;
  }

  /** The messages, oldest first (a fresh array only after a change). */
  messages(): Message[] {
    if (this.cached === null) {
      this.cached = this.order.map((seq) => this.bySeq.get(seq)!);
    }
    return this.cached;
  }

  get(seq: Seq): Message | undefined {
    return this.bySeq.get(seq);
  }

  /** The lowest seq a gap-filling sync must start after, or null when nothing is missing. */
  missingAfter(): Seq | null {
    return this.early.size > 0 ? this.applied : null;
  }

  /** The newest page (`GET /messages` without a cursor): the starting point of live updates. */
  loadNewest(page: MessagePage): void {
    for (const out of page.messages) this.put(fromOut(out, page.last_seq), true);
    this.applied = Math.max(this.applied, page.last_seq);
    this.hasMoreBefore = page.has_more;
    this.nextBeforeSeq = page.next_before_seq;
    this.loaded = true;
    // Events that arrived before the page was read and that it already contains are dropped.
    for (const seq of [...this.early.keys()]) if (seq <= this.applied) this.early.delete(seq);
    this.drain();
    this.touch();
  }

  /** An older page (`before_seq`): messages that are not known yet are added. */
  loadOlder(page: MessagePage): void {
    const first = this.order[0] ?? Infinity;
    const older = page.messages
      .filter((out) => out.seq < first && !this.bySeq.has(out.seq))
      .sort((a, b) => a.seq - b.seq);
    // The usual case, a page wholly before what is loaded, is one concatenation.
    for (const out of older) this.bySeq.set(out.seq, fromOut(out, page.last_seq));
    this.order = older.map((out) => out.seq).concat(this.order);
    for (const out of page.messages) if (out.seq >= first) this.put(fromOut(out, page.last_seq), false);
    this.hasMoreBefore = page.has_more;
    this.nextBeforeSeq = page.next_before_seq;
    this.touch();
  }

  /** A stored event, live or from a sync; in seq order, each once. */
  apply(event: StoredEvent): ApplyResult {
    if (event.seq <= this.applied) return "duplicate";
    if (event.seq > this.applied + 1 || !this.loaded) {
      if (this.early.has(event.seq)) return "duplicate";
      this.early.set(event.seq, event);
      return "buffered";
    }
    this.applyNow(event);
    this.drain();
    this.touch();
    return "applied";
  }

  private drain(): void {
    for (;;) {
      const next = this.early.get(this.applied + 1);
      if (next === undefined) return;
      this.early.delete(next.seq);
      this.applyNow(next);
    }
  }

  private applyNow(event: StoredEvent): void {
    this.applied = event.seq;
    switch (event.type) {
      case "message.created": {
        const m = event.message;
        this.put(
          {
            seq: m.seq,
            senderId: m.sender_id,
            clientId: m.client_id,
            body: m.body,
            replyToSeq: m.reply_to_seq,
            createdAt: m.created_at,
            edited: false,
            deleted: false,
            reactions: [],
            asOf: event.seq,
          },
          true,
        );
        return;
      }
      case "message.edited":
        this.change(event.message_seq, event.seq, (m) => ({ ...m, body: event.body, edited: true }));
        return;
      case "message.deleted":
        this.change(event.message_seq, event.seq, (m) => ({ ...m, body: "", deleted: true, reactions: [] }));
        return;
      case "reaction.added":
      case "reaction.removed": {
        const delta = event.type === "reaction.added" ? 1 : -1;
        const mine = event.user_id === this.me;
        this.change(event.message_seq, event.seq, (m) => ({
          ...m,
          reactions: react(m.reactions, event.emoji, delta, mine),
        }));
        return;
      }
      default:
        return; // membership and titles are the chat list's business
    }
  }

  private change(seq: Seq, eventSeq: Seq, update: (m: Message) => Message): void {
    const current = this.bySeq.get(seq);
    // Not loaded (older than the loaded history): its page will come with the change in it.
    if (current === undefined || current.asOf >= eventSeq) return;
    this.bySeq.set(seq, { ...update(current), asOf: eventSeq });
  }

  private put(message: Message, newer: boolean): void {
    const known = this.bySeq.get(message.seq);
    if (known !== undefined) {
      if (known.asOf < message.asOf) this.bySeq.set(message.seq, message);
      return;
    }
    this.bySeq.set(message.seq, message);
    const last = this.order[this.order.length - 1];
    const first = this.order[0];
    if (newer && (last === undefined || message.seq > last)) this.order.push(message.seq);
    else if (!newer && (first === undefined || message.seq < first)) this.order.unshift(message.seq);
    else {
      // Out of place (pages overlapping): binary insert.
      let lo = 0;
      let hi = this.order.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.order[mid]! < message.seq) lo = mid + 1;
        else hi = mid;
      }
      this.order.splice(lo, 0, message.seq);
    }
  }

  private touch(): void {
    this.cached = null;
    this.version += 1;
  }
}

function fromOut(out: MessageOut, asOf: Seq): Message {
  return {
    seq: out.seq,
    senderId: out.sender_id,
    clientId: out.client_id,
    body: out.body,
    replyToSeq: out.reply_to_seq,
    createdAt: out.created_at,
    edited: out.edited_at !== null,
    deleted: out.deleted,
    reactions: out.reactions,
    asOf,
  };
}

function react(reactions: ReactionCount[], emoji: string, delta: number, mine: boolean): ReactionCount[] {
  const found = reactions.find((r) => r.emoji === emoji);
  if (found === undefined) {
    return delta > 0 ? [...reactions, { emoji, count: 1, me: mine }] : reactions;
  }
  return reactions
    .map((r) =>
      r.emoji === emoji ? { emoji, count: r.count + delta, me: mine ? delta > 0 : r.me } : r,
    )
    .filter((r) => r.count > 0);
}
