// Support for the browser tests: the real gateway binary on free loopback ports, headless
// Chromium (Debian's) through playwright-core, the client library in Node over the `ws` package,
// and small helpers. The tests build nothing: run `cargo build` and `npm ci` in clients/js first
// (scripts/test-browser.sh does both).
//
// Environment:
//   PUBSUB_GATEWAY_BIN   the gateway binary (default target/debug/pubsub-gateway)
//   CHROMIUM_BIN         the browser (default /usr/bin/chromium)
//   KAFKA_BOOTSTRAP      host:port of a Kafka broker: the Kafka route is tested too, and must work
//   NATS_URL             host:port of the NATS server with JetStream (default 127.0.0.1:4222, as for
//                        tests/it/nats/): the console's NATS routes need it

import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { connect as tcpConnect, createServer as createTcpServer } from "node:net";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const clientPkg = join(repo, "clients/js");
// The test tools are dev dependencies of the client package (npm ci in clients/js).
export const require = createRequire(join(clientPkg, "package.json"));

export const BUNDLE = join(clientPkg, "dist/pubsub-client.js");
export const lib = await import(pathToFileURL(BUNDLE).href);
const WebSocket = require("ws");

export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const GATEWAY_BIN = process.env.PUBSUB_GATEWAY_BIN || join(repo, "target/debug/pubsub-gateway");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let seq = 0;
/** A topic name unique to this run. */
export function uniqueTopic(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}

/** Polls `fn` until it returns a truthy value; throws `message` (and the last value) after `timeout`. */
export async function waitFor(fn, { timeout = 20000, interval = 50, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message} (last: ${JSON.stringify(last)})`);
    await sleep(interval);
  }
}

/** A free loopback port (bound, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createTcpServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = tcpConnect({ host: "127.0.0.1", port }, () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

// One gateway process on `config`; resolves once both listeners accept connections, or with
// {exited, log} when the process ended first.
async function spawnGateway(config, port, adminPort) {
  const child = spawn(GATEWAY_BIN, ["--config", config], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  running.add(child);
  const proc = { child, log: "", exited: null };
  child.stdout.on("data", (d) => (proc.log += d));
  child.stderr.on("data", (d) => (proc.log += d));
  proc.exit = new Promise((r) =>
    child.once("exit", (code, signal) => {
      proc.exited = { code, signal };
      running.delete(child);
      r(proc.exited);
    }),
  );
  const deadline = Date.now() + 20000;
  while (!proc.exited && !((await canConnect(port)) && (await canConnect(adminPort)))) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`gateway did not listen on ${port} and ${adminPort} in time:\n${proc.log}`);
    }
    await sleep(50);
  }
  return proc;
}

async function stopProcess(proc) {
  if (proc.exited) return;
  proc.child.kill("SIGTERM");
  const t = setTimeout(() => proc.child.kill("SIGKILL"), 15000);
  await proc.exit;
  clearTimeout(t);
}

/**
 * Starts the gateway binary with a temporary config: `server.listen` and `server.admin_listen`
 * on free loopback ports, these routes (APISIX route objects). YAML is a superset of JSON, so the
 * config is written as JSON. `restart()` stops the process and starts a new one on the same
 * ports and config (the embedded broker's logs start over: a new epoch).
 */
export async function startGateway({ routes, server = {} }) {
  if (!existsSync(GATEWAY_BIN)) {
    throw new Error(`${GATEWAY_BIN} is missing: run \`cargo build\` first (scripts/test-browser.sh does)`);
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const adminPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "pubsub-browser-test-"));
    const config = join(dir, "config.yaml");
    writeFileSync(
      config,
      JSON.stringify(
        {
          server: { listen: `127.0.0.1:${port}`, admin_listen: `127.0.0.1:${adminPort}`, ...server },
          routes,
        },
        null,
        2,
      ),
    );
    let proc = await spawnGateway(config, port, adminPort);
    if (proc.exited) {
      rmSync(dir, { recursive: true, force: true });
      // A port taken between choosing and binding it: try again with others.
      if (attempt < 3 && /Address already in use|cannot listen/i.test(proc.log)) continue;
      throw new Error(`gateway exited (${JSON.stringify(proc.exited)}):\n${proc.log}`);
    }
    let earlierLogs = "";
    return {
      ws: `ws://127.0.0.1:${port}`,
      admin: `http://127.0.0.1:${adminPort}`,
      consoleUrl: `http://127.0.0.1:${adminPort}/console/`,
      log: () => earlierLogs + proc.log,
      async restart() {
        await stopProcess(proc);
        earlierLogs += proc.log;
        // The old listeners are closed; another process could take a port meanwhile (then
        // this fails, with the log saying so).
        const deadline = Date.now() + 20000;
        for (;;) {
          proc = await spawnGateway(config, port, adminPort);
          if (!proc.exited) return;
          if (Date.now() > deadline || !/Address already in use/i.test(proc.log)) {
            throw new Error(`gateway did not restart (${JSON.stringify(proc.exited)}):\n${proc.log}`);
          }
          await sleep(200);
        }
      },
      async stop() {
        await stopProcess(proc);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/** Headless Chromium (Debian's package) driven by playwright-core. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/test-browser.sh does)`);
  }
  const { chromium } = require("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A new page whose uncaught errors and console errors are collected in `page.problems` (the tests
 * assert it stays empty). `ignore` lists console error texts that are expected.
 */
export async function newPage(context, { ignore = [] } = {}) {
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    if (/favicon\.ico/.test(text) || /Failed to load resource.*404/.test(text)) return;
    if (ignore.some((re) => re.test(text))) return;
    page.problems.push(`console.error: ${text}`);
  });
  return page;
}

/** The client library (the dist bundle) in Node, over the `ws` package. */
export function nodeClient(url, options = {}) {
  return lib.connect(url, { WebSocket, ...options });
}

/** An HTTP server for fixed files: {"/path": {type, body}}; returns its origin and close(). */
export async function staticServer(files) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const f = files[path];
    if (!f) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const body = typeof f.body === "function" ? f.body() : f.body;
    res.writeHead(200, { "content-type": f.type, "cache-control": "no-store" }).end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}

export const JS = "text/javascript; charset=utf-8";
export const HTML = "text/html; charset=utf-8";
export const readRepo = (p) => readFileSync(join(repo, p));

/** Creates topics on a Kafka broker (kafkajs admin); the embedded broker creates its own. */
export async function createKafkaTopics(bootstrap, topics, partitions) {
  const { Kafka, logLevel } = require("kafkajs");
  const kafka = new Kafka({ clientId: "pubsub-browser-tests", brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** An HS256 JWT (for routes with jwt-auth). */
export async function jwtHS256(secret, claims) {
  const { createHmac } = await import("node:crypto");
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

export const NATS_URL = process.env.NATS_URL || "127.0.0.1:4222";

/**
 * One request to the real NATS server (the machine's `nats-server -js`, NATS_URL, default
 * 127.0.0.1:4222) over its plain-text protocol: PUB to `subject` with a reply inbox, the first
 * answer's payload parsed as JSON. For the JetStream API ($JS.API.…), which the gateway refuses
 * to relay: looking at a consumer, deleting a test's stream. The client package has no NATS client.
 */
export function natsRequest(subject, payload = "", { timeout = 5000 } = {}) {
  const [host, port] = NATS_URL.replace(/^nats:\/\//, "").split(":");
  const inbox = `_INBOX.browser-tests.${process.pid}.${seq++}`;
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host, port: Number(port) });
    let buf = Buffer.alloc(0);
    let sent = false;
    const done = (err, value) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`NATS request ${subject}: no answer in ${timeout} ms`)), timeout);
    sock.once("error", (e) => done(e));
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const eol = buf.indexOf("\r\n");
        if (eol < 0) return;
        const line = buf.subarray(0, eol).toString();
        if (line.startsWith("MSG ")) {
          const size = Number(line.split(" ").pop());
          if (buf.length < eol + 2 + size + 2) return;
          const body = buf.subarray(eol + 2, eol + 2 + size).toString();
          try {
            return done(null, JSON.parse(body));
          } catch (e) {
            return done(new Error(`NATS request ${subject}: not JSON: ${body}`));
          }
        }
        buf = buf.subarray(eol + 2);
        if (line.startsWith("INFO ") && !sent) {
          sent = true;
          const p = Buffer.from(payload);
          sock.write(`CONNECT {"verbose":false,"pedantic":false,"lang":"node","name":"browser-tests"}\r\n`);
          sock.write(`SUB ${inbox} 1\r\n`);
          sock.write(`PUB ${subject} ${inbox} ${p.length}\r\n`);
          sock.write(Buffer.concat([p, Buffer.from("\r\n")]));
        } else if (line === "PING") {
          sock.write("PONG\r\n");
        } else if (line.startsWith("-ERR")) {
          return done(new Error(`NATS request ${subject}: ${line}`));
        }
      }
    });
  });
}
