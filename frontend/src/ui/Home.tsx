import { useEffect, useState } from "react";

import { logout } from "../session";
import { strings } from "../strings";
import { ChatList } from "./ChatList";
import { ChatView } from "./ChatView";
import { useApp, useClientVersion } from "./context";
import { NewChatDialog } from "./NewChatDialog";
import { useOpenChat } from "./route";

export function Home() {
  const { client, me, directory } = useApp();
  useClientVersion(client);
  const open = useOpenChat();
  const [creating, setCreating] = useState(false);
  const [members, setMembers] = useState<string[]>([]);

  const chats = client.chatList();
  for (const c of chats) if (c.peer) directory.learn(c.peer.id, c.peer.display_name);
  const peers = chats.flatMap((c) => (c.peer ? [c.peer.id] : []));
  const watchKey = [...peers, ...members].join();
  useEffect(() => {
    client.watch(watchKey ? watchKey.split(",") : []);
  }, [client, watchKey]);

  return (
    <div className={`layout ${open ? "has-chat" : ""}`}>
      <aside className="sidebar" aria-label={strings.chats}>
        <header className="sidebar-head">
          <h1 className="brand">{strings.appName}</h1>
          <span className={`conn conn-${client.connection}`} role="status">
            <span className="sr-only">{strings.connection[client.connection]}</span>
            <span aria-hidden="true" title={strings.connection[client.connection]} className="conn-dot" />
          </span>
          <button type="button" className="primary small" onClick={() => setCreating(true)}>
            {strings.newChat}
          </button>
        </header>
        {client.connection !== "online" && (
          <p className="banner" role="status">
            {strings.connection[client.connection]}
          </p>
        )}
        <ChatList chats={chats} openId={open} />
        <footer className="sidebar-foot">
          <span className="who">{strings.signedInAs(me.username)}</span>
          <button type="button" className="link" onClick={() => void logout()}>
            {strings.signOut}
          </button>
        </footer>
      </aside>
      <main className="main">
        {open ? (
          <ChatView key={open} chatId={open} onMembers={setMembers} />
        ) : (
          <div className="empty">
            <p>{strings.chooseChat}</p>
          </div>
        )}
      </main>
      {creating && <NewChatDialog onClose={() => setCreating(false)} />}
    </div>
  );
}
