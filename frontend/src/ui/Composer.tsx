import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";

import type { Seq } from "../protocol/types";
import { strings } from "../strings";
import { useApp } from "./context";

export type ComposerMode = { kind: "new" } | { kind: "reply"; seq: Seq } | { kind: "edit"; seq: Seq; body: string };

const MAX_BODY = 4000;

export function Composer({ chatId, mode, onDone }: { chatId: string; mode: ComposerMode; onDone: () => void }) {
  const { client, directory } = useApp();
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const id = useId();

  useEffect(() => {
    if (mode.kind === "edit") setText(mode.body);
    if (mode.kind !== "new") input.current?.focus();
  }, [mode]);

  function submit() {
    const body = text.trim();
    if (body === "") return;
    if (mode.kind === "edit") client.editMessage(chatId, mode.seq, body);
    else client.sendMessage(chatId, body, mode.kind === "reply" ? mode.seq : undefined);
    setText("");
    onDone();
    input.current?.focus();
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && mode.kind !== "new") {
      event.preventDefault();
      if (mode.kind === "edit") setText("");
      onDone();
    }
  }

  const target = mode.kind === "reply" ? client.timelines.get(chatId)?.get(mode.seq) : undefined;
  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {mode.kind !== "new" && (
        <div className="composer-mode">
          <span>
            {mode.kind === "edit"
              ? strings.editing
              : strings.replyingTo(
                  target === undefined
                    ? "…"
                    : target.senderId === client.userId
                      ? strings.you
                      : (directory.names.get(target.senderId) ?? "…"),
                )}
          </span>
          <button
            type="button"
            className="link"
            onClick={() => {
              if (mode.kind === "edit") setText("");
              onDone();
            }}
          >
            {strings.cancel}
          </button>
        </div>
      )}
      <div className="composer-row">
        <label htmlFor={id} className="sr-only">
          {strings.composerLabel}
        </label>
        <textarea
          id={id}
          ref={input}
          rows={1}
          value={text}
          maxLength={MAX_BODY}
          placeholder={strings.composerPlaceholder}
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value !== "") client.notifyTyping(chatId);
          }}
          onKeyDown={onKeyDown}
        />
        <button type="submit" className="primary" disabled={text.trim() === ""}>
          {mode.kind === "edit" ? strings.save : strings.send}
        </button>
      </div>
    </form>
  );
}
