import type { ChatSummary } from "../protocol/types";
import { strings } from "../strings";
import { useApp } from "./context";
import { PresenceDot } from "./Presence";
import { openChat } from "./route";

export function chatTitle(chat: ChatSummary): string {
  return chat.kind === "direct" ? (chat.peer?.display_name ?? "…") : (chat.title ?? strings.group);
}

export function ChatList({ chats, openId }: { chats: ChatSummary[]; openId: string | null }) {
  const { client, me, directory } = useApp();
  if (client.chatsLoaded && chats.length === 0) return <p className="muted pad">{strings.noChats}</p>;
  return (
    <nav aria-label={strings.chatListLabel} className="chat-list">
      <ul>
        {chats.map((chat) => {
          const last = chat.last_message;
          const who =
            last === null
              ? ""
              : last.sender_id === me.id
                ? `${strings.you}: `
                : chat.kind === "group" && directory.names.has(last.sender_id)
                  ? `${directory.names.get(last.sender_id)}: `
                  : "";
          const preview = last === null ? strings.noMessagesYet : last.deleted ? strings.deletedMessage : who + last.body;
          const unread = chat.id === openId ? 0 : chat.unread_count;
          return (
            <li key={chat.id}>
              <a
                href={`#/chat/${chat.id}`}
                className={`chat-item ${chat.id === openId ? "active" : ""}`}
                aria-current={chat.id === openId ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  openChat(chat.id);
                }}
              >
                <span className="avatar" aria-hidden="true">
                  {chatTitle(chat).slice(0, 1).toUpperCase()}
                  {chat.peer && <PresenceDot userId={chat.peer.id} />}
                </span>
                <span className="chat-text">
                  <span className="chat-title">
                    <span className="title-text">{chatTitle(chat)}</span>
                    <time dateTime={chat.last_activity_at}>{strings.time(chat.last_activity_at)}</time>
                  </span>
                  <span className="chat-preview">
                    <span className="preview-text">{preview}</span>
                    {unread > 0 && (
                      <span className="badge">
                        <span aria-hidden="true">{strings.unreadBadge(unread)}</span>
                        <span className="sr-only">{strings.unread(unread)}</span>
                      </span>
                    )}
                  </span>
                </span>
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
