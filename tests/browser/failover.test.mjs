// The client library's failover between gateway replicas, in Node against the real gateway
// binary: connect([urlA, urlB]) connects to A; when A goes away the client reconnects to B
// (round robin over the list) and resumes its subscriptions there by topic, partition, offset and
// epoch. Two gateway processes serve one JetStream stream of the real NATS server (NATS_URL,
// default 127.0.0.1:4222), so positions name the same messages on both: the subscriber must get
// every message once, in order, across the failover. And a client given a dead URL first
// connects to the next one.

import { test } from "node:test";
import assert from "node:assert/strict";
import { NATS_URL, freePort, lib, natsRequest, nodeClient, sleep, startGateway, uniqueTopic, waitFor } from "./harness.mjs";

const { bytesToText, PubSubError } = lib;

test("a client given two gateways on one JetStream stream fails over from the one that stops to the other and resumes without gap or duplicate", { timeout: 120000 }, async (t) => {
  const id = `${process.pid}_${Date.now().toString(36)}`;
  const stream = `FAILOVER_${id}`;
  const prefix = `FAILOVER_${id}`;
  const route = {
    uri: "/js",
    upstream: {
      scheme: "nats",
      nodes: [NATS_URL],
      // An hour at most, should the deletion below not happen.
      nats: { stream, create_stream: { subjects: [`${prefix}.>`], max_age_secs: 3600 } },
    },
  };
  const gwA = await startGateway({ routes: [route] });
  t.after(() => gwA.stop());
  const gwB = await startGateway({ routes: [route] });
  t.after(() => gwB.stop());
  t.after(async () => {
    const r = await natsRequest(`$JS.API.STREAM.DELETE.${stream}`);
    assert.equal(r.success, true, `stream ${stream} deleted: ${JSON.stringify(r)}`);
  });
  const urlA = `${gwA.ws}/js`;
  const urlB = `${gwB.ws}/js`;
  const subject = `${prefix}.orders`;

  const client = await nodeClient([urlA, urlB], { reconnect: { initialDelayMs: 100, maxDelayMs: 500 } });
  t.after(() => client.close());
  assert.deepEqual(client.urls, [urlA, urlB]);
  assert.equal(client.url, urlA, "connected to the first URL");
  assert.equal((await client.routeInfo()).scheme, "nats-jetstream");
  const errors = [];
  const events = [];
  client.on("error", (e) => errors.push(e.message));
  client.on("close", () => events.push(`close ${client.url}`));
  client.on("reconnecting", ({ url }) => events.push(`reconnecting to ${url}`));
  client.on("reconnect", () => events.push(`reconnect ${client.url}`));

  const got = [];
  const resets = [];
  const sub = await client.subscribe(subject, { start: "EARLIEST", onReset: (e) => resets.push(e) }, (m) =>
    got.push({ value: bytesToText(m.value), offset: m.offset, epoch: m.epoch }),
  );

  // Messages 1-5 published through B by another client; the subscriber reads them through A.
  const producer = await nodeClient(urlB);
  t.after(() => producer.close());
  for (let i = 1; i <= 5; i++) await producer.produce(subject, String(i));
  await waitFor(() => got.length === 5, { message: "messages 1-5 through A" });

  // A goes away. 6 and 7 are published while the subscriber is between gateways, 8-10 once it
  // has resubscribed on B.
  await gwA.stop();
  for (let i = 6; i <= 7; i++) await producer.produce(subject, String(i));
  await waitFor(() => client.connected && sub.resubscriptions === 1, { timeout: 30000, message: "the resubscription on B" });
  assert.equal(client.url, urlB, "reconnected to the second URL");
  for (let i = 8; i <= 10; i++) await producer.produce(subject, String(i));
  await waitFor(() => got.length >= 10, { timeout: 30000, message: "messages 6-10 through B" });
  await sleep(500);

  t.diagnostic(`events: ${events.join(", ")}`);
  assert.deepEqual(errors, []);
  assert.deepEqual(resets, [], "the same stream on both gateways: no reset");
  assert.deepEqual(got.map((m) => m.value), ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
  // Stream sequences, consecutive, in the one epoch (the stream's) both gateways report.
  const first = got[0].offset;
  assert.deepEqual(got.map((m) => m.offset), got.map((_, i) => first + i));
  assert.equal(new Set(got.map((m) => m.epoch)).size, 1);
  assert.notEqual(got[0].epoch, "0");
  assert.equal(client.connections, 2);
  assert.deepEqual(events, [`close ${urlA}`, `reconnecting to ${urlB}`, `reconnect ${urlB}`]);
});

test("a client given a dead URL first connects to the next one; with only dead URLs, connect rejects naming each", { timeout: 60000 }, async (t) => {
  const gw = await startGateway({ routes: [{ uri: "/e", upstream: { scheme: "embedded" } }] });
  t.after(() => gw.stop());
  // Free ports with nothing listening.
  const dead = `ws://127.0.0.1:${await freePort()}/e`;
  const dead2 = `ws://127.0.0.1:${await freePort()}/e`;
  const live = `${gw.ws}/e`;

  const client = await nodeClient([dead, live], { reconnect: { initialDelayMs: 100, maxDelayMs: 500 } });
  t.after(() => client.close());
  assert.equal(client.url, live);
  assert.deepEqual(client.urls, [dead, live]);
  assert.equal(client.connections, 1);
  const topic = uniqueTopic("failover");
  assert.deepEqual(await client.produce(topic, "x"), { partition: 0, offset: 0 });

  // Without a reconnect option, and with a token (sent on every URL).
  await assert.rejects(
    nodeClient([dead, dead2], { reconnect: false, token: "t" }),
    (e) => {
      assert.ok(e instanceof PubSubError, String(e));
      assert.equal(e.code, 0);
      assert.equal(e.reason, "connect");
      assert.match(e.message, /^cannot connect to any of 2 URLs: /);
      assert.ok(e.message.includes(`${dead}?token=t: `) && e.message.includes(`${dead2}?token=t: `), e.message);
      return true;
    },
  );
  // One URL: the message as before.
  await assert.rejects(nodeClient(dead), (e) => e.reason === "connect" && e.message.startsWith(`cannot connect to ${dead}: `));
});
