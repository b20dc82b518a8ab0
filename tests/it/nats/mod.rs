//! The NATS scheme against the machine's NATS server (127.0.0.1:4222, JetStream on), through a
//! real WebSocket client, with a plain async-nats client as oracle and interop peer. Every test
//! uses its own subjects and streams and deletes the streams it made.

mod core;
mod dead_letters;
mod jetstream;
mod jetstream_consumers;

use std::time::Duration;

use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::nats::*;
use crate::common::*;

fn route_info(r: Resp) -> RouteInfoResp {
    match r {
        Resp::RouteInfoResp(i) => i,
        other => panic!("expected route info, got {other:?}"),
    }
}

async fn next_plain(s: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("plain NATS subscriber got a message in time")
        .expect("subscription open")
}

/// A JetStream route on /js over a fresh stream; the stream is deleted when the test ends.
struct Js {
    gw: Gateway,
    nc: async_nats::Client,
    stream: String,
    base: String,
}

impl Js {
    async fn start(extra: &str) -> Js {
        let nc = oracle().await;
        sweep_stale_streams(&nc).await;
        let stream = unique("GWT");
        let base = unique("gwt.js").replace('_', ".");
        let gw = Gateway::start(&js_route("/js", NATS, &stream, &base, extra)).await;
        Js {
            gw,
            nc,
            stream,
            base,
        }
    }

    fn subject(&self, s: &str) -> String {
        format!("{}.{s}", self.base)
    }

    async fn end(self) {
        delete_stream(&self.nc, &self.stream).await;
        self.gw.stop().await;
    }
}

fn list_offset(topic: &str, timestamp: i64) -> Req {
    Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    })
}

fn offset_of(r: Resp) -> i64 {
    match r {
        Resp::KafkaListOffsetResp(o) => o.offset,
        other => panic!("expected an offset, got {other:?}"),
    }
}

fn positions(subject: &str, offsets: &[i64]) -> Vec<MessagePosition> {
    offsets
        .iter()
        .map(|o| MessagePosition {
            topic: subject.into(),
            partition: 0,
            offset: *o,
            position: String::new(),
        })
        .collect()
}

fn regex_escape(s: &str) -> String {
    s.replace('.', "\\.")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
