//! Integration tests in one binary: the real gateway (in process on 127.0.0.1:0, or its binary
//! as a process of its own) against the machine's brokers, with each broker's own client as
//! oracle and peer; a module per area. Support shared by every test lives in tests/common.
//! Tests that need process-wide state of their own are separate binaries: tests/release.rs
//! (the metrics gauges) and tests/env_credentials (environment variables).

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "aws")]
mod aws;
mod client_resume;
mod config_files;
mod durable;
mod embedded;
mod ended;
mod failover;
mod fanout;
#[cfg(feature = "gcp-pubsub")]
mod gcp;
mod handshakes;
mod hardening;
mod http;
mod idempotent;
mod json_ws;
mod kafka;
mod layout;
mod live_memory;
mod loadgen_smoke;
mod mqtt;
mod nats;
mod process;
mod rabbitmq;
mod redis;
mod reload;
mod replicas;
mod resets;
mod route_info;
mod security;
