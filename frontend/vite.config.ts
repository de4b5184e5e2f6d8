import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// In development the browser talks to one origin (this server), which forwards the service
// paths the way the entry point (Envoy) does in a deployment: /auth to auth, /api to the api
// (prefix removed), /ws to the socket. Override the targets with PARLEY_WEB_*_URL. The Host header
// stays the page's (changeOrigin false): auth's CSRF check compares the request's Origin with it.
const env = process.env;
const auth = env.PARLEY_WEB_AUTH_URL ?? "http://127.0.0.1:8001";
const api = env.PARLEY_WEB_API_URL ?? "http://127.0.0.1:8002";
const socket = env.PARLEY_WEB_SOCKET_URL ?? "http://127.0.0.1:8003";
const presence = env.PARLEY_WEB_PRESENCE_URL ?? "http://127.0.0.1:8005";

const proxy = {
  "/auth": { target: auth, changeOrigin: false },
  "/.well-known": { target: auth, changeOrigin: false },
  "/api/presence": { target: presence, changeOrigin: false, rewrite: (path: string) => path.replace(/^\/api/, "") },
  "/api": { target: api, changeOrigin: false, rewrite: (path: string) => path.replace(/^\/api/, "") },
  "/ws": { target: socket, changeOrigin: false, ws: true },
};

export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", proxy },
  preview: { host: "127.0.0.1", proxy },
  build: { target: "es2022", sourcemap: true },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
