// What the browser scripts share (chat.test.mjs, long-chat.test.mjs, showcase.mjs): the client's
// own dev dependencies (npm ci in frontend/), the origin, and Debian's Chromium with its flags.
// Environment: PARLEY_WEB_URL (the one origin), CHROMIUM (default /usr/bin/chromium).

import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const frontend = resolve(here, "../../../frontend");
// The browser driver and axe come from the client's own dev dependencies.
export const require = createRequire(join(frontend, "package.json"));
export const { chromium } = require("playwright-core");

export const BASE = (process.env.PARLEY_WEB_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Chromium as the scripts drive it; playwright-core gives it a fresh, temporary user-data-dir. */
export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
