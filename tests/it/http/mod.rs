//! The HTTP endpoints through a real HTTP client (hyper's, tests/common/http.rs), cross-checked
//! with a real WebSocket client: publish by POST, fetch by GET (long poll), the route's info,
//! Server-Sent Events with resume, and every refusal with the connection still serving.

mod brokers;
mod events;
mod groups;
mod publish;
mod refusals;
mod slow;

use std::time::Duration;

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use serde_json::{json, Value};

use crate::common::http::*;
use crate::common::*;

/// A fresh topic name.
fn topic(prefix: &str) -> String {
    unique_name(prefix, '-')
}

/// The values of a fetch answer's messages.
fn fetched_values(v: &Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {v}"))
        .iter()
        .map(|m| m["value"].as_str().unwrap_or_default().to_string())
        .collect()
}
