import { useEffect, useId, useState } from "react";

import { api } from "../api";
import type { PublicProfile } from "../protocol/types";
import { strings } from "../strings";
import { useApp } from "./context";

/** Find people by username prefix; `onPick` gets the one chosen. */
export function UserSearch({ onPick, exclude, actionLabel }: { onPick: (u: PublicProfile) => void; exclude: Set<string>; actionLabel: string }) {
  const { directory } = useApp();
  const [prefix, setPrefix] = useState("");
  const [found, setFound] = useState<PublicProfile[] | null>(null);
  const id = useId();

  useEffect(() => {
    const query = prefix.trim();
    if (query === "") {
      setFound(null);
      return;
    }
    const timer = setTimeout(() => {
      api
        .findUsers(query)
        .then(({ users }) => {
          for (const u of users) directory.learn(u.id, u.display_name);
          setFound(users);
        })
        .catch(() => setFound([]));
    }, 200);
    return () => clearTimeout(timer);
  }, [prefix, directory]);

  const shown = (found ?? []).filter((u) => !exclude.has(u.id));
  return (
    <div className="user-search">
      <label htmlFor={id}>{strings.findPeople}</label>
      <input id={id} type="search" value={prefix} onChange={(e) => setPrefix(e.target.value)} autoComplete="off" />
      {found !== null && (
        <ul className="people" aria-live="polite">
          {shown.length === 0 && <li className="muted">{strings.noOneFound}</li>}
          {shown.map((u) => (
            <li key={u.id}>
              <span>
                {u.display_name} <span className="muted">@{u.username}</span>
              </span>
              <button type="button" className="secondary small" onClick={() => onPick(u)} aria-label={`${actionLabel}: ${u.username}`}>
                {actionLabel}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
