import { useId, useState } from "react";

import { api } from "../api";
import { AuthError } from "../session";
import type { PublicProfile } from "../protocol/types";
import { errorText, strings } from "../strings";
import { useApp } from "./context";
import { Dialog } from "./Dialog";
import { openChat } from "./route";
import { UserSearch } from "./UserSearch";

export function NewChatDialog({ onClose }: { onClose: () => void }) {
  const { client, me } = useApp();
  const [kind, setKind] = useState<"direct" | "group">("direct");
  const [picked, setPicked] = useState<PublicProfile[]>([]);
  const [error, setError] = useState<string | null>(null);
  const titleId = useId();

  async function run(create: () => Promise<import("../protocol/types").ChatSummary>) {
    setError(null);
    try {
      const chat = await create();
      client.upsertChat(chat);
      onClose();
      openChat(chat.id);
    } catch (e) {
      setError(errorText(e instanceof AuthError ? e.code : undefined));
    }
  }

  const exclude = new Set([me.id, ...picked.map((u) => u.id)]);
  return (
    <Dialog title={strings.newChat} onClose={onClose}>
      <div className="tabs" role="radiogroup" aria-label={strings.newChat}>
        {(["direct", "group"] as const).map((k) => (
          <label key={k} className={`tab ${kind === k ? "on" : ""}`}>
            <input type="radio" name="kind" checked={kind === k} onChange={() => setKind(k)} />
            {k === "direct" ? strings.direct : strings.newGroup}
          </label>
        ))}
      </div>
      {kind === "direct" ? (
        <UserSearch exclude={exclude} actionLabel={strings.start} onPick={(u) => void run(() => api.direct(u.id))} />
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const title = String(new FormData(e.currentTarget).get("title") ?? "").trim();
            if (title) void run(() => api.group(title, picked.map((u) => u.id)));
          }}
        >
          <label htmlFor={titleId}>{strings.groupTitle}</label>
          <input id={titleId} name="title" required maxLength={128} />
          {picked.length > 0 && (
            <ul className="chips" aria-label={strings.selected}>
              {picked.map((u) => (
                <li key={u.id}>
                  {u.display_name}
                  <button
                    type="button"
                    className="icon"
                    aria-label={`${strings.remove}: ${u.username}`}
                    onClick={() => setPicked(picked.filter((p) => p.id !== u.id))}
                  >
                    <span aria-hidden="true">×</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
          <UserSearch exclude={exclude} actionLabel={strings.add} onPick={(u) => setPicked([...picked, u])} />
          <button type="submit" className="primary">
            {strings.create}
          </button>
        </form>
      )}
      {error && (
        <p role="alert" className="form-error">
          {error}
        </p>
      )}
    </Dialog>
  );
}
