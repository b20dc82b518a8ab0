//! pubsub-gateway: a WebSocket pub/sub gateway speaking a superset of Apache APISIX's pubsub
//! protocol (protobuf `PubSubReq` / `PubSubResp` in binary frames), backed by Apache Kafka or an
//! embedded in-process broker.
//!
//! # Layout
//! From the edge inwards; each module uses only modules listed after it (no import cycles,
//! checked by tests/layout.rs).
//! - `server`: accepts TCP or TLS, reads the HTTP upgrade request, checks Origin and
//!   credentials, picks the route, upgrades; swaps the route table on reload.
//! - `admin`: the admin listener: health, readiness, Prometheus metrics, the console; sees the
//!   server through its `Served` trait.
//! - `session`: one connection's loop: reads requests, runs them concurrently, one writer task
//!   drains the connection's outbound queue.
//! - `dispatch`: an exhaustive `match` from each command to the route's backend, checking names,
//!   ACLs and the route's capabilities first.
//! - `backend`: the `Backend` trait and the types crossing it (`spec`), `capabilities`, the push
//!   `sink`, and one folder per scheme, split by job: `embedded/` (in-process broker: log,
//!   broker, groups, delivery), `kafka/` (rdkafka, clients shared per upstream: client, inner,
//!   catalog, fetch, tail, groups), `nats/` (async-nats, core NATS and JetStream: client, core,
//!   jetstream, consumers, tail).
//! - `outbox`: a connection's bounded outbound queue, shared by replies and pushes.
//! - `codec`: builds reply and push frames from records encoded once.
//! - `record`: a message as the gateway carries it, protobuf-encoded once.
//! - `auth`: key-auth, jwt-auth, Origin allow-lists and topic ACLs.
//! - `http`: the plain HTTP answers the gateway writes itself.
//! - `console`: the live console's files, built into the binary.
//! - `config/`: YAML configuration, parsed then validated (limits, upstream, plugins, nats).
//! - `error`: the one error type and its mapping to `ErrorResp` codes.
//! - `metrics`: process-wide counters and histograms.
//! - `pb`: the types generated from proto/pubsub.proto.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod codec;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod error;
pub(crate) mod http;
pub mod metrics;
pub mod outbox;
pub mod pb;
pub mod record;
pub mod server;
pub mod session;

pub use config::Config;
pub use server::{Server, ServerHandle};
