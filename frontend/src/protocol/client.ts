// Parley's real-time client, free of any UI framework: one WebSocket (docs/protocol.md), the chat
// list, the open chats' timelines, the commands waiting for the server, presence, typing and read
// positions. Views subscribe and read; nothing here touches the DOM.

import { Timeline } from "./timeline";
import type {
  ChatSummary,
  Command,
  ErrorFrame,
  Hello,
  MessagePage,
  PresenceEntry,
  Seq,
  ServerFrame,
  StoredEvent,
} from "./types";

/** The little of the browser's WebSocket this client uses (tests pass their own). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

/** The REST calls the client needs (the api service, behind /api). */
export interface RestApi {
  chats(): Promise<ChatSummary[]>;
  chat(chatId: string): Promise<ChatSummary | null>;
  messages(chatId: string, query: { before_seq?: Seq; after_seq?: Seq; limit?: number }): Promise<MessagePage>;
  markRead(chatId: string, seq: Seq): Promise<void>;
}

export interface OutboxStore {
  load(): PendingCommand[];
  save(pending: PendingCommand[]): void;
}

export interface ClientOptions {
  url: string;
  userId: string;
  connect: (url: string, protocols: string[]) => SocketLike;
  /** A valid access token; `fresh` asks for a new one (the old one was refused). */
  token: (fresh: boolean) => Promise<string>;
  api: RestApi;
  outbox?: OutboxStore;
  newId?: () => string;
  /** Milliseconds without `accepted` after which a command is sent again (same client_id). */
  resendAfterMs?: number;
  /** Window events (online/offline, visibility) in a browser; absent in tests. */
  environment?: EventTarget & { navigator?: { onLine: boolean } };
}

export type PendingState = "queued" | "sent" | "accepted" | "failed";

export interface PendingCommand {
  command: Command;
  state: PendingState;
  sentAt: number;
  error?: string;
  /** When it was typed, for ordering pending sends under the stored messages. */
  createdAt: string;
}

export type ConnectionState = "connecting" | "online" | "offline";

const OPEN = 1;
const TYPING_SHOW_MS = 5000;

export class ParleyClient {
  readonly userId: string;
  connection: ConnectionState = "offline";
  /** Bumped on every change; views compare it (useSyncExternalStore). */
  version = 0;
  readonly chats = new Map<string, ChatSummary>();
  chatsLoaded = false;
  readonly timelines = new Map<string, Timeline>();
  readonly pending = new Map<string, PendingCommand>();
  readonly presence = new Map<string, PresenceEntry>();
  /** chat id -> user id -> until (ms) */
  readonly typing = new Map<string, Map<string, number>>();
  /** chat id -> user id -> last read seq */
  readonly reads = new Map<string, Map<string, Seq>>();
  /** The latest refusal that a person should see (a command that will not go through). */
  lastError: ErrorFrame | null = null;

  private readonly opts: ClientOptions;
  private readonly newId: () => string;
  private socket: SocketLike | null = null;
  private authenticated = false;
  private stopped = true;
  private attempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private resendTimer: ReturnType<typeof setInterval> | undefined;
  private lastFrameAt = 0;
  private heartbeatMs = 25000;
  private watched: string[] = [];
  private status: "online" | "away" = "online";
  private syncing = new Set<string>();
  private typingSentAt = new Map<string, number>();
  private listeners = new Set<() => void>();
  private activeChat: string | null = null;
  private freshToken = false;
  private opening = 0;

  constructor(opts: ClientOptions) {
    this.opts = opts;
    this.userId = opts.userId;
    this.newId = opts.newId ?? (() => crypto.randomUUID());
    for (const p of opts.outbox?.load() ?? []) {
      // After a reload nothing is in flight: everything not failed goes out again, same client_id.
      this.pending.set(p.command.client_id, { ...p, state: p.state === "failed" ? "failed" : "queued" });
    }
  }

  // --- subscriptions ----------------------------------------------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  private changed(): void {
    this.version += 1;
    for (const l of [...this.listeners]) l();
  }

  // --- lifecycle --------------------------------------------------------------------------------

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const env = this.opts.environment;
    env?.addEventListener("online", this.onOnline);
    env?.addEventListener("offline", this.onOffline);
    this.resendTimer = setInterval(() => this.resendOverdue(), 1000);
    void this.refreshChats();
    if (env?.navigator?.onLine === false) this.setConnection("offline");
    else this.open();
  }

  stop(): void {
    this.stopped = true;
    const env = this.opts.environment;
    env?.removeEventListener("online", this.onOnline);
    env?.removeEventListener("offline", this.onOffline);
    clearInterval(this.resendTimer);
    clearTimeout(this.reconnectTimer);
    this.dropSocket();
    this.setConnection("offline");
  }

  private onOnline = (): void => {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    this.attempts = 0;
    if (this.socket === null) this.open();
  };

  private onOffline = (): void => {
    // The network is gone: do not wait for the socket to notice; queue until it is back.
    this.dropSocket();
    this.setConnection("offline");
  };

  private open(): void {
    this.dropSocket();
    this.setConnection("connecting");
    const attempt = this.opening;
    // The token goes in the handshake (a subprotocol: never the URL), so the entry point can check
    // it before the upgrade; hello follows at once.
    this.opts
      .token(this.freshToken)
      .then((token) => {
        if (attempt !== this.opening || this.stopped) return;
        this.freshToken = false;
        this.connectWith(token);
      })
      .catch(() => {
        if (attempt === this.opening) this.scheduleReconnect();
      });
  }

  private connectWith(token: string): void {
    let socket: SocketLike;
    try {
      socket = this.opts.connect(this.opts.url, ["parley.v1", `parley.token.${token}`]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => undefined;
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      this.lastFrameAt = Date.now();
      if (typeof ev.data !== "string") return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(ev.data) as ServerFrame;
      } catch {
        return;
      }
      this.handle(frame);
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.authenticated = false;
      this.stopTimers();
      // Closed for its token (4401): the next attempt takes a new one.
      if (ev.code === 4401) this.freshToken = true;
      this.setConnection(this.stopped ? "offline" : "connecting");
      this.scheduleReconnect();
    };
    socket.onerror = () => undefined; // onclose follows
  }

  private dropSocket(): void {
    this.opening += 1; // a connection still being opened is abandoned
    const socket = this.socket;
    this.socket = null;
    this.authenticated = false;
    this.stopTimers();
    if (socket !== null) {
      socket.onclose = null;
      socket.onmessage = null;
      try {
        socket.close(1000);
      } catch {
        // already closed
      }
    }
    for (const p of this.pending.values()) if (p.state === "sent") p.state = "queued";
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.renewTimer);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.opts.environment?.navigator?.onLine === false) return;
    clearTimeout(this.reconnectTimer);
    const delay = Math.min(10000, 250 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts += 1;
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private setConnection(state: ConnectionState): void {
    if (this.connection !== state) {
      this.connection = state;
      this.changed();
    }
  }

  private send(frame: object): boolean {
    const socket = this.socket;
    if (socket === null || !this.authenticated || socket.readyState !== OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  // --- frames -----------------------------------------------------------------------------------

  /** One frame from the server (public for tests that feed frames directly). */
  handle(frame: ServerFrame): void {
    switch (frame.type) {
      case "hello":
        this.onHello(frame);
        break;
      case "authenticated":
        this.scheduleRenewal(frame.expires_at);
        break;
      case "accepted": {
        const p = this.pending.get(frame.client_id);
        if (p !== undefined) {
          if (p.command.type === "send") p.state = "accepted";
          else this.pending.delete(frame.client_id);
          this.saveOutbox();
        }
        break;
      }
      case "event":
        this.onEvent(frame.event);
        break;
      case "synced":
        for (const chatId of Object.keys(frame.chats)) this.syncing.delete(chatId);
        for (const t of this.timelines.values()) this.requestSync(t);
        break;
      case "typing": {
        if (frame.user_id === this.userId) return;
        let users = this.typing.get(frame.chat_id);
        if (users === undefined) this.typing.set(frame.chat_id, (users = new Map()));
        users.set(frame.user_id, Date.now() + TYPING_SHOW_MS);
        setTimeout(() => this.changed(), TYPING_SHOW_MS + 50);
        break;
      }
      case "read":
        this.setRead(frame.chat_id, frame.user_id, frame.last_read_seq);
        break;
      case "presence":
        for (const entry of frame.users) {
          const known = this.presence.get(entry.user_id);
          if (known === undefined || known.version <= entry.version) this.presence.set(entry.user_id, entry);
        }
        break;
      case "error":
        this.onError(frame);
        break;
      default:
        return; // pong and frames of later versions
    }
    this.changed();
  }

  private onHello(hello: Hello): void {
    const first = this.chatsLoaded;
    this.authenticated = true;
    this.attempts = 0;
    this.heartbeatMs = hello.heartbeat_seconds * 1000;
    this.lastFrameAt = Date.now();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.scheduleRenewal(hello.expires_at);
    // Catch up on the open chats from the last seq each has applied (replayed, then `synced`).
    this.syncing.clear();
    const resume: Record<string, Seq> = {};
    for (const t of this.timelines.values()) {
      if (!t.loaded) continue;
      resume[t.chatId] = t.applied;
      this.syncing.add(t.chatId);
    }
    if (Object.keys(resume).length > 0) this.send({ type: "sync", chats: resume });
    // Chats that moved while we were away (or that we never saw): the list is read again.
    const stale = hello.chats.some((c) => {
      const known = this.chats.get(c.chat_id);
      return known === undefined || known.last_seq < c.last_seq;
    });
    if (first && (stale || hello.chats.length !== this.chats.size)) void this.refreshChats();
    if (this.watched.length > 0) this.send({ type: "watch", user_ids: this.watched });
    if (this.status !== "online") this.send({ type: "status", status: this.status });
    this.setConnection("online");
    this.flush();
  }

  private heartbeat(): void {
    if (Date.now() - this.lastFrameAt > this.heartbeatMs * 2 + 10000) {
      // Silent for too long: the connection is dead even if the browser has not noticed.
      this.socket?.close(4000);
      return;
    }
    this.send({ type: "ping" });
  }

  private scheduleRenewal(expiresAt: number): void {
    clearTimeout(this.renewTimer);
    const ms = Math.max(5000, expiresAt * 1000 - Date.now() - 60000);
    this.renewTimer = setTimeout(async () => {
      try {
        const token = await this.opts.token(true);
        this.send({ type: "auth", token });
      } catch {
        this.socket?.close(4000);
      }
    }, ms);
  }

  private onError(error: ErrorFrame): void {
    if (["invalid_token", "token_expired", "unknown_key"].includes(error.code)) {
      // Start again with a new token.
      this.freshToken = true;
      this.socket?.close(4000);
      return;
    }
    const clientId = error.client_id;
    const p = clientId === undefined ? undefined : this.pending.get(clientId);
    if (p === undefined || clientId === undefined) {
      if (!error.retryable && error.frame_type !== "typing" && error.frame_type !== "read") this.lastError = error;
      return;
    }
    if (error.retryable) {
      // Not a "no": the same frame again, same client_id, after the wait the server asked for.
      p.state = "queued";
      setTimeout(() => this.flush(), error.retry_after_ms ?? 1000);
      return;
    }
    this.lastError = error;
    if (p.command.type === "send") {
      p.state = "failed";
      p.error = error.code;
    } else {
      this.pending.delete(clientId);
    }
    this.saveOutbox();
  }

  private onEvent(event: StoredEvent): void {
    this.updateSummary(event);
    if (event.type === "message.created" && event.message.sender_id === this.userId) {
      if (this.pending.delete(event.message.client_id)) this.saveOutbox();
    }
    const timeline = this.timelines.get(event.chat_id);
    if (timeline === undefined) return;
    if (timeline.apply(event) === "buffered") this.requestSync(timeline);
  }

  private requestSync(timeline: Timeline): void {
    const after = timeline.missingAfter();
    if (after === null || !timeline.loaded || this.syncing.has(timeline.chatId)) return;
    if (this.send({ type: "sync", chats: { [timeline.chatId]: after } })) this.syncing.add(timeline.chatId);
  }

  private updateSummary(event: StoredEvent): void {
    const chat = this.chats.get(event.chat_id);
    const aboutMe = "user_id" in event && event.user_id === this.userId;
    if (event.type === "member.removed" && aboutMe) {
      this.chats.delete(event.chat_id);
      this.timelines.delete(event.chat_id);
      return;
    }
    if (chat === undefined) {
      if (this.chatsLoaded) void this.fetchChat(event.chat_id);
      return;
    }
    if (event.seq <= chat.last_seq) return; // the summary already has it
    const next: ChatSummary = { ...chat, last_seq: event.seq };
    switch (event.type) {
      case "message.created": {
        const m = event.message;
        next.last_message = {
          seq: m.seq,
          sender_id: m.sender_id,
          body: m.body.slice(0, 200),
          attachment_count: m.attachments.length,
          created_at: m.created_at,
          deleted: false,
        };
        next.last_activity_at = event.at;
        if (m.sender_id === this.userId) {
          next.last_read_seq = m.seq;
          next.unread_count = 0;
        } else if (this.activeChat !== event.chat_id && m.seq > chat.last_read_seq) {
          // (In the chat on screen the view marks it read: markRead sends the read frame.)
          next.unread_count = chat.unread_count + 1;
        }
        break;
      }
      case "message.edited":
        if (chat.last_message?.seq === event.message_seq) {
          next.last_message = { ...chat.last_message, body: event.body.slice(0, 200) };
        }
        break;
      case "message.deleted":
        if (chat.last_message?.seq === event.message_seq) {
          next.last_message = { ...chat.last_message, body: "", deleted: true };
        }
        break;
      case "chat.renamed":
        next.title = event.title;
        break;
      case "member.added":
        next.member_count = chat.member_count + 1;
        next.last_activity_at = event.at;
        break;
      case "member.removed":
        next.member_count = Math.max(1, chat.member_count - 1);
        break;
      case "member.role_changed":
        if (aboutMe) next.role = event.role;
        break;
      default:
        break;
    }
    this.chats.set(chat.id, next);
  }

  // --- REST-backed state ------------------------------------------------------------------------

  async refreshChats(): Promise<void> {
    try {
      const list = await this.opts.api.chats();
      const ids = new Set(list.map((c) => c.id));
      for (const c of list) {
        const known = this.chats.get(c.id);
        if (known === undefined || known.last_seq <= c.last_seq) this.chats.set(c.id, c);
      }
      for (const id of [...this.chats.keys()]) if (!ids.has(id)) this.chats.delete(id);
      this.chatsLoaded = true;
      this.changed();
    } catch {
      // Kept as it is; the next hello reads it again.
    }
  }

  private async fetchChat(chatId: string): Promise<void> {
    try {
      const chat = await this.opts.api.chat(chatId);
      if (chat !== null) {
        const known = this.chats.get(chatId);
        if (known === undefined || known.last_seq <= chat.last_seq) this.chats.set(chatId, chat);
        this.changed();
      }
    } catch {
      // The next refresh of the list has it.
    }
  }

  /** Put a chat (just made or just joined) into the list. */
  upsertChat(chat: ChatSummary): void {
    const known = this.chats.get(chat.id);
    if (known === undefined || known.last_seq <= chat.last_seq) this.chats.set(chat.id, chat);
    this.changed();
  }

  removeChat(chatId: string): void {
    this.chats.delete(chatId);
    this.timelines.delete(chatId);
    this.changed();
  }

  /** The chats, latest activity first. */
  chatList(): ChatSummary[] {
    return [...this.chats.values()].sort(
      (a, b) => b.last_activity_at.localeCompare(a.last_activity_at) || b.id.localeCompare(a.id),
    );
  }

  /** Open a chat: its newest page, then live events on top, in seq order. */
  async openChat(chatId: string): Promise<Timeline> {
    let timeline = this.timelines.get(chatId);
    if (timeline === undefined) {
      timeline = new Timeline(chatId, this.userId);
      this.timelines.set(chatId, timeline);
    }
    if (!timeline.loaded) {
      const page = await this.opts.api.messages(chatId, { limit: 50 });
      timeline.loadNewest(page);
      this.requestSync(timeline);
      this.changed();
    }
    return timeline;
  }

  async loadOlder(chatId: string): Promise<void> {
    const timeline = this.timelines.get(chatId);
    if (timeline === undefined || !timeline.hasMoreBefore || timeline.nextBeforeSeq === null) return;
    const page = await this.opts.api.messages(chatId, { before_seq: timeline.nextBeforeSeq, limit: 100 });
    timeline.loadOlder(page);
    this.changed();
  }

  /** The chat on screen: its new messages count as read. */
  setActiveChat(chatId: string | null): void {
    this.activeChat = chatId;
  }

  // --- commands ---------------------------------------------------------------------------------

  sendMessage(chatId: string, body: string, replyToSeq?: Seq): string {
    const clientId = this.newId();
    const command: Command = { type: "send", chat_id: chatId, client_id: clientId, body };
    if (replyToSeq !== undefined) command.reply_to_seq = replyToSeq;
    return this.enqueue(command);
  }

  editMessage(chatId: string, seq: Seq, body: string): string {
    return this.enqueue({ type: "edit", chat_id: chatId, client_id: this.newId(), message_seq: seq, body });
  }

  deleteMessage(chatId: string, seq: Seq): string {
    return this.enqueue({ type: "delete", chat_id: chatId, client_id: this.newId(), message_seq: seq });
  }

  react(chatId: string, seq: Seq, emoji: string, action: "add" | "remove"): string {
    return this.enqueue({
      type: "react",
      chat_id: chatId,
      client_id: this.newId(),
      message_seq: seq,
      emoji,
      action,
    });
  }

  /** Send a failed message again (same client_id: it is stored at most once). */
  retry(clientId: string): void {
    const p = this.pending.get(clientId);
    if (p === undefined) return;
    p.state = "queued";
    delete p.error;
    this.flush();
    this.changed();
  }

  discard(clientId: string): void {
    this.pending.delete(clientId);
    this.saveOutbox();
    this.changed();
  }

  /** The sends of a chat still on their way, oldest first. */
  pendingSends(chatId: string): PendingCommand[] {
    return [...this.pending.values()].filter((p) => p.command.type === "send" && p.command.chat_id === chatId);
  }

  private enqueue(command: Command): string {
    this.pending.set(command.client_id, {
      command,
      state: "queued",
      sentAt: 0,
      createdAt: new Date().toISOString(),
    });
    this.saveOutbox();
    this.flush();
    this.changed();
    return command.client_id;
  }

  /** Send every queued command, oldest first. */
  private flush(): void {
    for (const p of this.pending.values()) {
      if (p.state !== "queued") continue;
      if (!this.send(p.command)) return;
      p.state = "sent";
      p.sentAt = Date.now();
    }
  }

  private resendOverdue(): void {
    const limit = this.opts.resendAfterMs ?? 10000;
    const now = Date.now();
    let any = false;
    for (const p of this.pending.values()) {
      if (p.state === "sent" && now - p.sentAt > limit) {
        p.state = "queued";
        any = true;
      }
    }
    if (any) this.flush();
    // Typing indicators run out.
    for (const [chatId, users] of this.typing) {
      for (const [user, until] of users) if (until < now) users.delete(user);
      if (users.size === 0) this.typing.delete(chatId);
    }
  }

  private saveOutbox(): void {
    this.opts.outbox?.save([...this.pending.values()]);
  }

  // --- ephemeral --------------------------------------------------------------------------------

  /** "I am typing", at most every 2 seconds per chat. */
  notifyTyping(chatId: string): void {
    const now = Date.now();
    if (now - (this.typingSentAt.get(chatId) ?? 0) < 2000) return;
    if (this.send({ type: "typing", chat_id: chatId })) this.typingSentAt.set(chatId, now);
  }

  typingIn(chatId: string): string[] {
    const now = Date.now();
    return [...(this.typing.get(chatId) ?? new Map<string, number>())]
      .filter(([, until]) => until > now)
      .map(([user]) => user);
  }

  /** Everything up to the newest known seq of the chat is read. */
  markRead(chatId: string): void {
    const chat = this.chats.get(chatId);
    const timeline = this.timelines.get(chatId);
    const seq = Math.max(chat?.last_seq ?? 0, timeline?.applied ?? 0);
    if (chat === undefined || seq === 0) return;
    if (chat.last_read_seq >= seq && chat.unread_count === 0) return;
    this.chats.set(chatId, { ...chat, last_read_seq: seq, unread_count: 0 });
    this.setRead(chatId, this.userId, seq);
    if (!this.send({ type: "read", chat_id: chatId, seq })) {
      void this.opts.api.markRead(chatId, seq).catch(() => undefined);
    }
    this.changed();
  }

  setRead(chatId: string, userId: string, seq: Seq): void {
    let users = this.reads.get(chatId);
    if (users === undefined) this.reads.set(chatId, (users = new Map()));
    if ((users.get(userId) ?? 0) < seq) users.set(userId, seq);
  }

  /** This device is in use (online) or idle / in the background (away). */
  setStatus(status: "online" | "away"): void {
    if (status === this.status) return;
    this.status = status;
    this.send({ type: "status", status });
  }

  /** The users whose presence this client wants (replaces the previous list). */
  watch(userIds: string[]): void {
    const list = [...new Set(userIds)].filter((id) => id !== this.userId).slice(0, 300).sort();
    if (list.join() === this.watched.join()) return;
    this.watched = list;
    this.send({ type: "watch", user_ids: list });
  }
}
