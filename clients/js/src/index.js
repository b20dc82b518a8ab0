// pubsub-client: a browser (and Node) client for pubsub-gateway.
//
// Every frame is a protobuf PubSubReq / PubSubResp, encoded and decoded by the code that
// `npm run build` generates from proto/pubsub.proto with protobufjs-cli (src/gen/pubsub.js);
// this file does no wire encoding of its own.
//
// int64 fields (sequence, offsets, timestamps, start_value, subscription ids) are plain JavaScript
// numbers in this API. protobufjs decodes them exactly (as `long` values) and the library converts
// them with a range check: a value outside +-(2^53 - 1) throws a RangeError instead of being
// rounded. Kafka offsets and millisecond timestamps stay far below that limit.
//
// Bytes (keys, values, header values, ping state) are Uint8Array on the way out; on the way in,
// strings are accepted and encoded as UTF-8.
//
// Epochs (uint64, often nanosecond clocks far above 2^53) are decimal strings: "0" = not tracked.

import { pubsub } from "./gen/pubsub.js";

const { PubSubReq, PubSubResp, StartPosition: StartEnum } = pubsub;

/** The generated protobuf namespace (message classes PubSubReq, PubSubResp, ...). */
export { pubsub };

/** Start positions of a subscription (`start` option); names or these numbers are accepted. */
export const StartPosition = Object.freeze({ ...StartEnum });

/** Special `timestamp` values of listOffset. */
export const OffsetTimestamp = Object.freeze({ LATEST: -1, EARLIEST: -2 });

/**
 * A failed request. `code` is the gateway's ErrorResp code (HTTP-style: 400, 401, 403, 404, 416,
 * 429, 502, 503, 504), or 0 when no answer came: `reason` then says why ("disconnected",
 * "closed", "timeout", "connect").
 */
export class PubSubError extends Error {
  constructor(code, message, { sequence, reason, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "PubSubError";
    this.code = code;
    if (sequence !== undefined) this.sequence = sequence;
    if (reason !== undefined) this.reason = reason;
  }
}

/** A produce's idempotency key: 128 random bits in hex. */
function newIdempotencyKey() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 encodes a string; passes bytes through. */
export function toBytes(v) {
  if (v == null) return new Uint8Array(0);
  if (typeof v === "string") return encoder.encode(v);
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError("expected a string or bytes (Uint8Array / ArrayBuffer)");
}

/** Decodes bytes as UTF-8 (invalid sequences become U+FFFD). */
export function bytesToText(b) {
  return decoder.decode(b ?? new Uint8Array(0));
}

/** Lower-case hex, bytes separated by spaces. */
export function bytesToHex(b, separator = " ") {
  return Array.from(b ?? [], (x) => x.toString(16).padStart(2, "0")).join(separator);
}

/** int64 from protobufjs (number or Long) to a safe JS number. */
function num(v) {
  if (typeof v === "number") return v;
  if (v == null) return 0;
  if (typeof v === "bigint") v = { toNumber: () => Number(v), toString: () => String(v) };
  const n = typeof v.toNumber === "function" ? v.toNumber() : Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`int64 value ${v.toString()} is outside JavaScript's safe integer range`);
  }
  return n;
}

function int(name, v) {
  if (typeof v === "bigint") v = Number(v);
  if (!Number.isSafeInteger(v)) throw new TypeError(`${name} must be an integer, got ${v}`);
  return v;
}

function headerList(h) {
  if (h == null) return [];
  const entries = Array.isArray(h)
    ? h.map((e) => (Array.isArray(e) ? e : [e.key, e.value]))
    : h instanceof Map
      ? [...h.entries()]
      : Object.entries(h);
  return entries.map(([key, value]) => ({ key: String(key), value: toBytes(value) }));
}

function startNumber(start) {
  if (start == null) return StartEnum.LATEST;
  if (typeof start === "number" && Object.values(StartEnum).includes(start)) return start;
  const n = StartEnum[String(start).toUpperCase()];
  if (n === undefined) throw new TypeError(`unknown start position ${start}`);
  return n;
}

const START_NAMES = Object.fromEntries(Object.entries(StartEnum).map(([k, v]) => [v, k]));

/** uint64 (number, Long, bigint or decimal string) to its decimal string; "0" when absent. */
function epochText(v) {
  if (v == null || v === "") return "0";
  const t = typeof v === "string" ? v : v.toString();
  if (!/^[0-9]+$/.test(t)) throw new TypeError(`an epoch is a decimal uint64, got ${t}`);
  return t.replace(/^0+(?=.)/, "");
}

function toMessage(m) {
  return {
    topic: m.topic,
    partition: m.partition,
    offset: num(m.offset),
    timestamp: num(m.timestamp),
    key: m.key,
    value: m.value,
    headers: (m.headers ?? []).map((h) => ({ key: h.key, value: h.value })),
    position: m.position ?? "",
    epoch: epochText(m.epoch),
    deliveryAttempt: m.deliveryAttempt ?? 0,
  };
}

function toRouteInfo(r) {
  const c = r.capabilities ?? {};
  return {
    route: r.route,
    scheme: r.scheme,
    capabilities: {
      history: !!c.history,
      starts: (c.starts ?? []).map((s) => START_NAMES[s] ?? String(s)),
      fetch: !!c.fetch,
      timeLookup: !!c.timeLookup,
      offsets: !!c.offsets,
      groups: !!c.groups,
      ack: !!c.ack,
      nack: !!c.nack,
      commit: !!c.commit,
      wildcards: c.wildcards ?? "",
      headers: !!c.headers,
      keys: !!c.keys,
      partitions: !!c.partitions,
      stringPositions: !!c.stringPositions,
      epochs: !!c.epochs,
    },
  };
}

// A message position on the wire (CmdAck / CmdNack), from a message or {topic, partition,
// offset, position}.
function wirePosition(p, defaultTopic) {
  return {
    topic: String(p.topic ?? defaultTopic ?? ""),
    partition: int("partition", p.partition ?? 0),
    offset: int("offset", p.offset ?? 0),
    position: p.position ? String(p.position) : "",
  };
}

const tp = (topic, partition) => `${partition}\u0000${topic}`;

// HTTP token characters: a subprotocol entry must be one.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const DEFAULT_RECONNECT = {
  initialDelayMs: 250,
  maxDelayMs: 10000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: Infinity,
};

/**
 * Opens a client and resolves once the first connection is open (rejects with a PubSubError,
 * code 0, reason "connect", when that first attempt fails; with several URLs, when one attempt
 * to each of them failed).
 *
 * @param {string|URL|Array<string|URL>} urlOrUrls ws:// or wss:// URL of a route (http(s):// is
 *   mapped to ws(s)://), or several: replicas of the gateway serving the same route. The client
 *   connects to the first; each reconnect after a failed attempt or a lost connection goes to
 *   the next one in the list (round robin).
 * @param {object} [options]
 * @param {string} [options.token] sent as `?token=` and as the subprotocol `bearer.<token>`.
 * @param {string[]} [options.protocols] extra subprotocols, offered after `pubsub`.
 * @param {Function} [options.WebSocket] a WebSocket constructor (Node 20: the `ws` package).
 * @param {boolean|object} [options.reconnect] false, or {initialDelayMs, maxDelayMs, factor,
 *   jitter, maxAttempts}.
 * @param {number} [options.requestTimeoutMs] per request (fetch adds its maxWaitMs); 0 = none.
 * @param {number} [options.connectTimeoutMs] per connection attempt.
 */
/**
 * The gateway's closes that a reconnect cannot fix (its README's "WebSocket close codes"):
 * returns why ("route removed", "protocol error", "token expired", "credentials revoked"), or
 * null when the client should reconnect. A token expiry is not final for a client that
 * refreshes its token (`refreshing`): its reconnect carries the new one.
 * @param {number} code
 * @param {string} reason
 * @param {boolean} [refreshing]
 * @returns {string|null}
 */
export function finalClose(code, reason, refreshing = false) {
  if (code === 1001 && reason === "route removed") return reason;
  if (code === 1002) return "protocol error";
  if (code === 1008 && reason === "credentials revoked") return reason;
  if (code === 1008 && reason === "token expired" && !refreshing) return reason;
  return null;
}

export async function connect(urlOrUrls, options = {}) {
  const client = new PubSubClient(urlOrUrls, options);
  await client.ready;
  return client;
}

export class PubSubClient {
  constructor(urlOrUrls, options = {}) {
    const WS = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WS !== "function") {
      throw new TypeError("no WebSocket implementation: pass options.WebSocket (e.g. the ws package)");
    }
    this._WS = WS;
    const list = Array.isArray(urlOrUrls) ? urlOrUrls : [urlOrUrls];
    if (!list.length) throw new TypeError("connect needs at least one URL");
    const base = globalThis.location?.href;
    /** Every URL the client may connect to (with `?token=`), in the order they are tried. */
    this.urls = list.map((url) => {
      const u = base ? new URL(String(url), base) : new URL(String(url));
      if (u.protocol === "http:") u.protocol = "ws:";
      if (u.protocol === "https:") u.protocol = "wss:";
      return u.toString();
    });
    this._urlIndex = 0; // into urls: the URL of the current (or next) connection attempt
    this._firstRoundFailures = []; // before the first connection: each URL's failure
    /** The URL of the current connection, or of the attempt in progress (with `?token=`). */
    this.url = this.urls[0];
    this._extraProtocols = (options.protocols ?? []).filter((p) => p !== "pubsub");
    /** Subprotocols offered in the handshake. */
    this.protocols = [];
    this._useToken(options.token);
    this._refreshStops = new Set();
    this.reconnectOptions =
      options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...(options.reconnect ?? {}) };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10000;

    this._ws = null;
    this._open = false;
    this._closed = false;
    this._nextSeq = 1;
    this._pending = new Map(); // sequence -> {resolve, reject, timer, onReply}
    this._queue = []; // sends waiting for a connection
    this._subs = new Set(); // live Subscription handles
    this._subsById = new Map(); // server subscription id -> Subscription
    this._listeners = new Map();
    this._attempt = 0;
    this._reconnectTimer = null;
    this._routeInfo = null; // {promise} of this connection's route_info
    this._lastRouteInfo = null; // the last answer, for push handling (synchronous)
    /** Connections opened so far (1 after the first, +1 per reconnect). */
    this.connections = 0;

    this.ready = new Promise((resolve, reject) => {
      this._readyResolve = resolve;
      this._readyReject = reject;
    });
    this._dial();
  }

  // The credential of the next connections: `?token=` and the `bearer.<token>` subprotocol,
  // always next to `pubsub` (browsers fail a connection that offered subprotocols and got none
  // back, and the gateway never echoes a bearer entry).
  _useToken(token) {
    if (token != null) {
      const withToken = (url) => {
        const u = new URL(url);
        u.searchParams.set("token", String(token));
        return u.toString();
      };
      this.urls = this.urls.map(withToken);
      this.url = withToken(this.url);
    }
    const extra = this._extraProtocols;
    const protocols = [];
    if (token != null || extra.length) {
      protocols.push("pubsub");
      const bearer = `bearer.${token}`;
      if (token != null && TOKEN_RE.test(bearer)) protocols.push(bearer);
      protocols.push(...extra);
    }
    this.protocols = protocols;
  }

  /** true while a connection is open. */
  get connected() {
    return this._open;
  }

  /** Subprotocol the gateway selected ("" when none). */
  get protocol() {
    return this._ws?.protocol ?? "";
  }

  // -------------------------------------------------------------------------------------------
  // events: "open", "close" {code, reason}, "reconnecting" {attempt, delayMs, url (the next
  // attempt's)}, "reconnect", "ended" {code, reason, why} (the gateway closed for a reason a
  // reconnect cannot fix, see finalClose: the client is closed, as by close()),
  // "error" (an Error: undecodable frame, an ErrorResp with sequence 0, a failed resubscription,
  // an exception thrown by an onMessage callback), "frame" {direction: "sent" | "received",
  // message: the PubSubReq or decoded PubSubResp} for every frame (for inspectors such as the
  // console; nothing is built for it while no one listens)
  // -------------------------------------------------------------------------------------------

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
  }

  _emit(event, arg) {
    const set = this._listeners.get(event);
    if (!set || set.size === 0) {
      if (event === "error" && globalThis.console) console.warn("pubsub-client:", arg);
      return;
    }
    for (const fn of [...set]) {
      try {
        fn(arg);
      } catch (e) {
        if (event !== "error") this._emit("error", e);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // connection
  // -------------------------------------------------------------------------------------------

  _dial() {
    this.url = this.urls[this._urlIndex];
    let ws;
    try {
      ws = this.protocols.length ? new this._WS(this.url, this.protocols) : new this._WS(this.url);
    } catch (e) {
      this._nextUrl();
      this._connectFailed(e);
      return;
    }
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    const timer =
      this.connectTimeoutMs > 0
        ? setTimeout(() => {
            if (this._ws === ws && !this._open) this._drop(ws, 4008, "connect timeout");
          }, this.connectTimeoutMs)
        : null;
    ws.onopen = () => {
      clearTimeout(timer);
      if (this._ws !== ws) return;
      this._onOpen();
    };
    ws.onmessage = (ev) => {
      if (this._ws !== ws) return;
      this._onFrame(ev.data);
    };
    ws.onerror = () => {
      // followed by close; nothing to do here
    };
    ws.onclose = (ev) => {
      clearTimeout(timer);
      if (this._ws !== ws) return;
      this._drop(ws, ev.code, ev.reason);
    };
  }

  _onOpen() {
    const reconnected = this.connections > 0;
    this._open = true;
    this._attempt = 0;
    this.connections += 1;
    this._readyResolve?.(this);
    this._readyResolve = this._readyReject = null;
    this._emit("open");
    if (reconnected) {
      for (const sub of [...this._subs]) this._resubscribe(sub);
      this._emit("reconnect");
    }
    const queued = this._queue;
    this._queue = [];
    for (const send of queued) send();
  }

  // The socket is gone (closed by either side, failed, or dropped by a test): fail what was in
  // flight, forget server subscription ids, and schedule a reconnect.
  _drop(ws, code = 1006, reason = "") {
    if (this._ws !== ws) return;
    this._ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (ws.readyState === 0 || ws.readyState === 1) {
      try {
        ws.close(code >= 4000 && code < 5000 ? code : 1000, reason);
      } catch {
        try {
          ws.close();
        } catch {
          /* already closing */
        }
      }
    }
    const wasOpen = this._open;
    this._open = false;
    // The next connection may reach another gateway (a rolling upgrade): ask again.
    this._routeInfo = null;
    for (const sub of this._subs) sub._ids.clear();
    this._subsById.clear();
    // A close the gateway says not to retry (see finalClose) ends the client.
    const ended =
      wasOpen && !this._closed ? finalClose(code, reason, this._refreshStops.size > 0) : null;
    const why = this._closed ? "closed" : ended ? "ended" : "disconnected";
    for (const [sequence, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new PubSubError(0, `connection ${why} before the reply`, { sequence, reason: why }));
    }
    this._pending.clear();
    if (wasOpen) this._emit("close", { code, reason });
    if (ended) {
      this._emit("ended", { code, reason, why: ended });
      this.close();
      return;
    }
    if (this._closed) return;
    // The next attempt goes to the next URL (with one, the same).
    this._nextUrl();
    if (this.connections === 0) {
      this._connectFailed(new Error(`WebSocket closed with ${code} ${reason}`.trim()));
      return;
    }
    this._scheduleReconnect();
  }

  _nextUrl() {
    this._urlIndex = (this._urlIndex + 1) % this.urls.length;
  }

  // A connection attempt failed (the next attempt goes to the next URL). Before the first
  // connection, each URL gets one attempt, at once; the client gives up when all of them failed.
  _connectFailed(cause) {
    if (this._readyReject) {
      const failures = this._firstRoundFailures;
      failures.push(`${this.url}: ${cause.message ?? cause}`);
      if (failures.length < this.urls.length) {
        this._dial();
        return;
      }
      const message =
        this.urls.length === 1
          ? `cannot connect to ${failures[0]}`
          : `cannot connect to any of ${this.urls.length} URLs: ${failures.join("; ")}`;
      const err = new PubSubError(0, message, { reason: "connect", cause });
      this._readyReject(err);
      this._readyResolve = this._readyReject = null;
      this._shutdown(err);
      return;
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    const o = this.reconnectOptions;
    if (!o || this._attempt >= o.maxAttempts) {
      this._shutdown(new PubSubError(0, "connection lost", { reason: "disconnected" }));
      return;
    }
    const base = Math.min(o.maxDelayMs, o.initialDelayMs * o.factor ** this._attempt);
    const delayMs = Math.round(base * (1 + o.jitter * (Math.random() * 2 - 1)));
    this._attempt += 1;
    this._emit("reconnecting", { attempt: this._attempt, delayMs, url: this.urls[this._urlIndex] });
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (!this._closed) this._dial();
    }, delayMs);
  }

  // No more connections: reject what waits for one.
  _shutdown(err) {
    this._closed = true;
    const queued = this._queue;
    this._queue = [];
    for (const send of queued) send(err);
  }

  /** Closes the connection for good (no reconnect); pending requests reject with reason "closed". */
  close() {
    this._closed = true;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    if (this._ws) this._drop(this._ws, 1000, "client closed");
    this._shutdown(new PubSubError(0, "client closed", { reason: "closed" }));
    this._subs.clear();
    for (const stop of [...this._refreshStops]) stop();
  }

  /**
   * Test hook: drops the current connection from the client side, as a network failure would
   * (in-flight requests reject with reason "disconnected"; the client then reconnects and
   * resubscribes). Returns false when there was no connection.
   */
  simulateDisconnect() {
    if (!this._ws) return false;
    this._drop(this._ws, 4000, "simulated disconnect");
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // requests
  // -------------------------------------------------------------------------------------------

  _onFrame(data) {
    if (typeof data === "string") return; // text frames carry nothing in this protocol
    let resp;
    try {
      resp = PubSubResp.decode(data instanceof Uint8Array ? data : new Uint8Array(data));
    } catch (e) {
      this._emit("error", new PubSubError(0, `undecodable frame: ${e.message}`, { cause: e }));
      return;
    }
    if (this._listeners.get("frame")?.size) this._emit("frame", { direction: "received", message: resp });
    let sequence;
    try {
      sequence = num(resp.sequence);
      const kind = resp.resp;
      if (kind === "kafkaPush") {
        const push = resp.kafkaPush;
        this._onPush(num(push.subscriptionId), push.messages, !!push.reset, num(push.dropped));
        return;
      }
      const p = this._pending.get(sequence);
      if (!p) {
        if (kind === "errorResp") {
          const e = resp.errorResp;
          this._emit("error", new PubSubError(e.code, e.message, { sequence }));
        }
        return;
      }
      this._pending.delete(sequence);
      clearTimeout(p.timer);
      if (kind === "errorResp") {
        const e = resp.errorResp;
        p.reject(new PubSubError(e.code, e.message, { sequence }));
      } else if (kind !== p.expect) {
        p.reject(new PubSubError(0, `unexpected reply ${kind} to a ${p.field}`, { sequence }));
      } else {
        const body = resp[kind];
        p.resolve(p.onReply ? p.onReply(body) : body);
      }
    } catch (e) {
      this._emit("error", e);
    }
  }

  /**
   * Sends one command; resolves with the reply body (or what `onReply` makes of it, run
   * synchronously when the reply frame is read).
   */
  _request(field, expect, body, { timeoutMs, onReply } = {}) {
    return new Promise((resolve, reject) => {
      const timeout = timeoutMs ?? this.requestTimeoutMs;
      const started = Date.now();
      const send = (err) => {
        if (err) return reject(err);
        const left = timeout > 0 ? timeout - (Date.now() - started) : 0;
        if (timeout > 0 && left <= 0) {
          return reject(new PubSubError(0, `${field} timed out`, { reason: "timeout" }));
        }
        const sequence = this._nextSeq++;
        let frame;
        try {
          frame = PubSubReq.encode({ sequence, [field]: body }).finish();
        } catch (e) {
          return reject(e);
        }
        const timer =
          timeout > 0
            ? setTimeout(() => {
                if (this._pending.delete(sequence)) {
                  reject(new PubSubError(0, `${field} timed out`, { sequence, reason: "timeout" }));
                }
              }, left)
            : null;
        this._pending.set(sequence, { resolve, reject, timer, onReply, expect, field });
        if (this._listeners.get("frame")?.size) {
          this._emit("frame", { direction: "sent", message: { sequence, [field]: body } });
        }
        try {
          this._ws.send(frame);
        } catch (e) {
          this._pending.delete(sequence);
          clearTimeout(timer);
          reject(new PubSubError(0, `send failed: ${e.message}`, { sequence, reason: "disconnected" }));
        }
      };
      if (this._open) send();
      else if (this._closed) reject(new PubSubError(0, "client closed", { reason: "closed" }));
      else this._queue.push(send);
    });
  }

  /**
   * Replaces the connection's token before it expires (cmd_refresh): the gateway checks it as at
   * the upgrade, then its ACLs and expiry apply from the next request on; reconnects use it too.
   * Rejects with a PubSubError (401) when the gateway refuses it, and the connection keeps its
   * old token. A JWT connection that does not refresh is closed (1008 "token expired") at exp.
   */
  async refresh(token) {
    token = String(token);
    await this._request("cmdRefresh", "okResp", { token });
    this._useToken(token);
  }

  /**
   * Refreshes every `intervalMs` with what `getToken()` returns (or resolves to): the
   * application decides how often and where tokens come from (pick an interval well inside the
   * tokens' lifetime). While disconnected, the new token is kept for the reconnect. Failures
   * are "error" events and the timer goes on. Returns a function that stops it; close() does too.
   */
  refreshEvery(intervalMs, getToken) {
    intervalMs = int("intervalMs", intervalMs);
    if (intervalMs <= 0) throw new RangeError("intervalMs must be greater than 0");
    if (typeof getToken !== "function") throw new TypeError("getToken must be a function");
    const timer = setInterval(async () => {
      try {
        const token = await getToken();
        if (this._closed) return;
        if (this._open) await this.refresh(token);
        else this._useToken(token);
      } catch (e) {
        this._emit("error", e);
      }
    }, intervalMs);
    timer.unref?.();
    const stop = () => {
      clearInterval(timer);
      this._refreshStops.delete(stop);
    };
    this._refreshStops.add(stop);
    return stop;
  }

  /** Application-level ping; resolves with the echoed state (Uint8Array). */
  async ping(state) {
    const r = await this._request("cmdPing", "pongResp", { state: toBytes(state) });
    return r.state;
  }

  /**
   * Produces one message; resolves with {partition, offset}. Every produce carries an
   * idempotency key (`o.idempotencyKey`, or a random 128-bit one in hex): when the connection is
   * lost before the reply, the produce is sent again with the same key once the client has
   * reconnected, and the gateway stores it once (README, "Idempotent publish"), within the
   * request timeout.
   * @param {string} topic
   * @param {string|Uint8Array} value
   * @param {object} [o] {key, headers ({k: v}, [[k, v]] or [{key, value}]), partition, timestamp,
   *   idempotencyKey}
   */
  async produce(topic, value, o = {}) {
    const body = {
      topic: String(topic),
      key: toBytes(o.key),
      value: toBytes(value),
      headers: headerList(o.headers),
      idempotencyKey: o.idempotencyKey != null ? String(o.idempotencyKey) : newIdempotencyKey(),
    };
    if (o.partition != null) body.partition = int("partition", o.partition);
    if (o.timestamp != null) body.timestamp = int("timestamp", o.timestamp);
    const started = Date.now();
    for (;;) {
      const timeoutMs =
        this.requestTimeoutMs > 0 ? Math.max(1, this.requestTimeoutMs - (Date.now() - started)) : 0;
      try {
        const r = await this._request("cmdKafkaProduce", "kafkaProduceResp", body, { timeoutMs });
        return { partition: r.partition, offset: num(r.offset) };
      } catch (e) {
        // Lost with the connection: stored or not, the resend with the same key stores it once.
        const resend =
          e instanceof PubSubError &&
          e.reason === "disconnected" &&
          !this._closed &&
          this.reconnectOptions !== null;
        if (!resend) throw e;
      }
    }
  }

  /**
   * Messages of one partition from `offset` on (416 when it is outside [earliest, end]).
   * @param {object} [o] {maxMessages, maxBytes, maxWaitMs}
   */
  async fetch(topic, partition, offset, o = {}) {
    const maxWaitMs = o.maxWaitMs ?? 0;
    const r = await this._request(
      "cmdKafkaFetch",
      "kafkaFetchResp",
      {
        topic: String(topic),
        partition: int("partition", partition),
        offset: int("offset", offset),
        maxMessages: o.maxMessages ?? 0,
        maxBytes: o.maxBytes ?? 0,
        maxWaitMs,
      },
      { timeoutMs: this.requestTimeoutMs > 0 ? this.requestTimeoutMs + maxWaitMs : 0 },
    );
    return r.messages.map(toMessage);
  }

  /** timestamp: -1 end offset, -2 earliest, else the first offset at or after it (-1: none). */
  async listOffset(topic, partition, timestamp = OffsetTimestamp.LATEST) {
    const r = await this._request("cmdKafkaListOffset", "kafkaListOffsetResp", {
      topic: String(topic),
      partition: int("partition", partition),
      timestamp: int("timestamp", timestamp),
    });
    return num(r.offset);
  }

  /** {topic, partitions: [{partition, earliest, latest}]} (404 for an unknown topic). */
  async metadata(topic) {
    const r = await this._request("cmdKafkaMetadata", "kafkaMetadataResp", { topic: String(topic) });
    return {
      topic: r.topic,
      partitions: r.partitions.map((p) => ({
        partition: p.partition,
        earliest: num(p.earliest),
        latest: num(p.latest),
      })),
    };
  }

  /**
   * Commits offsets (the next offset to read, Kafka's convention) for a subscription: for its
   * group if it has one, and as acknowledgements of pushed messages (maxInFlight).
   * @param {Subscription|number} subscription a handle or a server subscription id
   * @param {Array<{topic?: string, partition: number, offset: number}>} offsets
   */
  async commit(subscription, offsets) {
    if (subscription instanceof Subscription) return subscription.commit(offsets);
    await this._request("cmdKafkaCommit", "okResp", {
      subscriptionId: int("subscription id", subscription),
      offsets: offsets.map((o) => ({
        topic: String(o.topic),
        partition: int("partition", o.partition),
        offset: int("offset", o.offset),
      })),
    });
  }

  /**
   * What the route can do: {route, scheme, capabilities: {history, starts (start names), fetch,
   * timeLookup, offsets, groups, ack, nack, commit, wildcards, headers, keys, partitions,
   * stringPositions, epochs}}. Asked once per connection and cached: a reconnect may reach
   * another gateway (a rolling upgrade), so it is asked again after one.
   */
  routeInfo() {
    if (this._routeInfo) return this._routeInfo.promise;
    const promise = this._request("cmdRouteInfo", "routeInfoResp", {}).then((r) => {
      const info = toRouteInfo(r);
      this._lastRouteInfo = info;
      return info;
    });
    const entry = { promise };
    this._routeInfo = entry;
    // A failure (a drop, a timeout) is not remembered: the next call asks again.
    promise.catch(() => {
      if (this._routeInfo === entry) this._routeInfo = null;
    });
    return promise;
  }

  // The route's capabilities, or null from a gateway that predates route_info (it answers
  // "unknown command"): the client then works as it always did, with Kafka's model. No answer
  // at all (code 0) is an error.
  async _capabilities() {
    try {
      return (await this.routeInfo()).capabilities;
    } catch (e) {
      if (e instanceof PubSubError && e.code !== 0) return null;
      throw e;
    }
  }

  /** Low-level: sends cmd_unsubscribe for a server subscription id. */
  async unsubscribeId(subscriptionId) {
    await this._request("cmdUnsubscribe", "okResp", {
      subscriptionId: int("subscription id", subscriptionId),
    });
  }

  /**
   * Low-level: acknowledges delivered messages one by one (cmd_ack) for a server subscription
   * id, on routes whose capabilities say `ack`; elsewhere the gateway answers 400 naming the
   * scheme and the capability. Prefer `subscription.ack()` or `message.ack()`.
   */
  async ackId(subscriptionId, positions) {
    await this._request("cmdAck", "okResp", {
      subscriptionId: int("subscription id", subscriptionId),
      positions: positions.map((p) => wirePosition(p)),
    });
  }

  /** Low-level: gives delivered messages back for redelivery after `delayMs` (cmd_nack). */
  async nackId(subscriptionId, positions, { delayMs = 0 } = {}) {
    await this._request("cmdNack", "okResp", {
      subscriptionId: int("subscription id", subscriptionId),
      positions: positions.map((p) => wirePosition(p)),
      delayMs: int("delayMs", delayMs),
    });
  }

  // -------------------------------------------------------------------------------------------
  // subscriptions
  // -------------------------------------------------------------------------------------------

  /**
   * Subscribes; resolves with a Subscription once the gateway accepted it. `onMessage(message,
   * subscription)` is called for every message, in offset order per partition, exactly once per
   * (topic, partition, offset) across reconnects for subscriptions without a group.
   *
   * @param {string|null} topic (null or "" with options.topicPattern)
   * @param {object} [o] {start ("LATEST", "EARLIEST", "LAST", "OFFSET", "TIMESTAMP",
   *   "TIME_DELTA"), startValue, startEpoch, startPosition, group, matchHeaders, partitions,
   *   topicPattern, maxInFlight, onReset, onGap}
   * @param {(message: object, sub: Subscription) => void} onMessage
   */
  async subscribe(topic, o, onMessage) {
    if (typeof o === "function") [o, onMessage] = [{}, o];
    o = o ?? {};
    if (typeof onMessage !== "function") throw new TypeError("subscribe needs an onMessage callback");
    const spec = {
      topic: topic ? String(topic) : "",
      topicPattern: o.topicPattern ? String(o.topicPattern) : "",
      partitions: (o.partitions ?? []).map((p) => int("partition", p)),
      start: startNumber(o.start),
      startValue: int("startValue", o.startValue ?? 0),
      group: o.group ? String(o.group) : "",
      matchHeaders: headerList(o.matchHeaders),
      maxInFlight: int("maxInFlight", o.maxInFlight ?? 0),
    };
    // Only sent when set, so frames to gateways that predate them stay as they were.
    const startEpoch = epochText(o.startEpoch);
    if (startEpoch !== "0") spec.startEpoch = startEpoch;
    if (o.startPosition) spec.startPosition = String(o.startPosition);
    const sub = new Subscription(this, spec, onMessage);
    if (typeof o.onReset === "function") sub.on("reset", o.onReset);
    if (typeof o.onGap === "function") sub.on("gap", o.onGap);
    const caps = await this._capabilities();
    sub._caps = caps;
    // LATEST and LAST are positions of the moment: remember where each partition ended just
    // before subscribing, so a reconnect can resume partitions that delivered nothing yet from
    // there (an offset at or before the real start: no gap, and never a message twice).
    if (
      spec.topic &&
      !spec.group &&
      (!caps || (caps.offsets && caps.starts.includes("OFFSET"))) &&
      (spec.start === StartEnum.LATEST || spec.start === StartEnum.LAST)
    ) {
      sub._baseline = await this._endOffsets(spec.topic);
    }
    sub._subscribedAt = Date.now();
    await this._subscribeWire(sub, this._wireSpec(spec, {}));
    return sub;
  }

  // Map partition -> {earliest, latest}; an empty map when the topic does not exist yet (all of
  // its messages will be new); null when that cannot be known.
  async _endOffsets(topic) {
    try {
      const m = await this.metadata(topic);
      return new Map(m.partitions.map((p) => [p.partition, p]));
    } catch (e) {
      if (e instanceof PubSubError && e.code === 404) return new Map();
      return null;
    }
  }

  _wireSpec(spec, over) {
    const wire = {
      topic: spec.topic,
      topicPattern: spec.topicPattern,
      partitions: spec.partitions,
      start: spec.start,
      startValue: spec.startValue,
      group: spec.group,
      matchHeaders: spec.matchHeaders,
      maxInFlight: spec.maxInFlight,
    };
    if (spec.startEpoch) wire.startEpoch = spec.startEpoch;
    if (spec.startPosition) wire.startPosition = spec.startPosition;
    const out = { ...wire, ...over };
    for (const k of ["startEpoch", "startPosition"]) if (!out[k]) delete out[k];
    return out;
  }

  _subscribeWire(sub, wire) {
    return this._request("cmdKafkaSubscribe", "kafkaSubscribeResp", wire, {
      // Registered while the reply frame is handled, before any push for it can be read.
      onReply: (r) => {
        const id = num(r.subscriptionId);
        if (sub._closed) {
          this.unsubscribeId(id).catch(() => {});
          return id;
        }
        sub._ids.add(id);
        this._subsById.set(id, sub);
        this._subs.add(sub);
        return id;
      },
    });
  }

  _onPush(id, messages, reset = false, dropped = 0) {
    const sub = this._subsById.get(id);
    if (!sub || sub._closed) return;
    const caps = sub._caps ?? this._lastRouteInfo?.capabilities ?? null;
    // Offsets order a partition's messages (Kafka, embedded, JetStream, old gateways); routes
    // without history number nothing that a resume could repeat, and string positions are
    // compared for equality only.
    const byOffset = !caps || (caps.history && !caps.stringPositions);
    const list = messages.map(toMessage);
    // A recreated log: the push says so (a resume into another epoch), or a message's epoch
    // differs from the last one this partition delivered. Its earlier positions are void.
    const recreated = [];
    const seen = new Set();
    for (const m of list) {
      const key = tp(m.topic, m.partition);
      if (seen.has(key)) continue;
      seen.add(key);
      const last = sub._last.get(key);
      const previousEpoch = last?.epoch ?? "0";
      const epochChanged = previousEpoch !== "0" && m.epoch !== "0" && m.epoch !== previousEpoch;
      // A reset push for a partition already delivering the new log (another server
      // subscription of this handle, e.g. a topic pattern's, got there first) changes nothing.
      const alreadyNew = m.epoch !== "0" && previousEpoch === m.epoch;
      if (epochChanged || (reset && !alreadyNew)) {
        recreated.push({ topic: m.topic, partition: m.partition, epoch: m.epoch, previousEpoch });
        sub._next.delete(key);
        sub._last.delete(key);
      }
    }
    if (recreated.length) {
      sub._resets += 1;
      sub._emit("reset", { subscriptionId: id, partitions: recreated });
    }
    // A live route lost messages of this subscription just before these (its client read too
    // slowly, slow_consumer: pause): say so before delivering what came after them.
    if (dropped > 0) {
      sub._dropped += dropped;
      sub._emit("gap", { count: dropped, subscriptionId: id });
    }
    for (const m of list) {
      const key = tp(m.topic, m.partition);
      if (!sub.spec.group) {
        // Without a group, every position is delivered once: after a reconnect two server
        // subscriptions can cover one partition for a moment, and a string position resumes
        // at (and repeats) the last one delivered.
        const last = sub._last.get(key);
        if (caps?.stringPositions) {
          if (last && m.position && m.position === last.position && m.epoch === last.epoch) continue;
        } else if (byOffset) {
          const next = sub._next.get(key);
          if (next !== undefined && m.offset < next) continue;
        }
      }
      sub._next.set(key, m.offset + 1);
      sub._last.set(key, { position: m.position, epoch: m.epoch, id });
      Object.defineProperties(m, {
        ack: { value: () => sub.ack([m]), enumerable: false },
        nack: { value: (o) => sub.nack([m], o), enumerable: false },
      });
      try {
        sub._onMessage(m, sub);
      } catch (e) {
        this._emit("error", e);
      }
    }
  }

  // After a reconnect: group subscriptions rejoin their group (committed offsets apply, as with
  // Kafka); the others resume every partition after the last delivered position (in its epoch,
  // so that a recreated log starts over instead of being skipped into), and partitions that
  // delivered nothing yet from where the original start put them. Routes that cannot start at a
  // position (no history) subscribe as they first did.
  async _resubscribe(sub) {
    if (sub._closed || !this._open) return;
    const spec = sub.spec;
    const conn = this.connections;
    try {
      const caps = await this._capabilities();
      if (sub._closed || this.connections !== conn || !this._open) return;
      sub._caps = caps;
      const plans = [];
      if (spec.group) {
        plans.push(this._wireSpec(spec, {}));
      } else if (caps && !caps.starts.includes("OFFSET")) {
        plans.push(this._wireSpec(spec, this._restartOver(sub)));
      } else if (!spec.topic) {
        // Pattern: known topic-partitions exactly, plus the pattern itself for the others (the
        // duplicate filter drops what the pattern subscription repeats).
        const byTopic = new Map();
        for (const key of sub._next.keys()) {
          const i = key.indexOf("\u0000");
          const partition = Number(key.slice(0, i));
          const topic = key.slice(i + 1);
          if (!byTopic.has(topic)) byTopic.set(topic, new Map());
          addPlan(byTopic.get(topic), this._resumeAt(sub, key), partition);
        }
        for (const [topic, byStart] of byTopic) {
          for (const { over, partitions } of byStart.values()) {
            plans.push(this._wireSpec(spec, { topic, topicPattern: "", partitions, ...over }));
          }
        }
        plans.push(this._wireSpec(spec, this._restartOver(sub)));
      } else {
        let partitions = spec.partitions;
        if (!partitions.length) {
          const ends = !caps || caps.offsets ? await this._endOffsets(spec.topic) : null;
          const known = new Set(ends ? ends.keys() : []);
          for (const key of sub._next.keys()) {
            const i = key.indexOf("\u0000");
            if (key.slice(i + 1) === spec.topic) known.add(Number(key.slice(0, i)));
          }
          for (const p of sub._baseline?.keys() ?? []) known.add(p);
          partitions = [...known].sort((a, b) => a - b);
        }
        if (!partitions.length) {
          plans.push(this._wireSpec(spec, this._restartOver(sub)));
        } else {
          const byStart = new Map();
          const earliest = [];
          const original = [];
          for (const p of partitions) {
            const key = tp(spec.topic, p);
            if (sub._next.has(key)) {
              addPlan(byStart, this._resumeAt(sub, key), p);
              continue;
            }
            const r = this._resumeFromBaseline(sub, p);
            if (r === undefined) original.push(p);
            else if (r === "earliest") earliest.push(p);
            else addPlan(byStart, { start: StartEnum.OFFSET, startValue: r }, p);
          }
          for (const { over, partitions: ps } of byStart.values()) {
            plans.push(this._wireSpec(spec, { partitions: ps, ...over }));
          }
          if (earliest.length) {
            plans.push(this._wireSpec(spec, { partitions: earliest, start: StartEnum.EARLIEST, startValue: 0 }));
          }
          if (original.length) {
            plans.push(this._wireSpec(spec, { ...this._restartOver(sub), partitions: original }));
          }
        }
      }
      // A route without numbered partitions (JetStream: one log per subject, partition 0)
      // refuses `partitions`: there, each plan's topic is that one partition.
      if (caps && !caps.partitions) for (const wire of plans) wire.partitions = [];
      for (const wire of plans) {
        if (sub._closed || this.connections !== conn || !this._open) return;
        await this._subscribeWire(sub, wire);
      }
      sub._resubscriptions += 1;
    } catch (e) {
      if (sub._closed || this.connections !== conn || !this._open) return;
      // Undo a partial resubscription and try again shortly.
      for (const id of sub._ids) {
        this._subsById.delete(id);
        this.unsubscribeId(id).catch(() => {});
      }
      sub._ids.clear();
      this._emit(
        "error",
        new PubSubError(e.code ?? 0, `resubscribe to ${spec.topic || spec.topicPattern} failed: ${e.message}`, {
          cause: e,
        }),
      );
      const delay = this.reconnectOptions?.maxDelayMs ?? 1000;
      setTimeout(() => {
        if (this.connections === conn && this._open) this._resubscribe(sub);
      }, Math.min(delay, 1000));
    }
  }

  // Where a partition that delivered messages resumes: after its last one, in that message's
  // epoch (the gateway starts over, with a reset push, if the log was recreated since), at its
  // string position where the route's positions are not integers.
  _resumeAt(sub, key) {
    const over = { start: StartEnum.OFFSET, startValue: sub._next.get(key) };
    const last = sub._last.get(key);
    const caps = sub._caps;
    if (last && last.epoch !== "0" && (!caps || caps.epochs)) over.startEpoch = last.epoch;
    if (last?.position && caps?.stringPositions) over.startPosition = last.position;
    return over;
  }

  // Where a partition that delivered nothing yet resumes: an offset, "earliest", or undefined
  // for the subscription's original start.
  _resumeFromBaseline(sub, partition) {
    const b = sub._baseline;
    if (!b) return undefined;
    const info = b.get(partition);
    // Not there before the subscription: all of its messages are newer than it.
    if (!info) return "earliest";
    if (sub.spec.start === StartEnum.LATEST) return info.latest;
    // LAST: the last message that existed then, if any.
    return info.latest > info.earliest ? info.latest - 1 : "earliest";
  }

  // The original start, with TIME_DELTA moved back by the time since the subscription began.
  _restartOver(sub) {
    if (sub.spec.start === StartEnum.TIME_DELTA) {
      return { startValue: sub.spec.startValue + (Date.now() - sub._subscribedAt) };
    }
    return {};
  }
}

// Groups partitions that resume from the same start (offset, epoch, position).
function addPlan(byStart, over, partition) {
  const k = JSON.stringify(over);
  if (!byStart.has(k)) byStart.set(k, { over, partitions: [] });
  byStart.get(k).partitions.push(partition);
}

/**
 * A subscription handle: survives reconnects (its server subscription ids change).
 *
 * Events (`sub.on(event, fn)`, returns a remover): "reset" {subscriptionId, partitions: [{topic,
 * partition, epoch, previousEpoch}]}: those partitions' log was recreated (the embedded broker
 * restarted, a stream deleted and made again) since the positions this subscription resumed
 * from. Delivery started over at the new log's beginning; earlier positions (offsets, epochs)
 * of those partitions are void, and the same offsets now name other messages. Emitted before
 * the new log's first messages are delivered.
 *
 * "gap" {count, subscriptionId}: on a live route (no history: core NATS, Redis pub/sub, MQTT,
 * RabbitMQ without a group) under `slow_consumer: pause`, the gateway lost `count` messages of
 * this subscription just before the next ones, because the client read more slowly than they
 * arrived (KafkaPush.dropped). Emitted before that push's messages are delivered (after its
 * "reset", if any). Messages missed while disconnected are not counted: a live route keeps
 * nothing to resume from.
 */
export class Subscription {
  constructor(client, spec, onMessage) {
    this.client = client;
    this.spec = spec;
    this._onMessage = onMessage;
    this._ids = new Set();
    this._next = new Map(); // topic-partition -> last delivered offset + 1
    this._last = new Map(); // topic-partition -> {position, epoch, id} of the last delivered
    this._baseline = null;
    this._caps = null;
    this._subscribedAt = 0;
    this._closed = false;
    this._resubscriptions = 0;
    this._resets = 0;
    this._dropped = 0;
    this._listeners = new Map();
  }

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
  }

  _emit(event, arg) {
    for (const fn of [...(this._listeners.get(event) ?? [])]) {
      try {
        fn(arg, this);
      } catch (e) {
        this.client._emit("error", e);
      }
    }
  }

  /** The current server subscription id (the first, when a reconnect split it); undefined while disconnected. */
  get id() {
    return this._ids.values().next().value;
  }

  /** All current server subscription ids. */
  get ids() {
    return [...this._ids];
  }

  /** How often this subscription was re-established after a reconnect. */
  get resubscriptions() {
    return this._resubscriptions;
  }

  /** How many "reset" events this subscription emitted. */
  get resets() {
    return this._resets;
  }

  /** Messages the gateway reported lost for this subscription: the sum of its "gap" counts. */
  get dropped() {
    return this._dropped;
  }

  /**
   * Next offset to deliver per partition: [{topic, partition, offset, position, epoch}] (offset:
   * last delivered + 1; position and epoch: the last delivered message's).
   */
  positions() {
    return [...this._next].map(([key, offset]) => {
      const i = key.indexOf("\u0000");
      const last = this._last.get(key);
      return {
        topic: key.slice(i + 1),
        partition: Number(key.slice(0, i)),
        offset,
        position: last?.position ?? "",
        epoch: last?.epoch ?? "0",
      };
    });
  }

  /**
   * Commits offsets (next offset to read) for this subscription's group and acknowledges pushed
   * messages below them. `topic` defaults to the subscription's topic.
   */
  async commit(offsets) {
    const list = offsets.map((o) => ({ ...o, topic: o.topic ?? this.spec.topic }));
    const ids = this.ids;
    if (!ids.length) throw new PubSubError(0, "not connected", { reason: "disconnected" });
    await Promise.all(ids.map((id) => this.client.commit(id, list)));
  }

  /**
   * Acknowledges delivered messages one by one (messages, or {topic?, partition, offset,
   * position}), on routes whose capabilities say `ack` (JetStream, RabbitMQ, ...); on Kafka and
   * embedded routes the gateway answers 400 (use commit()). Each goes to the server
   * subscription that delivered its partition.
   */
  async ack(positions) {
    await this._acknowledge(positions, (id, list) => this.client.ackId(id, list));
  }

  /**
   * Gives delivered messages back for redelivery, after `delayMs` (0 = at once), where the route
   * can (`nack`); elsewhere the gateway answers 400 naming the scheme and the capability.
   */
  async nack(positions, { delayMs = 0 } = {}) {
    await this._acknowledge(positions, (id, list) => this.client.nackId(id, list, { delayMs }));
  }

  async _acknowledge(positions, send) {
    const list = (Array.isArray(positions) ? positions : [positions]).map((p) =>
      wirePosition(p, this.spec.topic),
    );
    if (!this._ids.size) throw new PubSubError(0, "not connected", { reason: "disconnected" });
    const byId = new Map();
    for (const p of list) {
      const from = this._last.get(tp(p.topic, p.partition))?.id;
      const id = from !== undefined && this._ids.has(from) ? from : this.id;
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id).push(p);
    }
    await Promise.all([...byId].map(([id, ps]) => send(id, ps)));
  }

  /** Stops the subscription (also across reconnects). */
  async unsubscribe() {
    if (this._closed) return;
    this._closed = true;
    this.client._subs.delete(this);
    const ids = this.ids;
    this._ids.clear();
    for (const id of ids) this.client._subsById.delete(id);
    if (!this.client.connected) return;
    await Promise.all(
      ids.map((id) =>
        this.client.unsubscribeId(id).catch((e) => {
          if (!(e instanceof PubSubError && (e.code === 404 || e.code === 0))) throw e;
        }),
      ),
    );
  }
}
