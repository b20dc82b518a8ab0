//! The Kafka scheme against a real Kafka-protocol broker (Tansu, started by the test harness).

mod common;
#[path = "common/kafka.rs"]
mod broker;

use std::time::Duration;

use bytes::Bytes;
use broker::{kafka_yaml, shared, topic};
use common::*;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

async fn produce(c: &mut Client, topic: &str, partition: Option<i32>, key: &[u8], value: &[u8]) -> KafkaProduceResp {
    match c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: topic.into(),
            partition,
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value),
            ..Default::default()
        }))
        .await
    {
        Resp::KafkaProduceResp(r) => r,
        other => panic!("produce failed: {other:?}"),
    }
}

async fn list_offset(c: &mut Client, topic: &str, timestamp: i64) -> Resp {
    c.request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    }))
    .await
}

fn offset_of(r: Resp) -> i64 {
    match r {
        Resp::KafkaListOffsetResp(r) => r.offset,
        other => panic!("list_offset failed: {other:?}"),
    }
}

/// APISIX's t/pubsub/kafka.t cases, answered the same way through the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apisix_kafka_cases_give_apisix_answers() {
    let broker = shared();
    let t = topic("test-consumer");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut c = gw.connect("/kafka").await;
    for i in 1..=30 {
        let r = produce(&mut c, &t, Some(0), b"", format!("testmsg{i}").as_bytes()).await;
        assert_eq!(r.offset, i - 1);
    }
    assert_eq!(offset_of(list_offset(&mut c, &t, -2).await), 0);
    assert_eq!(offset_of(list_offset(&mut c, &t, -1).await), 30);
    assert_eq!(offset_of(list_offset(&mut c, &t, 1_500_000_000_000).await), 0);

    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: t.clone(),
            partition: 0,
            offset: 14,
            ..Default::default()
        }))
        .await;
    let Resp::KafkaFetchResp(f) = r else { panic!("fetch failed: {r:?}") };
    assert_eq!(f.messages[0].offset, 14);
    assert_eq!(&f.messages[0].value[..], b"testmsg15");

    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: t.clone(),
            partition: 0,
            offset: 999,
            ..Default::default()
        }))
        .await;
    let (code, message) = error_of(r);
    assert_eq!(code, 416);
    assert!(
        message.starts_with(&format!("failed to fetch message, topic: {t}, partition: 0, err: OFFSET_OUT_OF_RANGE")),
        "{message}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_receives_new_messages_through_the_shared_tail() {
    let broker = shared();
    let t = topic("tail");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut sub = gw.connect("/kafka").await;
    let mut prod = gw.connect("/kafka").await;
    let r = sub
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: t.clone(),
            ..Default::default()
        }))
        .await;
    let Resp::KafkaSubscribeResp(s) = r else { panic!("{r:?}") };
    for i in 0..5 {
        produce(&mut prod, &t, None, b"", format!("m{i}").as_bytes()).await;
    }
    let got = sub.pushed(s.subscription_id, 5).await;
    let values: Vec<_> = got.iter().map(|m| String::from_utf8_lossy(&m.value).to_string()).collect();
    assert_eq!(values, ["m0", "m1", "m2", "m3", "m4"]);
    assert!(got.iter().all(|m| m.topic == t && m.partition == 0));
    let _ = Duration::from_secs(0);
    gw.stop().await;
}
