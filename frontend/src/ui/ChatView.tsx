import { useCallback, useEffect, useState } from "react";

import { api } from "../api";
import type { Member, Seq } from "../protocol/types";
import { errorText, strings } from "../strings";
import { ChatDetails } from "./ChatDetails";
import { chatTitle } from "./ChatList";
import { Composer, type ComposerMode } from "./Composer";
import { useApp, useClientVersion } from "./context";
import { MessageList } from "./MessageList";
import { PresenceDot } from "./Presence";
import { openChat } from "./route";

export function ChatView({ chatId, onMembers }: { chatId: string; onMembers: (ids: string[]) => void }) {
  const { client, directory } = useApp();
  useClientVersion(client);
  const [failed, setFailed] = useState<string | null>(null);
  const [members, setMembers] = useState<Member[]>([]);
  const [mode, setMode] = useState<ComposerMode>({ kind: "new" });
  const [details, setDetails] = useState(false);
  const chat = client.chats.get(chatId);
  const timeline = client.timelines.get(chatId);
  const memberCount = chat?.member_count ?? 0;

  useEffect(() => {
    client.setActiveChat(chatId);
    client.openChat(chatId).catch((e: { code?: string }) => setFailed(errorText(e.code)));
    return () => client.setActiveChat(null);
  }, [client, chatId]);

  const loadMembers = useCallback(() => {
    api
      .members(chatId)
      .then(({ members: list }) => {
        for (const m of list) {
          directory.learn(m.user_id, m.display_name);
          client.setRead(chatId, m.user_id, m.last_read_seq);
        }
        setMembers(list);
        onMembers(list.map((m) => m.user_id));
      })
      .catch(() => undefined);
  }, [client, directory, chatId, onMembers]);

  // Members again whenever the count changes (someone added or removed, live).
  useEffect(() => {
    loadMembers();
  }, [loadMembers, memberCount]);
  useEffect(() => () => onMembers([]), [onMembers]);

  if (chat === undefined) {
    return (
      <section className="chat" aria-label={strings.chooseChat}>
        <p className="muted pad">{client.chatsLoaded ? strings.errors.not_a_member : strings.working}</p>
      </section>
    );
  }

  const title = chatTitle(chat);
  const typingNames = client.typingIn(chatId).map((id) => directory.names.get(id) ?? "…");

  return (
    <section className="chat" aria-label={title}>
      <header className="chat-head">
        <button type="button" className="icon back" onClick={() => openChat(null)} aria-label={strings.back}>
          <span aria-hidden="true">←</span>
        </button>
        <div className="chat-head-text">
          <h2>
            {title} {chat.peer && <PresenceDot userId={chat.peer.id} />}
          </h2>
          <p className="muted small">
            {chat.kind === "group"
              ? strings.members(chat.member_count)
              : strings.presence[client.presence.get(chat.peer?.id ?? "")?.status ?? "offline"]}
          </p>
        </div>
        <button type="button" className="secondary small" onClick={() => setDetails(true)}>
          {strings.chatDetails}
        </button>
      </header>
      {failed && (
        <p role="alert" className="form-error pad">
          {failed}
        </p>
      )}
      {timeline?.loaded ? (
        <MessageList
          chat={chat}
          timeline={timeline}
          version={timeline.version}
          onReply={(seq: Seq) => setMode({ kind: "reply", seq })}
          onEdit={(seq: Seq, body: string) => setMode({ kind: "edit", seq, body })}
        />
      ) : (
        <div className="messages" aria-busy="true" />
      )}
      <p className="typing" aria-live="polite">
        {typingNames.length > 0 ? strings.typing(typingNames) : ""}
      </p>
      <Composer chatId={chatId} mode={mode} onDone={() => setMode({ kind: "new" })} />
      {details && (
        <ChatDetails
          chat={chat}
          members={members}
          onChanged={loadMembers}
          onClose={() => setDetails(false)}
        />
      )}
    </section>
  );
}
