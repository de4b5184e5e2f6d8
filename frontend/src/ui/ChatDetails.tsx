import { useId, useState } from "react";

import { api } from "../api";
import type { ChatSummary, Member } from "../protocol/types";
import { AuthError } from "../session";
import { errorText, strings } from "../strings";
import { chatTitle } from "./ChatList";
import { useApp } from "./context";
import { Dialog } from "./Dialog";
import { PresenceDot } from "./Presence";
import { openChat } from "./route";
import { UserSearch } from "./UserSearch";

export function ChatDetails({
  chat,
  members,
  onChanged,
  onClose,
}: {
  chat: ChatSummary;
  members: Member[];
  onChanged: () => void;
  onClose: () => void;
}) {
  const { client, me } = useApp();
  const [error, setError] = useState<string | null>(null);
  const titleId = useId();
  const isGroup = chat.kind === "group";
  const manager = isGroup && (chat.role === "owner" || chat.role === "admin");

  async function act(fn: () => Promise<unknown>) {
    setError(null);
    try {
      await fn();
      onChanged();
    } catch (e) {
      setError(errorText(e instanceof AuthError ? e.code : undefined));
    }
  }

  return (
    <Dialog title={chatTitle(chat)} onClose={onClose}>
      {manager && (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            const title = String(new FormData(e.currentTarget).get("title") ?? "").trim();
            if (title) void act(async () => client.upsertChat(await api.rename(chat.id, title)));
          }}
        >
          <label htmlFor={titleId}>{strings.groupTitle}</label>
          <input id={titleId} name="title" defaultValue={chat.title ?? ""} required maxLength={128} />
          <button type="submit" className="secondary small">
            {strings.rename}
          </button>
        </form>
      )}
      <h3>{strings.members(members.length)}</h3>
      <ul className="people">
        {members.map((m) => (
          <li key={m.user_id}>
            <span>
              <PresenceDot userId={m.user_id} /> {m.display_name} <span className="muted">@{m.username}</span>{" "}
              {isGroup && <span className="muted small">({strings.role[m.role]})</span>}
            </span>
            {manager && m.user_id !== me.id && m.role !== "owner" && (chat.role === "owner" || m.role === "member") && (
              <button
                type="button"
                className="secondary small"
                aria-label={`${strings.remove}: ${m.username}`}
                onClick={() => void act(() => api.removeMember(chat.id, m.user_id))}
              >
                {strings.remove}
              </button>
            )}
          </li>
        ))}
      </ul>
      {manager && (
        <>
          <h3>{strings.addMembers}</h3>
          <UserSearch
            exclude={new Set(members.map((m) => m.user_id))}
            actionLabel={strings.add}
            onPick={(u) => void act(() => api.addMembers(chat.id, [u.id]))}
          />
        </>
      )}
      {isGroup && (
        <button
          type="button"
          className="danger"
          onClick={() => {
            if (!window.confirm(strings.confirmLeave)) return;
            void act(async () => {
              await api.leave(chat.id);
              client.removeChat(chat.id);
              onClose();
              openChat(null);
            });
          }}
        >
          {strings.leave}
        </button>
      )}
      {error && (
        <p role="alert" className="form-error">
          {error}
        </p>
      )}
    </Dialog>
  );
}
