// Takes docs/console.png: the console, loaded from a running gateway's admin listener in headless
// Chromium, with two subscriptions, messages in the table and a few seconds of rates in the chart.
//
//   cargo build && node tests/browser/screenshot.mjs [output.png]
//
// Not a test (node --test runs *.test.mjs only). PUBSUB_TEST_CONSOLE_FROM_DIST=1 works as in
// console.test.mjs.

import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  HTML,
  JS,
  launchBrowser,
  newPage,
  nodeClient,
  readRepo,
  repo,
  sleep,
  startGateway,
  staticServer,
} from "./harness.mjs";

const out = process.argv[2] ?? join(repo, "docs/console.png");
const gw = await startGateway({
  routes: [{ uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: 3 } } }],
});
const cleanup = [() => gw.stop()];
try {
  let url = gw.consoleUrl;
  if (process.env.PUBSUB_TEST_CONSOLE_FROM_DIST === "1") {
    const routes = await (await fetch(`${gw.admin}/api/routes`)).text();
    const s = await staticServer({
      "/console/": { type: HTML, body: readRepo("console/dist/index.html") },
      "/console/console.js": { type: JS, body: readRepo("console/dist/console.js") },
      "/console/pubsub-client.js": { type: JS, body: readRepo("clients/js/dist/pubsub-client.js") },
      "/api/routes": { type: "application/json", body: routes },
    });
    cleanup.push(() => s.close());
    url = `${s.origin}/console/`;
  }
  const producer = await nodeClient(`${gw.ws}/embedded`);
  cleanup.push(() => producer.close());
  const users = ["ada", "grace", "linus", "margaret", "ken"];
  const lines = ["hi all", "deploy is green", "who broke the build?", "lunch at 12?", "ack", "PR #42 ready for review"];
  for (let i = 0; i < 6; i++) {
    await producer.produce("chat", lines[i], { key: users[i % users.length], headers: { room: "general" } });
  }

  const browser = await launchBrowser();
  cleanup.push(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await newPage(context);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected");
  for (const [topic, start] of [["chat", "EARLIEST"], ["orders", "LATEST"]]) {
    await page.fill("#sub-topic", topic);
    await page.selectOption("#sub-start", start);
    await page.click("#sub-button");
    await page.waitForFunction((t) => document.getElementById("sub-note").textContent.startsWith(`subscribed to ${t}`), topic);
  }

  // About 35 seconds of traffic at changing rates.
  let order = 1000;
  for (let s = 0; s < 35; s++) {
    const orders = Math.round(6 + 5 * Math.sin(s / 3 + 1));
    const chats = s % 4 === 0 ? 3 : 1;
    const sends = [];
    for (let i = 0; i < orders; i++) {
      const id = order++;
      sends.push(
        producer.produce("orders", JSON.stringify({ id, sku: `SKU-${(id * 7) % 97}`, qty: (id % 3) + 1 }), {
          key: `order-${id}`,
          headers: { source: "shop", v: "2" },
        }),
      );
    }
    for (let i = 0; i < chats; i++) {
      sends.push(producer.produce("chat", lines[(s + i) % lines.length], { key: users[(s + i) % users.length], headers: { room: "general" } }));
    }
    await Promise.all(sends);
    if (s === 33) {
      await page.fill("#pub-topic", "chat");
      await page.fill("#pub-key", "ada");
      await page.fill("#pub-headers", "room=general, lang=en");
      await page.fill("#pub-value", "shipping the console today");
      await page.click("#pub-button");
      await page.waitForFunction(() => document.getElementById("pub-note").textContent.startsWith("published"));
    }
    await sleep(1000);
  }

  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  if (page.problems.length) throw new Error(page.problems.join("\n"));
  console.log(`wrote ${out}`);
} finally {
  for (const f of cleanup.reverse()) await f();
}
