// Test 1: the live console, loaded from the running gateway's admin listener
// (http://ADMIN/console/), in headless Chromium: routes from /api/routes, subscribe from several
// start positions, messages published from Node and from a second tab stream into the table,
// key and headers, text/hex, the rate chart, unsubscribe.
//
// PUBSUB_TEST_CONSOLE_FROM_DIST=1 serves console/dist from a test server instead (with
// /api/routes taken from the admin listener): only for working on the console with a gateway
// that does not serve it; the real test is without it.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  HTML,
  JS,
  jwtHS256,
  launchBrowser,
  lib,
  newPage,
  nodeClient,
  readRepo,
  sleep,
  startGateway,
  staticServer,
  uniqueTopic,
} from "./harness.mjs";

const { bytesToHex, toBytes } = lib;

async function consoleUrl(gw, t) {
  if (process.env.PUBSUB_TEST_CONSOLE_FROM_DIST !== "1") return gw.consoleUrl;
  const routes = await (await fetch(`${gw.admin}/api/routes`)).text();
  const s = await staticServer({
    "/console/": { type: HTML, body: () => readRepo("console/dist/index.html") },
    "/console/index.html": { type: HTML, body: () => readRepo("console/dist/index.html") },
    "/console/console.js": { type: JS, body: () => readRepo("console/dist/console.js") },
    "/console/pubsub-client.js": { type: JS, body: () => readRepo("console/dist/pubsub-client.js") },
    "/api/routes": { type: "application/json", body: routes },
  });
  t.after(() => s.close());
  return `${s.origin}/console/`;
}

async function openConsole(browser, url) {
  const page = await newPage(browser);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, {
    timeout: 15000,
  });
  return page;
}

async function subscribe(page, topic, { start = "LATEST", value, partitions } = {}) {
  const before = await page.locator("#subs li").count();
  await page.fill("#sub-topic", topic);
  await page.selectOption("#sub-start", start);
  if (value !== undefined) await page.fill("#sub-value", String(value));
  await page.fill("#sub-partitions", partitions ?? "");
  await page.click("#sub-button");
  await page.locator("#subs li").nth(before).waitFor({ timeout: 10000 });
  assert.match(await page.textContent("#sub-note"), /^subscribed to /);
}

const row = (page, topic, partition, offset) =>
  page.locator(`#messages tbody tr[data-topic="${topic}"][data-partition="${partition}"][data-offset="${offset}"]`);

async function cells(locator) {
  await locator.waitFor({ timeout: 10000 });
  return locator.evaluate((tr) =>
    Object.fromEntries([...tr.cells].map((td) => [td.classList[td.classList.length - 1], td.textContent])),
  );
}

test("console: routes, subscribe, messages from Node and another tab, key, headers, hex, chart, unsubscribe", { timeout: 120000 }, async (t) => {
  const gw = await startGateway({
    routes: [{ uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: 2 } } }],
  });
  t.after(() => gw.stop());
  const url = await consoleUrl(gw, t);

  // The admin listener serves the page, its scripts and the routes.
  for (const [path, type] of [
    ["/console/", /^text\/html/],
    ["/console/index.html", /^text\/html/],
    ["/console/console.js", /javascript/],
    ["/console/pubsub-client.js", /javascript/],
    ["/api/routes", /^application\/json/],
  ]) {
    const r = await fetch(new URL(path, url));
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get("content-type"), type, path);
  }
  const routes = await (await fetch(new URL("/api/routes", url))).json();
  assert.deepEqual(routes, { ws_base: gw.ws, routes: [{ uri: "/embedded", scheme: "embedded" }] });

  const browser = await launchBrowser();
  t.after(() => browser.close());

  const page = await openConsole(browser, url);
  assert.deepEqual(await page.locator("#route option").allTextContents(), ["/embedded (embedded)"]);
  assert.equal(await page.inputValue("#url"), `${gw.ws}/embedded`);

  const topic = uniqueTopic("console");
  const producer = await nodeClient(`${gw.ws}/embedded`);
  t.after(() => producer.close());

  // Messages that exist before subscribing: EARLIEST shows them.
  const before = [];
  for (const v of ["before-1", "before-2", "before-3"]) before.push(await producer.produce(topic, v, { partition: 0 }));
  await subscribe(page, topic, { start: "EARLIEST" });
  for (const [i, r] of before.entries()) {
    const c = await cells(row(page, topic, r.partition, r.offset));
    assert.equal(c.value, `before-${i + 1}`);
  }

  // Published from Node while subscribed, with key and headers.
  const fromNode = await producer.produce(topic, "from node ✓", {
    key: "k-node",
    headers: { source: "node", n: "1" },
    partition: 1,
  });
  let c = await cells(row(page, topic, fromNode.partition, fromNode.offset));
  assert.equal(c.topic, topic);
  assert.equal(c.partition, "1");
  assert.equal(c.offset, String(fromNode.offset));
  assert.equal(c.key, "k-node");
  assert.equal(c.headers, "source=node, n=1");
  assert.equal(c.value, "from node ✓");
  assert.match(c.time, /^\d\d:\d\d:\d\d\.\d{3}$/);

  // Published from a second tab through the console's form.
  const page2 = await openConsole(browser, url);
  await page2.fill("#pub-topic", topic);
  await page2.fill("#pub-key", "user-7");
  await page2.fill("#pub-headers", "trace=abc, kind=chat");
  await page2.fill("#pub-value", "hello from tab 2");
  await page2.click("#pub-button");
  await page2.waitForFunction(() => /^published to /.test(document.getElementById("pub-note").textContent));
  const note = await page2.textContent("#pub-note");
  const [, partition, offset] = note.match(/partition (\d+), offset (\d+)/);
  c = await cells(row(page, topic, partition, offset));
  assert.deepEqual([c.key, c.headers, c.value], ["user-7", "trace=abc, kind=chat", "hello from tab 2"]);

  // Hex and back.
  await page.click("#fmt-hex");
  c = await cells(row(page, topic, partition, offset));
  assert.equal(c.value, bytesToHex(toBytes("hello from tab 2")));
  assert.equal(c.key, "75 73 65 72 2d 37");
  await page.click("#fmt-text");
  c = await cells(row(page, topic, partition, offset));
  assert.equal(c.value, "hello from tab 2");

  // The second tab subscribes from an offset of one partition: only what follows it there.
  await subscribe(page2, topic, { start: "OFFSET", value: 1, partitions: "0" });
  await row(page2, topic, 0, 2).waitFor({ timeout: 10000 });
  await row(page2, topic, 0, 1).waitFor({ timeout: 10000 });
  assert.equal(await row(page2, topic, 0, 0).count(), 0);
  assert.equal(await page2.locator(`#messages tbody tr[data-partition="1"]`).count(), 0);

  // A burst: every message lands in the table and in the rate chart.
  const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.produce(topic, `burst ${i}`)));
  for (const r of burst) await row(page, topic, r.partition, r.offset).waitFor({ timeout: 10000 });
  const total = 3 + 1 + 1 + burst.length;
  assert.equal(await page.locator("#messages tbody tr").count(), total);
  assert.equal(await page.textContent("#msg-count"), `(${total})`);
  const counted = await page.evaluate(
    (topic) => [...globalThis.pubsubConsole.chart.series.get(topic).buckets.values()].reduce((a, b) => a + b, 0),
    topic,
  );
  assert.equal(counted, total);
  // Once the burst's second is complete, the chart draws its line (the first series' colour).
  await sleep(1100);
  const drawn = await page.evaluate(() => {
    const c = document.getElementById("rates");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === 0x2b && d[i + 1] === 0x6c && d[i + 2] === 0xd4) n++;
    return n;
  });
  assert.ok(drawn > 50, `chart line pixels: ${drawn}`);
  assert.match(await page.textContent("#rate-total"), /msg\/s in total/);

  // Unsubscribe: nothing more arrives.
  await page.click("#subs li button");
  await page.locator("#subs li").waitFor({ state: "detached" });
  const after = await producer.produce(topic, "after unsubscribe");
  await sleep(500);
  assert.equal(await row(page, topic, after.partition, after.offset).count(), 0);
  assert.equal(await page.locator("#messages tbody tr").count(), total);

  assert.deepEqual(page.problems, []);
  assert.deepEqual(page2.problems, []);
});

test("console: a token typed in the token field refreshes the open connection past the old token's exp", { timeout: 60000 }, async (t) => {
  const secret = "console-test-secret";
  const gw = await startGateway({
    routes: [{
      uri: "/jwt",
      upstream: { scheme: "embedded" },
      plugins: { "jwt-auth": { algorithm: "HS256", secret, leeway_secs: 0 } },
    }],
  });
  t.after(() => gw.stop());
  const url = await consoleUrl(gw, t);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  // The first automatic connect has no token and is refused.
  const page = await newPage(browser, { ignore: [/WebSocket connection to .* failed/] });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "disconnected", null, {
    timeout: 15000,
  });
  const exp = (s) => Math.floor(Date.now() / 1000) + s;
  await page.fill("#token", await jwtHS256(secret, { sub: "console", exp: exp(3) }));
  await page.click("#connect");
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, {
    timeout: 15000,
  });

  await page.fill("#token", "not-a-token");
  await page.click("#refresh");
  await page.waitForFunction(() => /^401: /.test(document.getElementById("sub-note").textContent), null, {
    timeout: 10000,
  });
  await page.fill("#token", await jwtHS256(secret, { sub: "console", exp: exp(600) }));
  await page.click("#refresh");
  await page.waitForFunction(() => document.getElementById("sub-note").textContent === "token refreshed", null, {
    timeout: 10000,
  });
  // Past the first token's exp, the connection is the same one and still open: the status never
  // changes (a close would show "disconnected", then "reconnecting").
  await page.evaluate(() => {
    window.statusChanges = [];
    new MutationObserver(() => window.statusChanges.push(document.getElementById("status").textContent))
      .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
  });
  await sleep(4500);
  assert.equal(await page.textContent("#status"), "connected");
  assert.deepEqual(await page.evaluate(() => window.statusChanges), []);
  assert.equal(await page.evaluate(() => document.getElementById("sub-note").textContent), "token refreshed");
});
