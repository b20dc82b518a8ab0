//! The `pubsub.json` WebSocket subprotocol: a client that asks for it exchanges text frames
//! holding the proto3 JSON mapping of `PubSubReq` / `PubSubResp` (int64 as strings, bytes as
//! base64, enums by name). Every command round-trips in JSON against the real gateway, with a
//! binary client on the same route as the oracle of what was stored; hostile JSON is answered
//! with an `ErrorResp` and the session keeps serving; binary sessions are unaffected.

use std::collections::VecDeque;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(v: &Value) -> String {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("base64 string, got {v}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .expect("base64"),
    )
    .expect("utf-8")
}

/// A WebSocket client speaking `pubsub.json`, as websocat or a browser without protobuf would.
struct JsonClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_seq: i64,
    /// Frames received while waiting for something else.
    pending: VecDeque<Value>,
}

/// Upgrades to `path` offering `protocols` (comma-separated); the subprotocol the gateway
/// answered, if any.
async fn upgrade_offering(
    gw: &Gateway,
    path: &str,
    protocols: &str,
) -> (WebSocketStream<MaybeTlsStream<TcpStream>>, Option<String>) {
    let mut req = format!("ws://{}{path}", gw.addr)
        .into_client_request()
        .unwrap();
    if !protocols.is_empty() {
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(protocols).unwrap(),
        );
    }
    let (ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("upgrade in time")
        .expect("websocket upgrade");
    let chosen = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string());
    (ws, chosen)
}

impl JsonClient {
    async fn connect(gw: &Gateway, path: &str) -> JsonClient {
        let (ws, chosen) = upgrade_offering(gw, path, "pubsub.json").await;
        assert_eq!(chosen.as_deref(), Some("pubsub.json"));
        JsonClient {
            ws,
            next_seq: 1,
            pending: VecDeque::new(),
        }
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send frame");
    }

    /// Sends `{"sequence": "<n>", "<command>": body}`; returns the sequence.
    async fn send(&mut self, command: &str, body: Value) -> i64 {
        let sequence = self.next_seq;
        self.next_seq += 1;
        let mut req = json!({ "sequence": sequence.to_string() });
        req[command] = body;
        self.send_text(req.to_string()).await;
        sequence
    }

    /// The next frame, which must be a text frame holding a JSON object.
    async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("frames are JSON");
                    assert!(v.is_object(), "{v}");
                    return v;
                }
                Some(Ok(Message::Binary(b))) => panic!("binary frame on a JSON session: {b:?}"),
                Some(Ok(Message::Close(f))) => panic!("connection closed: {f:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed: {e}"),
                None => panic!("connection ended"),
            }
        }
    }

    /// The reply (not a push) with this sequence; other frames are kept for later.
    async fn reply(&mut self, sequence: i64) -> Value {
        let is_reply = |v: &Value| {
            v["sequence"] == json!(sequence.to_string()) && v.get("kafkaPush").is_none()
        };
        if let Some(i) = self.pending.iter().position(is_reply) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let v = self.recv().await;
            if is_reply(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    async fn request(&mut self, command: &str, body: Value) -> Value {
        let seq = self.send(command, body).await;
        self.reply(seq).await
    }

    /// The messages pushed to subscription `id` (its id as the JSON string), until `n` came.
    async fn pushed(&mut self, id: &Value, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let mut kept = VecDeque::new();
        while out.len() < n {
            let v = match self.pending.pop_front() {
                Some(v) => v,
                None => self.recv().await,
            };
            match v.get("kafkaPush") {
                Some(p) if &p["subscriptionId"] == id => {
                    out.extend(p["messages"].as_array().expect("messages").iter().cloned())
                }
                _ => kept.push_back(v),
            }
        }
        kept.extend(self.pending.drain(..));
        self.pending = kept;
        out
    }

    /// A ping answered with a pong carrying its state back: the session still serves.
    async fn ping_ok(&mut self) {
        let r = self
            .request("cmdPing", json!({ "state": b64("alive") }))
            .await;
        assert_eq!(r["pongResp"]["state"], json!(b64("alive")), "{r}");
    }
}

/// The server's close frame, which must be the next frame.
async fn close_frame(j: &mut JsonClient) -> CloseFrame {
    match tokio::time::timeout(WAIT, j.ws.next())
        .await
        .expect("close in time")
    {
        Some(Ok(Message::Close(f))) => f.expect("a close frame"),
        other => panic!("expected the close, got {other:?}"),
    }
}

/// The error of a reply: (code, message).
fn error(v: &Value) -> (i64, String) {
    let e = v
        .get("errorResp")
        .unwrap_or_else(|| panic!("expected an errorResp, got {v}"));
    (
        e["code"].as_i64().expect("code"),
        e["message"].as_str().expect("message").to_string(),
    )
}

#[tokio::test]
async fn json_is_spoken_and_answered_only_to_a_client_that_asks_for_pubsub_json() {
    let gw = Gateway::start(EMBEDDED).await;
    for (offered, answered) in [
        ("pubsub.json", Some("pubsub.json")),
        // Matched without regard to case, echoed as the client spelled it.
        ("PubSub.JSON", Some("PubSub.JSON")),
        ("bearer.x, pubsub.json", Some("pubsub.json")),
        ("pubsub", Some("pubsub")),
        // The client's first choice wins.
        ("pubsub, pubsub.json", Some("pubsub")),
        ("pubsub.json, pubsub", Some("pubsub.json")),
        ("", None),
        ("chat", Some("chat")),
    ] {
        let (mut ws, chosen) = upgrade_offering(&gw, "/embedded", offered).await;
        assert_eq!(chosen.as_deref(), answered, "offered {offered:?}");
        // A ping in the framing answered: JSON text, or binary protobuf.
        let json = answered.is_some_and(|a| a.eq_ignore_ascii_case("pubsub.json"));
        if json {
            ws.send(Message::text(
                r#"{"sequence":"5","cmdPing":{"state":"cA=="}}"#,
            ))
            .await
            .unwrap();
        } else {
            let req = PubSubReq {
                sequence: 5,
                req: Some(Req::CmdPing(CmdPing {
                    state: bytes::Bytes::from_static(b"p"),
                })),
            };
            ws.send(Message::Binary(prost::Message::encode_to_vec(&req).into()))
                .await
                .unwrap();
        }
        let reply = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a reply in time")
            .expect("a frame")
            .expect("no error");
        match (json, reply) {
            (true, Message::Text(t)) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v, json!({"sequence": "5", "pongResp": {"state": "cA=="}}));
            }
            (false, Message::Binary(b)) => {
                let r: PubSubResp = prost::Message::decode(b).unwrap();
                assert_eq!(r.sequence, 5);
                assert!(matches!(r.resp, Some(Resp::PongResp(_))), "{r:?}");
            }
            (json, other) => panic!("json session {json}: got {other:?}"),
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn every_embedded_command_round_trips_in_json_with_a_binary_client_seeing_the_same_log() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let topic = unique_name("json", '-');
    let mut j = JsonClient::connect(&gw, "/embedded").await;
    let mut bin = gw.connect("/embedded").await;

    j.ping_ok().await;

    // produce: key, value and header values in base64, partition chosen; the reply's offset is
    // an int64, so a string.
    let r = j
        .request(
            "cmdKafkaProduce",
            json!({
                "topic": topic,
                "partition": 1,
                "key": b64("k1"),
                "value": b64("hello"),
                "headers": [{"key": "h", "value": b64("v")}],
            }),
        )
        .await;
    assert_eq!(
        r["kafkaProduceResp"],
        json!({"partition": 1, "offset": "0", "position": ""}),
        "{r}"
    );
    // The binary client reads what the JSON one stored.
    let stored = bin.fetch(fetch_cmd(&topic, 1, 0)).await;
    assert_eq!(values(&stored), ["hello"]);
    assert_eq!(&stored[0].key[..], b"k1");
    assert_eq!(headers_of(&stored[0]), [("h".to_string(), "v".to_string())]);
    // And the JSON one what the binary one stored.
    bin.produce_to(&topic, 1, "second").await;

    // fetch: every field of KafkaMessage is there, defaults included.
    let r = j
        .request(
            "cmdKafkaFetch",
            json!({"topic": topic, "partition": 1, "offset": "0"}),
        )
        .await;
    let msgs = r["kafkaFetchResp"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(msgs.len(), 2, "{r}");
    assert_eq!(msgs[0]["offset"], "0");
    assert_eq!(unb64(&msgs[0]["key"]), "k1");
    assert_eq!(unb64(&msgs[0]["value"]), "hello");
    assert_eq!(msgs[0]["headers"], json!([{"key": "h", "value": b64("v")}]));
    assert_eq!(msgs[0]["partition"], 1);
    assert_eq!(msgs[0]["topic"], json!(topic));
    assert_eq!(msgs[0]["epoch"], json!(stored[0].epoch.to_string()));
    assert_eq!(msgs[0]["deliveryAttempt"], 0);
    assert_eq!(msgs[0]["timestamp"], json!(stored[0].timestamp.to_string()));
    assert_eq!(msgs[1]["offset"], "1");
    assert_eq!(unb64(&msgs[1]["value"]), "second");

    // list offsets: -1 = the end; numbers are accepted as well as strings.
    let r = j
        .request(
            "cmdKafkaListOffset",
            json!({"topic": topic, "partition": 1, "timestamp": -1}),
        )
        .await;
    assert_eq!(r["kafkaListOffsetResp"]["offset"], "2", "{r}");

    // metadata
    let r = j.request("cmdKafkaMetadata", json!({"topic": topic})).await;
    let parts = &r["kafkaMetadataResp"]["partitions"];
    assert_eq!(parts.as_array().map(Vec::len), Some(2), "{r}");
    assert_eq!(parts[1]["latest"], "2", "{r}");
    assert_eq!(parts[0]["latest"], "0", "{r}");

    // route info: the capabilities, with start positions by name.
    let r = j.request("cmdRouteInfo", json!({})).await;
    let info = &r["routeInfoResp"];
    assert_eq!(info["route"], "/embedded", "{r}");
    assert_eq!(info["scheme"], "embedded", "{r}");
    assert_eq!(info["capabilities"]["history"], true, "{r}");
    assert!(
        info["capabilities"]["starts"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("EARLIEST"))),
        "{r}"
    );

    // subscribe (start by enum name) and pushes: history, then a live message.
    let r = j
        .request(
            "cmdKafkaSubscribe",
            json!({"topic": topic, "start": "EARLIEST", "partitions": [1]}),
        )
        .await;
    let id = r["kafkaSubscribeResp"]["subscriptionId"].clone();
    assert!(id.is_string(), "{r}");
    let got = j.pushed(&id, 2).await;
    assert_eq!(unb64(&got[0]["value"]), "hello");
    assert_eq!(unb64(&got[1]["value"]), "second");
    bin.produce_to(&topic, 1, "live").await;
    let got = j.pushed(&id, 1).await;
    assert_eq!(unb64(&got[0]["value"]), "live");
    assert_eq!(got[0]["offset"], "2");

    // unsubscribe
    let r = j
        .request("cmdUnsubscribe", json!({"subscriptionId": id}))
        .await;
    assert_eq!(r["okResp"], json!({}), "{r}");

    // A group member commits; a binary member of the same group starts after the commit.
    let group = unique_name("g", '-');
    let r = j
        .request(
            "cmdKafkaSubscribe",
            json!({"topic": topic, "group": group, "start": "EARLIEST"}),
        )
        .await;
    let gid = r["kafkaSubscribeResp"]["subscriptionId"].clone();
    let got = j.pushed(&gid, 3).await;
    assert_eq!(got.len(), 3);
    let r = j
        .request(
            "cmdKafkaCommit",
            json!({"subscriptionId": gid, "offsets": [{"topic": topic, "partition": 1, "offset": "2"}]}),
        )
        .await;
    assert_eq!(r["okResp"], json!({}), "{r}");
    j.request("cmdUnsubscribe", json!({"subscriptionId": gid}))
        .await;
    let bid = bin
        .subscribe(CmdKafkaSubscribe {
            partitions: vec![1],
            ..sub_from(&topic, Start::Earliest)
        })
        .await;
    assert_eq!(
        values(&bin.pushed(bid, 3).await),
        ["hello", "second", "live"]
    );
    let member = bin
        .subscribe(CmdKafkaSubscribe {
            group: group.clone(),
            ..sub_from(&topic, Start::Earliest)
        })
        .await;
    let resumed = bin.pushed(member, 1).await;
    assert_eq!(values(&resumed), ["live"], "the commit of offset 2 holds");

    // Ack and nack in JSON, sequence kept: on a plain subscription an ack frees the window (OK),
    // a nack is refused (plain subscriptions do not redeliver).
    let r = j
        .request("cmdKafkaSubscribe", json!({"topic": topic}))
        .await;
    let id = r["kafkaSubscribeResp"]["subscriptionId"].clone();
    let position = json!([{"topic": topic, "partition": 1, "offset": "0"}]);
    let seq = j
        .send(
            "cmdAck",
            json!({"subscriptionId": id, "positions": position}),
        )
        .await;
    let r = j.reply(seq).await;
    assert_eq!(r["okResp"], json!({}), "{r}");
    let seq = j
        .send(
            "cmdNack",
            json!({"subscriptionId": id, "positions": position}),
        )
        .await;
    let r = j.reply(seq).await;
    let (code, _) = error(&r);
    assert_eq!(code, 400, "{r}");
    let r = j.request("cmdEmpty", json!({})).await;
    assert_eq!(error(&r), (400, "unknown command".to_string()));
    j.ping_ok().await;
    gw.stop().await;
}

#[cfg(feature = "nats")]
#[tokio::test]
async fn json_ack_and_nack_round_trip_on_a_nats_jetstream_group() {
    use crate::common::nats::*;
    let nc = oracle().await;
    let stream = unique("GWJ");
    let base = unique("gwt.json").replace('_', ".");
    let gw = Gateway::start(&js_route("/js", NATS, &stream, &base, "")).await;
    let subject = format!("{base}.a");
    let mut j = JsonClient::connect(&gw, "/js").await;
    let r = j
        .request(
            "cmdKafkaSubscribe",
            json!({"topic": subject, "group": unique("grp"), "start": "EARLIEST"}),
        )
        .await;
    let id = r["kafkaSubscribeResp"]["subscriptionId"].clone();
    assert!(id.is_string(), "{r}");
    // Published by NATS's own client.
    let js = async_nats::jetstream::new(nc.clone());
    js.publish(subject.clone(), "from-nats".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let first = j.pushed(&id, 1).await;
    assert_eq!(unb64(&first[0]["value"]), "from-nats");
    let offset = first[0]["offset"].clone();
    let position = json!([{"topic": subject, "partition": 0, "offset": offset}]);
    let nacked = std::time::Instant::now();
    let r = j
        .request(
            "cmdNack",
            json!({"subscriptionId": id, "positions": position, "delayMs": "500"}),
        )
        .await;
    assert_eq!(r["okResp"], json!({}), "{r}");
    let again = j.pushed(&id, 1).await;
    assert!(nacked.elapsed() >= std::time::Duration::from_millis(400));
    assert_eq!(again[0]["offset"], offset);
    let r = j
        .request(
            "cmdAck",
            json!({"subscriptionId": id, "positions": position}),
        )
        .await;
    assert_eq!(r["okResp"], json!({}), "{r}");
    // Acknowledged once: a second ack is refused, in JSON.
    let r = j
        .request(
            "cmdAck",
            json!({"subscriptionId": id, "positions": position}),
        )
        .await;
    assert_eq!(error(&r).0, 400, "{r}");
    j.ping_ok().await;
    delete_stream(&nc, &stream).await;
    gw.stop().await;
}

#[tokio::test]
async fn hostile_json_is_answered_with_an_error_and_the_session_keeps_serving() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut j = JsonClient::connect(&gw, "/embedded").await;
    let deep_array = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let deep_object = format!(
        r#"{{"sequence":"4","cmdPing":{}1{}}}"#,
        r#"{"state":"#.repeat(3_000),
        "}".repeat(3_000)
    );
    // (frame, the sequence the error carries, a word the message holds)
    let cases: Vec<(String, i64, &str)> =
        vec![
        (r#"{"sequence":"11","cmdPing":{"bogus":1}}"#.into(), 11, "bogus"),
        (r#"{"sequence":"12","bogusCmd":{}}"#.into(), 12, "bogusCmd"),
        (
            r#"{"sequence":13,"cmdKafkaFetch":{"topic":"t","partition":"abc"}}"#.into(),
            13,
            "invalid",
        ),
        (
            r#"{"sequence":"14","cmdKafkaFetch":{"topic":"t","offset":1e400}}"#.into(),
            14,
            "invalid",
        ),
        (
            r#"{"sequence":"15","cmdKafkaFetch":{"topic":"t","offset":"99999999999999999999"}}"#
                .into(),
            15,
            "invalid",
        ),
        (
            r#"{"sequence":"16","cmdKafkaFetch":{"topic":"t","partition":4294967296}}"#.into(),
            16,
            "invalid",
        ),
        (
            r#"{"sequence":"17","cmdKafkaSubscribe":{"topic":"t","start":"SOMEDAY"}}"#.into(),
            17,
            "SOMEDAY",
        ),
        (
            r#"{"sequence":"18","cmdPing":{"state":"not base64!"}}"#.into(),
            18,
            "invalid",
        ),
        (r#"{"sequence":"19","cmdPing":{},"cmdRouteInfo":{}}"#.into(), 19, "duplicate"),
        (r#"{"sequence":"20","cmdPing":{}}{"x":1}"#.into(), 0, "trailing"),
        (r#"{"sequence":"99999999999999999999"}"#.into(), 0, "invalid"),
        (r#"{"sequence":"21","cmdPing":{"state":""},"#.into(), 0, "EOF"),
        ("not json".into(), 0, "invalid JSON request"),
        ("".into(), 0, "EOF"),
        ("[1,2]".into(), 0, "invalid"),
        ("null".into(), 0, "invalid"),
        // Refused at the first bracket where the request's shape has none, however deep the
        // input goes; the sequence is still read.
        (deep_array, 0, "invalid type"),
        (deep_object, 4, "invalid type"),
    ];
    for (frame, sequence, word) in cases {
        j.send_text(frame.clone()).await;
        let r = j.recv().await;
        let (code, message) = error(&r);
        let shown = &frame[..frame.len().min(80)];
        assert_eq!(code, 400, "{shown}: {r}");
        assert!(
            message.starts_with("invalid JSON request: "),
            "{shown}: {message}"
        );
        assert!(message.contains(word), "{shown}: {message}");
        assert_eq!(r["sequence"], json!(sequence.to_string()), "{shown}: {r}");
        j.ping_ok().await;
    }
    // A binary frame on a JSON session: an error naming what to send, and it keeps serving.
    j.ws.send(Message::Binary(vec![0x08, 0x01].into()))
        .await
        .unwrap();
    let r = j.recv().await;
    let (code, message) = error(&r);
    assert_eq!(code, 400);
    assert!(message.contains("JSON text frames"), "{message}");
    j.ping_ok().await;
    gw.stop().await;
}

#[tokio::test]
async fn a_text_frame_over_max_frame_bytes_closes_with_1009_as_a_binary_one_does() {
    let gw = Gateway::start(&embedded_with_limits("max_frame_bytes: 1024")).await;
    let mut j = JsonClient::connect(&gw, "/embedded").await;
    let state = b64(&"s".repeat(600));
    let r = j.request("cmdPing", json!({ "state": state })).await;
    assert_eq!(r["pongResp"]["state"], json!(state), "just under the limit");
    let big = format!(
        r#"{{"sequence":"2","cmdPing":{{"state":"{}"}}}}"#,
        "A".repeat(2048)
    );
    j.send_text(big).await;
    let close = close_frame(&mut j).await;
    assert_eq!(close.code, CloseCode::Size);
    let mut again = JsonClient::connect(&gw, "/embedded").await;
    again.ping_ok().await;
    gw.stop().await;
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_a_protocol_error() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut j = JsonClient::connect(&gw, "/embedded").await;
    j.ping_ok().await;
    // tungstenite's Message::Text cannot hold invalid UTF-8: the raw frame can.
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    j.ws.send(Message::Frame(frame)).await.unwrap();
    let close = close_frame(&mut j).await;
    assert_eq!(close.code, CloseCode::Protocol);
    let mut again = JsonClient::connect(&gw, "/embedded").await;
    again.ping_ok().await;
    gw.stop().await;
}

#[tokio::test]
async fn a_binary_session_ignores_text_frames_and_shares_a_route_with_json_sessions() {
    let gw = Gateway::start(EMBEDDED).await;
    let topic = unique_name("mix", '-');
    let mut bin = gw.connect("/embedded").await;
    let mut j = JsonClient::connect(&gw, "/embedded").await;
    let id = bin.subscribe(sub(&topic)).await;
    // JSON on a binary session is ignored, as APISIX does: the next frame the client gets is
    // the pong of the ping sent after it, not an error.
    bin.send_raw(Message::text(r#"{"sequence":"1","cmdPing":{}}"#))
        .await;
    let seq = bin
        .send(Req::CmdPing(CmdPing {
            state: bytes::Bytes::from_static(b"after"),
        }))
        .await;
    let r = bin.recv_frame().await;
    assert_eq!(r.sequence, seq);
    assert!(matches!(r.resp, Some(Resp::PongResp(_))), "{r:?}");
    // What the JSON session produces reaches the binary subscriber as protobuf.
    let r = j
        .request(
            "cmdKafkaProduce",
            json!({"topic": topic, "value": b64("from json")}),
        )
        .await;
    assert!(r.get("kafkaProduceResp").is_some(), "{r}");
    assert_eq!(values(&bin.pushed(id, 1).await), ["from json"]);
    bin.disconnect().await;
    j.ping_ok().await;
    gw.stop().await;
}

#[tokio::test]
async fn json_refresh_on_a_jwt_route_with_the_token_offered_as_a_subprotocol_next_to_pubsub_json() {
    let gw = Gateway::start(
        "routes:\n  - uri: /e\n    upstream: { scheme: embedded }\n    plugins:\n      jwt-auth: { algorithm: HS256, secret: json-secret }\n",
    )
    .await;
    let token = |secret: &str, acl: Value| {
        let exp = pubsub_gateway::backend::now_ms() / 1000 + 600;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({ "sub": "jo", "exp": exp, "acl": acl }),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let topic = unique_name("jwt", '-');
    let first = token("json-secret", json!({ "write": [topic] }));
    // The token travels as `bearer.<token>`; only pubsub.json comes back.
    let (ws, chosen) = upgrade_offering(&gw, "/e", &format!("pubsub.json, bearer.{first}")).await;
    assert_eq!(chosen.as_deref(), Some("pubsub.json"));
    let mut j = JsonClient {
        ws,
        next_seq: 1,
        pending: VecDeque::new(),
    };
    let produce = json!({"topic": topic, "value": b64("x")});
    let r = j.request("cmdKafkaProduce", produce.clone()).await;
    assert!(r.get("kafkaProduceResp").is_some(), "{r}");
    let forged = token("not-the-secret", json!({}));
    let r = j.request("cmdRefresh", json!({ "token": forged })).await;
    assert_eq!(error(&r).0, 401, "{r}");
    // A fresh token whose ACL no longer allows the topic: it applies to the next command.
    let narrower = token("json-secret", json!({ "write": ["elsewhere"] }));
    let r = j.request("cmdRefresh", json!({ "token": narrower })).await;
    assert_eq!(r["okResp"], json!({}), "{r}");
    let r = j.request("cmdKafkaProduce", produce).await;
    assert_eq!(error(&r).0, 403, "{r}");
    j.ping_ok().await;
    gw.stop().await;
}

#[tokio::test]
async fn the_rate_limit_answers_json_requests_with_429_as_binary_ones() {
    let gw = Gateway::start(&embedded_with_limits("max_requests_per_sec: 3")).await;
    let mut j = JsonClient::connect(&gw, "/embedded").await;
    let mut seqs = Vec::new();
    for _ in 0..10 {
        seqs.push(j.send("cmdPing", json!({})).await);
    }
    let mut codes = Vec::new();
    for seq in seqs {
        let r = j.reply(seq).await;
        codes.push(r.get("errorResp").map(|e| e["code"].as_i64().unwrap_or(0)));
    }
    assert!(
        codes.iter().filter(|c| c.is_none()).count() <= 4,
        "{codes:?}"
    );
    assert!(codes.contains(&Some(429)), "{codes:?}");
    gw.stop().await;
}

#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_produce_fetch_and_subscribe_on_kafka_with_a_direct_kafka_consumer_as_oracle() {
    use crate::common::kafka::{kafka_yaml, shared, topic};
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message as _};
    let broker = shared();
    let t = topic("json");
    broker.create_topic(&t, 2).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    let mut j = JsonClient::connect(&gw, "/kafka").await;
    let binary_value = base64::engine::general_purpose::STANDARD.encode([0u8, 0xff, b'j']);
    let r = j
        .request(
            "cmdKafkaProduce",
            json!({
                "topic": t,
                "partition": 1,
                "key": b64("kk"),
                "value": binary_value,
                "headers": [{"key": "trace", "value": b64("t-1")}],
                "timestamp": "1650000000123",
            }),
        )
        .await;
    let p = &r["kafkaProduceResp"];
    assert_eq!(p["partition"], 1, "{r}");
    let offset: i64 = p["offset"]
        .as_str()
        .expect("int64 as a string")
        .parse()
        .unwrap();
    // Kafka's own client reads what the JSON request stored.
    let direct: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "unused")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&t, 1, rdkafka::Offset::Offset(offset))
        .unwrap();
    direct.assign(&tpl).unwrap();
    let (key, value, header, ts) = tokio::task::spawn_blocking(move || {
        let m = direct
            .poll(std::time::Duration::from_secs(10))
            .expect("a message")
            .expect("no error");
        let h = m.headers().expect("headers");
        let header = (h.get(0).key.to_string(), h.get(0).value.map(<[u8]>::to_vec));
        (
            m.key().map(<[u8]>::to_vec),
            m.payload().map(<[u8]>::to_vec),
            header,
            m.timestamp().to_millis(),
        )
    })
    .await
    .unwrap();
    assert_eq!(key.as_deref(), Some(&b"kk"[..]));
    assert_eq!(value.as_deref(), Some(&[0u8, 0xff, b'j'][..]));
    assert_eq!(header, ("trace".to_string(), Some(b"t-1".to_vec())));
    assert_eq!(ts, Some(1_650_000_000_123));
    // Fetch and subscribe give it back in JSON.
    let r = j
        .request(
            "cmdKafkaFetch",
            json!({"topic": t, "partition": 1, "offset": offset.to_string()}),
        )
        .await;
    let m = &r["kafkaFetchResp"]["messages"][0];
    assert_eq!(m["value"], json!(binary_value), "{r}");
    assert_eq!(m["timestamp"], "1650000000123", "{r}");
    let r = j
        .request(
            "cmdKafkaSubscribe",
            json!({"topic": t, "start": "EARLIEST", "partitions": [1]}),
        )
        .await;
    let id = r["kafkaSubscribeResp"]["subscriptionId"].clone();
    let got = j.pushed(&id, 1).await;
    assert_eq!(got[0]["value"], json!(binary_value));
    assert_eq!(got[0]["headers"][0]["value"], json!(b64("t-1")));
    j.ping_ok().await;
    gw.stop().await;
}
