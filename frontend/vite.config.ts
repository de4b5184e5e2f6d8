import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// In development the browser talks to one origin (this server), which forwards the service
// paths the way the entry point (Envoy) does in a deployment: /auth to auth, /api to the api
// (prefix removed), /ws to the socket. Override the targets with PARLEY_WEB_*_URL.
const env = process.env;
const auth = env.PARLEY_WEB_AUTH_URL ?? "http://127.0.0.1:8001";
const api = env.PARLEY_WEB_API_URL ?? "http://127.0.0.1:8002";
const socket = env.PARLEY_WEB_SOCKET_URL ?? "http://127.0.0.1:8003";

const proxy = {
  "/auth": { target: auth, changeOrigin: true },
  "/.well-known": { target: auth, changeOrigin: true },
  "/api": { target: api, changeOrigin: true, rewrite: (path: string) => path.replace(/^\/api/, "") },
  "/ws": { target: socket, changeOrigin: true, ws: true },
};

export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", proxy },
  preview: { host: "127.0.0.1", proxy },
  build: { target: "es2022", sourcemap: true },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
