// The api service over REST (behind /api), with the session's access token.

import { API_BASE } from "./config";
import type { RestApi } from "./protocol/client";
import type { ChatSummary, Member, MessagePage, PublicProfile, Seq } from "./protocol/types";
import { AuthError, accessToken } from "./session";

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const token = await accessToken(attempt > 0);
    const response = await fetch(`${API_BASE}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && attempt === 0) continue;
    if (!response.ok) {
      let code = `http_${response.status}`;
      let message = response.statusText;
      let details: unknown;
      try {
        const err = (await response.json()) as { error?: { code: string; message: string; details?: unknown } };
        if (err.error) ({ code, message, details } = err.error);
      } catch {
        // not JSON
      }
      throw new AuthError(response.status, code, message, details);
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const api = {
  async chats(): Promise<ChatSummary[]> {
    const all: ChatSummary[] = [];
    let cursor: string | undefined;
    do {
      const page = await request<{ chats: ChatSummary[]; next_cursor: string | null }>(
        "GET",
        `/chats${query({ limit: 100, cursor })}`,
      );
      all.push(...page.chats);
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined && all.length < 1000);
    return all;
  },
  async chat(chatId: string): Promise<ChatSummary | null> {
    try {
      return await request<ChatSummary>("GET", `/chats/${chatId}`);
    } catch (e) {
      if (e instanceof AuthError && e.status === 404) return null;
      throw e;
    }
  },
  messages(chatId: string, q: { before_seq?: Seq; after_seq?: Seq; limit?: number }): Promise<MessagePage> {
    return request("GET", `/chats/${chatId}/messages${query(q)}`);
  },
  async markRead(chatId: string, seq: Seq): Promise<void> {
    await request("POST", `/chats/${chatId}/read`, { seq });
  },
  findUsers(prefix: string): Promise<{ users: PublicProfile[] }> {
    return request("GET", `/users${query({ prefix, limit: 10 })}`);
  },
  me(): Promise<PublicProfile> {
    return request("GET", "/users/me");
  },
  direct(userId: string): Promise<ChatSummary> {
    return request("POST", "/chats/direct", { user_id: userId });
  },
  group(title: string, memberIds: string[]): Promise<ChatSummary> {
    return request("POST", "/chats/groups", { title, member_ids: memberIds });
  },
  rename(chatId: string, title: string): Promise<ChatSummary> {
    return request("PATCH", `/chats/${chatId}`, { title });
  },
  leave(chatId: string): Promise<void> {
    return request("POST", `/chats/${chatId}/leave`);
  },
  members(chatId: string): Promise<{ members: Member[] }> {
    return request("GET", `/chats/${chatId}/members${query({ limit: 200 })}`);
  },
  addMembers(chatId: string, userIds: string[]): Promise<unknown> {
    return request("POST", `/chats/${chatId}/members`, { user_ids: userIds });
  },
  removeMember(chatId: string, userId: string): Promise<void> {
    return request("DELETE", `/chats/${chatId}/members/${userId}`);
  },
} satisfies RestApi & Record<string, unknown>;
