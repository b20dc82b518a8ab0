//! pubsub-gateway: a WebSocket pub/sub gateway speaking a superset of Apache APISIX's pubsub
//! protocol (protobuf `PubSubReq` / `PubSubResp` in binary frames), in front of Kafka, NATS (core
//! and JetStream), RabbitMQ, Redis (pub/sub and Streams), MQTT 5, Google Cloud Pub/Sub, Amazon
//! SNS and SQS, or an embedded in-process broker. Each route's commands go to one broker through its scheme's
//! backend.
//!
//! # Layout
//! From the edge inwards; each module uses only modules listed after it (no import cycles,
//! checked by tests/it/layout.rs, which also checks that the files inside each folder use each
//! other without cycles).
//! - `server/`: accepts TCP or TLS, counts handshakes in progress (`handshakes`: per address, the
//!   oldest silent one evicted for a new socket), serves HTTP/1.1 with hyper: a WebSocket
//!   upgrade request has its Origin and credentials checked, its route and framing picked
//!   (`choose_protocol`: binary, or JSON for `pubsub.json`) before it is upgraded; other requests
//!   go to the HTTP endpoints (`endpoints`: publish, fetch, info, each a protocol command run by a
//!   dispatcher of its own; `sse`: a subscription as Server-Sent Events; `groups`: the group
//!   memberships the gateway holds for HTTP consumers; `leases`: their calls, a group GET's
//!   leased messages, ack and nack by ack_id); swaps the route table on reload (`table`: a
//!   route's backend rebuilt only when what it is built from changed, its idempotency window
//!   and HTTP memberships kept with it).
//! - `admin`: the admin listener: health, readiness, Prometheus metrics, the console; sees the
//!   server through its `Served` trait.
//! - `session`: one connection's loop: reads requests, runs them concurrently, one writer task
//!   drains the connection's outbound queue; `RouteEnd` says why a route ended for it.
//! - `dispatch/`: `Dispatcher::exec` runs every command the same way: what it names and needs
//!   (`checks`: the scheme's topic syntax, the identity's ACLs, the route's capabilities), then its
//!   handler, one file per command under `cmd/`.
//! - `backend/`: the `Backend` trait and the types crossing it (`spec`), `capabilities`, the push
//!   `sink` (backpressure, flow control, the gate that orders pushes after their subscribe
//!   reply), `dead_letter` (the headers every scheme puts on a dead letter), `idempotency` (a
//!   route's idempotent-publish window, bounded in time and keys; journaled beside an embedded
//!   route's storage so a restart keeps it), `live/` (the live
//!   fan-out every scheme without history shares: members, bounded queues, the slow-consumer
//!   policy), and one folder per scheme, each behind its Cargo feature but `embedded`:
//!   `embedded/` (in-process broker: log, broker, groups, acks, dead, delivery, fanout, durable,
//!   storage/), `kafka/` (rdkafka: client, inner, catalog, fetch, tail, groups, acks), `nats/`
//!   (async-nats: client, reader, shared, tail, jetstream, consumers, core), `rabbitmq/` (lapin:
//!   client, topology, props, publish, hub, groups, stream, stream_read, stream_groups), `redis/`
//!   (redis-rs: client, entry, pubsub, streams, tail, plain, groups), `mqtt/` (rumqttc: endpoint,
//!   client, topic, hub, members, handover, groups), `gcp/` (gcloud-pubsub's gRPC clients: auth,
//!   metadata, client, live, groups), `aws/` (AWS's SDK for SNS and SQS: client, message, live,
//!   groups).
//! - `outbox`: a connection's bounded outbound queue, shared by replies and pushes.
//! - `framing`: what a connection's frames hold: binary protobuf, or proto3 JSON text for the
//!   `pubsub.json` subprotocol (requests read with pbjson; replies and pushes, built as protobuf
//!   like any other, converted by the writer of a JSON session only).
//! - `codec`: builds reply and push frames from records encoded once.
//! - `record`: a message as the gateway carries it, protobuf-encoded once.
//! - `auth`: key-auth, jwt-auth, Origin allow-lists and topic ACLs.
//! - `http`: the HTTP answers the gateway gives (hyper bodies on the main listener, written by
//!   hand on the admin listener).
//! - `console`: the live console's files, built into the binary.
//! - `config/`: YAML configuration, parsed then validated: `upstream` (what every scheme shares)
//!   and `scheme` (one options type per scheme: `embedded`, `kafka`, `nats`, `rabbitmq`, `redis`,
//!   `mqtt`, `gcp`, `aws`), `limits`, `plugins`, `storage`, `delivery` (a route's at-least-once
//!   policy), `idempotency` (its idempotent-publish window).
//! - `close`: why the gateway closes a connection: code, reason text, whether to reconnect.
//! - `error`: the one error type and its mapping to `ErrorResp` codes.
//! - `metrics`: process-wide counters and histograms.
//! - `pb`: the types generated from proto/pubsub.proto.
//!
//! # Invariants
//! - No module imports one above it, and no folder's files import each other in a circle
//!   (tests/it/layout.rs).
//! - Only dispatch refuses a request for a name, an ACL or a capability: every command declares
//!   what it names and needs, and `Dispatcher::exec` checks both before its handler runs, so a
//!   backend only sees checked requests (it filters what it delivers by `SubscribeSpec::allowed`).
//!   Capability errors are made in dispatch only (tests/it/layout.rs); a scheme that can do almost
//!   nothing is refused every request it lacks (dispatch/tests.rs).
//! - A message is encoded once, into a `Record`, when it enters the gateway; every reply and push
//!   carrying it is assembled from those bytes (no message is built outside record.rs, protobuf is
//!   written by hand only in codec.rs and record.rs: tests/it/layout.rs; the hand-written frames
//!   equal prost's: codec's tests).
//! - Backends deliver only through the push sink: none writes to a connection itself
//!   (tests/it/layout.rs).
//! - Every queue between a broker and a connection is bounded, in messages and in bytes: the
//!   connection's outbox, each live subscriber's queue, the shared tails' try-push with catch-up
//!   (tests/it/live_memory.rs, tests/it/process.rs).
//! - A scheme's options are one type, and another scheme's options are refused while parsing,
//!   naming the key and its line (config's tests).
//! - What a connection held is released when it ends: tasks, memberships, consumers
//!   (tests/release.rs).

pub mod admin;
pub mod auth;
pub mod backend;
pub mod close;
pub mod codec;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod error;
pub mod framing;
pub(crate) mod http;
pub mod metrics;
pub mod outbox;
pub mod pb;
pub mod record;
pub mod server;
pub mod session;

pub use config::Config;
pub use server::{Server, ServerHandle};
