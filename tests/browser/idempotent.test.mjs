// The JS client's idempotent produce, from Node against the real gateway binary: a produce whose
// reply is lost with its connection (a TCP proxy kills the connection in place of the reply,
// after the gateway stored the message) is sent again after the reconnect with the same
// idempotency key, and the topic holds the message once (issue #25).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect as tcpConnect } from "node:net";
import { nodeClient, startGateway, uniqueTopic, waitFor } from "./harness.mjs";

/** Forwards to `port`; while `killNext` is set, the next bytes from the gateway end both
 * sockets instead of reaching the client. */
async function killingProxy(port) {
  const state = { killNext: false, killed: 0, connections: 0 };
  const server = createServer((client) => {
    state.connections++;
    const upstream = tcpConnect(port, "127.0.0.1");
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      if (state.killNext) {
        state.killNext = false;
        state.killed++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  state.port = server.address().port;
  state.close = () => new Promise((r) => server.close(r));
  return state;
}

test("a produce whose reply is lost with its connection is sent again and stored once", async (t) => {
  const gw = await startGateway({ routes: [{ uri: "/e", upstream: { scheme: "embedded" } }] });
  t.after(() => gw.stop());
  const proxy = await killingProxy(Number(new URL(gw.ws).port));
  t.after(() => proxy.close());
  const c = await nodeClient(`ws://127.0.0.1:${proxy.port}/e`, {
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  t.after(() => c.close());
  const topic = uniqueTopic("idem");
  proxy.killNext = true;
  const r = await c.produce(topic, "once");
  assert.equal(proxy.killed, 1, "the first reply was lost with its connection");
  assert.ok(proxy.connections >= 2, "the client reconnected");
  const stored = await c.fetch(topic, 0, 0);
  assert.deepEqual(
    stored.map((m) => new TextDecoder().decode(m.value)),
    ["once"],
  );
  assert.equal(r.offset, 0);
  // Without the key the resend would have stored it twice: the gateway does store a second
  // produce without one.
  await c.produce(topic, "twice", { idempotencyKey: "" });
  await waitFor(async () => (await c.fetch(topic, 0, 0)).length === 2);
});
