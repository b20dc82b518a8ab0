//! Support for the integration tests (tests/it, tests/env_credentials, tests/release.rs): the
//! harness (the real gateway and a real WebSocket client) at the top, and below it each broker's
//! support (its own client as oracle and peer, private processes for outages), the gateway
//! binary as a process, certificates and a fault-injecting proxy.
#![allow(dead_code)]

mod harness;
pub use harness::*;

#[cfg(feature = "aws")]
pub mod aws;
pub mod certs;
pub mod daemon;
#[cfg(feature = "gcp-pubsub")]
pub mod gcp;
pub mod http;
pub mod kafka;
pub mod mqtt;
pub mod nats;
pub mod proc;
pub mod proxy;
pub mod rabbitmq;
pub mod redis_support;
pub mod schemes;
pub mod storage;
