//! Retention, limits and shutdown.

use super::*;

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn retention_moves_earliest_forward_and_fetch_before_it_answers_416() {
    let gw = Gateway::start(&embedded_with("retention_messages: 10")).await;
    let mut c = gw.connect("/embedded").await;
    for i in 0..25 {
        c.produce_value("ret", &format!("m{i}")).await;
    }
    let r = c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "ret".into(),
        }))
        .await;
    assert_eq!(
        without_epochs(r),
        Resp::KafkaMetadataResp(KafkaMetadataResp {
            topic: "ret".into(),
            partitions: vec![KafkaPartitionInfo {
                partition: 0,
                earliest: 15,
                latest: 25,
                epoch: 0,
            }],
        })
    );
    let (code, message) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("ret", 0, 0))).await);
    assert_eq!(code, 416);
    assert!(message.contains("OFFSET_OUT_OF_RANGE"), "{message}");
    let msgs = c.fetch(fetch_cmd("ret", 0, 15)).await;
    assert_eq!(offsets_of(&msgs), (15..25).collect::<Vec<_>>());
    assert_eq!(value_of(&msgs[0]), "m15");
    let earliest = match c.request(list_offset("ret", -2)).await {
        Resp::KafkaListOffsetResp(r) => r.offset,
        other => panic!("{other:?}"),
    };
    assert_eq!(earliest, 15);
    // EARLIEST means the earliest retained message.
    let id = c.subscribe(sub_from("ret", Start::Earliest)).await;
    assert_eq!(
        offsets_of(&c.pushed(id, 10).await),
        (15..25).collect::<Vec<_>>()
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Limits and shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn frame_over_max_frame_bytes_closes_with_1009_and_the_server_keeps_accepting() {
    let gw = Gateway::start(&embedded_with_limits("max_frame_bytes: 1024")).await;
    let mut c = gw.connect("/embedded").await;
    // Just under the limit is fine.
    let state = vec![b's'; 900];
    let r = c
        .request(Req::CmdPing(CmdPing {
            state: state.clone().into(),
        }))
        .await;
    assert_eq!(
        r,
        Resp::PongResp(PongResp {
            state: state.into()
        })
    );
    c.send_raw(Message::Binary(vec![0u8; 2048].into())).await;
    let close = c.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
    let mut again = gw.connect("/embedded").await;
    assert_eq!(again.request(ping(b"again")).await, pong(b"again"));
    gw.stop().await;
}

#[tokio::test]
async fn subscription_limit_answers_429() {
    let gw = Gateway::start(&embedded_with_limits("max_subscriptions: 2")).await;
    let mut c = gw.connect("/embedded").await;
    let first = c.subscribe(sub_from("lim", Start::Latest)).await;
    c.subscribe(sub_from("lim", Start::Latest)).await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaSubscribe(sub_from("lim", Start::Latest)))
            .await,
    );
    assert_eq!(code, 429);
    assert!(message.contains("subscription limit reached"), "{message}");
    // Freeing one makes room again.
    let r = c
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: first,
        }))
        .await;
    assert_eq!(r, Resp::OkResp(OkResp {}));
    c.subscribe(sub_from("lim", Start::Latest)).await;
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_closes_connected_clients_with_1001() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    assert_eq!(c.request(ping(b"up")).await, pong(b"up"));
    gw.shutdown.cancel();
    let close = c.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    tokio::time::timeout(WAIT, gw.task)
        .await
        .expect("the server stops in time")
        .expect("the server task ends cleanly");
}

#[tokio::test]
async fn list_offset_with_an_invalid_negative_timestamp_answers_400() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.produce_value("ts-neg", "x").await;
    let r = c
        .request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "ts-neg".into(),
            partition: 0,
            timestamp: -3,
        }))
        .await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 400, "{msg}");
    assert!(
        msg.starts_with("failed to list offset, topic: ts-neg, partition: 0"),
        "{msg}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn produce_to_a_partition_a_new_topic_would_not_have_creates_no_topic() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "never-created".into(),
            partition: Some(5),
            ..Default::default()
        }))
        .await;
    assert_eq!(error_of(r).0, 404);
    let r = c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "never-created".into(),
        }))
        .await;
    assert_eq!(error_of(r).0, 404, "the topic was not created");
    gw.stop().await;
}

#[tokio::test]
async fn a_client_that_never_answers_pings_is_closed_with_1001_idle_timeout() {
    let gw = Gateway::start(&embedded_with_limits(
        "idle_timeout_secs: 2, ping_interval_secs: 1",
    ))
    .await;
    let mut quiet = gw.connect("/embedded").await;
    let mut lively = gw.connect("/embedded").await;
    // `lively` keeps reading, so its WebSocket library answers the gateway's pings.
    let keep = tokio::spawn(async move {
        let r = lively
            .pushed_within(0, std::time::Duration::from_millis(3500))
            .await;
        assert!(r.is_empty());
        lively.request(Req::CmdPing(CmdPing::default())).await
    });
    // `quiet` reads nothing for a while: no pongs, no frames.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let close = quiet.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason.as_str(), "idle timeout");
    assert!(
        matches!(keep.await.unwrap(), Resp::PongResp(_)),
        "the answering client stays"
    );
    gw.stop().await;
}
