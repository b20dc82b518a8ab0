//! The RabbitMQ scheme against the machine's broker (127.0.0.1:5672, guest/guest), through a
//! real WebSocket client, with a plain lapin client as oracle and interop peer. Every test uses
//! its own exchange and deletes the exchanges and durable queues it made; the vhost and
//! credential tests make their own vhost and user with `rabbitmqctl` (as root) and delete them.
//! Outages go through a fault-injecting TCP proxy.

mod delivery;
mod groups;
mod outages;
mod plain;
mod streams;
mod vhosts;

use std::collections::BTreeSet;
use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::BasicProperties;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::proxy::Proxy;
use crate::common::rabbitmq::*;
use crate::common::*;

fn group_sub(topic: &str, group: &str, max_in_flight: i32) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        group: group.into(),
        max_in_flight,
        ..sub(topic)
    }
}

fn hval(m: &KafkaMessage, key: &str) -> Option<String> {
    m.headers
        .iter()
        .find(|h| h.key == key)
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
}

fn positions(ms: &[KafkaMessage]) -> Vec<MessagePosition> {
    ms.iter()
        .map(|m| MessagePosition {
            topic: m.topic.clone(),
            partition: 0,
            offset: m.offset,
            position: String::new(),
        })
        .collect()
}

async fn ack(c: &mut Client, id: i64, ms: &[KafkaMessage]) {
    let r = c
        .request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(ms),
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
}

async fn nack(c: &mut Client, id: i64, ms: &[KafkaMessage]) {
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(ms),
            delay_ms: 0,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "nack answered {r:?}");
}

fn group_queue(uri: &str, group: &str, topic: &str) -> String {
    format!("gw{uri}:{group}:{topic}")
}

async fn ping(c: &mut Client) {
    let r = c
        .request(Req::CmdPing(CmdPing {
            state: b"alive".to_vec().into(),
        }))
        .await;
    assert!(matches!(r, Resp::PongResp(_)), "{r:?}");
}
