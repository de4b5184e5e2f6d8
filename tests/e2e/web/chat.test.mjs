// The web client in a real browser (Debian's Chromium driven by playwright-core) against the
// running platform: two people chat, one goes offline and types, a reload keeps the session, a
// third person sees nothing of their chat, and axe-core finds no serious accessibility problem.
//
// Run by tests/e2e/test_web_client.py (`make test`), or by hand:
//   PARLEY_WEB_URL=http://127.0.0.1:8080 node --test tests/e2e/web/
// Environment: PARLEY_WEB_URL (the one origin), CHROMIUM (default /usr/bin/chromium),
// PARLEY_E2E_ARTIFACTS (screenshots; default tests/e2e/web/artifacts).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { BASE, here, launch, require } from "./browser.mjs";

const axe = require("axe-core");

const ARTIFACTS = process.env.PARLEY_E2E_ARTIFACTS ?? join(here, "artifacts");
const WAIT = 30_000; // bounded waits on conditions; the machine is small and shared
const PASSWORD = `Tr0ub4dor-${randomBytes(6).toString("hex")}`;
const run = randomBytes(3).toString("hex");
const names = { alice: `alice_${run}`, bob: `bob_${run}`, carol: `carol_${run}` };

let browser;
const contexts = {};
const pages = {};
let chatId;

mkdirSync(ARTIFACTS, { recursive: true });

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

async function newPerson(who, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 }, ...options });
  contexts[who] = context;
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error(`[${who}] page error:`, err.message));
  pages[who] = page;
  return page;
}

async function registerByApi(username) {
  const response = await fetch(`${BASE}/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: BASE },
    body: JSON.stringify({ username, email: `${username}@example.test`, password: PASSWORD }),
  });
  assert.equal(response.status, 201, `register ${username}: ${await response.text()}`);
}

async function signIn(page, username) {
  await page.goto(BASE + "/");
  await page.getByLabel("Username or email").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Your chats" }).or(page.getByText("No chats yet")).first().waitFor({ timeout: WAIT });
}

/** The stored messages shown, in screen order: [{seq, body}]. */
async function shownMessages(page) {
  return page.$$eval(".msg[data-seq]", (els) =>
    els.map((el) => ({ seq: Number(el.getAttribute("data-seq")), body: el.querySelector(".body")?.textContent ?? "" })),
  );
}

async function waitForBodies(page, bodies) {
  await page.waitForFunction(
    (wanted) => {
      const shown = [...document.querySelectorAll(".msg[data-seq] .body")].map((el) => el.textContent);
      return wanted.every((b) => shown.includes(b)) && document.querySelectorAll(".msg.pending").length === 0;
    },
    bodies,
    { timeout: WAIT },
  );
}

async function send(page, text) {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
}

/** Press Tab (or Shift+Tab) until the focused element passes `test` (bounded). */
async function tabUntil(page, test, arg, { key = "Tab", max = 40 } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    if (await page.evaluate(test, arg)) return;
  }
  throw new Error(`focus never reached the element after ${max} presses of ${key}`);
}

async function axeCheck(page, label) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const summary = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  assert.deepEqual(summary, [], `${label}: axe-core found serious violations`);
  return result.violations.length;
}

before(async () => {
  browser = await launch();
  await registerByApi(names.bob);
  await registerByApi(names.carol);
});

after(async () => {
  await browser?.close();
});

describe("the web client", () => {
  it("registers a new person through the form and signs them in", async () => {
    const page = await newPerson("alice");
    await page.goto(BASE + "/");
    await axeCheck(page, "sign-in page");
    await page.getByRole("button", { name: "New here? Create an account" }).click();
    await page.getByLabel("Username").fill(names.alice);
    await page.getByLabel("Email").fill(`${names.alice}@example.test`);
    await page.getByLabel("Password").fill(PASSWORD);
    await shot(page, "01-register");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByText("No chats yet").waitFor({ timeout: WAIT });
    await page.getByText(`Signed in as ${names.alice}`).waitFor();
  });

  it("starts a direct chat and two people talk, live, both ways", async () => {
    const alice = pages.alice;
    const bob = await newPerson("bob");
    await signIn(bob, names.bob);

    await alice.getByRole("button", { name: "New chat" }).click();
    const dialog = alice.getByRole("dialog", { name: "New chat" });
    await dialog.getByLabel("Find people by username").fill(names.bob);
    await axeCheck(alice, "new chat dialog");
    await dialog.getByRole("button", { name: `Start chat: ${names.bob}` }).click();
    await alice.waitForURL(/#\/chat\//, { timeout: WAIT });
    chatId = alice.url().split("#/chat/")[1];

    await send(alice, "Hi Bob! <b>not bold</b> <img src=x onerror=alert(1)>");
    await waitForBodies(alice, ["Hi Bob! <b>not bold</b> <img src=x onerror=alert(1)>"]);
    // Text, never markup.
    assert.equal(await alice.locator(".msg .body img").count(), 0);
    assert.equal(await alice.locator(".msg .body b").count(), 0);

    // Bob's list shows the new chat with an unread message, live.
    const item = bob.getByRole("link", { name: new RegExp(names.alice) });
    await item.waitFor({ timeout: WAIT });
    await bob.getByText("1 unread").waitFor({ timeout: WAIT });
    await shot(bob, "02-chat-list-unread");
    await axeCheck(bob, "chat list");
    await item.click();
    await waitForBodies(bob, ["Hi Bob! <b>not bold</b> <img src=x onerror=alert(1)>"]);

    // Typing indicator.
    await bob.getByRole("textbox", { name: "Message" }).pressSequentially("Hel", { delay: 50 });
    await alice.getByText(`${names.bob} is typing…`).waitFor({ timeout: WAIT });
    await bob.getByRole("textbox", { name: "Message" }).fill("");

    await send(bob, "Hello Alice.");
    await send(alice, "How are you?");
    const both = ["Hello Alice.", "How are you?"];
    await waitForBodies(alice, both);
    await waitForBodies(bob, both);
    // Read marker: Bob has the chat open, so Alice's latest message shows as seen.
    await alice.getByText("Seen").last().waitFor({ timeout: WAIT });
    await axeCheck(alice, "a chat");
  });

  it("reacts, replies, edits and deletes, and the other side sees each change", async () => {
    const { alice, bob } = pages;
    const bobsMessage = alice.locator(".msg", { hasText: "Hello Alice." });
    await bobsMessage.hover();
    await bobsMessage.getByRole("button", { name: "React with 👍" }).click();
    await bob.locator(".msg", { hasText: "Hello Alice." }).getByRole("button", { name: /👍 1/ }).waitFor({ timeout: WAIT });

    await bobsMessage.hover();
    await bobsMessage.getByRole("button", { name: "Reply" }).click();
    await alice.getByText(`Replying to ${names.bob}`).waitFor();
    await send(alice, "Replying to you.");
    await bob.locator(".msg", { hasText: "Replying to you." }).locator(".quote", { hasText: "Hello Alice." }).waitFor({ timeout: WAIT });

    const mine = alice.locator(".msg", { hasText: "How are you?" });
    await mine.hover();
    await mine.getByRole("button", { name: "Edit" }).click();
    const box = alice.getByRole("textbox", { name: "Message" });
    await box.fill("How are you doing?");
    await box.press("Enter");
    await bob.locator(".msg", { hasText: "How are you doing?" }).getByText("edited").waitFor({ timeout: WAIT });

    alice.once("dialog", (d) => d.accept());
    const reply = alice.locator(".msg", { hasText: "Replying to you." });
    await reply.hover();
    await reply.getByRole("button", { name: "Delete" }).click();
    await bob.locator(".msg.deleted").getByText("Message deleted").waitFor({ timeout: WAIT });
  });

  it("sends what is typed offline once, in order, when the connection is back", async () => {
    const { alice, bob } = pages;
    await contexts.bob.setOffline(true);
    await bob.getByRole("status").getByText("Offline", { exact: false }).first().waitFor({ timeout: WAIT });
    const offline = ["offline one", "offline two", "offline three"];
    for (const text of offline) await send(bob, text);
    // Shown at once as pending, not sent.
    await bob.locator(".msg.pending").nth(2).waitFor();
    assert.equal(await bob.locator(".msg.pending").count(), 3);
    await shot(bob, "03-offline-pending");
    // Meanwhile Alice talks.
    await send(alice, "Are you there?");
    await waitForBodies(alice, ["Are you there?"]);
    await contexts.bob.setOffline(false);

    const all = [...offline, "Are you there?"];
    await waitForBodies(bob, all);
    await waitForBodies(alice, all);
    const seenByBob = await shownMessages(bob);
    const seenByAlice = await shownMessages(alice);
    for (const list of [seenByBob, seenByAlice]) {
      const seqs = list.map((m) => m.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in seq order");
      assert.equal(new Set(seqs).size, seqs.length, "each seq once");
      for (const text of all) assert.equal(list.filter((m) => m.body === text).length, 1, `"${text}" exactly once`);
      const order = list.map((m) => m.body).filter((b) => offline.includes(b));
      assert.deepEqual(order, offline, "offline messages in the order typed");
    }
    // Both sides show the same history.
    assert.deepEqual(seenByAlice, seenByBob);
    await shot(alice, "04-chat-after-offline");
  });

  it("works with the keyboard alone", async () => {
    const alice = pages.alice;
    await alice.goto(`${BASE}/`);
    await alice.getByText(`Signed in as ${names.alice}`).waitFor({ timeout: WAIT });
    // The "New chat" dialog opens with Enter and closes with Escape, focus going back.
    await tabUntil(alice, () => document.activeElement?.textContent === "New chat");
    await alice.keyboard.press("Enter");
    await alice.getByRole("dialog", { name: "New chat" }).waitFor();
    await alice.keyboard.press("Escape");
    await alice.getByRole("dialog").waitFor({ state: "detached" });
    assert.equal(await alice.evaluate(() => document.activeElement?.textContent), "New chat");
    // Open the chat from the list, write and send. The list loads after the page: tabbing before it
    // is there walks past where it will be.
    await alice.locator("a.chat-item").first().waitFor({ timeout: WAIT });
    await tabUntil(alice, () => document.activeElement?.matches("a.chat-item") ?? false);
    await alice.keyboard.press("Enter");
    await alice.waitForURL(/#\/chat\//, { timeout: WAIT });
    await tabUntil(alice, () => document.activeElement?.tagName === "TEXTAREA");
    await alice.keyboard.type("typed with the keyboard");
    await alice.keyboard.press("Enter");
    await waitForBodies(alice, ["typed with the keyboard"]);
    await waitForBodies(pages.bob, ["typed with the keyboard"]);
    // Back into the messages: the newest message's actions show on focus; react with Enter.
    await tabUntil(
      alice,
      () => {
        const el = document.activeElement;
        return el?.getAttribute("aria-label") === "React with 👍" && el.closest(".msg")?.textContent?.includes("typed with the keyboard");
      },
      undefined,
      { key: "Shift+Tab", max: 12 },
    );
    assert.ok(await alice.locator(".msg", { hasText: "typed with the keyboard" }).locator(".actions").isVisible());
    await alice.keyboard.press("Enter");
    await pages.bob.locator(".msg", { hasText: "typed with the keyboard" }).getByRole("button", { name: /👍 1/ }).waitFor({ timeout: WAIT });
  });

  it("keeps the session across a reload and in a new tab, the refresh token out of script's reach", async () => {
    const bob = pages.bob;
    await bob.reload();
    await bob.getByText(`Signed in as ${names.bob}`).waitFor({ timeout: WAIT });
    await waitForBodies(bob, ["offline three", "Are you there?"]);
    assert.ok(bob.url().includes(chatId));
    // A new tab has no access token of its own (sessionStorage is per tab): it signs in silently
    // with the refresh-token cookie.
    const tab = await contexts.bob.newPage();
    await tab.goto(`${BASE}/#/chat/${chatId}`);
    await tab.getByText(`Signed in as ${names.bob}`).waitFor({ timeout: WAIT });
    await waitForBodies(tab, ["Are you there?"]);
    const visible = await tab.evaluate(() => ({ cookies: document.cookie, local: JSON.stringify(localStorage) }));
    assert.ok(!visible.cookies.includes("parley_refresh"), "the refresh cookie is HttpOnly");
    assert.ok(!/refresh/i.test(visible.local), "no refresh token in localStorage");
    const cookies = await contexts.bob.cookies();
    const refresh = cookies.find((c) => c.name === "parley_refresh");
    assert.ok(refresh, "a refresh-token cookie is set");
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.sameSite, "Strict");
    assert.equal(refresh.path, "/auth/refresh");
    await tab.close();
  });

  it("shows a third person nothing of a chat they are not in", async () => {
    const carol = await newPerson("carol");
    await signIn(carol, names.carol);
    await carol.getByText("No chats yet").waitFor({ timeout: WAIT });
    await carol.goto(`${BASE}/#/chat/${chatId}`);
    await carol.getByText("You are not a member of this chat.").waitFor({ timeout: WAIT });
    assert.equal(await carol.locator(".msg").count(), 0);
    const body = await carol.content();
    assert.ok(!body.includes("Are you there?"));
    // And the api refuses her directly.
    const status = await carol.evaluate(async (id) => {
      const token = sessionStorage.getItem("parley.access");
      const r = await fetch(`/api/chats/${id}/messages`, { headers: { Authorization: `Bearer ${token}` } });
      return r.status;
    }, chatId);
    assert.equal(status, 404);
  });

  it("works at phone width and in dark mode without serious accessibility problems", async () => {
    const phone = await newPerson("phone", { viewport: { width: 390, height: 760 }, colorScheme: "dark" });
    await signIn(phone, names.alice);
    await shot(phone, "05-phone-dark-list");
    await axeCheck(phone, "phone, dark, chat list");
    await phone.getByRole("link", { name: new RegExp(names.bob) }).click();
    await waitForBodies(phone, ["Are you there?"]);
    await shot(phone, "06-phone-dark-chat");
    await axeCheck(phone, "phone, dark, a chat");
    await phone.getByRole("button", { name: "Back to chats" }).click();
    await phone.getByRole("navigation", { name: "Your chats" }).waitFor();
  });

  it("signs out", async () => {
    const bob = pages.bob;
    await bob.getByRole("button", { name: "Sign out" }).click();
    await bob.getByRole("button", { name: "Sign in" }).waitFor({ timeout: WAIT });
    await bob.reload();
    await bob.getByRole("button", { name: "Sign in" }).waitFor({ timeout: WAIT });
  });
});
