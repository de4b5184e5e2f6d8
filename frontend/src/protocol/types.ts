// The wire shapes of Parley's WebSocket protocol (docs/protocol.md) and the REST bodies the
// client reads (docs/api.md). Unknown fields are ignored, as the protocol asks.

export type Seq = number;

export interface MessageCreated {
  seq: Seq;
  sender_id: string;
  client_id: string;
  body: string;
  attachments: string[];
  reply_to_seq: Seq | null;
  created_at: string;
}

interface EventBase {
  v: number;
  chat_id: string;
  seq: Seq;
  actor_id: string;
  at: string;
  command_id: string | null;
}

export type StoredEvent = EventBase &
  (
    | { type: "message.created"; message: MessageCreated }
    | { type: "message.edited"; message_seq: Seq; body: string }
    | { type: "message.deleted"; message_seq: Seq }
    | { type: "reaction.added" | "reaction.removed"; message_seq: Seq; emoji: string; user_id: string }
    | { type: "chat.created"; kind: ChatKind; title: string | null; members: unknown }
    | { type: "chat.renamed"; title: string }
    | { type: "member.added"; user_id: string; role: Role }
    | { type: "member.removed"; user_id: string; reason?: string }
    | { type: "member.role_changed"; user_id: string; role: Role; previous_role?: Role }
  );

export type ChatKind = "direct" | "group";
export type Role = "owner" | "admin" | "member";
export type PresenceStatus = "online" | "away" | "offline";

export interface PresenceEntry {
  user_id: string;
  status: PresenceStatus;
  last_seen: string | null;
  version: number;
}

export interface Hello {
  type: "hello";
  protocol: number;
  connection_id: string;
  user_id: string;
  expires_at: number;
  heartbeat_seconds: number;
  chats: { chat_id: string; last_seq: Seq; last_read_seq: Seq }[];
}

export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  retryable: boolean;
  frame_type?: string;
  client_id?: string;
  chat_id?: string;
  id?: string;
  retry_after_ms?: number;
}

export type ServerFrame =
  | Hello
  | { type: "authenticated"; expires_at: number }
  | { type: "accepted"; client_id: string; chat_id: string; id: string }
  | { type: "event"; event: StoredEvent }
  | { type: "typing"; chat_id: string; user_id: string }
  | { type: "read"; chat_id: string; user_id: string; last_read_seq: Seq }
  | { type: "presence"; users: PresenceEntry[] }
  | { type: "synced"; chats: Record<string, Seq> }
  | { type: "pong"; ref?: string; server_time?: number }
  | ErrorFrame;

export type Command =
  | { type: "send"; chat_id: string; client_id: string; body: string; reply_to_seq?: Seq }
  | { type: "edit"; chat_id: string; client_id: string; message_seq: Seq; body: string }
  | { type: "delete"; chat_id: string; client_id: string; message_seq: Seq }
  | { type: "react"; chat_id: string; client_id: string; message_seq: Seq; emoji: string; action: "add" | "remove" };

// --- REST -------------------------------------------------------------------------------------

export interface PublicProfile {
  id: string;
  username: string;
  display_name: string;
  avatar_attachment_id: string | null;
}

export interface MessagePreview {
  seq: Seq;
  sender_id: string;
  body: string;
  attachment_count: number;
  created_at: string;
  deleted: boolean;
}

export interface ChatSummary {
  id: string;
  kind: ChatKind;
  title: string | null;
  peer: PublicProfile | null;
  member_count: number;
  role: Role;
  last_seq: Seq;
  last_activity_at: string;
  last_message: MessagePreview | null;
  last_read_seq: Seq;
  unread_count: number;
  muted: boolean;
  muted_until: string | null;
}

export interface ReactionCount {
  emoji: string;
  count: number;
  me: boolean;
}

export interface MessageOut {
  seq: Seq;
  sender_id: string;
  client_id: string;
  body: string;
  attachments: string[];
  reply_to_seq: Seq | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  reactions: ReactionCount[];
}

export interface MessagePage {
  messages: MessageOut[];
  changes: StoredEvent[] | null;
  last_seq: Seq;
  next_before_seq: Seq | null;
  next_after_seq: Seq | null;
  has_more: boolean;
}

export interface Member {
  user_id: string;
  username: string;
  display_name: string;
  avatar_attachment_id: string | null;
  role: Role;
  joined_at: string;
  last_read_seq: Seq;
}
