//! The scheme-neutral protocol on the existing schemes: what a route says it can do, the
//! capability errors for what it cannot, and epochs that tell a resume into a recreated log.

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::*;

fn route_info(r: Resp) -> RouteInfoResp {
    match r {
        Resp::RouteInfoResp(i) => i,
        other => panic!("expected route info, got {other:?}"),
    }
}

fn all_starts() -> Vec<i32> {
    (0..=5).collect()
}

#[tokio::test]
async fn embedded_route_describes_a_kafka_like_log_with_epochs() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(info.route, "/embedded");
    assert_eq!(info.scheme, "embedded");
    let caps = info.capabilities.expect("capabilities");
    assert_eq!(caps.starts, all_starts());
    assert!(caps.history && caps.fetch && caps.time_lookup && caps.offsets);
    assert!(caps.groups && caps.commit && caps.headers && caps.keys && caps.partitions);
    assert!(
        caps.ack && caps.nack,
        "embedded groups ack message by message as well as commit"
    );
    assert_eq!(caps.wildcards, "regex");
    assert!(caps.epochs);
    assert!(!caps.string_positions);
    gw.stop().await;
}

#[tokio::test]
async fn kafka_route_describes_itself_without_asking_the_broker() {
    let gw = Gateway::start(&unreachable_kafka_route()).await;
    let mut c = gw.connect("/kafka").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(
        (info.route.as_str(), info.scheme.as_str()),
        ("/kafka", "kafka")
    );
    let caps = info.capabilities.expect("capabilities");
    assert_eq!(caps.starts, all_starts());
    // Groups take cumulative commits and per-message acks and nacks (issue #25).
    assert!(caps.commit && caps.ack && caps.nack && !caps.epochs);
    gw.stop().await;
}

#[cfg(feature = "nats")]
#[tokio::test]
async fn ack_and_nack_on_a_scheme_without_them_answer_the_capability_error() {
    let gw = Gateway::start(&crate::common::nats::core_route(
        "/nats",
        crate::common::nats::NATS,
    ))
    .await;
    let mut c = gw.connect("/nats").await;
    let subject = crate::common::nats::unique("acks");
    let id = c.subscribe(sub(&subject)).await;
    let position = MessagePosition {
        topic: subject.clone(),
        partition: 0,
        offset: 0,
        position: String::new(),
    };
    let (code, message) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: vec![position.clone()],
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(
        message.contains("per-message ack") && message.contains("route /nats is core NATS"),
        "{message}"
    );
    let (code, message) = error_of(
        c.request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: vec![position],
            delay_ms: 100,
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(message.contains("nack"), "{message}");
    // An unknown subscription is still 404 first.
    let (code, _) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: 999,
            positions: vec![],
        }))
        .await,
    );
    assert_eq!(code, 404);
    gw.stop().await;
}

#[tokio::test]
async fn start_epoch_and_start_position_need_the_capability() {
    let gw = Gateway::start(&unreachable_kafka_route()).await;
    let mut c = gw.connect("/kafka").await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "t".into(),
            start_epoch: 7,
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(
        message.contains("start_epoch needs epochs; route /kafka is Kafka"),
        "{message}"
    );
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "t".into(),
            start_position: "1-0".into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    gw.stop().await;
}

async fn epoch_of(c: &mut Client, topic: &str) -> u64 {
    let got = c.fetch(fetch_cmd(topic, 0, 0)).await;
    assert!(!got.is_empty());
    assert!(got.iter().all(|m| m.epoch == got[0].epoch));
    got[0].epoch
}

#[tokio::test]
async fn resume_in_the_same_epoch_continues_where_it_left_off() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for i in 0..3 {
        c.produce_value("room", &format!("m{i}")).await;
    }
    let epoch = epoch_of(&mut c, "room").await;
    assert_ne!(epoch, 0);
    // Metadata names the same epoch, for partitions a client has had no message from.
    match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "room".into(),
        }))
        .await
    {
        Resp::KafkaMetadataResp(m) => assert_eq!(m.partitions[0].epoch, epoch),
        other => panic!("{other:?}"),
    }
    let id = c
        .subscribe(CmdKafkaSubscribe {
            topic: "room".into(),
            start: StartPosition::Offset as i32,
            start_value: 2,
            start_epoch: epoch,
            ..Default::default()
        })
        .await;
    let got = c.pushed(id, 1).await;
    assert_eq!(offsets_of(&got), vec![2]);
    gw.stop().await;
}

#[tokio::test]
async fn resume_into_a_restarted_embedded_broker_starts_over_and_says_reset() {
    // The first gateway's log: five messages, then the gateway is gone.
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    for i in 0..5 {
        c.produce_value("room", &format!("old{i}")).await;
    }
    let old_epoch = epoch_of(&mut c, "room").await;
    drop(c);
    gw.stop().await;
    // A new gateway: the new log's first messages must not be skipped as "already seen".
    let gw = Gateway::start(EMBEDDED).await;
    let mut p = gw.connect("/embedded").await;
    for i in 0..2 {
        p.produce_value("room", &format!("new{i}")).await;
    }
    let mut s = gw.connect("/embedded").await;
    let seq = s
        .send(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "room".into(),
            start: StartPosition::Offset as i32,
            start_value: 5,
            start_epoch: old_epoch,
            ..Default::default()
        }))
        .await;
    let Resp::KafkaSubscribeResp(r) = s.reply(seq).await else {
        panic!("subscribe refused")
    };
    let first = loop {
        let f = s.recv_frame().await;
        if let Some(Resp::KafkaPush(p)) = f.resp {
            if p.subscription_id == r.subscription_id {
                break p;
            }
        }
    };
    assert!(first.reset, "the first push says the log was recreated");
    assert_eq!(first.messages[0].offset, 0);
    assert_eq!(value_of(&first.messages[0]), "new0");
    assert_ne!(first.messages[0].epoch, old_epoch);
    p.produce_value("room", "new2").await;
    let more = s.pushed(r.subscription_id, 1).await;
    assert!(more.iter().any(|m| value_of(m) == "new2"));
    gw.stop().await;
}
