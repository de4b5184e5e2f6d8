import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { ParleyClient, type RestApi, type SocketLike } from "./client";
import { Timeline } from "./timeline";
import type { ChatSummary, MessagePage, ServerFrame, StoredEvent } from "./types";

// The client's logic against a scripted peer: frames in, frames out. The real socket service is
// exercised by the browser tests (tests/e2e/web).

const ME = "00000000-0000-4000-8000-00000000000a";
const BOB = "00000000-0000-4000-8000-00000000000b";
const CHAT = "00000000-0000-4000-8000-0000000000c1";

class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  sent: Record<string, unknown>[] = [];
  closed = false;
  protocols: string[] = [];

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }
  // test side
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(frame: ServerFrame | Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }
  framesOf(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.type === type);
  }
}

function summary(over: Partial<ChatSummary> = {}): ChatSummary {
  return {
    id: CHAT,
    kind: "direct",
    title: null,
    peer: { id: BOB, username: "bob", display_name: "bob", avatar_attachment_id: null },
    member_count: 2,
    role: "member",
    last_seq: 1,
    last_activity_at: "2026-12-01T10:00:00Z",
    last_message: null,
    last_read_seq: 1,
    unread_count: 0,
    muted: false,
    muted_until: null,
    ...over,
  };
}

function created(seq: number, sender = BOB, clientId = `c${seq}`, body = `m${seq}`): StoredEvent {
  return {
    type: "message.created",
    v: 1,
    chat_id: CHAT,
    seq,
    actor_id: sender,
    at: `2026-12-01T10:00:${String(seq % 60).padStart(2, "0")}Z`,
    command_id: `cmd-${seq}`,
    message: {
      seq,
      sender_id: sender,
      client_id: clientId,
      body,
      attachments: [],
      reply_to_seq: null,
      created_at: "2026-12-01T10:00:00Z",
    },
  };
}

function page(lastSeq: number, seqs: number[], hasMore = false): MessagePage {
  return {
    messages: seqs.map((seq) => ({
      seq,
      sender_id: BOB,
      client_id: `c${seq}`,
      body: `m${seq}`,
      attachments: [],
      reply_to_seq: null,
      created_at: "2026-12-01T10:00:00Z",
      edited_at: null,
      deleted: false,
      reactions: [],
    })),
    changes: null,
    last_seq: lastSeq,
    next_before_seq: hasMore ? seqs[seqs.length - 1]! : null,
    next_after_seq: null,
    has_more: hasMore,
  };
}

function hello(chats: { chat_id: string; last_seq: number; last_read_seq: number }[] = []): ServerFrame {
  return {
    type: "hello",
    protocol: 1,
    connection_id: "conn",
    user_id: ME,
    expires_at: Math.floor(Date.now() / 1000) + 900,
    heartbeat_seconds: 25,
    chats,
  };
}

interface Harness {
  client: ParleyClient;
  sockets: FakeSocket[];
  api: RestApi & { pages: MessagePage[] };
  env: EventTarget & { navigator: { onLine: boolean } };
  last(): FakeSocket;
}

function harness(initialPage: MessagePage = page(3, [3, 2, 1])): Harness {
  const sockets: FakeSocket[] = [];
  let n = 0;
  const api = {
    pages: [initialPage],
    chats: vi.fn(async () => [summary({ last_seq: initialPage.last_seq, last_read_seq: initialPage.last_seq })]),
    chat: vi.fn(async () => summary()),
    messages: vi.fn(async () => api.pages.shift() ?? page(0, [])),
    markRead: vi.fn(async () => undefined),
  };
  const env = Object.assign(new EventTarget(), { navigator: { onLine: true } });
  const client = new ParleyClient({
    url: "ws://test/ws",
    userId: ME,
    connect: (_url, protocols) => {
      const s = new FakeSocket();
      s.protocols = protocols;
      sockets.push(s);
      return s;
    },
    token: async () => "token",
    api,
    newId: () => `local-${++n}`,
    resendAfterMs: 5000,
    environment: env,
  });
  return { client, sockets, api, env, last: () => sockets[sockets.length - 1]! };
}

/** The next socket the client opens (it first gets a token: asynchronous). */
async function nextSocket(h: { sockets: FakeSocket[] }, count: number): Promise<FakeSocket> {
  await vi.waitFor(() => expect(h.sockets).toHaveLength(count));
  const s = h.sockets[count - 1]!;
  s.accept();
  return s;
}

async function connect(h: Harness): Promise<FakeSocket> {
  const s = await nextSocket(h, h.sockets.length + (h.sockets.at(-1)?.readyState === 0 ? 0 : 1));
  s.push(hello([{ chat_id: CHAT, last_seq: 3, last_read_seq: 3 }]));
  return s;
}

function seqs(t: Timeline): number[] {
  return t.messages().map((m) => m.seq);
}

describe("Timeline", () => {
  it("applies events in seq order whatever order they arrive in, each once", () => {
    const t = new Timeline(CHAT, ME);
    t.loadNewest(page(3, [3, 2, 1]));
    expect(t.apply(created(6))).toBe("buffered");
    expect(t.apply(created(5))).toBe("buffered");
    expect(seqs(t)).toEqual([1, 2, 3]);
    expect(t.missingAfter()).toBe(3);
    expect(t.apply(created(4))).toBe("applied");
    expect(seqs(t)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.missingAfter()).toBeNull();
    expect(t.apply(created(5))).toBe("duplicate");
    expect(t.apply(created(2))).toBe("duplicate");
    expect(seqs(t)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("keeps events that arrived before the first page and drops those the page has", () => {
    const t = new Timeline(CHAT, ME);
    expect(t.apply(created(3))).toBe("buffered");
    expect(t.apply(created(4))).toBe("buffered");
    t.loadNewest(page(3, [3, 2, 1]));
    expect(seqs(t)).toEqual([1, 2, 3, 4]);
    expect(t.applied).toBe(4);
  });

  it("does not apply a change twice to a message whose page already had it", () => {
    const t = new Timeline(CHAT, ME);
    t.loadNewest(page(10, [10, 9], true));
    // An older page read later (at seq 12) already counts the reaction of seq 11 on message 5.
    const older = page(12, [5, 4]);
    older.messages[0]!.reactions = [{ emoji: "👍", count: 1, me: false }];
    t.loadOlder(older);
    const reaction: StoredEvent = {
      type: "reaction.added",
      v: 1,
      chat_id: CHAT,
      seq: 11,
      actor_id: BOB,
      at: "2026-12-01T10:00:00Z",
      command_id: "r",
      message_seq: 5,
      emoji: "👍",
      user_id: BOB,
    };
    t.apply(reaction);
    expect(t.get(5)!.reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);
    expect(seqs(t)).toEqual([4, 5, 9, 10]);
  });

  it("applies edits, deletes and reactions", () => {
    const t = new Timeline(CHAT, ME);
    t.loadNewest(page(1, [1]));
    const base = { v: 1, chat_id: CHAT, actor_id: BOB, at: "2026-12-01T10:00:00Z", command_id: "x" };
    t.apply({ ...base, seq: 2, type: "message.edited", message_seq: 1, body: "changed" });
    t.apply({ ...base, seq: 3, type: "reaction.added", message_seq: 1, emoji: "🎉", user_id: ME });
    expect(t.get(1)).toMatchObject({ body: "changed", edited: true, reactions: [{ emoji: "🎉", count: 1, me: true }] });
    t.apply({ ...base, seq: 4, type: "reaction.removed", message_seq: 1, emoji: "🎉", user_id: ME });
    expect(t.get(1)!.reactions).toEqual([]);
    t.apply({ ...base, seq: 5, type: "message.deleted", message_seq: 1 });
    expect(t.get(1)).toMatchObject({ body: "", deleted: true });
  });

  it("holds 100,000 messages loaded backwards in order", () => {
    const t = new Timeline(CHAT, ME);
    const total = 100_000;
    t.loadNewest(page(total, Array.from({ length: 200 }, (_, i) => total - i), true));
    while (t.hasMoreBefore) {
      const top = t.nextBeforeSeq!;
      const n = Math.min(200, top - 1);
      t.loadOlder(page(total, Array.from({ length: n }, (_, i) => top - 1 - i), top - 1 - n > 0));
    }
    const all = seqs(t);
    expect(all).toHaveLength(total);
    expect(all.every((s, i) => s === i + 1)).toBe(true);
  });
});

describe("ParleyClient", () => {
  beforeEach(() => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("authenticates in the handshake (subprotocols, never the URL) and goes online on hello", async () => {
    const h = harness();
    h.client.start();
    const s = await connect(h);
    expect(h.client.connection).toBe("online");
    expect(s.protocols).toEqual(["parley.v1", "parley.token.token"]);
    expect(s.sent).toEqual([]); // nothing to catch up on, nothing to send
  });

  it("shows a send as pending until accepted and then as the stored message", async () => {
    const h = harness();
    h.client.start();
    const s = await connect(h);
    const t = await h.client.openChat(CHAT);
    const id = h.client.sendMessage(CHAT, "hello");
    expect(s.framesOf("send")).toEqual([{ type: "send", chat_id: CHAT, client_id: id, body: "hello" }]);
    expect(h.client.pendingSends(CHAT).map((p) => p.state)).toEqual(["sent"]);
    s.push({ type: "accepted", client_id: id, chat_id: CHAT, id: "cmd" });
    expect(h.client.pendingSends(CHAT).map((p) => p.state)).toEqual(["accepted"]);
    s.push({ type: "event", event: created(4, ME, id, "hello") });
    expect(h.client.pendingSends(CHAT)).toEqual([]);
    expect(t.messages().at(-1)).toMatchObject({ seq: 4, body: "hello", clientId: id });
  });

  it("sends again with the same client_id when no answer comes, and on a retryable error", async () => {
    const h = harness();
    h.client.start();
    const s = await connect(h);
    const id = h.client.sendMessage(CHAT, "once");
    await vi.advanceTimersByTimeAsync(7000);
    expect(s.framesOf("send").map((f) => f.client_id)).toEqual([id, id]);
    s.push({ type: "error", code: "unavailable", message: "", retryable: true, client_id: id, retry_after_ms: 500 });
    await vi.advanceTimersByTimeAsync(600);
    expect(s.framesOf("send").map((f) => f.client_id)).toEqual([id, id, id]);
    s.push({ type: "accepted", client_id: id, chat_id: CHAT, id: "cmd" });
    await vi.advanceTimersByTimeAsync(20000);
    expect(s.framesOf("send")).toHaveLength(3); // accepted: no more resends on this connection
  });

  it("marks a refused message failed and can send it again", async () => {
    const h = harness();
    h.client.start();
    const s = await connect(h);
    const id = h.client.sendMessage(CHAT, "x");
    s.push({ type: "error", code: "not_a_member", message: "", retryable: false, client_id: id });
    expect(h.client.pendingSends(CHAT)[0]).toMatchObject({ state: "failed", error: "not_a_member" });
    h.client.retry(id);
    expect(s.framesOf("send").map((f) => f.client_id)).toEqual([id, id]);
  });

  it("queues what is typed offline and sends it once, in order, when back online", async () => {
    const h = harness();
    h.client.start();
    const first = await connect(h);
    await h.client.openChat(CHAT);
    h.env.navigator.onLine = false;
    h.env.dispatchEvent(new Event("offline"));
    expect(h.client.connection).toBe("offline");
    expect(first.closed).toBe(true);
    const a = h.client.sendMessage(CHAT, "one");
    const b = h.client.sendMessage(CHAT, "two");
    await vi.advanceTimersByTimeAsync(30000);
    expect(h.sockets).toHaveLength(1); // no reconnect attempts while offline
    h.env.navigator.onLine = true;
    h.env.dispatchEvent(new Event("online"));
    const second = await nextSocket(h, 2);
    expect(second.sent).toHaveLength(0); // nothing before hello
    second.push(hello([{ chat_id: CHAT, last_seq: 3, last_read_seq: 3 }]));
    expect(second.framesOf("sync")).toEqual([{ type: "sync", chats: { [CHAT]: 3 } }]);
    expect(second.framesOf("send").map((f) => f.body)).toEqual(["one", "two"]);
    second.push({ type: "accepted", client_id: a, chat_id: CHAT, id: "ca" });
    second.push({ type: "accepted", client_id: b, chat_id: CHAT, id: "cb" });
    second.push({ type: "event", event: created(4, ME, a, "one") });
    second.push({ type: "event", event: created(5, ME, b, "two") });
    await vi.advanceTimersByTimeAsync(20000);
    expect(second.framesOf("send")).toHaveLength(2);
    expect(seqs(h.client.timelines.get(CHAT)!)).toEqual([1, 2, 3, 4, 5]);
    expect(h.client.pending.size).toBe(0);
  });

  it("resumes after a dropped connection from the last applied seq and fills the gap", async () => {
    const h = harness();
    h.client.start();
    const first = await connect(h);
    const t = await h.client.openChat(CHAT);
    first.push({ type: "event", event: created(4) });
    first.drop();
    expect(h.client.connection).toBe("connecting");
    await vi.advanceTimersByTimeAsync(500);
    const second = await nextSocket(h, 2);
    second.push(hello([{ chat_id: CHAT, last_seq: 6, last_read_seq: 3 }]));
    expect(second.framesOf("sync")).toEqual([{ type: "sync", chats: { [CHAT]: 4 } }]);
    // The replay overlaps what we had (at-least-once): duplicates are dropped.
    second.push({ type: "event", event: created(4) });
    second.push({ type: "event", event: created(5) });
    second.push({ type: "event", event: created(6) });
    second.push({ type: "synced", chats: { [CHAT]: 6 } });
    expect(seqs(t)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("asks for a sync when a live event skips a seq", async () => {
    const h = harness();
    h.client.start();
    const s = await connect(h);
    const t = await h.client.openChat(CHAT);
    s.push({ type: "event", event: created(6) });
    expect(s.framesOf("sync")).toEqual([{ type: "sync", chats: { [CHAT]: 3 } }]);
    s.push({ type: "event", event: created(4) });
    s.push({ type: "event", event: created(5) });
    s.push({ type: "synced", chats: { [CHAT]: 6 } });
    expect(seqs(t)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("counts unread messages of chats not on screen, once each, and sorts by activity", async () => {
    const h = harness();
    h.client.start();
    const s = await connect(h);
    await vi.waitFor(() => expect(h.client.chatsLoaded).toBe(true));
    s.push({ type: "event", event: created(4) });
    s.push({ type: "event", event: created(4) });
    s.push({ type: "event", event: created(5) });
    expect(h.client.chats.get(CHAT)).toMatchObject({ unread_count: 2, last_seq: 5 });
    expect(h.client.chats.get(CHAT)!.last_message!.body).toBe("m5");
    h.client.markRead(CHAT);
    expect(s.framesOf("read")).toEqual([{ type: "read", chat_id: CHAT, seq: 5 }]);
    expect(h.client.chats.get(CHAT)!.unread_count).toBe(0);
  });

  it("keeps the newest presence version and re-watches after a reconnect", async () => {
    const h = harness();
    h.client.start();
    const s = await connect(h);
    h.client.watch([BOB, ME]);
    expect(s.framesOf("watch")).toEqual([{ type: "watch", user_ids: [BOB] }]);
    s.push({ type: "presence", users: [{ user_id: BOB, status: "online", last_seen: null, version: 5 }] });
    s.push({ type: "presence", users: [{ user_id: BOB, status: "offline", last_seen: null, version: 4 }] });
    expect(h.client.presence.get(BOB)!.status).toBe("online");
    s.drop();
    await vi.advanceTimersByTimeAsync(500);
    const again = await connect(h);
    expect(again.framesOf("watch")).toEqual([{ type: "watch", user_ids: [BOB] }]);
  });

  it("starts again with a fresh token when the token is refused", async () => {
    const h = harness();
    const tokens: boolean[] = [];
    (h.client as unknown as { opts: { token: (f: boolean) => Promise<string> } }).opts.token = async (fresh) => {
      tokens.push(fresh);
      return fresh ? "new" : "old";
    };
    h.client.start();
    const s = await nextSocket(h, 1);
    s.push({ type: "error", code: "token_expired", message: "", retryable: false });
    expect(s.closed).toBe(true);
    s.drop();
    await vi.advanceTimersByTimeAsync(500);
    const again = await nextSocket(h, 2);
    expect(again.protocols).toEqual(["parley.v1", "parley.token.new"]);
    expect(tokens).toEqual([false, true]);
  });

  it("sends the outbox kept from before a reload", async () => {
    const saved: unknown[] = [];
    const h = harness();
    const store = {
      load: () => [
        {
          command: { type: "send" as const, chat_id: CHAT, client_id: "kept-1", body: "from before" },
          state: "sent" as const,
          sentAt: 1,
          createdAt: "2026-12-01T10:00:00Z",
        },
      ],
      save: (p: unknown[]) => saved.push(p),
    };
    const client = new ParleyClient({
      url: "ws://x",
      userId: ME,
      connect: () => {
        const sock = new FakeSocket();
        h.sockets.push(sock);
        return sock;
      },
      token: async () => "t",
      api: h.api,
      outbox: store,
    });
    client.start();
    const s = await nextSocket(h, 1);
    s.push(hello());
    expect(s.framesOf("send").map((f) => f.client_id)).toEqual(["kept-1"]);
    client.stop();
  });
});
