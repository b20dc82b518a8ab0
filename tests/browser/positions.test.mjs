// Test 3: the client library's view of the scheme-neutral protocol, from a plain module script in
// headless Chromium against the real gateway binary: route_info (scheme and capabilities, cached
// per connection), per-message ack/nack on a plain embedded subscription (ack frees the window, nack refused),
// messages carrying position and epoch, and a resume into a recreated log: the gateway process
// is restarted between a subscription and its resume, and the subscription emits `reset` and
// delivers the new log from offset 0 (before: it resumed at the old log's next offset and
// silently skipped the new log's first messages); a stand-in for an older gateway without
// route_info, with which the client works as before; and, from Node, the reset of a
// subscription that resubscribed before its topic existed again (issue #21, item 3).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BUNDLE,
  HTML,
  JS,
  launchBrowser,
  lib,
  newPage,
  nodeClient,
  repo,
  require,
  sleep,
  startGateway,
  staticServer,
  uniqueTopic,
  waitFor,
} from "./harness.mjs";

const { bytesToText, toBytes } = lib;

const KAFKA = process.env.KAFKA_BOOTSTRAP || "";
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
const ALL_STARTS = ["LATEST", "EARLIEST", "LAST", "OFFSET", "TIMESTAMP", "TIME_DELTA"];
const KAFKA_LIKE = {
  history: true,
  starts: ALL_STARTS,
  fetch: true,
  timeLookup: true,
  offsets: true,
  groups: true,
  ack: true,
  nack: true,
  commit: true,
  wildcards: "regex",
  headers: true,
  keys: true,
  partitions: true,
  stringPositions: false,
};

async function libraryPage(t) {
  const site = await staticServer({
    "/": { type: HTML, body: readFileSync(join(repo, "tests/browser/fixtures/library.html")) },
    "/pubsub-client.js": { type: JS, body: readFileSync(BUNDLE) },
  });
  t.after(() => site.close());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  // Connections refused while the gateway restarts are logged by Chromium as console errors.
  const page = await newPage(browser, { ignore: [/WebSocket connection to .* failed/] });
  await page.goto(`${site.origin}/`);
  await page.waitForFunction(() => document.title === "ready");
  return page;
}

test("routeInfo answers the route's scheme and capabilities, cached per connection; on a plain embedded subscription ack frees the window and nack is refused; messages carry position and epoch", { timeout: 120000 }, async (t) => {
  const routes = [{ uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: 2 } } }];
  if (KAFKA) {
    routes.push({ uri: "/kafka", upstream: { scheme: "kafka", nodes: { [KAFKA]: 1 }, timeout: { connect: 3, send: 5, read: 5 } } });
  } else {
    t.diagnostic("KAFKA_BOOTSTRAP is not set: the Kafka route's route_info is not checked");
  }
  const gw = await startGateway({ routes });
  t.after(() => gw.stop());
  const page = await libraryPage(t);

  const r = await page.evaluate(async ({ ws, topic, kafka }) => {
    const { connect, PubSubError } = lib;
    const err = async (p) => {
      try {
        await p;
        return "no error";
      } catch (e) {
        return { pubsub: e instanceof PubSubError, code: e.code, message: e.message };
      }
    };
    const out = {};
    const c = await connect(`${ws}/embedded`, { reconnect: { initialDelayMs: 100, maxDelayMs: 300 } });
    const first = c.routeInfo();
    out.cachedWhileInFlight = c.routeInfo() === first;
    out.info = await first;
    out.cachedAfter = c.routeInfo() === first;
    c.simulateDisconnect();
    await h.waitFor(() => c.connected, "the reconnect");
    const again = c.routeInfo();
    out.askedAgainAfterReconnect = again !== first;
    out.infoAgain = await again;

    const got = [];
    const sub = await c.subscribe(topic, { start: "EARLIEST" }, (m) => got.push(m));
    await c.produce(topic, "a", { partition: 1 });
    await h.waitFor(() => got.length === 1, "the message");
    const m = got[0];
    out.message = { partition: m.partition, offset: m.offset, position: m.position, epoch: m.epoch, keys: Object.keys(m) };
    out.ackMethods = [typeof m.ack, typeof m.nack];
    out.messageAck = await err(m.ack());
    out.subAck = await err(sub.ack([{ partition: 1, offset: 0 }]));
    out.nack = await err(sub.nack([m], { delayMs: 100 }));
    out.messageNack = await err(m.nack());
    // The connection lives on, and commit (what the route can do instead) works.
    out.commit = await err(sub.commit([{ partition: 1, offset: 1 }]));
    out.positions = sub.positions();
    out.stillConnected = c.connected && c.connections === 2;
    c.close();
    if (kafka) {
      const k = await connect(`${ws}/kafka`);
      out.kafka = await k.routeInfo();
      k.close();
    }
    return out;
  }, { ws: gw.ws, topic: uniqueTopic("info"), kafka: !!KAFKA });

  const embedded = { route: "/embedded", scheme: "embedded", capabilities: { ...KAFKA_LIKE, epochs: true } };
  assert.deepEqual(r.info, embedded);
  assert.deepEqual(r.infoAgain, embedded);
  assert.equal(r.cachedWhileInFlight, true);
  assert.equal(r.cachedAfter, true);
  assert.equal(r.askedAgainAfterReconnect, true);
  if (KAFKA) assert.deepEqual(r.kafka, { route: "/kafka", scheme: "kafka", capabilities: { ...KAFKA_LIKE, epochs: false } });

  assert.equal(r.message.partition, 1);
  assert.equal(r.message.offset, 0);
  assert.equal(r.message.position, "");
  assert.match(r.message.epoch, /^[1-9][0-9]*$/, "the embedded broker sets the epoch (a decimal string)");
  assert.ok(!r.message.keys.includes("ack"), "ack/nack are not enumerable message fields");
  assert.deepEqual(r.ackMethods, ["function", "function"]);
  // A plain subscription: an ack frees the flow-control window, a nack is refused (a plain
  // subscription delivers nothing again; groups redeliver).
  assert.equal(r.messageAck, "no error");
  assert.equal(r.subAck, "no error");
  for (const [name, e] of [["sub.nack()", r.nack], ["message.nack()", r.messageNack]]) {
    assert.equal(e.pubsub, true, name);
    assert.equal(e.code, 400, `${name}: ${JSON.stringify(e)}`);
    assert.match(e.message, /nack needs a group subscription/, name);
  }
  assert.equal(r.commit, "no error");
  assert.deepEqual(r.positions.map(({ partition, offset, position }) => ({ partition, offset, position })), [
    { partition: 1, offset: 1, position: "" },
  ]);
  assert.equal(r.positions[0].epoch, r.message.epoch);
  assert.equal(r.stillConnected, true);
  assert.deepEqual(page.problems, []);
});

test("after the gateway restarts (embedded route: a new log), the resumed subscription emits reset and delivers the new log from offset 0", { timeout: 120000 }, async (t) => {
  const gw = await startGateway({
    routes: [{ uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: 2 } } }],
  });
  t.after(() => gw.stop());
  const page = await libraryPage(t);
  const url = `${gw.ws}/embedded`;
  const topic = uniqueTopic("reset");

  // The old log: p0 offsets 0-4, p1 offsets 0-2, all delivered.
  const before = await page.evaluate(async ({ url, topic }) => {
    const { connect } = lib;
    const c = await connect(url, { reconnect: { initialDelayMs: 100, maxDelayMs: 400 } });
    const s = (window.state = { c, got: [], resets: [], errors: [] });
    c.on("error", (e) => s.errors.push(e.message));
    const col = h.collector();
    s.got = col.got;
    s.sub = await c.subscribe(topic, { start: "EARLIEST" }, col.on);
    s.sub.on("reset", (ev) => s.resets.push({ ...ev, deliveredBefore: s.got.length }));
    // A topic pattern matching the topic resumes it twice: exactly (OFFSET in its epoch) and by
    // the pattern (EARLIEST): one server subscription's reset must not undo the other's.
    const pat = h.collector();
    s.pat = pat.got;
    s.patResets = [];
    s.patSub = await c.subscribe(null, { topicPattern: topic.replace(/[.]/g, "\\."), start: "EARLIEST" }, pat.on);
    s.patSub.on("reset", (ev) => s.patResets.push(ev));
    const p = await connect(url);
    for (let i = 0; i < 5; i++) await p.produce(topic, `old-p0-${i}`, { partition: 0 });
    for (let i = 0; i < 3; i++) await p.produce(topic, `old-p1-${i}`, { partition: 1 });
    p.close();
    await h.waitFor(() => s.got.length === 8 && s.pat.length === 8, "the old log's messages");
    return { got: s.got.map((m) => [m.partition, m.offset, m.epoch]), positions: s.sub.positions() };
  }, { url, topic });
  const oldEpoch = before.got[0][2];
  assert.match(oldEpoch, /^[1-9][0-9]*$/);
  assert.deepEqual(before.got.map(([p, o]) => [p, o]), [...range(0, 5).map((o) => [0, o]), ...range(0, 3).map((o) => [1, o])]);

  // A new gateway process: the embedded broker's logs are new (another epoch), and empty.
  await gw.restart();

  const after = await page.evaluate(async ({ url, topic }) => {
    const { connect } = lib;
    const s = window.state;
    await h.waitFor(() => s.c.connected && s.sub.resubscriptions === 1 && s.patSub.resubscriptions === 1, "the resubscription", 30000);
    // The new log gets more messages than the old one had: offsets 5 and 6 exist in both.
    const p = await connect(url);
    for (let i = 0; i < 7; i++) await p.produce(topic, `new-p0-${i}`, { partition: 0 });
    for (let i = 0; i < 2; i++) await p.produce(topic, `new-p1-${i}`, { partition: 1 });
    await h.waitFor(() => s.got.length >= 8 + 9 && s.pat.length >= 8 + 9, "the new log's messages", 30000);
    await h.sleep(300);
    const resumedNew = s.got.slice(8).map((m) => [m.partition, m.offset, m.value, m.epoch]);
    const resetsAfterRestart = s.resets.length;
    // Position tracking restarted in the new log: a later drop resumes there, with no reset.
    s.c.simulateDisconnect();
    await h.waitFor(() => s.c.connected && s.sub.resubscriptions === 2 && s.patSub.resubscriptions === 2, "the second resubscription", 30000);
    await p.produce(topic, "new-p0-7", { partition: 0 });
    await h.waitFor(() => s.got.length >= 18 && s.pat.length >= 18, "the message after the second drop", 30000);
    await h.sleep(300);
    p.close();
    const out = {
      resumedNew,
      resetsAfterRestart,
      resets: s.resets,
      last: s.got.slice(17).map((m) => [m.partition, m.offset, m.value, m.epoch]),
      total: s.got.length,
      positions: s.sub.positions(),
      resetCount: s.sub.resets,
      errors: s.errors,
      pattern: s.pat.slice(8).map((m) => [m.partition, m.offset, m.value, m.epoch]),
      patResets: s.patResets.flatMap((e) => e.partitions.map((p) => [p.partition, p.previousEpoch, p.epoch])),
    };
    s.c.close();
    return out;
  }, { url, topic });

  assert.deepEqual(after.errors, []);
  const newEpoch = after.resumedNew[0]?.[3];
  assert.ok(newEpoch && newEpoch !== oldEpoch, `a new epoch (old ${oldEpoch}, new ${newEpoch})`);
  // Every message of the new log, from offset 0, each once (sorted per partition: the two
  // partitions' pushes interleave).
  const sorted = (l) => [...l].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.deepEqual(sorted(after.resumedNew), [
    ...range(0, 7).map((o) => [0, o, `new-p0-${o}`, newEpoch]),
    ...range(0, 2).map((o) => [1, o, `new-p1-${o}`, newEpoch]),
  ]);
  // reset: before the new log's first messages, naming both partitions and both epochs.
  assert.ok(after.resetsAfterRestart >= 1, "a reset event");
  assert.equal(after.resetCount, after.resets.length);
  assert.equal(after.resets[0].deliveredBefore, 8, "reset comes before the new log's first message");
  const named = after.resets.flatMap((e) => e.partitions);
  assert.deepEqual([...new Set(named.map((p) => p.partition))].sort(), [0, 1]);
  for (const p of named) {
    assert.equal(p.topic, topic);
    assert.equal(p.previousEpoch, oldEpoch);
    assert.equal(p.epoch, newEpoch);
  }
  // The second drop: resumed in the new log after its last delivered message, no reset.
  assert.equal(after.resets.length, after.resetsAfterRestart);
  assert.deepEqual(after.last, [[0, 7, "new-p0-7", newEpoch]]);
  assert.equal(after.total, 18);
  assert.deepEqual(
    after.positions.map(({ partition, offset, epoch }) => [partition, offset, epoch]).sort((a, b) => a[0] - b[0]),
    [[0, 8, newEpoch], [1, 2, newEpoch]],
  );
  // The pattern subscription: the same, each message once, each partition reset once.
  assert.deepEqual(sorted(after.pattern), sorted([...after.resumedNew, ...after.last]));
  assert.deepEqual(after.patResets.sort(), [[0, oldEpoch, newEpoch], [1, oldEpoch, newEpoch]]);
  assert.deepEqual(page.problems, []);
});

test("against a gateway without route_info (it answers unknown command), subscribe, delivery and the resume work as before", { timeout: 60000 }, async (t) => {
  // A WebSocket server of the test's own standing in for an older gateway: it records the
  // subscribes and pushes two messages to each.
  const { WebSocketServer } = require("ws");
  const { PubSubReq, PubSubResp } = lib.pubsub;
  const subscribes = [];
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  let nextId = 1;
  wss.on("connection", (ws) => {
    ws.on("message", (data) => {
      const req = PubSubReq.decode(new Uint8Array(data));
      const reply = (resp) => ws.send(PubSubResp.encode({ sequence: req.sequence, ...resp }).finish());
      if (req.req === "cmdKafkaSubscribe") {
        const c = req.cmdKafkaSubscribe;
        subscribes.push({ start: c.start, startValue: Number(c.startValue), partitions: c.partitions, startEpoch: String(c.startEpoch) });
        const id = nextId++;
        reply({ kafkaSubscribeResp: { subscriptionId: id } });
        const from = c.start === lib.StartPosition.OFFSET ? Number(c.startValue) : 0;
        const messages = [from, from + 1].map((offset) => ({ topic: c.topic, partition: 0, offset, value: toBytes(`m${offset}`) }));
        ws.send(PubSubResp.encode({ sequence: 0, kafkaPush: { subscriptionId: id, messages } }).finish());
      } else {
        reply({ errorResp: { code: 400, message: "unknown command" } });
      }
    });
  });
  await new Promise((r) => wss.once("listening", r));
  // ws 8 calls back once every connection is gone: end them.
  t.after(() => new Promise((r) => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(r);
  }));

  const c = await nodeClient(`ws://127.0.0.1:${wss.address().port}/old`, { reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
  t.after(() => c.close());
  const got = [];
  const errors = [];
  c.on("error", (e) => errors.push(e.message));
  const sub = await c.subscribe("t", { start: "EARLIEST" }, (m) => got.push([m.offset, m.epoch]));
  await waitFor(() => got.length === 2, { message: "the first pushes" });
  c.simulateDisconnect();
  await waitFor(() => sub.resubscriptions === 1 && got.length === 4, { message: "the resume" });
  await assert.rejects(c.routeInfo(), (e) => e.code === 400 && /unknown command/.test(e.message));
  assert.deepEqual(got, [[0, "0"], [1, "0"], [2, "0"], [3, "0"]]);
  assert.deepEqual(subscribes, [
    { start: lib.StartPosition.EARLIEST, startValue: 0, partitions: [], startEpoch: "0" },
    { start: lib.StartPosition.OFFSET, startValue: 2, partitions: [0], startEpoch: "0" },
  ]);
  assert.deepEqual(errors, []);
});

// Issue #21, item 3 (the reset case), through the client library in Node: an embedded route
// (memory mode, one partition); a subscription has delivered offsets 0-4 of the old log; the
// gateway restarts and the client resubscribes (resuming at offset 5 in the old epoch) while the
// topic does not exist yet in the new process. Only then are 8 messages published: the new log's
// offsets 0-7, of which 5-7 exist in both logs. The subscription must emit one reset before them
// and deliver all 8 once each, in the new epoch, instead of skipping 0-4 or waiting for offset 5.
for (const kind of ["topic", "topicPattern"]) {
  test(`after a restart, a ${kind} subscription that resubscribed before anything was published gets a reset and the new log from offset 0`, { timeout: 90000 }, async (t) => {
    const gw = await startGateway({ routes: [{ uri: "/e", upstream: { scheme: "embedded" } }] });
    t.after(() => gw.stop());
    const url = `${gw.ws}/e`;
    const topic = uniqueTopic("r");

    const client = await nodeClient(url, { reconnect: { initialDelayMs: 100, maxDelayMs: 400 } });
    t.after(() => client.close());
    const errors = [];
    client.on("error", (e) => errors.push(e.message));
    const got = [];
    const resets = [];
    const onMessage = (m) => got.push([m.partition, m.offset, bytesToText(m.value), m.epoch]);
    const onReset = (e) => resets.push({ ...e, deliveredBefore: got.length });
    const sub =
      kind === "topic"
        ? await client.subscribe(topic, { start: "EARLIEST", onReset }, onMessage)
        : await client.subscribe(null, { topicPattern: topic.replace(/[.]/g, "\\."), start: "EARLIEST", onReset }, onMessage);

    const producer = await nodeClient(url);
    for (let i = 0; i < 5; i++) await producer.produce(topic, `old-${i}`);
    producer.close();
    await waitFor(() => got.length === 5, { message: "the old log's offsets 0-4" });
    const oldEpoch = got[0][3];
    assert.match(oldEpoch, /^[1-9][0-9]*$/);
    assert.deepEqual(got, range(0, 5).map((o) => [0, o, `old-${o}`, oldEpoch]));

    await gw.restart();
    // Resubscribed (the gateway answered every resume subscribe) before the topic exists again.
    await waitFor(() => client.connected && sub.resubscriptions === 1, { timeout: 30000, message: "the resubscription" });
    assert.equal(got.length, 5);

    const again = await nodeClient(url);
    t.after(() => again.close());
    for (let i = 0; i < 8; i++) assert.equal((await again.produce(topic, `new-${i}`)).offset, i);
    await waitFor(() => got.length >= 13, { timeout: 30000, message: "the new log's offsets 0-7" });
    await sleep(300);

    assert.deepEqual(errors, []);
    const newEpoch = got[5][3];
    assert.ok(newEpoch !== oldEpoch && /^[1-9][0-9]*$/.test(newEpoch), `a new epoch (old ${oldEpoch}, new ${newEpoch})`);
    assert.deepEqual(got.slice(5), range(0, 8).map((o) => [0, o, `new-${o}`, newEpoch]));
    assert.equal(got.length, 13);
    assert.equal(resets.length, 1, `one reset: ${JSON.stringify(resets)}`);
    assert.equal(sub.resets, 1);
    assert.equal(resets[0].deliveredBefore, 5, "the reset comes before the new log's first message");
    assert.deepEqual(resets[0].partitions, [{ topic, partition: 0, epoch: newEpoch, previousEpoch: oldEpoch }]);
    assert.deepEqual(
      sub.positions().map(({ topic: tp, partition, offset, epoch }) => [tp, partition, offset, epoch]),
      [[topic, 0, 8, newEpoch]],
    );
  });
}
