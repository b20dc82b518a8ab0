//! pubsub-gateway's wire protocol: the types prost-build generates from `pubsub.proto` (next to
//! this crate's Cargo.toml), shared by the gateway and the Rust client so that both always speak
//! the same version of it.
//!
//! Every WebSocket binary frame is one [`PubSubReq`] (client to gateway) or one [`PubSubResp`]
//! (gateway to client). Bytes fields are [`bytes::Bytes`](prost::bytes::Bytes).
#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/pubsub.rs"));

// serde impls of every type above, following the proto3 JSON mapping: int64 and uint64 as
// strings, bytes as base64, enums by name, fields in lowerCamelCase (the proto names are accepted
// too).
#[cfg(feature = "json")]
include!(concat!(env!("OUT_DIR"), "/pubsub.serde.rs"));

pub mod json;
