// The client library's "gap" event, in Node against the real gateway binary and the real NATS
// server (NATS_URL, default 127.0.0.1:4222): a core NATS route (live: no history) whose
// subscriptions may keep 4 messages waiting (`live_queue_messages: 4`, `slow_consumer: pause`,
// the default). The subscriber stops reading its socket while a producer publishes far more
// than the socket buffers, the gateway's outbound queue and the live queue hold together; the
// gateway then drops the oldest waiting messages and the next push says how many
// (KafkaPush.dropped). The subscription must emit "gap" with that count before the push's
// messages, and every published message must be either delivered (in order, once) or counted.

import { test } from "node:test";
import assert from "node:assert/strict";
import { NATS_URL, lib, nodeClient, sleep, startGateway, uniqueTopic, waitFor } from "./harness.mjs";

const { bytesToText } = lib;

test("a slow subscriber on a core NATS route gets gap events: delivered + lost = published, each gap before the messages after it", { timeout: 120000 }, async (t) => {
  const gw = await startGateway({
    routes: [{ uri: "/nats", upstream: { scheme: "nats", nodes: [NATS_URL] } }],
    server: { limits: { live_queue_messages: 4 } },
  });
  t.after(() => gw.stop());
  const url = `${gw.ws}/nats`;
  const subject = uniqueTopic("gap").replace(/[^A-Za-z0-9_-]/g, "_");

  const sub = await nodeClient(url, { reconnect: false });
  t.after(() => sub.close());
  const producer = await nodeClient(url, { reconnect: false });
  t.after(() => producer.close());
  const errors = [];
  sub.on("error", (e) => errors.push(e.message));

  // What the subscription saw, in order: message indices and gaps.
  const timeline = [];
  const handle = await sub.subscribe(subject, { onGap: (e) => timeline.push({ gap: e }) }, (m) => {
    timeline.push({ i: Number(bytesToText(m.value).split(":")[0]) });
  });
  const delivered = () => timeline.filter((e) => "i" in e).length;
  const lost = () => timeline.reduce((n, e) => n + (e.gap?.count ?? 0), 0);

  // The live subscription exists upstream: message 0 arrives while the socket is read.
  let published = 0;
  await producer.produce(subject, "0:warm-up");
  published += 1;
  await waitFor(() => delivered() === 1, { message: "the warm-up message" });

  // Stop reading: nothing the gateway sends is taken off the socket until resume().
  const socket = sub._ws._socket;
  socket.pause();
  assert.equal(socket.isPaused(), true);
  // 400 x 64 KiB (25 MiB): far more than loopback socket buffers, the gateway's outbound queue
  // (1 MiB) and 4 queued messages hold. Produced one after the other, so NATS keeps their order.
  const padding = "x".repeat(64 * 1024);
  for (let i = 1; i <= 400; i++) {
    await producer.produce(subject, `${i}:${padding}`);
    published += 1;
  }
  assert.equal(socket.isPaused(), true, "nothing resumed the socket while the messages were published");
  socket.resume();

  await waitFor(() => delivered() + lost() === published, {
    timeout: 60000,
    message: `delivered + lost = ${published}`,
  });
  await sleep(300);

  assert.deepEqual(errors, []);
  const gaps = timeline.filter((e) => e.gap);
  t.diagnostic(`${published} published, ${delivered()} delivered, ${lost()} lost in ${gaps.length} gap(s)`);
  assert.ok(gaps.length >= 1, "at least one gap event");
  assert.equal(delivered() + lost(), published);
  assert.equal(handle.dropped, lost());
  for (const { gap } of gaps) {
    assert.ok(Number.isSafeInteger(gap.count) && gap.count > 0, `a positive count: ${JSON.stringify(gap)}`);
    assert.equal(gap.subscriptionId, handle.id);
  }
  // In order, once each, and every gap's count is exactly the run of indices missing after it.
  let next = 0;
  for (const e of timeline) {
    if (e.gap) next += e.gap.count;
    else {
      assert.equal(e.i, next, `message ${e.i} where ${next} was due (timeline: ${JSON.stringify(timeline.slice(0, 40))}...)`);
      next += 1;
    }
  }
  assert.equal(next, published);
  // The gap came before messages: the last event is a message.
  assert.ok("i" in timeline.at(-1), "a gap is followed by the push's messages");
});
