//! The types generated from proto/pubsub.proto, from the `pubsub-proto` crate (shared with the
//! Rust client, so the two never drift apart).

pub use pubsub_proto::*;
