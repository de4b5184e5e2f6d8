import { useEffect, useId, useRef, type ReactNode } from "react";

import { strings } from "../strings";

/** A modal dialog on the native <dialog> element: focus is kept inside, Escape closes it. */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={id} onClose={onClose} className="dialog">
      <header className="dialog-head">
        <h2 id={id}>{title}</h2>
        <button type="button" className="icon" onClick={onClose} aria-label={strings.close}>
          <span aria-hidden="true">×</span>
        </button>
      </header>
      {children}
    </dialog>
  );
}
