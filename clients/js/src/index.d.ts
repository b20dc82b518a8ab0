// Types of pubsub-client's public API (src/index.js). int64 fields are plain numbers (see README).

export { pubsub } from "./gen/pubsub.js";

export type Bytes = Uint8Array;
export type BytesLike = string | Uint8Array | ArrayBuffer | ArrayBufferView;
export type Headers =
  | Record<string, BytesLike>
  | Map<string, BytesLike>
  | Array<[string, BytesLike]>
  | Array<{ key: string; value: BytesLike }>;

export type StartName = "LATEST" | "EARLIEST" | "LAST" | "OFFSET" | "TIMESTAMP" | "TIME_DELTA";
export declare const StartPosition: Readonly<Record<StartName, number>>;
export declare const OffsetTimestamp: Readonly<{ LATEST: -1; EARLIEST: -2 }>;

export interface Message {
  topic: string;
  partition: number;
  offset: number;
  /** ms since epoch */
  timestamp: number;
  key: Bytes;
  value: Bytes;
  headers: Array<{ key: string; value: Bytes }>;
  /** The scheme's own position where it is not an integer (e.g. a Redis stream id); "" where `offset` is the position. */
  position: string;
  /** The generation of the log the position belongs to, a decimal uint64; "0" = not tracked. */
  epoch: string;
  /** How many times the group delivered it, this time included: 1 first, more on redeliveries; 0 = not counted (plain subscriptions, fetch). */
  deliveryAttempt: number;
}

/** A pushed message: also acknowledges itself (on the subscription that delivered it). */
export interface DeliveredMessage extends Message {
  /** cmd_ack of this message (routes with `ack`; elsewhere rejects with 400). */
  ack(): Promise<void>;
  /** cmd_nack of this message (routes with `nack`; elsewhere rejects with 400). */
  nack(options?: { delayMs?: number }): Promise<void>;
}

/** Where a delivered message sits (a Message has all of these). */
export interface MessagePosition {
  /** default: the subscription's topic */
  topic?: string;
  partition?: number;
  offset?: number;
  position?: string;
}

export interface RouteCapabilities {
  /** Stored messages can be replayed (starts other than LATEST, fetch). */
  history: boolean;
  /** Start positions subscribe accepts. */
  starts: StartName[];
  fetch: boolean;
  /** listOffset with a timestamp. */
  timeLookup: boolean;
  /** listOffset -1 / -2 and metadata. */
  offsets: boolean;
  groups: boolean;
  /** Per-message ack / nack (Subscription.ack / nack). */
  ack: boolean;
  nack: boolean;
  /** Cumulative commit (Subscription.commit). */
  commit: boolean;
  /** "regex" (topicPattern), "nats", "amqp", "mqtt", "glob"; "" = none. */
  wildcards: string;
  headers: boolean;
  keys: boolean;
  partitions: boolean;
  /** Message.position is set (positions are not integers). */
  stringPositions: boolean;
  /** Message.epoch is set: resumes into a recreated log are detected (the "reset" event). */
  epochs: boolean;
}

export interface RouteInfo {
  /** The route's uri, e.g. "/chat". */
  route: string;
  /** "embedded", "kafka", "nats", "nats-jetstream", ... */
  scheme: string;
  capabilities: RouteCapabilities;
}

export interface ResetEvent {
  /** The server subscription whose push said so. */
  subscriptionId: number;
  /** The partitions whose log was recreated: their earlier positions are void. */
  partitions: Array<{ topic: string; partition: number; epoch: string; previousEpoch: string }>;
}

/**
 * Messages a live route (core NATS, Redis pub/sub, MQTT, RabbitMQ without a group) lost for this
 * subscription because its client read more slowly than they arrived (`slow_consumer: pause`;
 * KafkaPush.dropped). Emitted before the messages that came after them are delivered.
 */
export interface GapEvent {
  /** How many messages were lost just before the push's messages. */
  count: number;
  /** The server subscription whose push said so. */
  subscriptionId: number;
}

export interface SubscriptionEvents {
  reset: ResetEvent;
  gap: GapEvent;
}

export interface ReconnectOptions {
  /** default 250 */
  initialDelayMs?: number;
  /** default 10000 */
  maxDelayMs?: number;
  /** default 2 */
  factor?: number;
  /** +- this fraction of the delay, default 0.2 */
  jitter?: number;
  /** default Infinity */
  maxAttempts?: number;
}

export interface ConnectOptions {
  /** Sent as `?token=` and as the subprotocol `bearer.<token>` (next to `pubsub`). */
  token?: string;
  /** Extra subprotocols, offered after `pubsub`. */
  protocols?: string[];
  /** A WebSocket constructor; default globalThis.WebSocket (Node 20: pass the `ws` package). */
  WebSocket?: unknown;
  /** false: no reconnect. */
  reconnect?: boolean | ReconnectOptions;
  /** Per request, default 30000; fetch adds its maxWaitMs; 0 = none. */
  requestTimeoutMs?: number;
  /** Per connection attempt, default 10000. */
  connectTimeoutMs?: number;
}

export interface SubscribeOptions {
  start?: StartName | number;
  startValue?: number;
  group?: string;
  matchHeaders?: Headers;
  partitions?: number[];
  topicPattern?: string;
  maxInFlight?: number;
  /** Resuming a position stored elsewhere: the epoch of its log (Message.epoch); another epoch starts over with a "reset". */
  startEpoch?: string | number | bigint;
  /** With start "OFFSET" on routes with string positions: the position to start from. */
  startPosition?: string;
  /** Same as sub.on("reset", fn), registered before the first push. */
  onReset?: (e: ResetEvent, sub: Subscription) => void;
  /** Same as sub.on("gap", fn), registered before the first push. */
  onGap?: (e: GapEvent, sub: Subscription) => void;
}

export interface ProduceOptions {
  key?: BytesLike;
  headers?: Headers;
  partition?: number;
  /** ms since epoch; 0 or absent = now */
  timestamp?: number;
  /** at most 128 bytes; absent = a random 128-bit key in hex. A produce interrupted by a lost
   * connection is sent again with it after the reconnect, and stored once. */
  idempotencyKey?: string;
}

export interface FetchOptions {
  maxMessages?: number;
  maxBytes?: number;
  maxWaitMs?: number;
}

export interface PartitionOffset {
  topic?: string;
  partition: number;
  /** the next offset to read */
  offset: number;
}

export declare class PubSubError extends Error {
  /** ErrorResp code (400, 401, 403, 404, 416, 429, 502, 503, 504), or 0 when no reply came. */
  code: number;
  /** With code 0: "disconnected", "closed", "timeout" or "connect". */
  reason?: string;
  sequence?: number;
}

export declare class Subscription {
  readonly client: PubSubClient;
  readonly id: number | undefined;
  readonly ids: number[];
  readonly resubscriptions: number;
  /** How many "reset" events it emitted. */
  readonly resets: number;
  /** Messages the gateway reported lost for it: the sum of its "gap" events' counts. */
  readonly dropped: number;
  /** offset: the next one to deliver; position and epoch: the last delivered message's. */
  positions(): Array<{ topic: string; partition: number; offset: number; position: string; epoch: string }>;
  commit(offsets: PartitionOffset[]): Promise<void>;
  /** Per-message ack (routes with `ack`; Kafka and embedded answer 400: use commit). */
  ack(positions: MessagePosition | MessagePosition[]): Promise<void>;
  /** Per-message nack, redelivered after delayMs (routes with `nack`; elsewhere 400). */
  nack(positions: MessagePosition | MessagePosition[], options?: { delayMs?: number }): Promise<void>;
  on<E extends keyof SubscriptionEvents>(event: E, fn: (arg: SubscriptionEvents[E], sub: Subscription) => void): () => void;
  off<E extends keyof SubscriptionEvents>(event: E, fn: (arg: SubscriptionEvents[E], sub: Subscription) => void): void;
  unsubscribe(): Promise<void>;
}

export interface ClientEvents {
  open: void;
  close: { code: number; reason: string };
  /** url: where the next attempt goes (with several URLs, the next in the list). */
  reconnecting: { attempt: number; delayMs: number; url: string };
  reconnect: void;
  /** The gateway closed for a reason a reconnect cannot fix (see finalClose); the client is closed. */
  ended: { code: number; reason: string; why: string };
  error: Error;
  /** Every frame, as the PubSubReq sent or the PubSubResp decoded (protobufjs objects). */
  frame: { direction: "sent" | "received"; message: Record<string, unknown> };
}

/**
 * One URL, or several: replicas of the gateway serving the same route. The client connects to
 * the first; after a failed attempt or a lost connection, the next attempt (same backoff) goes
 * to the next URL in the list, round robin, and subscriptions resume there as after any
 * reconnect. Before the first connection each URL gets one attempt, at once.
 */
export type Urls = string | URL | Array<string | URL>;

export declare class PubSubClient {
  constructor(urlOrUrls: Urls, options?: ConnectOptions);
  /** The URL of the current connection, or of the attempt in progress (with `?token=`). */
  readonly url: string;
  /** Every URL the client connects to, in the order they are tried (with `?token=`). */
  readonly urls: string[];
  readonly protocols: string[];
  readonly ready: Promise<PubSubClient>;
  readonly connected: boolean;
  readonly protocol: string;
  readonly connections: number;
  on<E extends keyof ClientEvents>(event: E, fn: (arg: ClientEvents[E]) => void): () => void;
  off<E extends keyof ClientEvents>(event: E, fn: (arg: ClientEvents[E]) => void): void;
  ping(state?: BytesLike): Promise<Bytes>;
  /**
   * Replaces the connection's token (cmd_refresh) before it expires; its ACLs and expiry apply
   * from the next request on, and reconnects use it. Rejects (code 401) when refused.
   */
  refresh(token: string): Promise<void>;
  /**
   * Calls `getToken` every `intervalMs` and refreshes with its token ("error" events on failure).
   * Returns a function that stops the timer; close() stops it too.
   */
  refreshEvery(intervalMs: number, getToken: () => string | Promise<string>): () => void;
  produce(topic: string, value: BytesLike, options?: ProduceOptions): Promise<{ partition: number; offset: number }>;
  fetch(topic: string, partition: number, offset: number, options?: FetchOptions): Promise<Message[]>;
  listOffset(topic: string, partition: number, timestamp?: number): Promise<number>;
  metadata(topic: string): Promise<{ topic: string; partitions: Array<{ partition: number; earliest: number; latest: number }> }>;
  commit(subscription: Subscription | number, offsets: Array<Required<Pick<PartitionOffset, "partition" | "offset">> & { topic: string }>): Promise<void>;
  unsubscribeId(subscriptionId: number): Promise<void>;
  /** The route's scheme and capabilities; asked once per connection, then cached. */
  routeInfo(): Promise<RouteInfo>;
  ackId(subscriptionId: number, positions: MessagePosition[]): Promise<void>;
  nackId(subscriptionId: number, positions: MessagePosition[], options?: { delayMs?: number }): Promise<void>;
  subscribe(topic: string | null, options: SubscribeOptions, onMessage: (m: DeliveredMessage, sub: Subscription) => void): Promise<Subscription>;
  subscribe(topic: string, onMessage: (m: DeliveredMessage, sub: Subscription) => void): Promise<Subscription>;
  /** Test hook: drops the connection from the client side; the client reconnects and resubscribes. */
  simulateDisconnect(): boolean;
  close(): void;
}

/**
 * Resolves once the first connection is open. Rejects (PubSubError, code 0, reason "connect")
 * when the first attempt failed; with several URLs, when one attempt to each of them failed.
 */
export declare function connect(urlOrUrls: Urls, options?: ConnectOptions): Promise<PubSubClient>;
/** Why a close must not be retried ("route removed", "protocol error", "token expired", "credentials revoked"), or null. */
export declare function finalClose(code: number, reason: string, refreshing?: boolean): string | null;
export declare function toBytes(v: BytesLike | null | undefined): Bytes;
export declare function bytesToText(b: Bytes | null | undefined): string;
export declare function bytesToHex(b: Bytes | null | undefined, separator?: string): string;
