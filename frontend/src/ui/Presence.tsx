import { strings } from "../strings";
import { useApp } from "./context";

export function PresenceDot({ userId }: { userId: string }) {
  const { client } = useApp();
  const status = client.presence.get(userId)?.status ?? "offline";
  return (
    <span className={`dot dot-${status}`} role="img" aria-label={strings.presence[status]} title={strings.presence[status]} />
  );
}
