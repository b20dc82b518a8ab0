//! The Redis scheme against the machine's Redis 7 (127.0.0.1:6379), through a real WebSocket
//! client, with plain redis-rs as oracle and interop peer. Every test uses its own channels and
//! keys and deletes the keys it made; outages use a private `redis-server` on a free port.

mod dead_letters;
mod options;
mod outages;
mod pubsub;
mod streams;

use std::time::Duration;

use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use redis::aio::MultiplexedConnection;

use crate::common::redis_support::*;
use crate::common::*;

async fn xadd(conn: &mut MultiplexedConnection, key: &str, fields: &[(&str, &str)]) -> String {
    let mut c = redis::cmd("XADD");
    c.arg(key).arg("*");
    for (f, v) in fields {
        c.arg(*f).arg(*v);
    }
    c.query_async(conn).await.expect("XADD")
}

/// The offset the gateway gives an entry id `MS-SEQ`.
fn offset_of_id(id: &str) -> i64 {
    let (ms, seq) = id.split_once('-').expect("an entry id");
    (ms.parse::<i64>().unwrap() << 20) | seq.parse::<i64>().unwrap()
}

fn id_of_offset(offset: i64) -> String {
    format!("{}-{}", offset >> 20, offset & ((1 << 20) - 1))
}

fn positions(topic: &str, ms: &[KafkaMessage]) -> Vec<MessagePosition> {
    ms.iter()
        .map(|m| MessagePosition {
            topic: topic.into(),
            partition: 0,
            offset: m.offset,
            position: m.position.clone(),
        })
        .collect()
}

async fn ack(c: &mut Client, id: i64, topic: &str, ms: &[KafkaMessage]) {
    let r = c
        .request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(topic, ms),
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
}
