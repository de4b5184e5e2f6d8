import { useEffect, useMemo, useState, useSyncExternalStore } from "react";

import { api } from "../api";
import { socketUrl } from "../config";
import { ParleyClient, type OutboxStore, type PendingCommand, type SocketLike } from "../protocol/client";
import { accessToken, currentAccount, onSessionChange, resume, type Account } from "../session";
import { strings } from "../strings";
import { AuthScreen } from "./AuthScreen";
import { Ctx, type AppContext, type Directory } from "./context";
import { Home } from "./Home";

function outbox(userId: string): OutboxStore {
  const key = `parley.outbox.${userId}`;
  return {
    load: () => {
      try {
        return JSON.parse(localStorage.getItem(key) ?? "[]") as PendingCommand[];
      } catch {
        return [];
      }
    },
    save: (pending) => localStorage.setItem(key, JSON.stringify(pending)),
  };
}

export function App() {
  const [checked, setChecked] = useState(false);
  const account = useSyncExternalStore(onSessionChange, currentAccount);

  useEffect(() => {
    void resume().finally(() => setChecked(true));
  }, []);

  if (!checked) {
    return (
      <main className="splash" aria-busy="true">
        <h1>{strings.appName}</h1>
      </main>
    );
  }
  if (account === null) return <AuthScreen />;
  return <SignedIn key={account.id} account={account} />;
}

function SignedIn({ account }: { account: Account }) {
  const context = useMemo<AppContext>(() => {
    const client = new ParleyClient({
      url: socketUrl(),
      userId: account.id,
      connect: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
      token: (fresh) => accessToken(fresh),
      api,
      outbox: outbox(account.id),
      environment: window,
    });
    const names = new Map<string, string>([[account.id, account.username]]);
    const directory: Directory = {
      names,
      learn: (id, name) => {
        if (names.get(id) !== name) names.set(id, name);
      },
    };
    return { client, me: account, directory };
  }, [account]);

  useEffect(() => {
    const { client } = context;
    client.start();
    const visibility = () => {
      client.setStatus(document.visibilityState === "visible" ? "online" : "away");
    };
    document.addEventListener("visibilitychange", visibility);
    return () => {
      document.removeEventListener("visibilitychange", visibility);
      client.stop();
    };
  }, [context]);

  return (
    <Ctx.Provider value={context}>
      <Home />
    </Ctx.Provider>
  );
}
