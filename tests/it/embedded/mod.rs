//! The full command set on the embedded scheme, through the real server and a real client.

mod acks;
mod apisix;
mod fetch_produce;
mod groups;
mod limits;
mod subscribe;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use pubsub_gateway::backend::partition_for_key;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

/// Long enough to notice a push that should not come, short enough to keep the suite fast.
const QUIET: Duration = Duration::from_millis(300);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Metadata with each partition's epoch checked (the broker sets one) and then cleared, so the
/// rest compares exactly.
fn without_epochs(mut r: Resp) -> Resp {
    if let Resp::KafkaMetadataResp(m) = &mut r {
        for p in &mut m.partitions {
            assert_ne!(p.epoch, 0, "partition {} has no epoch", p.partition);
            p.epoch = 0;
        }
    }
    r
}

fn ping(state: &'static [u8]) -> Req {
    Req::CmdPing(CmdPing {
        state: Bytes::from_static(state),
    })
}

fn pong(state: &'static [u8]) -> Resp {
    Resp::PongResp(PongResp {
        state: Bytes::from_static(state),
    })
}

fn list_offset(topic: &str, timestamp: i64) -> Req {
    Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    })
}

fn header(key: &str, value: &[u8]) -> KafkaHeader {
    KafkaHeader {
        key: key.into(),
        value: Bytes::copy_from_slice(value),
    }
}

/// APISIX's Kafka test data: testmsg1..testmsg30 in `test-consumer`, partition 0.
async fn produce_apisix_test_messages(c: &mut Client) {
    for i in 1..=30 {
        let r = c
            .produce_value("test-consumer", &format!("testmsg{i}"))
            .await;
        assert_eq!(
            r,
            KafkaProduceResp {
                partition: 0,
                offset: i - 1,
                position: String::new(),
            }
        );
    }
}

const UPGRADE_HEADERS: &str =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
