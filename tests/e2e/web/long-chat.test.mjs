// A chat of 100,000 messages in the browser: the newest page opens at the bottom, scrolling up
// loads older pages without moving what is on screen, the DOM holds only the rows in view, and a
// new message still arrives live at the bottom. The chat is seeded by tests/e2e/test_web_client.py
// (PARLEY_LONG_* below).

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";

import { BASE, here, launch } from "./browser.mjs";

const ARTIFACTS = process.env.PARLEY_E2E_ARTIFACTS ?? join(here, "artifacts");
const USER = process.env.PARLEY_LONG_USER;
const PASSWORD = process.env.PARLEY_LONG_PASSWORD;
const CHAT = process.env.PARLEY_LONG_CHAT;
const LAST = Number(process.env.PARLEY_LONG_LAST_SEQ);
const WAIT = 30_000;
mkdirSync(ARTIFACTS, { recursive: true });

let browser;
let page;

before(async () => {
  assert.ok(USER && PASSWORD && CHAT && LAST, "PARLEY_LONG_USER, _PASSWORD, _CHAT, _LAST_SEQ are set");
  browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  page = await context.newPage();
  await page.goto(BASE + "/");
  await page.getByLabel("Username or email").fill(USER);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`Signed in as ${USER}`).waitFor({ timeout: WAIT });
});

after(async () => {
  await browser?.close();
});

const rows = () => page.$$eval(".messages .row", (els) => els.length);
const seqs = () => page.$$eval(".msg[data-seq]", (els) => els.map((el) => Number(el.getAttribute("data-seq"))));

it("opens a chat of 100,000 messages at its newest message with a small DOM", async () => {
  const started = Date.now();
  await page.goto(`${BASE}/#/chat/${CHAT}`);
  await page.locator(`.msg[data-seq="${LAST}"]`).waitFor({ timeout: WAIT });
  console.log(`newest page shown in ${Date.now() - started} ms`);
  const shown = await seqs();
  assert.ok(shown.length > 5 && shown.length < 60, `rows in the DOM: ${shown.length}`);
  assert.deepEqual(shown, shown.map((_, i) => shown[0] + i), "contiguous, ascending");
});

it("scrolls back through older pages without losing its place, the DOM staying small", async () => {
  let maxRows = 0;
  let oldest = Math.min(...(await seqs()));
  const frames = [];
  await page.evaluate(() => {
    window.__frames = [];
    let last = performance.now();
    const tick = (t) => {
      window.__frames.push(t - last);
      last = t;
      window.__raf = requestAnimationFrame(tick);
    };
    window.__raf = requestAnimationFrame(tick);
  });
  for (let round = 0; round < 12; round++) {
    // Scroll to the very top: an older page loads, and the message that was at the top stays
    // where it was on screen (the view is anchored), rather than being pushed down by the page.
    await page.locator('.messages[aria-busy="false"]').waitFor({ timeout: WAIT });
    // Hold the request for the older page until the view at the top has been measured.
    let release;
    const requested = new Promise((resolveRequested) => {
      page.route(/\/api\/chats\/[^/]+\/messages\?.*before_seq=/, async (route) => {
        resolveRequested();
        await new Promise((r) => (release = r));
        await route.continue();
      }, { times: 1 });
    });
    await page.evaluate(() => {
      document.querySelector(".messages").scrollTop = 0;
    });
    await requested;
    // The first row inside the visible box, once the view at the top is rendered.
    const visibleTop = () => {
      const box = document.querySelector(".messages").getBoundingClientRect();
      const el = [...document.querySelectorAll(".msg[data-seq]")].find((e) => {
        const top = e.getBoundingClientRect().top;
        return top >= box.top && top < box.top + box.height / 2;
      });
      return el ? { seq: Number(el.getAttribute("data-seq")), y: el.getBoundingClientRect().top } : null;
    };
    const anchor = await (await page.waitForFunction(visibleTop, undefined, { timeout: WAIT })).jsonValue();
    release();
    await page.waitForFunction((before) => {
      const all = [...document.querySelectorAll(".msg[data-seq]")].map((el) => Number(el.getAttribute("data-seq")));
      return Math.min(...all) < before;
    }, Math.min(oldest, anchor.seq), { timeout: WAIT });
    // The virtualizer re-measures the new rows over a few frames, and on a busy machine a frame
    // can render the window before the anchor was put back; where the view comes to rest counts.
    const anchorBack = ([seq, y]) => {
      const el = [...document.querySelectorAll(".msg[data-seq]")].find((e) => Number(e.getAttribute("data-seq")) === seq);
      window.__anchorTop = el ? el.getBoundingClientRect().top : null;
      return el !== undefined && Math.abs(window.__anchorTop - y) < 200;
    };
    const back = await page
      .waitForFunction(anchorBack, [anchor.seq, anchor.y], { timeout: 5000, polling: "raf" })
      .then(() => true)
      .catch(() => false);
    if (!back) {
      const state = await page.evaluate(() => ({
        scrollTop: document.querySelector(".messages").scrollTop,
        rendered: [...document.querySelectorAll(".msg[data-seq]")].map((e) => [Number(e.getAttribute("data-seq")), Math.round(e.getBoundingClientRect().top)]),
      }));
      console.log("anchor", anchor, "round", round, JSON.stringify(state));
    }
    const after = await page.evaluate(() => window.__anchorTop);
    assert.ok(after !== null, `message ${anchor.seq} is still rendered after the older page`);
    assert.ok(back, `message ${anchor.seq} moved from ${anchor.y} to ${after} and did not come back within 5 s`);
    oldest = Math.min(...(await seqs()));
    maxRows = Math.max(maxRows, await rows());
  }
  frames.push(...(await page.evaluate(() => {
    cancelAnimationFrame(window.__raf);
    return window.__frames;
  })));
  const sorted = frames.slice(5).sort((a, b) => a - b);
  const p95 = sorted[Math.floor(sorted.length * 0.95)] ?? 0;
  console.log(`loaded back to seq ${oldest} (${LAST - oldest + 1} messages); max rows in the DOM ${maxRows}; frame time p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms over ${sorted.length} frames`);
  assert.ok(LAST - oldest + 1 >= 500, `at least 500 messages loaded (got ${LAST - oldest + 1})`);
  assert.ok(maxRows < 80, `the DOM stays small (max ${maxRows} rows)`);
  const shown = await seqs();
  assert.deepEqual(shown, shown.map((_, i) => shown[0] + i), "contiguous, ascending");
  await page.screenshot({ path: join(ARTIFACTS, "long-chat-scrolled.png") });
});

it("jumps back to the newest message and receives a new one live", async () => {
  await page.getByRole("button", { name: "Jump to latest" }).click();
  await page.locator(`.msg[data-seq="${LAST}"]`).waitFor({ timeout: WAIT });
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill("still fast at 100,000");
  await box.press("Enter");
  await page.locator(`.msg[data-seq="${LAST + 1}"]`, { hasText: "still fast at 100,000" }).waitFor({ timeout: WAIT });
  assert.ok((await rows()) < 80);
});
