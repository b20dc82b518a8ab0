//! APISIX's own pubsub cases and its Kafka cases, on the embedded scheme.

use super::*;

// ---------------------------------------------------------------------------------------------
// APISIX's pubsub cases
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ping_echoes_state() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let seq = c.send(ping(b"abc")).await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, seq);
    assert_eq!(r.resp, Some(pong(b"abc")));
    // Binary state, and the empty state, come back unchanged too.
    assert_eq!(
        c.request(ping(b"\x00\xff\x01")).await,
        pong(b"\x00\xff\x01")
    );
    assert_eq!(c.request(ping(b"")).await, pong(b""));
    gw.stop().await;
}

#[tokio::test]
async fn cmd_empty_answers_unknown_command_with_its_sequence_and_the_connection_keeps_serving() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let seq = c.send(Req::CmdEmpty(CmdEmpty {})).await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, seq);
    let (code, message) = error_of(r.resp.unwrap());
    assert_eq!(message, "unknown command");
    assert_eq!(code, 400);
    assert_eq!(c.request(ping(b"after")).await, pong(b"after"));
    gw.stop().await;
}

#[tokio::test]
async fn text_frame_is_ignored_and_the_connection_keeps_serving() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.send_raw(Message::Text("hello".into())).await;
    let seq = c.send(ping(b"x")).await;
    // The next frame is the pong: the text frame got no answer at all.
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, seq);
    assert_eq!(r.resp, Some(pong(b"x")));
    gw.stop().await;
}

#[tokio::test]
async fn undecodable_binary_frame_answers_wrong_command_with_sequence_0_and_the_connection_keeps_serving(
) {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    c.send_raw(Message::Binary(Bytes::from_static(&[0xff, 0xff, 0xff])))
        .await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, 0);
    assert_eq!(
        r.resp,
        Some(Resp::ErrorResp(ErrorResp {
            code: 400,
            message: "wrong command".into()
        }))
    );
    assert_eq!(c.request(ping(b"still")).await, pong(b"still"));
    gw.stop().await;
}

#[tokio::test]
async fn request_without_command_answers_error_with_its_sequence() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let frame = PubSubReq {
        sequence: 77,
        req: None,
    }
    .encode_to_vec();
    c.send_raw(Message::Binary(frame.into())).await;
    let r = c.recv_frame().await;
    assert_eq!(r.sequence, 77);
    assert_eq!(
        r.resp,
        Some(Resp::ErrorResp(ErrorResp {
            code: 400,
            message: "request has no command".into()
        }))
    );
    assert_eq!(c.request(ping(b"ok")).await, pong(b"ok"));
    gw.stop().await;
}

#[tokio::test]
async fn plain_http_get_on_the_route_answers_400() {
    let gw = Gateway::start(EMBEDDED).await;
    let status = http_status(gw.addr, "GET /embedded HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 400);
    gw.stop().await;
}

#[tokio::test]
async fn unknown_path_answers_404() {
    let gw = Gateway::start(EMBEDDED).await;
    let req = format!(
        "GET /nowhere HTTP/1.1\r\nHost: localhost\r\n{UPGRADE_HEADERS}Sec-WebSocket-Version: 13\r\n\r\n"
    );
    assert_eq!(http_status(gw.addr, &req).await, 404);
    gw.stop().await;
}

#[tokio::test]
async fn websocket_version_12_answers_426() {
    let gw = Gateway::start(EMBEDDED).await;
    let req = format!(
        "GET /embedded HTTP/1.1\r\nHost: localhost\r\n{UPGRADE_HEADERS}Sec-WebSocket-Version: 12\r\n\r\n"
    );
    assert_eq!(http_status(gw.addr, &req).await, 426);
    // The refusal did not disturb the server.
    let mut c = gw.connect("/embedded").await;
    assert_eq!(c.request(ping(b"v13")).await, pong(b"v13"));
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// APISIX's Kafka cases, on the embedded scheme
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn apisix_list_offset_cases_earliest_latest_and_by_timestamp() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    let offset = |r: Resp| match r {
        Resp::KafkaListOffsetResp(r) => r.offset,
        other => panic!("expected a list_offset reply, got {other:?}"),
    };
    assert_eq!(offset(c.request(list_offset("test-consumer", -2)).await), 0);
    assert_eq!(
        offset(c.request(list_offset("test-consumer", -1)).await),
        30
    );
    assert_eq!(
        offset(
            c.request(list_offset("test-consumer", 1_500_000_000_000))
                .await
        ),
        0
    );
    assert_eq!(
        offset(
            c.request(list_offset("test-consumer", now_ms() + 3_600_000))
                .await
        ),
        -1
    );
    gw.stop().await;
}

#[tokio::test]
async fn apisix_fetch_from_offset_14_returns_testmsg15_first() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    let msgs = c.fetch(fetch_cmd("test-consumer", 0, 14)).await;
    assert_eq!(msgs[0].offset, 14);
    assert_eq!(value_of(&msgs[0]), "testmsg15");
    assert_eq!(offsets_of(&msgs), (14..30).collect::<Vec<_>>());
    assert_eq!(value_of(&msgs[15]), "testmsg30");
    let first = c.fetch(fetch_cmd("test-consumer", 0, 0)).await;
    assert_eq!(value_of(&first[0]), "testmsg1");
    gw.stop().await;
}

#[tokio::test]
async fn apisix_fetch_past_the_end_answers_416_offset_out_of_range() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    produce_apisix_test_messages(&mut c).await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("test-consumer", 0, 999)))
            .await,
    );
    assert_eq!(code, 416);
    let prefix =
        "failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE";
    assert!(message.starts_with(prefix), "{message}");
    // A negative offset is outside the log too.
    let (code, _) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("test-consumer", 0, -5)))
            .await,
    );
    assert_eq!(code, 416);
    gw.stop().await;
}

#[tokio::test]
async fn fetch_of_a_missing_topic_answers_404_unknown_topic_or_partition() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("no-such-topic", 0, 0)))
            .await,
    );
    assert_eq!(code, 404);
    assert_eq!(
        message,
        "failed to fetch message, topic: no-such-topic, partition: 0, err: UNKNOWN_TOPIC_OR_PARTITION"
    );
    // A partition the topic does not have is the same error.
    c.produce_value("one-partition", "x").await;
    let (code, message) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("one-partition", 3, 0)))
            .await,
    );
    assert_eq!(code, 404);
    assert!(message.ends_with("UNKNOWN_TOPIC_OR_PARTITION"), "{message}");
    gw.stop().await;
}
