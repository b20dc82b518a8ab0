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
}

export interface ProduceOptions {
  key?: BytesLike;
  headers?: Headers;
  partition?: number;
  /** ms since epoch; 0 or absent = now */
  timestamp?: number;
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
  positions(): Array<{ topic: string; partition: number; offset: number }>;
  commit(offsets: PartitionOffset[]): Promise<void>;
  unsubscribe(): Promise<void>;
}

export interface ClientEvents {
  open: void;
  close: { code: number; reason: string };
  reconnecting: { attempt: number; delayMs: number };
  reconnect: void;
  error: Error;
}

export declare class PubSubClient {
  constructor(url: string | URL, options?: ConnectOptions);
  readonly url: string;
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
  subscribe(topic: string | null, options: SubscribeOptions, onMessage: (m: Message, sub: Subscription) => void): Promise<Subscription>;
  subscribe(topic: string, onMessage: (m: Message, sub: Subscription) => void): Promise<Subscription>;
  /** Test hook: drops the connection from the client side; the client reconnects and resubscribes. */
  simulateDisconnect(): boolean;
  close(): void;
}

export declare function connect(url: string | URL, options?: ConnectOptions): Promise<PubSubClient>;
export declare function toBytes(v: BytesLike | null | undefined): Bytes;
export declare function bytesToText(b: Bytes | null | undefined): string;
export declare function bytesToHex(b: Bytes | null | undefined, separator?: string): string;
