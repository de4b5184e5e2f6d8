import { useSyncExternalStore } from "react";

// The open chat lives in the URL's hash (#/chat/<id>), so a reload keeps it and Back works.
function subscribe(listener: () => void): () => void {
  window.addEventListener("hashchange", listener);
  return () => window.removeEventListener("hashchange", listener);
}

function current(): string | null {
  const match = /^#\/chat\/([0-9a-f-]{36})$/.exec(window.location.hash);
  return match?.[1] ?? null;
}

export function useOpenChat(): string | null {
  return useSyncExternalStore(subscribe, current);
}

export function openChat(chatId: string | null): void {
  window.location.hash = chatId === null ? "" : `#/chat/${chatId}`;
}
