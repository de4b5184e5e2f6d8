import { createContext, useContext, useSyncExternalStore } from "react";

import type { ParleyClient } from "../protocol/client";
import type { Account } from "../session";

export interface Directory {
  /** Display names we know, by user id (peers, members of opened chats, search results). */
  names: Map<string, string>;
  learn(id: string, name: string): void;
}

export interface AppContext {
  client: ParleyClient;
  me: Account;
  directory: Directory;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(Ctx);
  if (ctx === null) throw new Error("no client");
  return ctx;
}

/** Re-render on every change of the client's state. */
export function useClientVersion(client: ParleyClient): number {
  return useSyncExternalStore(client.subscribe, client.getVersion);
}
