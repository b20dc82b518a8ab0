// Test 2: the client library from a plain <script type="module"> page (the committed dist
// bundle, no bundler) in headless Chromium, against the real gateway: every command, errors,
// subscriptions from every start position, header filters, topic patterns, groups and commits,
// reconnect with resubscription (no gaps, no duplicates), and tokens (?token= and the
// bearer.<token> subprotocol, with the gateway selecting `pubsub`).
//
// The embedded route always; the Kafka route too when KAFKA_BOOTSTRAP names a broker (then it
// must work: nothing is skipped).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BUNDLE,
  HTML,
  JS,
  createKafkaTopics,
  jwtHS256,
  launchBrowser,
  newPage,
  repo,
  require,
  startGateway,
  staticServer,
  uniqueTopic,
} from "./harness.mjs";

const KAFKA = process.env.KAFKA_BOOTSTRAP || "";
const PARTITIONS = 3;
const JWT_SECRET = "browser-test-secret";

const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
const pos = (list) => list.map((m) => [m.partition, m.offset]);

test("pubsub-client from a plain module script", { timeout: 600000 }, async (t) => {
  const routes = [
    { uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: PARTITIONS } } },
    {
      uri: "/jwt",
      upstream: { scheme: "embedded" },
      plugins: { "jwt-auth": { algorithm: "HS256", secret: JWT_SECRET } },
    },
    {
      // The query parameter is not `token` here: only the bearer.<token> subprotocol can carry it.
      uri: "/jwt-subprotocol",
      upstream: { scheme: "embedded" },
      plugins: { "jwt-auth": { algorithm: "HS256", secret: JWT_SECRET, query: "not_token" } },
    },
    {
      // No clock-skew leeway: a token's exp closes the connection on time.
      uri: "/jwt-short",
      upstream: { scheme: "embedded" },
      plugins: { "jwt-auth": { algorithm: "HS256", secret: JWT_SECRET, leeway_secs: 0 } },
    },
  ];
  if (KAFKA) {
    routes.push({
      uri: "/kafka",
      upstream: {
        scheme: "kafka",
        nodes: { [KAFKA]: 1 },
        timeout: { connect: 3, send: 5, read: 5 },
        metadata_refresh_secs: 0.5,
      },
      // Kafka routes refuse consumer groups without an allow-list.
      plugins: { "topic-acl": { groups: [".*"] } },
    });
  }
  const gw = await startGateway({ routes });
  t.after(() => gw.stop());

  const site = await staticServer({
    "/": { type: HTML, body: readFileSync(join(repo, "tests/browser/fixtures/library.html")) },
    "/pubsub-client.js": { type: JS, body: readFileSync(BUNDLE) },
  });
  t.after(() => site.close());

  const browser = await launchBrowser();
  t.after(() => browser.close());
  // Refused handshakes and dropped sockets are logged by Chromium as console errors.
  const page = await newPage(browser, { ignore: [/WebSocket connection to .* failed/] });
  await page.goto(`${site.origin}/`);
  await page.waitForFunction(() => document.title === "ready");

  const schemes = [{ name: "embedded", url: `${gw.ws}/embedded` }];
  if (KAFKA) schemes.push({ name: "kafka", url: `${gw.ws}/kafka` });
  else t.diagnostic("KAFKA_BOOTSTRAP is not set: the Kafka route is not tested");

  for (const { name, url } of schemes) {
    // Fresh topics; Kafka needs them created (the embedded broker creates topics on first use).
    const create = async (names) => {
      if (name === "kafka") await createKafkaTopics(KAFKA, names, PARTITIONS);
      return names;
    };
    const topics = (...prefixes) => create(prefixes.map((p) => uniqueTopic(`${name}-${p}`)));

    await t.test(`${name}: requests, replies and errors`, async () => {
      const [topic] = await topics("req");
      const r = await page.evaluate(async ({ url, topic }) => {
        const { connect, bytesToText, PubSubError } = lib;
        const c = await connect(url);
        const out = { protocol: c.protocol };
        out.pong = bytesToText(await c.ping("state-1"));
        const base = Date.now() - 100000;
        out.base = base;
        out.produced = [];
        for (let i = 0; i < 5; i++) {
          out.produced.push(
            await c.produce(topic, `v${i}`, { key: `k${i}`, headers: { i: String(i) }, partition: 1, timestamp: base + i * 1000 }),
          );
        }
        const bytes = await c.produce(topic, new Uint8Array([0, 255, 1]), { partition: 2 });
        out.meta = await c.metadata(topic);
        out.end = await c.listOffset(topic, 1, -1);
        out.earliest = await c.listOffset(topic, 1, -2);
        out.byTime = await c.listOffset(topic, 1, base + 2500);
        out.fetched = (await c.fetch(topic, 1, 1, { maxMessages: 2 })).map((m) => ({
          topic: m.topic,
          partition: m.partition,
          offset: m.offset,
          timestamp: m.timestamp,
          key: bytesToText(m.key),
          value: bytesToText(m.value),
          headers: m.headers.map((h) => [h.key, bytesToText(h.value)]),
        }));
        out.bytes = Array.from((await c.fetch(topic, 2, bytes.offset))[0].value);
        // A long-polling fetch at the end returns the first message produced meanwhile.
        const waiting = c.fetch(topic, 0, 0, { maxWaitMs: 10000 });
        await h.sleep(300);
        await c.produce(topic, "late", { partition: 0 });
        out.longPoll = (await waiting).map((m) => bytesToText(m.value));
        const err = async (p) => {
          try {
            await p;
            return "no error";
          } catch (e) {
            return { pubsub: e instanceof PubSubError, code: e.code, message: e.message, reason: e.reason };
          }
        };
        out.outOfRange = await err(c.fetch(topic, 1, 999));
        out.badPartition = await err(c.produce(topic, "x", { partition: 99 }));
        out.unknownSubscription = await err(c.unsubscribeId(424242));
        out.unknownTopic = await err(c.metadata(`${topic}-missing`));
        // Pipelined: 50 requests in flight at once, each answered.
        const many = await Promise.all(Array.from({ length: 50 }, (_, i) => c.produce(topic, `p${i}`, { partition: 0 })));
        out.pipelined = many.map((x) => x.offset).sort((a, b) => a - b);
        c.close();
        out.afterClose = await err(c.ping());
        return out;
      }, { url, topic });

      assert.equal(r.protocol, "");
      assert.equal(r.pong, "state-1");
      assert.deepEqual(r.produced, range(0, 5).map((offset) => ({ partition: 1, offset })));
      assert.equal(r.meta.topic, topic);
      assert.deepEqual(
        r.meta.partitions.map((p) => [p.partition, p.earliest, p.latest]),
        [[0, 0, 0], [1, 0, 5], [2, 0, 1]],
      );
      assert.deepEqual([r.end, r.earliest, r.byTime], [5, 0, 3]);
      assert.deepEqual(r.fetched, [1, 2].map((i) => ({
        topic,
        partition: 1,
        offset: i,
        timestamp: r.base + i * 1000,
        key: `k${i}`,
        value: `v${i}`,
        headers: [["i", String(i)]],
      })));
      assert.deepEqual(r.bytes, [0, 255, 1]);
      assert.deepEqual(r.longPoll, ["late"]);
      assert.equal(r.outOfRange.pubsub, true);
      assert.equal(r.outOfRange.code, 416);
      assert.match(r.outOfRange.message, new RegExp(`^failed to fetch message, topic: ${topic}, partition: 1, err: OFFSET_OUT_OF_RANGE`));
      assert.equal(r.badPartition.code, 404);
      assert.match(r.badPartition.message, /UNKNOWN_TOPIC_OR_PARTITION/);
      assert.equal(r.unknownSubscription.code, 404);
      assert.equal(r.unknownTopic.code, 404);
      assert.deepEqual(r.pipelined, range(1, 51));
      assert.deepEqual(r.afterClose, { pubsub: true, code: 0, message: "client closed", reason: "closed" });
    });

    await t.test(`${name}: subscribe from every start position`, async () => {
      const [topic] = await topics("start");
      const r = await page.evaluate(async ({ url, topic }) => {
        const { connect } = lib;
        const c = await connect(url);
        const old = Date.now() - 600000;
        // Partition 0: three old messages then two current ones; partition 1: two current ones.
        for (let i = 0; i < 5; i++) await c.produce(topic, `a${i}`, { partition: 0, timestamp: i < 3 ? old + i * 1000 : 0 });
        for (let i = 0; i < 2; i++) await c.produce(topic, `b${i}`, { partition: 1 });
        const cases = {
          earliest: { start: "EARLIEST" },
          latest: { start: "LATEST" },
          last: { start: "LAST" },
          offset: { start: "OFFSET", startValue: 3, partitions: [0] },
          timestamp: { start: "TIMESTAMP", startValue: old + 1500, partitions: [0] },
          timeDelta: { start: "TIME_DELTA", startValue: 60000, partitions: [0] },
          partition1: { start: "EARLIEST", partitions: [1] },
        };
        const got = {};
        for (const [name, o] of Object.entries(cases)) {
          const col = h.collector();
          got[name] = col.got;
          await c.subscribe(topic, o, col.on);
        }
        // Live messages, one per partition.
        for (let p = 0; p < 3; p++) await c.produce(topic, `live${p}`, { partition: p });
        const want = { earliest: 10, latest: 3, last: 5, offset: 3, timestamp: 4, timeDelta: 3, partition1: 3 };
        await h.waitFor(() => Object.entries(want).every(([k, n]) => got[k].length >= n), "every subscription's messages");
        await h.sleep(300);
        c.close();
        return got;
      }, { url, topic });

      const sorted = (l) => pos(l).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      assert.deepEqual(sorted(r.earliest), [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [1, 0], [1, 1], [1, 2], [2, 0]]);
      assert.deepEqual(sorted(r.latest), [[0, 5], [1, 2], [2, 0]]);
      assert.deepEqual(sorted(r.last), [[0, 4], [0, 5], [1, 1], [1, 2], [2, 0]]);
      assert.deepEqual(pos(r.offset), [[0, 3], [0, 4], [0, 5]]);
      assert.deepEqual(pos(r.timestamp), [[0, 2], [0, 3], [0, 4], [0, 5]]);
      assert.deepEqual(pos(r.timeDelta), [[0, 3], [0, 4], [0, 5]]);
      assert.deepEqual(pos(r.partition1), [[1, 0], [1, 1], [1, 2]]);
      assert.deepEqual(r.offset.map((m) => m.value), ["a3", "a4", "live0"]);
      for (const m of r.earliest) assert.equal(m.topic, topic);
    });

    await t.test(`${name}: header filters, topic patterns, groups and commits, unsubscribe`, async () => {
      const [hTopic, gTopic, uTopic] = await topics("hdr", "grp", "unsub");
      const patternBase = uniqueTopic(`${name}-pat`);
      const [pa, pb, pc] = await create(["a", "b", "c"].map((x) => `${patternBase}-${x}`));
      const pattern = `${patternBase.replace(/[.]/g, "\\.")}-[ab]`;
      const r = await page.evaluate(async ({ url, hTopic, gTopic, uTopic, pa, pb, pc, pattern, group }) => {
        const { connect } = lib;
        const c = await connect(url);
        const out = {};

        // match_headers
        const red = h.collector();
        await c.subscribe(hTopic, { start: "EARLIEST", matchHeaders: { color: "red" } }, red.on);
        for (let i = 0; i < 6; i++) {
          await c.produce(hTopic, `h${i}`, { headers: [["color", i % 2 ? "blue" : "red"], ["n", String(i)]] });
        }
        await h.waitFor(() => red.got.length >= 3, "red messages");

        // topic_pattern: a matching topic with a message already, one written later, one not matching
        await c.produce(pa, "in a");
        const pat = h.collector();
        await c.subscribe(null, { topicPattern: pattern, start: "EARLIEST" }, pat.on);
        await h.waitFor(() => pat.got.length >= 1, "the pattern's existing topic");
        await c.produce(pb, "in b");
        await c.produce(pc, "in c");
        await h.waitFor(() => pat.got.length >= 2, "the pattern's later topic", 30000);

        // groups: a member commits what it read; the next member of the group resumes there
        for (let i = 0; i < 6; i++) await c.produce(gTopic, `g${i}`);
        const m1 = h.collector();
        const s1 = await c.subscribe(gTopic, { start: "EARLIEST", group }, m1.on);
        await h.waitFor(() => m1.got.length >= 6, "the first member's messages", 30000);
        const next = {};
        for (const m of m1.got) next[m.partition] = Math.max(next[m.partition] ?? 0, m.offset + 1);
        await s1.commit(Object.entries(next).map(([partition, offset]) => ({ partition: Number(partition), offset })));
        await s1.unsubscribe();
        for (let i = 6; i < 9; i++) await c.produce(gTopic, `g${i}`);
        const c2 = await connect(url);
        const m2 = h.collector();
        await c2.subscribe(gTopic, { start: "EARLIEST", group }, m2.on);
        await h.waitFor(() => m2.got.length >= 3, "the second member's messages", 30000);

        // unsubscribe
        const u = h.collector();
        const us = await c.subscribe(uTopic, { start: "LATEST" }, u.on);
        await c.produce(uTopic, "u0");
        await h.waitFor(() => u.got.length >= 1, "before unsubscribing");
        await us.unsubscribe();
        await c.produce(uTopic, "u1");

        await h.sleep(500);
        out.red = red.got.map((m) => [m.value, m.headers.color]).sort();
        out.pattern = pat.got.map((m) => [m.topic, m.value]);
        out.group1 = m1.got.map((m) => m.value).sort();
        out.group2 = m2.got.map((m) => m.value).sort();
        out.unsubscribed = u.got.map((m) => m.value);
        c.close();
        c2.close();
        return out;
      }, { url, hTopic, gTopic, uTopic, pa, pb, pc, pattern, group: uniqueTopic(`${name}-group`) });

      assert.deepEqual(r.red, [["h0", "red"], ["h2", "red"], ["h4", "red"]]);
      assert.deepEqual(r.pattern, [[pa, "in a"], [pb, "in b"]]);
      assert.deepEqual(r.group1, range(0, 6).map((i) => `g${i}`));
      assert.deepEqual(r.group2, ["g6", "g7", "g8"]);
      assert.deepEqual(r.unsubscribed, ["u0"]);
    });

    await t.test(`${name}: reconnect resubscribes from the last delivered offset, no gaps, no duplicates`, async () => {
      const [topic, latestTopic] = await topics("reconnect", "reconnect-latest");
      const r = await page.evaluate(async ({ url, topic, latestTopic }) => {
        const { connect } = lib;
        const producer = await connect(url);
        const consumer = await connect(url, { reconnect: { initialDelayMs: 300, maxDelayMs: 1000 } });
        const events = [];
        consumer.on("reconnecting", () => events.push("reconnecting"));
        consumer.on("reconnect", () => events.push("reconnect"));
        consumer.on("error", (e) => events.push(`error: ${e.message}`));

        // EARLIEST on a busy topic.
        const all = h.collector();
        const sub = await consumer.subscribe(topic, { start: "EARLIEST" }, all.on);
        // LATEST on a topic with history, where partitions 1 and 2 deliver nothing before the
        // drop: they must resume where LATEST put them, not at the end of the log.
        for (let p = 0; p < 3; p++) for (let i = 0; i < 2; i++) await producer.produce(latestTopic, `old${p}${i}`, { partition: p });
        const latest = h.collector();
        const latestSub = await consumer.subscribe(latestTopic, { start: "LATEST" }, latest.on);
        for (let i = 0; i < 3; i++) await producer.produce(latestTopic, `new0${i}`, { partition: 0 });

        const produced = {}; // partition -> count
        let n = 0;
        const produce = async () => {
          const r = await producer.produce(topic, `m${n++}`);
          produced[r.partition] = Math.max(produced[r.partition] ?? 0, r.offset + 1);
        };
        for (let i = 0; i < 30; i++) await produce();
        await h.waitFor(() => all.got.length >= 10 && latest.got.length >= 3, "deliveries before the drop");

        // Keep producing while the consumer's connection is dropped three times.
        let stop = false;
        const background = (async () => {
          while (!stop) {
            await produce();
            await h.sleep(3);
          }
        })();
        for (let round = 1; round <= 3; round++) {
          await h.sleep(150);
          if (!consumer.simulateDisconnect()) throw new Error("no connection to drop");
          if (round === 1) {
            // While the consumer is away: the LATEST subscription's silent partitions get messages.
            for (let p = 0; p < 3; p++) await producer.produce(latestTopic, `away${p}`, { partition: p });
          }
          await h.waitFor(() => consumer.connected && sub.resubscriptions === round && latestSub.resubscriptions === round, `resubscription ${round}`);
        }
        await h.sleep(200);
        stop = true;
        await background;
        const total = Object.values(produced).reduce((a, b) => a + b, 0);
        await h.waitFor(() => all.got.length >= total, `all ${total} messages`, 30000);
        await h.waitFor(() => latest.got.length >= 6, "the LATEST subscription's messages", 30000);
        await h.sleep(500); // nothing more may come: no duplicates
        const byPartition = (got) => {
          const o = {};
          for (const m of got) (o[m.partition] ??= []).push(m.offset);
          return o;
        };
        const out = {
          produced,
          total,
          got: byPartition(all.got),
          count: all.got.length,
          latest: byPartition(latest.got),
          latestValues: latest.got.map((m) => m.value).sort(),
          connections: consumer.connections,
          events,
          ids: sub.ids.length,
        };
        producer.close();
        consumer.close();
        return out;
      }, { url, topic, latestTopic });

      assert.deepEqual(r.events.filter((e) => e.startsWith("error")), []);
      assert.equal(r.connections, 4);
      assert.equal(r.events.filter((e) => e === "reconnect").length, 3);
      assert.ok(r.total > 40, `produced ${r.total}`);
      assert.equal(r.count, r.total);
      for (const [p, n] of Object.entries(r.produced)) {
        assert.deepEqual(r.got[p], range(0, n), `partition ${p}: every offset once, in order`);
      }
      assert.deepEqual(r.latest, { 0: [2, 3, 4, 5], 1: [2], 2: [2] });
      assert.deepEqual(r.latestValues, ["away0", "away1", "away2", "new00", "new01", "new02"]);
      assert.ok(r.ids >= 1);
    });
  }

  await t.test("token: ?token= and a bearer.<token> subprotocol; the gateway selects pubsub", async () => {
    // What the browser sends, recorded by a WebSocket server of the test's own.
    const { WebSocketServer } = require("ws");
    const seen = [];
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => (protocols.has("pubsub") ? "pubsub" : false),
    });
    wss.on("connection", (ws, req) => seen.push({ url: req.url, protocol: req.headers["sec-websocket-protocol"] }));
    await new Promise((r) => wss.once("listening", r));
    t.after(() => new Promise((r) => wss.close(r)));
    const token = await jwtHS256(JWT_SECRET, { sub: "browser-test", exp: Math.floor(Date.now() / 1000) + 3600 });
    const recorded = await page.evaluate(async ({ url, token }) => {
      const c = await lib.connect(url, { token, protocols: ["x-extra"] });
      const out = { protocol: c.protocol, url: c.url };
      c.close();
      return out;
    }, { url: `ws://127.0.0.1:${wss.address().port}/some/route`, token });
    assert.deepEqual(seen, [{
      url: `/some/route?token=${token}`,
      protocol: `pubsub, bearer.${token}, x-extra`,
    }]);
    assert.equal(recorded.protocol, "pubsub");

    // The gateway: a jwt-auth route accepts the token through either, and selects pubsub.
    const r = await page.evaluate(async ({ ws, token }) => {
      const { connect, bytesToText } = lib;
      const out = {};
      for (const path of ["/jwt", "/jwt-subprotocol"]) {
        const c = await connect(`${ws}${path}`, { token });
        out[path] = { protocol: c.protocol, pong: bytesToText(await c.ping("t")) };
        c.close();
      }
      for (const [name, o] of [["none", {}], ["wrong", { token: token.slice(0, -4) + "AAAA" }]]) {
        try {
          await connect(`${ws}/jwt`, { ...o, reconnect: false });
          out[name] = "connected";
        } catch (e) {
          out[name] = { code: e.code, reason: e.reason };
        }
      }
      return out;
    }, { ws: gw.ws, token });
    assert.deepEqual(r, {
      "/jwt": { protocol: "pubsub", pong: "t" },
      "/jwt-subprotocol": { protocol: "pubsub", pong: "t" },
      none: { code: 0, reason: "connect" },
      wrong: { code: 0, reason: "connect" },
    });
  });

  await t.test("tokens: refreshEvery() keeps a JWT connection past its exp, with the new token's ACL; without it the gateway closes it with 1008 'token expired' and the client ends instead of reconnecting", async () => {
    const exp = (s) => Math.floor(Date.now() / 1000) + s;
    const first = await jwtHS256(JWT_SECRET, { sub: "browser-test", exp: exp(2) });
    const second = await jwtHS256(JWT_SECRET, { sub: "browser-test", exp: exp(5) });
    const fresh = await jwtHS256(JWT_SECRET, { sub: "browser-test", exp: exp(600), acl: { write: ["refreshed-.*"] } });
    const r = await page.evaluate(async ({ ws, first, second, fresh }) => {
      const { connect } = lib;
      const out = {};
      // With reconnects on (the default): a token expiry is final for a client that does not
      // refresh, so it ends instead of reconnecting with the expired token.
      const expiring = await connect(`${ws}/jwt-short`, { token: first });
      const events = [];
      for (const e of ["close", "ended", "reconnecting"]) expiring.on(e, (arg) => events.push([e, arg]));
      await new Promise((resolve) => expiring.on("ended", resolve));
      out.closed = events;
      out.finalState = { timer: expiring._reconnectTimer, connected: expiring.connected };
      try {
        await expiring.ping("after");
        out.after = "answered";
      } catch (e) {
        out.after = e.reason;
      }
      out.table = [
        lib.finalClose(1008, "token expired"),
        lib.finalClose(1008, "token expired", true),
        lib.finalClose(1008, "slow consumer"),
        lib.finalClose(1001, "route removed"),
        lib.finalClose(1001, "server shutting down"),
        lib.finalClose(1012, "upstream changed"),
      ];
      const c = await connect(`${ws}/jwt-short`, { token: second });
      try {
        await c.refresh("garbage");
        out.bad = "accepted";
      } catch (e) {
        out.bad = e.code;
      }
      let calls = 0;
      const stop = c.refreshEvery(300, async () => {
        calls += 1;
        return fresh;
      });
      // Past the second token's exp.
      await new Promise((r) => setTimeout(r, 5500));
      stop();
      out.refreshed = calls > 0;
      out.connections = c.connections;
      out.reconnectsWithFresh = c.url.includes(fresh) && c.protocols.includes(`bearer.${fresh}`);
      try {
        await c.produce("other-topic", "x");
        out.narrowed = "allowed";
      } catch (e) {
        out.narrowed = e.code;
      }
      out.produced = typeof (await c.produce("refreshed-1", "x")).offset;
      c.close();
      return out;
    }, { ws: gw.ws, first, second, fresh });
    assert.deepEqual(r, {
      closed: [
        ["close", { code: 1008, reason: "token expired" }],
        ["ended", { code: 1008, reason: "token expired", why: "token expired" }],
      ],
      finalState: { timer: null, connected: false },
      after: "closed",
      table: ["token expired", null, null, "route removed", null, null],
      bad: 401,
      refreshed: true,
      connections: 1,
      reconnectsWithFresh: true,
      narrowed: 403,
      produced: "number",
    });
  });

  assert.deepEqual(page.problems, []);
});
