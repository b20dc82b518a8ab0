//! Types generated from proto/pubsub.proto by build.rs.
#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/pubsub.rs"));
