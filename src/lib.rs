//! pubsub-gateway: a WebSocket pub/sub gateway speaking a superset of Apache APISIX's pubsub
//! protocol (protobuf `PubSubReq` / `PubSubResp` in binary frames), backed by Apache Kafka or an
//! embedded in-process broker.
//!
//! # Layout
//! - `server`: accepts TCP or TLS, reads the HTTP upgrade request, checks Origin and
//!   credentials, picks the route, upgrades; swaps the route table on reload.
//! - `session`: one connection's loop: reads requests, runs them concurrently, one writer task
//!   fed by a bounded queue carries replies and pushes.
//! - `dispatch`: an exhaustive `match` from each command to the route's backend.
//! - `backend`: the `Backend` trait and its schemes, `embedded` (in-process broker) and `kafka`
//!   (rdkafka, clients shared per upstream).
//! - `codec`: builds reply and push frames from records encoded once.
//! - `auth`: key-auth, jwt-auth, Origin allow-lists and topic ACLs.
//! - `admin`: the admin listener: health, readiness, Prometheus metrics, the console.
//! - `metrics`: process-wide counters and histograms.
//! - `config`: YAML configuration, parsed then validated.
//! - `error`: the one error type and its mapping to `ErrorResp` codes.
//! - `pb`: the types generated from proto/pubsub.proto.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod codec;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod error;
pub mod metrics;
pub mod pb;
pub mod server;
pub mod session;

pub use config::Config;
pub use server::{Server, ServerHandle};
