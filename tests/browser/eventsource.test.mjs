// Chromium's own EventSource against the gateway's Server-Sent Events (README, "HTTP"): a page on
// another origin (CORS) receives messages published by HTTP POST, and when the gateway restarts
// the browser reconnects by itself, sending Last-Event-ID: with embedded storage the stream goes
// on exactly after the last message seen (no gap, no duplicate); without storage (a new log, a
// new epoch) it first gets a `reset` event, then the new log's messages.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HTML, launchBrowser, newPage, startGateway, staticServer, uniqueTopic, waitFor } from "./harness.mjs";

const PAGE = `<!doctype html><title>ready</title><script>
window.events = [];
window.open_ = (url) => {
  const es = new EventSource(url);
  es.onmessage = (e) => window.events.push({ type: "message", id: e.lastEventId, value: JSON.parse(e.data).value });
  es.addEventListener("reset", (e) => window.events.push({ type: "reset" }));
  es.onerror = () => window.events.push({ type: "error" });
  es.onopen = () => window.events.push({ type: "open" });
  window.es = es;
};
</script>`;

async function post(base, topic, value) {
  const r = await fetch(`${base}/embedded/topics/${topic}`, { method: "POST", body: value });
  assert.equal(r.status, 200, await r.text());
}

async function scenario(t, { storage }) {
  const dir = mkdtempSync(join(tmpdir(), "pubsub-browser-sse-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const embedded = storage ? { storage: { path: dir } } : {};
  const gw = await startGateway({
    routes: [{ uri: "/embedded", upstream: { scheme: "embedded", embedded } }],
  });
  t.after(() => gw.stop());
  const base = gw.ws.replace("ws://", "http://");
  const site = await staticServer({ "/": { type: HTML, body: PAGE } });
  t.after(() => site.close());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  // The restart makes EventSource log a failed reconnect.
  const page = await newPage(browser, { ignore: [/event-stream|EventSource|ERR_CONNECTION_REFUSED|net::/] });
  await page.goto(`${site.origin}/`);

  const topic = uniqueTopic("sse");
  await post(base, topic, "a");
  await page.evaluate((url) => window.open_(url), `${base}/embedded/topics/${topic}?start=earliest`);
  await post(base, topic, "b");
  const values = async () =>
    (await page.evaluate(() => window.events)).filter((e) => e.type === "message").map((e) => e.value);
  await waitFor(async () => (await values()).length === 2, { message: "a and b" });
  assert.deepEqual(await values(), ["a", "b"]);

  await gw.restart();
  if (storage) {
    await post(base, topic, "c");
    await waitFor(async () => (await values()).length === 3, { message: "c after the reconnect" });
    assert.deepEqual(await values(), ["a", "b", "c"], "resumed after b: no gap, no duplicate");
  } else {
    await post(base, topic, "fresh-1");
    await post(base, topic, "fresh-2");
    await waitFor(async () => (await values()).length === 4, { message: "the new log's messages" });
    const events = await page.evaluate(() => window.events);
    const types = events.filter((e) => e.type !== "open" && e.type !== "error").map((e) => e.type === "reset" ? "reset" : e.value);
    assert.deepEqual(types, ["a", "b", "reset", "fresh-1", "fresh-2"]);
  }
  const reconnects = (await page.evaluate(() => window.events)).filter((e) => e.type === "open").length;
  assert.ok(reconnects >= 2, "the browser reconnected by itself");
  await page.evaluate(() => window.es.close());
  assert.deepEqual(page.problems, []);
}

test("EventSource resumes exactly after the last message across a restart with embedded storage", { timeout: 60000 }, (t) =>
  scenario(t, { storage: true }));

test("EventSource gets a reset event after a restart without storage (a new epoch)", { timeout: 60000 }, (t) =>
  scenario(t, { storage: false }));
