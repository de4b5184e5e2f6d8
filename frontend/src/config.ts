// Where the services are, as seen from the browser: one origin, routed by path (the entry point
// in a deployment, Vite's proxy in development).
export const AUTH_BASE = "/auth";
export const API_BASE = "/api";

export function socketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss:" : "ws:"}//${host}/ws`;
}
