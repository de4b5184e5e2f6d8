// Screenshots for the docs and the client's figures (initial JavaScript, Lighthouse), against a
// running platform. Not a test: run by hand, see docs/web.md.
//
//   PARLEY_WEB_URL=http://127.0.0.1:8080 LIGHTHOUSE=~/.cache/parley/tools/lighthouse \
//     node tests/e2e/web/showcase.mjs [out-dir]
//
// LIGHTHOUSE: a folder where `npm install lighthouse@12` was run (optional: without it only the
// screenshots and the size are made). Lighthouse gets the chat page of a signed-in person: the
// browser profile of the sign-in is reused and its storage kept (--disable-storage-reset).

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

import { ARGS, BASE, CHROMIUM, chromium, frontend, here, launch } from "./browser.mjs";

const OUT = resolve(process.argv[2] ?? join(here, "artifacts", "showcase"));
const PASSWORD = `Tr0ub4dor-${randomBytes(6).toString("hex")}`;
const tag = randomBytes(2).toString("hex");
mkdirSync(OUT, { recursive: true });

const people = {
  maya: `maya.${tag}`,
  jonas: `jonas.${tag}`,
  priya: `priya.${tag}`,
  theo: `theo.${tag}`,
};

async function register(username) {
  const r = await fetch(`${BASE}/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: BASE },
    body: JSON.stringify({ username, email: `${username}@example.test`, password: PASSWORD }),
  });
  if (r.status !== 201) throw new Error(`register ${username}: ${r.status} ${await r.text()}`);
}

async function signIn(page, username) {
  await page.goto(BASE + "/");
  await page.getByLabel("Username or email").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`Signed in as ${username}`).waitFor({ timeout: 30000 });
}

/** REST as the page's signed-in person. */
function rest(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const token = sessionStorage.getItem("parley.access");
      const r = await fetch(`/api${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return r.json();
    },
    [method, path, body],
  );
}

async function say(page, chatId, text) {
  if (!page.url().includes(chatId)) {
    await page.goto(`${BASE}/#/chat/${chatId}`);
  }
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
  await page.locator(".msg[data-seq] .body", { hasText: text }).last().waitFor({ timeout: 30000 });
}

function initialJs() {
  const html = readFileSync(join(frontend, "dist", "index.html"), "utf8");
  const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const data = readFileSync(join(frontend, "dist", f));
    raw += data.length;
    gz += gzipSync(data, { level: 9 }).length;
  }
  return { files, raw, gzip: gz };
}

const browser = await launch();
for (const name of Object.values(people)) await register(name);
const ctx = {};
const page = {};
for (const [who, name] of Object.entries(people)) {
  ctx[who] = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  page[who] = await ctx[who].newPage();
  await signIn(page[who], name);
}
const ids = Object.fromEntries(
  await Promise.all(Object.keys(people).map(async (who) => [who, (await rest(page[who], "GET", "/users/me")).id])),
);
const group = await rest(page.maya, "POST", "/chats/groups", {
  title: "Launch checklist",
  member_ids: [ids.jonas, ids.priya, ids.theo],
});
const dmJonas = await rest(page.maya, "POST", "/chats/direct", { user_id: ids.jonas });
const dmPriya = await rest(page.priya, "POST", "/chats/direct", { user_id: ids.maya });
const dmTheo = await rest(page.theo, "POST", "/chats/direct", { user_id: ids.maya });

await say(page.maya, dmJonas.id, "Lunch at 12:30?");
await say(page.jonas, dmJonas.id, "Sounds good, see you there.");
await say(page.theo, dmTheo.id, "Pushed the fix for the flaky upload test.");
await say(page.maya, group.id, "Morning! Where are we with the release?");
await say(page.jonas, group.id, "Backend is tagged. Migrations ran cleanly on staging.");
await say(page.priya, group.id, "Web client passes the browser tests: offline, reload, a11y.");
await say(page.theo, group.id, "Docs are up to date, screenshots included 📸");
await say(page.maya, group.id, "Great work, everyone. Let's ship it at 3 pm.");
const thumbs = page.jonas.locator(".msg", { hasText: "Let's ship it" });
await thumbs.hover();
await thumbs.getByRole("button", { name: "React with 👍" }).click();
await page.priya.goto(`${BASE}/#/chat/${group.id}`);
const priyaPick = page.priya.locator(".msg", { hasText: "Let's ship it" });
await priyaPick.hover();
await priyaPick.getByRole("button", { name: "React with ❤️" }).click();
await say(page.priya, dmPriya.id, "Can you review my PR when you have a minute?");
await page.maya.goto(`${BASE}/#/chat/${group.id}`);
await page.maya.locator(".reaction", { hasText: "❤️" }).waitFor({ timeout: 30000 });
await page.jonas.goto(`${BASE}/#/chat/${group.id}`);
await page.jonas.getByRole("textbox", { name: "Message" }).pressSequentially("On it", { delay: 80 });
await page.maya.getByText("is typing").waitFor({ timeout: 30000 });
await page.maya.mouse.move(5, 5);
await page.maya.screenshot({ path: join(OUT, "web-chat.png") });

const phone = await browser.newContext({ viewport: { width: 390, height: 720 }, colorScheme: "dark", deviceScaleFactor: 1 });
const phonePage = await phone.newPage();
await signIn(phonePage, people.maya);
await phonePage.getByRole("link", { name: /Launch checklist/ }).waitFor();
await phonePage.screenshot({ path: join(OUT, "web-chat-list-phone-dark.png") });
await browser.close();

const size = initialJs();
const figures = { initial_js: size };

const lhDir = process.env.LIGHTHOUSE;
if (lhDir) {
  // A browser profile signed in as Maya, then Lighthouse on her chat page in that profile.
  const profile = mkdtempSync(join(tmpdir(), "parley-lh-"));
  const persistent = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS });
  const p = persistent.pages()[0] ?? (await persistent.newPage());
  await signIn(p, people.maya);
  await persistent.close();
  const report = join(OUT, "lighthouse.json");
  const cli = join(resolve(lhDir), "node_modules", "lighthouse", "cli", "index.js");
  execFileSync(
    "node",
    [
      cli,
      `${BASE}/#/chat/${group.id}`,
      "--quiet",
      "--only-categories=performance,accessibility",
      "--disable-storage-reset",
      `--chrome-flags=${[...ARGS, `--user-data-dir=${profile}`].join(" ")}`,
      "--output=json",
      `--output-path=${report}`,
    ],
    { env: { ...process.env, CHROME_PATH: CHROMIUM }, stdio: "inherit" },
  );
  const lh = JSON.parse(readFileSync(report, "utf8"));
  figures.lighthouse = {
    url: lh.finalDisplayedUrl,
    performance: Math.round(lh.categories.performance.score * 100),
    accessibility: Math.round(lh.categories.accessibility.score * 100),
    fcp_ms: Math.round(lh.audits["first-contentful-paint"].numericValue),
    lcp_ms: Math.round(lh.audits["largest-contentful-paint"].numericValue),
    tbt_ms: Math.round(lh.audits["total-blocking-time"].numericValue),
    cls: lh.audits["cumulative-layout-shift"].numericValue,
    failed_accessibility_audits: Object.values(lh.audits)
      .filter((a) => lh.categories.accessibility.auditRefs.some((r) => r.id === a.id) && a.score === 0)
      .map((a) => a.id),
  };
  rmSync(profile, { recursive: true, force: true });
}
writeFileSync(join(OUT, "figures.json"), JSON.stringify(figures, null, 2) + "\n");
console.log(JSON.stringify(figures, null, 2));
