//! The RabbitMQ scheme against the machine's broker (127.0.0.1:5672, guest/guest), through a
//! real WebSocket client, with a plain lapin client as oracle and interop peer. Every test uses
//! its own exchange and deletes the exchanges and durable queues it made; the vhost and
//! credential tests make their own vhost and user with `rabbitmqctl` (as root) and delete them.
//! Outages go through a fault-injecting TCP proxy.

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

#[tokio::test]
async fn publish_reaches_a_plain_consumer_with_headers_properties_and_key_as_message_id() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.pub");
    let q = plain_queue(&ch, &ex, "game.*.score").await;
    let mut plain = consume(&ch, &q, true).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let r = c
        .produce(CmdKafkaProduce {
            topic: "game.7.score".into(),
            key: b"msg-1".to_vec().into(),
            value: b"{\"score\":42}".to_vec().into(),
            timestamp: 1_700_000_123_456,
            headers: vec![
                header("player", "alice"),
                header("amqp-content-type", "application/json"),
                header("amqp-content-encoding", "identity"),
                header("amqp-correlation-id", "corr-9"),
                header("amqp-reply-to", "replies"),
                header("amqp-expiration", "60000"),
                header("amqp-priority", "7"),
                header("amqp-type", "score"),
                header("amqp-app-id", "game-server"),
            ],
            ..Default::default()
        })
        .await;
    assert_eq!((r.partition, r.offset), (0, -1), "AMQP has no position");
    let d = next_delivery(&mut plain).await;
    assert_eq!(d.data, b"{\"score\":42}");
    assert_eq!(d.routing_key.as_str(), "game.7.score");
    let p = &d.properties;
    assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("msg-1"));
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(
        p.content_encoding().as_ref().map(|s| s.as_str()),
        Some("identity")
    );
    assert_eq!(
        p.correlation_id().as_ref().map(|s| s.as_str()),
        Some("corr-9")
    );
    assert_eq!(p.reply_to().as_ref().map(|s| s.as_str()), Some("replies"));
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
    assert_eq!(*p.priority(), Some(7));
    assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some("score"));
    assert_eq!(p.app_id().as_ref().map(|s| s.as_str()), Some("game-server"));
    assert_eq!(*p.timestamp(), Some(1_700_000_123), "AMQP keeps seconds");
    assert_eq!(*p.delivery_mode(), Some(2), "durable route: persistent");
    assert_eq!(header_text(&d, "player").as_deref(), Some("alice"));
    assert!(
        header_text(&d, "amqp-priority").is_none(),
        "properties are not copied into the headers table"
    );
    // Not routed to a queue bound with another key.
    c.produce_value("game.7.chat", "not for the score queue")
        .await;
    c.produce_value("game.8.score", "second").await;
    assert_eq!(next_delivery(&mut plain).await.data, b"second");
    gw.stop().await;
}

#[tokio::test]
async fn plain_publisher_reaches_every_gateway_subscriber_through_one_queue() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.fan");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut a = gw.connect("/rabbit").await;
    let mut b = gw.connect("/rabbit").await;
    let ida = a.subscribe(sub("room.1")).await;
    let idb = b.subscribe(sub("room.1")).await;
    let idb2 = b.subscribe(sub("room.1")).await;
    // rabbitmqctl may come back empty on a busy machine: ask again until it sees the binding.
    let mut bindings = 0;
    for _ in 0..5 {
        bindings = bindings_with_key(&ex, "room.1");
        if bindings > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        bindings, 1,
        "three gateway subscribers of one binding key cost one queue"
    );
    let props = BasicProperties::default()
        .with_message_id("m-1".into())
        .with_content_type("text/plain".into())
        .with_correlation_id("c-1".into())
        .with_timestamp(1_700_000_000)
        .with_headers(table(&[("lang", "en")]));
    publish(&ch, &ex, "room.1", b"hello", props).await;
    let mut got = a.pushed(ida, 1).await;
    got.extend(b.pushed(idb, 1).await);
    got.extend(b.pushed(idb2, 1).await);
    assert_eq!(got.len(), 3);
    for m in got.chunks(1) {
        assert_eq!(value_of(&m[0]), "hello");
        assert_eq!(m[0].topic, "room.1");
        assert_eq!(m[0].key.as_ref(), b"m-1", "message_id is the key");
        assert_eq!(m[0].timestamp, 1_700_000_000_000);
        assert_eq!(hval(&m[0], "lang").as_deref(), Some("en"));
        assert_eq!(
            hval(&m[0], "amqp-content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(hval(&m[0], "amqp-correlation-id").as_deref(), Some("c-1"));
        assert_eq!(m[0].offset, -1, "plain subscriptions have no position");
    }
    // The last subscriber out removes the shared queue.
    a.disconnect().await;
    b.disconnect().await;
    let mut gone = false;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if bindings_with_key(&ex, "room.1") == 0 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the shared queue went with its last subscriber");
    gw.stop().await;
}

#[tokio::test]
async fn wildcard_bindings_star_and_hash_deliver_only_matching_routing_keys() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.wild");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let star = c.subscribe(sub("game.*.move")).await;
    let hash = c.subscribe(sub("game.#")).await;
    for key in [
        "game.1.move",
        "game.1.2.move",
        "game",
        "chat.1.move",
        "game.x",
    ] {
        publish(&ch, &ex, key, key.as_bytes(), BasicProperties::default()).await;
    }
    let got_star = c.pushed_within(star, Duration::from_millis(1500)).await;
    assert_eq!(values(&got_star), ["game.1.move"]);
    let got_hash: BTreeSet<String> =
        values(&c.pushed_within(hash, Duration::from_millis(500)).await)
            .into_iter()
            .collect();
    let want: BTreeSet<String> = ["game.1.move", "game.1.2.move", "game", "game.x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got_hash, want, "`#` matches zero or more words");
    gw.stop().await;
}

#[tokio::test]
async fn group_members_share_a_durable_queue_with_a_plain_consumer() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.grp");
    let group = unique("workers");
    let topic = "jobs.#";
    let queue = group_queue("/rabbit", &group, topic);
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, ", prefetch_count: 1")).await;
    let mut c = gw.connect("/rabbit").await;
    let id = c.subscribe(group_sub(topic, &group, 0)).await;
    // A plain AMQP consumer of the same queue competes for its messages.
    let plain_ch = channel(&amqp).await;
    plain_ch
        .basic_qos(1, Default::default())
        .await
        .expect("qos");
    let mut plain = consume(&plain_ch, &queue, false).await;
    assert_eq!(consumer_count(&ch, &queue).await, 2);
    for i in 0..10 {
        c.produce_value(&format!("jobs.{i}"), &format!("job-{i}"))
            .await;
    }
    let mut seen = BTreeSet::new();
    let mut gateway_got = 0;
    let mut plain_got = 0;
    while seen.len() < 10 {
        tokio::select! {
            d = next_delivery(&mut plain) => {
                seen.insert(String::from_utf8_lossy(&d.data).into_owned());
                plain_got += 1;
                d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            }
            m = c.pushed(id, 1) => {
                assert!(m[0].offset >= 0, "group deliveries are numbered for ack");
                seen.insert(value_of(&m[0]));
                gateway_got += 1;
                ack(&mut c, id, &m).await;
            }
        }
    }
    assert_eq!(gateway_got + plain_got, 10, "each message to one consumer");
    assert!(
        gateway_got > 0 && plain_got > 0,
        "both competed: {gateway_got} / {plain_got}"
    );
    // Messages wait in the durable queue while no member is connected.
    c.disconnect().await;
    drop(plain);
    plain_ch.close(200, "bye".into()).await.expect("close");
    let mut released = false;
    for _ in 0..40 {
        if consumer_count(&ch, &queue).await == 0 {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(released, "the member's consumer went with its connection");
    c = gw.connect("/rabbit").await;
    c.produce_value("jobs.late", "waited").await;
    let id = c.subscribe(group_sub(topic, &group, 0)).await;
    assert_eq!(values(&c.pushed(id, 1).await), ["waited"]);
    gw.stop().await;
}

#[tokio::test]
async fn unacked_messages_are_redelivered_to_another_member_after_one_disconnects() {
    // Fails loudly when the broker is missing.
    let _amqp = oracle().await;
    let ex = unique("gwt.redeliver");
    let group = unique("g");
    let queue = group_queue("/rabbit", &group, "orders");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut a = gw.connect("/rabbit").await;
    let ida = a.subscribe(group_sub("orders", &group, 3)).await;
    for i in 0..3 {
        a.produce_value("orders", &format!("o{i}")).await;
    }
    let held = a.pushed(ida, 3).await;
    assert_eq!(values(&held), ["o0", "o1", "o2"]);
    // max_in_flight 3 = the member's prefetch: a fourth waits in the queue.
    a.produce_value("orders", "o3").await;
    assert!(a
        .pushed_within(ida, Duration::from_millis(700))
        .await
        .is_empty());
    // Acknowledge one; a wrong offset is refused and changes nothing.
    ack(&mut a, ida, &held[..1]).await;
    let (code, msg) = error_of(
        a.request(Req::CmdAck(CmdAck {
            subscription_id: ida,
            positions: vec![MessagePosition {
                topic: "orders".into(),
                partition: 0,
                offset: 999,
                position: String::new(),
            }],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("was not delivered"), "{msg}");
    assert_eq!(values(&a.pushed(ida, 1).await), ["o3"]);
    // The member goes away holding o1, o2, o3: another member gets exactly those, redelivered.
    a.disconnect().await;
    let mut b = gw.connect("/rabbit").await;
    let idb = b.subscribe(group_sub("orders", &group, 0)).await;
    let again = b.pushed(idb, 3).await;
    let got: BTreeSet<String> = values(&again).into_iter().collect();
    assert_eq!(
        got,
        ["o1", "o2", "o3"].iter().map(|s| s.to_string()).collect()
    );
    assert!(again
        .iter()
        .all(|m| hval(m, "amqp-redelivered").as_deref() == Some("true")));
    // A nack (no dead-letter exchange) gives a message back to the queue at once.
    nack(&mut b, idb, &again[..1]).await;
    let back = b.pushed(idb, 1).await;
    assert_eq!(value_of(&back[0]), value_of(&again[0]));
    ack(&mut b, idb, &back).await;
    ack(&mut b, idb, &again[1..]).await;
    assert!(b
        .pushed_within(idb, Duration::from_millis(500))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn nack_sends_the_message_to_the_dead_letter_exchange() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.dl");
    let dlx = format!("{ex}.dlx");
    let group = unique("g");
    let queue = group_queue("/rabbit", &group, "tasks");
    let dead = plain_queue(&ch, &dlx, "#").await;
    let mut dead_c = consume(&ch, &dead, true).await;
    let extra = format!(", dead_letter_exchange: \"{dlx}\"");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone(), dlx.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, &extra)).await;
    let mut c = gw.connect("/rabbit").await;
    let id = c.subscribe(group_sub("tasks", &group, 0)).await;
    let gw_dl = Gateway::start(&route("/dead", AMQP, &dlx, "")).await;
    let mut dl = gw_dl.connect("/dead").await;
    let dl_id = dl.subscribe(sub("#")).await;
    c.produce(CmdKafkaProduce {
        topic: "tasks".into(),
        value: b"poison".to_vec().into(),
        headers: vec![header("attempt", "1")],
        ..Default::default()
    })
    .await;
    let m = c.pushed(id, 1).await;
    nack(&mut c, id, &m).await;
    let d = next_delivery(&mut dead_c).await;
    assert_eq!(d.data, b"poison");
    assert_eq!(header_text(&d, "attempt").as_deref(), Some("1"));
    // A gateway subscriber of the dead-letter exchange sees why, x-death rendered as JSON.
    let m = dl.pushed(dl_id, 1).await;
    assert_eq!(value_of(&m[0]), "poison");
    let death: serde_json::Value =
        serde_json::from_str(&hval(&m[0], "x-death").expect("x-death header")).expect("JSON");
    assert_eq!(death[0]["reason"], "rejected", "{death}");
    assert_eq!(death[0]["queue"], queue.as_str(), "{death}");
    assert!(
        c.pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty(),
        "not requeued"
    );
    gw.stop().await;
    gw_dl.stop().await;
}

#[tokio::test]
async fn mandatory_publish_with_no_queue_bound_answers_404() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.mand");
    let ex2 = unique("gwt.nomand");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone(), ex2.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, ", mandatory: true")).await;
    let mut c = gw.connect("/rabbit").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "nobody.listens".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 404, "{msg}");
    assert!(msg.contains("no queue bound for routing key"), "{msg}");
    // Once a queue is bound, the same publish is confirmed.
    let q = plain_queue(&ch, &ex, "nobody.listens").await;
    let mut plain = consume(&ch, &q, true).await;
    c.produce_value("nobody.listens", "now someone does").await;
    assert_eq!(next_delivery(&mut plain).await.data, b"now someone does");
    // Without mandatory (the default) an unroutable message is confirmed and dropped.
    let gw2 = Gateway::start(&route("/r2", AMQP, &ex2, "")).await;
    let mut c2 = gw2.connect("/r2").await;
    c2.produce_value("nobody.listens", "dropped").await;
    gw.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn hostile_input_answers_400_or_capability_errors_and_the_connection_lives() {
    // Fails loudly when the broker is missing.
    let _amqp = oracle().await;
    let ex = unique("gwt.bad");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let long = "k".repeat(256);
    for topic in ["", "a.*", "a.#", "a\0b", "line\nbreak", long.as_str()] {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                value: b"x".to_vec().into(),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "publish to {topic:?}: {msg}");
    }
    for topic in ["a*", "a.b#", "#x", "a\0", long.as_str()] {
        let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub(topic))).await);
        assert_eq!(code, 400, "subscribe to {topic:?}: {msg}");
    }
    let bad_headers: Vec<Vec<KafkaHeader>> = vec![
        vec![header("amqp-priority", "high")],
        vec![header("amqp-priority", "300")],
        vec![header("amqp-expiration", "-5")],
        vec![header("amqp-delivery-mode", "3")],
        vec![header("amqp-unknown", "x")],
        vec![header(&"h".repeat(300), "x")],
        vec![header("amqp-content-type", &"t".repeat(300))],
        vec![header("dup", "1"), header("dup", "2")],
        vec![KafkaHeader {
            key: "amqp-type".into(),
            value: vec![0xff, 0xfe].into(),
        }],
    ];
    for headers in bad_headers {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "ok.topic".into(),
                value: b"x".to_vec().into(),
                headers: headers.clone(),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "{headers:?}: {msg}");
    }
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "ok.topic".into(),
            key: "k".repeat(300).into_bytes().into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(
        code, 400,
        "a key over 255 bytes cannot be a message_id: {msg}"
    );
    // Start positions and commands the route cannot do answer the capability error.
    for start in [
        StartPosition::Earliest,
        StartPosition::Last,
        StartPosition::Offset,
        StartPosition::Timestamp,
        StartPosition::TimeDelta,
    ] {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
                start: start as i32,
                ..sub("ok.topic")
            }))
            .await,
        );
        assert_eq!(code, 400, "{start:?}: {msg}");
        assert!(msg.contains("RabbitMQ"), "names the scheme: {msg}");
    }
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("ok.topic", 0, 0)))
            .await,
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("RabbitMQ"), "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic_pattern: "ok.*".into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            max_in_flight: 5,
            ..sub("ok.topic")
        }))
        .await,
    );
    assert_eq!(code, 400, "plain subscriptions cannot acknowledge: {msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(group_sub(
            "ok.topic",
            "bad:group",
            0,
        )))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(group_sub("ok.topic", "g", 70_000)))
            .await,
    );
    assert_eq!(code, 400, "over AMQP's prefetch limit: {msg}");
    let plain = c.subscribe(sub("ok.topic")).await;
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: plain,
            positions: vec![],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    ping(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn route_info_names_rabbitmq_and_its_capabilities() {
    let ex = unique("gwt.info");
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let info = match c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await {
        Resp::RouteInfoResp(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(info.scheme, "rabbitmq");
    let caps = info.capabilities.expect("capabilities");
    assert!(!caps.history && !caps.fetch && !caps.offsets && !caps.commit);
    assert!(caps.groups && caps.ack && caps.nack && caps.headers && caps.keys);
    assert_eq!(caps.wildcards, "amqp");
    assert_eq!(caps.starts, vec![StartPosition::Latest as i32]);
    gw.stop().await;
}

#[tokio::test]
async fn unreachable_broker_answers_503_within_the_connect_timeout() {
    let port = free_port();
    let ex = unique("gwt.down");
    let gw = Gateway::start(&route("/rabbit", &format!("127.0.0.1:{port}"), &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let started = std::time::Instant::now();
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 503, "{msg}");
    assert!(msg.contains("RabbitMQ unreachable"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "within the 3 s connect timeout"
    );
    let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub("t"))).await);
    assert_eq!(code, 503);
    gw.stop().await;
}

#[tokio::test]
async fn broker_going_away_mid_subscription_loses_no_confirmed_message_and_subscriptions_resume() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.outage");
    let group = unique("g");
    let queue = group_queue("/rabbit", &group, "evt.#");
    let proxy = Proxy::start(AMQP).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&route("/rabbit", &proxy.addr, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let grp = c.subscribe(group_sub("evt.#", &group, 0)).await;
    let live = c.subscribe(sub("live.x")).await;
    c.produce_value("evt.1", "before").await;
    let m = c.pushed(grp, 1).await;
    ack(&mut c, grp, &m).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.cut();
    // While the broker is away: a clear 503 (or 504 for a request caught mid-flight).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "evt.2".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(code == 503 || code == 504, "{code} {msg}");
    // A subscribe to a binding key already shared in the gateway answers 503 too.
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub("live.x"))).await);
    assert_eq!(code, 503, "{msg}");
    // Confirmed by the broker while the gateway is cut off: waits in the durable group queue.
    let mut confirmed = Vec::new();
    for i in 0..20 {
        let body = format!("during-{i}");
        publish(
            &ch,
            &ex,
            &format!("evt.{i}"),
            body.as_bytes(),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await;
        confirmed.push(body);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restore();

    // The group subscription resumes by itself with every confirmed message.
    let mut got = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < confirmed.len() && tokio::time::Instant::now() < deadline {
        let ms = c.pushed_within(grp, Duration::from_millis(500)).await;
        for m in &ms {
            got.insert(value_of(m));
        }
        if !ms.is_empty() {
            ack(&mut c, grp, &ms).await;
        }
    }
    let want: BTreeSet<String> = confirmed.into_iter().collect();
    assert!(got.is_superset(&want), "no confirmed message lost: {got:?}");
    // AMQP acks are not confirmed: one sent just before the cut may not have reached the
    // broker, so that message may come again (at least once), and nothing else.
    assert!(got.difference(&want).all(|v| v == "before"), "{got:?}");
    // Publishing works again, and the plain subscription was renewed on the new connection.
    let mut delivered = false;
    for _ in 0..20 {
        if let Resp::KafkaProduceResp(_) = c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "live.x".into(),
                value: b"after".to_vec().into(),
                ..Default::default()
            }))
            .await
        {
            if !c
                .pushed_within(live, Duration::from_millis(500))
                .await
                .is_empty()
            {
                delivered = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(delivered, "the plain subscription resumed by itself");
    gw.stop().await;
}

#[tokio::test]
async fn an_existing_exchange_of_another_type_is_refused_with_409() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.fanout");
    ch.exchange_declare(
        ex.as_str().into(),
        lapin::ExchangeKind::Fanout,
        lapin::options::ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        Default::default(),
    )
    .await
    .expect("declare fanout");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 409, "{msg}");
    assert!(msg.contains("must be a topic exchange"), "{msg}");
    // The publisher channel recovers from the broker closing it: the next publish gets the
    // same clear answer, not a stale channel error.
    let (code, _) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 409);
    let _ = BasicPublishOptions::default();
    gw.stop().await;
}

#[test]
fn config_accepts_the_amqp_alias_refuses_unknown_keys_and_redacts_the_password() {
    let yaml = "routes:\n  - uri: /r\n    upstream:\n      scheme: amqp\n      nodes: [\"127.0.0.1:5672\"]\n      rabbitmq: { exchange: ev, queue_type: quorum, max_deliveries: 3, dead_letter_exchange: ev.dlx }\n    plugins:\n      rabbitmq-auth: { username: gw, password: s3cret-pw }\n";
    let config = pubsub_gateway::Config::parse(yaml, "t").expect("parses");
    let debug = format!("{:?}", config.routes[0]);
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    let bad = yaml.replace("max_deliveries: 3", "max_deliverys: 3");
    let err = pubsub_gateway::Config::parse(&bad, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_deliverys") && err.contains("line"),
        "{err}"
    );
    let classic_limit = yaml.replace("queue_type: quorum", "queue_type: classic");
    let err = pubsub_gateway::Config::parse(&classic_limit, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_deliveries needs queue_type: quorum"),
        "{err}"
    );
    let on_nats = "routes:\n  - uri: /n\n    upstream:\n      scheme: nats\n      nodes: [\"127.0.0.1:4222\"]\n      rabbitmq: { exchange: ev }\n";
    let err = pubsub_gateway::Config::parse(on_nats, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`rabbitmq` is an option of the rabbitmq scheme, not of nats"),
        "{err}"
    );
    let no_section = "routes:\n  - uri: /r\n    upstream:\n      scheme: rabbitmq\n      nodes: [\"127.0.0.1:5672\"]\n";
    let err = pubsub_gateway::Config::parse(no_section, "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs `rabbitmq:`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Stream routes
// ---------------------------------------------------------------------------------------------

fn stream_route(uri: &str, node: &str, ex: &str, stream: &str) -> String {
    route(
        uri,
        node,
        ex,
        &format!(", queue_type: stream, stream: \"{stream}\""),
    )
}

fn start(topic: &str, start: StartPosition, value: i64) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        start: start as i32,
        start_value: value,
        ..sub(topic)
    }
}

#[tokio::test]
async fn stream_replays_from_each_start_position_by_stream_offset() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.stream");
    let stream = format!("{ex}.log");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", AMQP, &ex, &stream)).await;
    let mut c = gw.connect("/log").await;
    for (t, v) in [
        ("s.a", "a0"),
        ("s.b", "b0"),
        ("s.a", "a1"),
        ("s.b", "b1"),
        ("s.a", "a2"),
    ] {
        c.produce_value(t, v).await;
    }
    // A plain stream consumer sees what the gateway stored, at the same offsets.
    let oracle_ch = channel(&amqp).await;
    oracle_ch
        .basic_qos(10, Default::default())
        .await
        .expect("qos");
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        lapin::types::AMQPValue::LongString("first".into()),
    );
    let mut plain = oracle_ch
        .basic_consume(stream.as_str().into(), "".into(), Default::default(), args)
        .await
        .expect("consume the stream");
    for want in ["a0", "b0", "a1", "b1", "a2"] {
        let d = next_delivery(&mut plain).await;
        assert_eq!(d.data, want.as_bytes());
        d.acker.ack(BasicAckOptions::default()).await.expect("ack");
    }

    let all = c.subscribe(start("s.#", StartPosition::Earliest, 0)).await;
    let got = c.pushed(all, 5).await;
    assert_eq!(values(&got), ["a0", "b0", "a1", "b1", "a2"]);
    assert_eq!(offsets_of(&got), [0, 1, 2, 3, 4]);

    let only_a = c.subscribe(start("s.a", StartPosition::Earliest, 0)).await;
    let got = c.pushed(only_a, 3).await;
    assert_eq!(values(&got), ["a0", "a1", "a2"]);
    assert_eq!(offsets_of(&got), [0, 2, 4]);

    let from2 = c.subscribe(start("s.*", StartPosition::Offset, 2)).await;
    assert_eq!(offsets_of(&c.pushed(from2, 3).await), [2, 3, 4]);

    let delta = c
        .subscribe(start("s.#", StartPosition::TimeDelta, 600_000))
        .await;
    assert_eq!(offsets_of(&c.pushed(delta, 5).await), [0, 1, 2, 3, 4]);

    let last = c.subscribe(start("s.#", StartPosition::Last, 0)).await;
    let got = c.pushed_within(last, Duration::from_millis(1500)).await;
    assert_eq!(
        got.last().map(|m| m.offset),
        Some(4),
        "LAST reads RabbitMQ's last chunk, which ends with the last message"
    );

    let latest = c.subscribe(start("s.#", StartPosition::Latest, 0)).await;
    assert!(c
        .pushed_within(latest, Duration::from_millis(700))
        .await
        .is_empty());

    // TIMESTAMP: a time after the first batch starts with the second batch.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    c.produce_value("s.b", "b2").await;
    publish(&ch, &ex, "s.a", b"a3-plain", BasicProperties::default()).await;
    let at = c.subscribe(start("s.#", StartPosition::Timestamp, t)).await;
    let got = c.pushed(at, 2).await;
    assert_eq!(values(&got), ["b2", "a3-plain"]);
    assert_eq!(offsets_of(&got), [5, 6]);
    let got = c.pushed(latest, 2).await;
    assert_eq!(offsets_of(&got), [5, 6], "LATEST gets only what came after");
    assert_eq!(offsets_of(&c.pushed(all, 2).await), [5, 6]);

    // What a stream route cannot do answers 400.
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(start(
            "s.#",
            StartPosition::Offset,
            -3,
        )))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: all,
            positions: vec![],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("RabbitMQ stream"), "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            max_in_flight: 3,
            ..sub("s.#")
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    ping(&mut c).await;
    drop(plain);
    gw.stop().await;
}

#[tokio::test]
async fn stream_subscription_resumes_after_an_outage_without_loss_or_duplicates() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.sout");
    let stream = format!("{ex}.log");
    let proxy = Proxy::start(AMQP).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", &proxy.addr, &ex, &stream)).await;
    let mut c = gw.connect("/log").await;
    let id = c.subscribe(start("e.#", StartPosition::Earliest, 0)).await;
    c.produce_value("e.1", "m0").await;
    assert_eq!(offsets_of(&c.pushed(id, 1).await), [0]);
    proxy.cut();
    for i in 1..=10 {
        publish(
            &ch,
            &ex,
            "e.1",
            format!("m{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    proxy.restore();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 10 && tokio::time::Instant::now() < deadline {
        got.extend(c.pushed_within(id, Duration::from_millis(500)).await);
    }
    assert_eq!(offsets_of(&got), (1..=10).collect::<Vec<i64>>());
    assert!(
        c.pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing twice"
    );
    gw.stop().await;
}

#[tokio::test]
async fn refused_credentials_answer_503_and_never_show_the_password() {
    let ex = unique("gwt.auth");
    let yaml = format!(
        "{}    plugins:\n      rabbitmq-auth: {{ username: guest, password: wrong-s3cret-pw }}\n",
        route("/rabbit", AMQP, &ex, "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/rabbit").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 503, "{msg}");
    assert!(!msg.contains("wrong-s3cret-pw"), "{msg}");
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub("t"))).await);
    assert_eq!(code, 503, "{msg}");
    assert!(!msg.contains("wrong-s3cret-pw"), "{msg}");
    gw.stop().await;
}

#[tokio::test]
async fn a_member_that_stops_reading_then_vanishes_gives_everything_it_held_to_the_group() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.stall");
    let group = unique("g");
    let queue = group_queue("/rabbit", &group, "bulk");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, ", prefetch_count: 50")).await;
    let mut stalled = connect_small_window(gw.addr, "/rabbit").await;
    stalled.subscribe(group_sub("bulk", &group, 0)).await;
    let body = vec![b'x'; 16 * 1024];
    for i in 0..120 {
        let mut b = body.clone();
        b.extend_from_slice(format!("#{i}").as_bytes());
        publish(&ch, &ex, "bulk", &b, BasicProperties::default()).await;
    }
    // The stalled member holds its prefetch (its queue to the client is full); then it vanishes
    // without a close frame.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stalled);
    let mut c = gw.connect("/rabbit").await;
    let id = c.subscribe(group_sub("bulk", &group, 0)).await;
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 120 && tokio::time::Instant::now() < deadline {
        let ms = c.pushed_within(id, Duration::from_millis(500)).await;
        for m in &ms {
            let v = value_of(m);
            seen.insert(v[16 * 1024..].to_string());
        }
        if !ms.is_empty() {
            ack(&mut c, id, &ms).await;
        }
    }
    assert_eq!(
        seen.len(),
        120,
        "every message reached the remaining member"
    );
    assert_eq!(
        consumer_count(&ch, &queue).await,
        1,
        "the vanished member's consumer is gone"
    );
    gw.stop().await;
}

#[tokio::test]
async fn amqps_with_the_routes_ca_publishes_and_an_unknown_ca_is_refused_with_503() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.tls");
    let q = plain_queue(&ch, &ex, "secure.#").await;
    let mut plain = consume(&ch, &q, true).await;
    let pki = certs::make_pki();
    let tls = TlsTerminator::start(&pki.cert, &pki.key);
    let node = format!("127.0.0.1:{}", tls.port);
    let with_ca = route("/tls", &node, &ex, "").replace(
        "      rabbitmq:",
        &format!(
            "      tls: {{ ca_file: \"{}\" }}\n      rabbitmq:",
            pki.ca.display()
        ),
    );
    let without_ca = route("/untrusted", &node, &ex, "").replace(
        "      rabbitmq:",
        "      tls: { verify: true }\n      rabbitmq:",
    );
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![],
    };
    let gw = Gateway::start(&with_ca).await;
    let mut c = gw.connect("/tls").await;
    c.produce_value("secure.1", "over amqps").await;
    assert_eq!(next_delivery(&mut plain).await.data, b"over amqps");
    let gw2 = Gateway::start(&without_ca).await;
    let mut c2 = gw2.connect("/untrusted").await;
    let (code, msg) = error_of(
        c2.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "secure.2".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(
        code, 503,
        "a certificate no trusted CA signed is refused: {msg}"
    );
    gw.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn stream_group_resumes_from_its_committed_offset_with_one_active_member_at_a_time() {
    // Fails loudly when the broker is missing.
    let _amqp = oracle().await;
    let ex = unique("gwt.sgrp");
    let stream = format!("{ex}.log");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", AMQP, &ex, &stream)).await;
    let mut a = gw.connect("/log").await;
    for i in 0..5 {
        a.produce_value("g.x", &format!("m{i}")).await;
    }
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            group: "readers".into(),
            ..start("g.#", StartPosition::Earliest, 0)
        })
        .await;
    assert_eq!(offsets_of(&a.pushed(ida, 5).await), [0, 1, 2, 3, 4]);
    a.commit(ida, &[("g.x", 0, 3)]).await;
    // A second member waits while the first reads, and may not commit.
    let mut b = gw.connect("/log").await;
    let idb = b
        .subscribe(CmdKafkaSubscribe {
            group: "readers".into(),
            ..start("g.#", StartPosition::Latest, 0)
        })
        .await;
    a.produce_value("g.x", "m5").await;
    assert_eq!(offsets_of(&a.pushed(ida, 1).await), [5]);
    assert!(b
        .pushed_within(idb, Duration::from_millis(700))
        .await
        .is_empty());
    let (code, msg) = error_of(
        b.request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: idb,
            offsets: vec![KafkaPartitionOffset {
                topic: "g.x".into(),
                partition: 0,
                offset: 6,
            }],
        }))
        .await,
    );
    assert_eq!(code, 409, "{msg}");
    // The first member leaves: the second takes over from the committed offset (3), so what
    // was not committed is read again, and its own start position (LATEST) does not apply.
    a.disconnect().await;
    assert_eq!(offsets_of(&b.pushed(idb, 3).await), [3, 4, 5]);
    // A plain stream subscription has nothing to commit.
    let plain = b.subscribe(start("g.#", StartPosition::Latest, 0)).await;
    let (code, msg) = error_of(
        b.request(Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: plain,
            offsets: vec![],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    gw.stop().await;
}

fn rabbit_list_offset(topic: &str, timestamp: i64) -> Req {
    Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    })
}

fn offset_in(r: Resp) -> i64 {
    match r {
        Resp::KafkaListOffsetResp(o) => o.offset,
        other => panic!("expected an offset, got {other:?}"),
    }
}

/// Offsets of the topic's messages as a plain stream consumer from `first` reads them.
async fn oracle_offsets(amqp: &lapin::Connection, stream: &str, topic: &str, n: usize) -> Vec<i64> {
    let ch = channel(amqp).await;
    ch.basic_qos(50, Default::default()).await.expect("qos");
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        lapin::types::AMQPValue::LongString("first".into()),
    );
    let mut plain = ch
        .basic_consume(stream.into(), "".into(), Default::default(), args)
        .await
        .expect("consume the stream");
    let mut out = Vec::new();
    for _ in 0..n {
        let d = next_delivery(&mut plain).await;
        d.acker.ack(BasicAckOptions::default()).await.expect("ack");
        let off = match d
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-stream-offset").cloned())
        {
            Some(lapin::types::AMQPValue::LongLongInt(n)) => n,
            other => panic!("no stream offset: {other:?}"),
        };
        if d.routing_key.as_str() == topic {
            out.push(off);
        }
    }
    let _ = ch.close(200, "done".into()).await;
    out
}

#[tokio::test]
async fn stream_route_fetches_by_offset_and_lists_offsets_as_a_plain_stream_consumer_sees_them() {
    let amqp = oracle().await;
    let ex = unique("gwt.sfetch");
    let stream = format!("{ex}.log");
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![stream.clone()],
    };
    let gw = Gateway::start(&stream_route("/log", AMQP, &ex, &stream)).await;
    let mut c = gw.connect("/log").await;
    let info = route_info_of(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    let caps = info.capabilities.expect("capabilities");
    assert!(caps.history && caps.fetch && caps.offsets && caps.time_lookup && caps.commit);
    assert!(caps.groups && !caps.ack && !caps.nack);

    for (t, v) in [
        ("f.a", "a0"),
        ("f.b", "b0"),
        ("f.a", "a1"),
        ("f.b", "b1"),
        ("f.a", "a2"),
    ] {
        c.produce_value(t, v).await;
    }
    assert_eq!(oracle_offsets(&amqp, &stream, "f.a", 5).await, [0, 2, 4]);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", -2)).await), 0);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", -1)).await), 5);

    let got = c.fetch(fetch_cmd("f.a", 0, 0)).await;
    assert_eq!(values(&got), ["a0", "a1", "a2"]);
    assert_eq!(offsets_of(&got), [0, 2, 4]);
    let got = c.fetch(fetch_cmd("f.a", 0, 1)).await;
    assert_eq!(offsets_of(&got), [2, 4]);
    let got = c.fetch(fetch_cmd("f.b", 0, 2)).await;
    assert_eq!(values(&got), ["b1"]);
    let got = c
        .fetch(CmdKafkaFetch {
            max_messages: 2,
            ..fetch_cmd("f.a", 0, 0)
        })
        .await;
    assert_eq!(offsets_of(&got), [0, 2], "max_messages bounds the fetch");
    assert!(c.fetch(fetch_cmd("f.a", 0, 5)).await.is_empty());
    let (code, msg) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("f.a", 0, 6))).await);
    assert_eq!(code, 416, "{msg}");

    match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "f.a".into(),
        }))
        .await
    {
        Resp::KafkaMetadataResp(m) => {
            assert_eq!(m.partitions.len(), 1);
            assert_eq!((m.partitions[0].earliest, m.partitions[0].latest), (0, 5));
        }
        other => panic!("{other:?}"),
    }

    // By time: after a pause, the first message of the topic published after the time.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    c.produce_value("f.b", "b2").await;
    c.produce_value("f.a", "a3").await;
    assert_eq!(oracle_offsets(&amqp, &stream, "f.a", 7).await, [0, 2, 4, 6]);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", t)).await), 6);
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.b", t)).await), 5);
    assert_eq!(
        offset_in(c.request(rabbit_list_offset("f.a", t + 60_000)).await),
        -1
    );
    assert_eq!(offset_in(c.request(rabbit_list_offset("f.a", -1)).await), 7);

    // Long poll at the end: the next message of the topic ends the wait.
    let seq = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            max_wait_ms: 5000,
            ..fetch_cmd("f.a", 0, 7)
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut p = gw.connect("/log").await;
    p.produce_value("f.a", "a4").await;
    match c.reply(seq).await {
        Resp::KafkaFetchResp(f) => {
            assert_eq!(f.messages.iter().map(|m| m.offset).collect::<Vec<_>>(), [7]);
        }
        other => panic!("{other:?}"),
    }
    // A long poll that times out answers nothing; no reader outlives its fetch.
    let started = std::time::Instant::now();
    let got = c
        .fetch(CmdKafkaFetch {
            max_wait_ms: 400,
            ..fetch_cmd("f.a", 0, 8)
        })
        .await;
    assert!(got.is_empty() && started.elapsed() >= Duration::from_millis(400));
    let ch = channel(&amqp).await;
    assert_eq!(
        consumer_count(&ch, &stream).await,
        0,
        "every fetch reader is cancelled"
    );
    let (code, msg) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd("f.a", 1, 0))).await);
    assert_eq!(code, 404, "{msg}");
    ping(&mut c).await;
    gw.stop().await;
}

fn route_info_of(r: Resp) -> RouteInfoResp {
    match r {
        Resp::RouteInfoResp(i) => i,
        other => panic!("expected route info, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Quorum groups, virtual hosts, credentials
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn quorum_group_is_shared_redelivers_after_a_member_leaves_and_dead_letters_after_max_deliveries(
) {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.quorum");
    let dlx = format!("{ex}.dlx");
    let group = unique("q");
    let queue = group_queue("/rabbit", &group, "work.#");
    let dead = plain_queue(&ch, &dlx, "#").await;
    let mut dead_c = consume(&ch, &dead, true).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone(), dlx.clone()],
        queues: vec![queue.clone()],
    };
    let extra =
        format!(", queue_type: quorum, dead_letter_exchange: \"{dlx}\", max_deliveries: 2, prefetch_count: 1");
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, &extra)).await;
    let mut a = gw.connect("/rabbit").await;
    let ida = a.subscribe(group_sub("work.#", &group, 0)).await;
    assert_eq!(
        queue_type_of("/", &queue).as_deref(),
        Some("quorum"),
        "the group queue is a quorum queue"
    );

    // A plain AMQP consumer of the quorum queue competes with the member.
    let plain_ch = channel(&amqp).await;
    plain_ch
        .basic_qos(1, Default::default())
        .await
        .expect("qos");
    let mut plain = consume(&plain_ch, &queue, false).await;
    assert_eq!(consumer_count(&ch, &queue).await, 2);
    for i in 0..10 {
        a.produce_value(&format!("work.{i}"), &format!("job-{i}"))
            .await;
    }
    let mut seen = BTreeSet::new();
    let (mut gateway_got, mut plain_got) = (0, 0);
    while gateway_got + plain_got < 10 {
        tokio::select! {
            d = next_delivery(&mut plain) => {
                seen.insert(String::from_utf8_lossy(&d.data).into_owned());
                plain_got += 1;
                d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            }
            m = a.pushed(ida, 1) => {
                seen.insert(value_of(&m[0]));
                gateway_got += 1;
                ack(&mut a, ida, &m).await;
            }
        }
    }
    assert_eq!(seen.len(), 10, "each message to one consumer: {seen:?}");
    assert!(
        gateway_got > 0 && plain_got > 0,
        "both competed: {gateway_got} / {plain_got}"
    );
    drop(plain);
    plain_ch.close(200, "bye".into()).await.expect("close");

    // A member that leaves without acking: another member gets the message again.
    a.produce_value("work.held", "held").await;
    let held = a.pushed(ida, 1).await;
    assert_eq!(values(&held), ["held"]);
    a.disconnect().await;
    let mut b = gw.connect("/rabbit").await;
    let idb = b.subscribe(group_sub("work.#", &group, 0)).await;
    let again = b.pushed(idb, 1).await;
    assert_eq!(values(&again), ["held"]);
    assert_eq!(hval(&again[0], "amqp-redelivered").as_deref(), Some("true"));
    // The quorum queue counted the return of a member that left, as it counts a nack.
    assert_eq!(hval(&again[0], "x-delivery-count").as_deref(), Some("1"));
    ack(&mut b, idb, &again).await;

    // max_deliveries 2 = x-delivery-limit 2: nacked with requeue, the message comes back until
    // the broker has counted more returns than the limit, then goes to the dead-letter exchange.
    b.produce_value("work.poison", "poison").await;
    let mut deliveries = 0;
    let dead_lettered = loop {
        tokio::select! {
            d = next_delivery(&mut dead_c) => break d,
            m = b.pushed(idb, 1) => {
                assert_eq!(values(&m), ["poison"]);
                deliveries += 1;
                assert!(deliveries <= 10, "never dead-lettered");
                nack(&mut b, idb, &m).await;
            }
        }
    };
    assert_eq!(dead_lettered.data, b"poison");
    assert_eq!(
        death_reason(&dead_lettered).as_deref(),
        Some("delivery_limit"),
        "{:?}",
        dead_lettered.properties.headers()
    );
    assert_eq!(deliveries, 3, "delivered once plus twice requeued");
    assert!(
        b.pushed_within(idb, Duration::from_millis(500))
            .await
            .is_empty(),
        "not requeued once dead-lettered"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_route_on_its_own_vhost_publishes_and_subscribes_there_and_not_on_the_default_one() {
    // A vhost with a `/` in its name: it must reach the broker as one name, not as a URI path.
    let vhost = Vhost::create("gwt/vh", &["guest"]);
    let amqp = oracle_as("guest", "guest", &vhost).await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.vh");
    let group = unique("g");
    let q = plain_queue(&ch, &ex, "news.#").await;
    let mut plain = consume(&ch, &q, true).await;
    let queue = group_queue("/rabbit", &group, "news.#");
    // Only a wrong gateway would make these on `/`; the vhost's go with the vhost.
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![queue.clone()],
    };
    let extra = format!(", vhost: \"{}\"", vhost.name);
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, &extra)).await;
    let mut c = gw.connect("/rabbit").await;
    let live = c.subscribe(sub("news.*")).await;
    let grp = c.subscribe(group_sub("news.#", &group, 0)).await;
    // Gateway to oracle, on the vhost.
    c.produce(CmdKafkaProduce {
        topic: "news.1".into(),
        value: b"from the gateway".to_vec().into(),
        headers: vec![header("h", "v")],
        ..Default::default()
    })
    .await;
    let d = next_delivery(&mut plain).await;
    assert_eq!(d.data, b"from the gateway");
    assert_eq!(header_text(&d, "h").as_deref(), Some("v"));
    // Oracle to gateway, on the vhost: the plain subscription and the group both get it.
    publish(
        &ch,
        &ex,
        "news.2",
        b"from the oracle",
        BasicProperties::default(),
    )
    .await;
    let got: BTreeSet<String> = [c.pushed(live, 2).await, c.pushed(grp, 2).await]
        .concat()
        .iter()
        .map(value_of)
        .collect();
    assert_eq!(
        got,
        ["from the gateway", "from the oracle"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    // The group queue lives on the vhost, and nothing of the route on `/`.
    assert_eq!(
        queue_type_of(&vhost.name, &queue).as_deref(),
        Some("classic")
    );
    assert_eq!(queue_type_of("/", &queue), None);
    let root = oracle().await;
    let root_ch = channel(&root).await;
    let on_root = root_ch
        .exchange_declare(
            ex.as_str().into(),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await;
    assert!(on_root.is_err(), "the exchange is not on `/`");
    gw.stop().await;
    let _ = amqp.close(200, "bye".into()).await;
    // `vhost` drops here: the vhost goes with everything in it.
}

/// The gateway binary with a config file, its stdout and stderr collected line by line: for what
/// it logs.
struct GatewayProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    dir: std::path::PathBuf,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl GatewayProcess {
    fn start(config: impl Fn(u16) -> String, env: &[(&str, &str)]) -> GatewayProcess {
        use std::io::BufRead;
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("pubsub-gw-rabbit-proc"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("config.yaml");
        std::fs::write(&file, config(port)).expect("config file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pubsub-gateway"));
        cmd.arg("--config")
            .arg(&file)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("gateway binary starts");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().expect("log lines").push(l);
                }
            });
        }
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "gateway did not listen: {:?}",
                lines.lock().expect("log lines")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        GatewayProcess {
            child,
            addr,
            dir,
            lines,
        }
    }

    fn log(&self) -> String {
        self.lines.lock().expect("log lines").join("\n")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_auth_logs_in_as_its_user_with_the_password_from_the_environment_and_never_shows_it(
) {
    let password = format!("pw-{}", unique("S3CRET"));
    let wrong = format!("pw-{}", unique("WR0NG"));
    let user = User::create("gwt-user", &password);
    // Only this user may use the vhost: the gateway getting in proves it logged in as the user.
    let vhost = Vhost::create("gwt-authvh", &[&user.name]);
    let amqp = oracle_as(&user.name, &password, &vhost).await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.auth");
    let q = plain_queue(&ch, &ex, "#").await;
    let mut plain = consume(&ch, &q, true).await;
    let (good_var, bad_var) = (unique("GWT_RABBIT_PW"), unique("GWT_RABBIT_WRONG"));
    let rabbit_route = |uri: &str, vhost: &str, var: &str| {
        format!(
            "  - uri: {uri}\n    upstream:\n      scheme: rabbitmq\n      nodes: [\"{AMQP}\"]\n      timeout: {{ connect: 3, send: 10, read: 10 }}\n      rabbitmq: {{ exchange: \"{ex}\", vhost: \"{vhost}\", heartbeat_secs: 2 }}\n    plugins:\n      rabbitmq-auth: {{ username: \"{}\", password_env: {var} }}\n",
            user.name
        )
    };
    let gw = GatewayProcess::start(
        |port| {
            format!(
                "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n  log: {{ level: trace }}\nroutes:\n{}{}{}",
                rabbit_route("/good", &vhost.name, &good_var),
                rabbit_route("/bad", &vhost.name, &bad_var),
                // The right password on a vhost the user has no permissions on.
                rabbit_route("/noperm", "/", &good_var),
            )
        },
        &[(&good_var, &password), (&bad_var, &wrong)],
    );
    // The right password: publish and subscribe on the user's vhost.
    let mut good = Client::connect(gw.addr, "/good").await;
    let id = good.subscribe(sub("auth.t")).await;
    good.produce_value("auth.t", "as the user").await;
    assert_eq!(values(&good.pushed(id, 1).await), ["as the user"]);
    assert_eq!(next_delivery(&mut plain).await.data, b"as the user");
    let connections = ctl(&["list_connections", "-q", "user", "vhost"]);
    assert!(
        connections
            .lines()
            .any(|l| l == format!("{}\t{}", user.name, vhost.name)),
        "the gateway's connection is the user's: {connections}"
    );
    // A wrong password, or no permissions on the vhost: 503 "RabbitMQ unreachable", the
    // broker's refusal logged, no password anywhere.
    for path in ["/bad", "/noperm"] {
        let mut bad = Client::connect(gw.addr, path).await;
        for req in [
            Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "auth.t".into(),
                value: b"x".to_vec().into(),
                ..Default::default()
            }),
            Req::CmdKafkaSubscribe(sub("auth.t")),
        ] {
            let (code, msg) = error_of(bad.request(req).await);
            assert_eq!(code, 503, "{msg}");
            assert!(msg.contains("RabbitMQ unreachable"), "{msg}");
            assert!(!msg.contains(&wrong) && !msg.contains(&password), "{msg}");
        }
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    // The gateway's own warning carries the broker's reason (lapin's trace lines aside).
    let refused = |reason: &str| {
        gw.log()
            .lines()
            .any(|l| l.contains("RabbitMQ unreachable; retrying") && l.contains(reason))
    };
    while !(refused("ACCESS_REFUSED") && refused("NOT_ALLOWED")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refusal is logged: {}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = gw.log();
    assert!(log.contains("RabbitMQ connected"), "{log}");
    assert!(!log.contains(&password), "the password appears in the logs");
    assert!(
        !log.contains(&wrong),
        "the wrong password appears in the logs"
    );
    let _ = amqp.close(200, "bye".into()).await;
    drop(gw);
    // `vhost` and `user` drop here and are deleted from the broker.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_broker_loses_no_confirmed_message_of_a_durable_group_queue() {
    let mut broker = PrivateBroker::start();
    let ex = unique("gwt.restart");
    let group = unique("g");
    let gw = Gateway::start(&route("/rabbit", &broker.addr(), &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    // max_in_flight 1: the member holds one message unacknowledged when the broker dies.
    let id = c.subscribe(group_sub("evt.#", &group, 1)).await;
    let n = 20;
    let mut confirmed = BTreeSet::new();
    for i in 0..n {
        // The reply comes once the broker confirmed: persisted, for a durable queue.
        c.produce_value(&format!("evt.{i}"), &format!("m{i}")).await;
        confirmed.insert(format!("m{i}"));
    }
    let held = c.pushed(id, 1).await;
    assert_eq!(values(&held), ["m0"]);

    tokio::task::block_in_place(|| broker.kill());
    // While it is down: a clear 503 (504 for a request caught in flight).
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "evt.x".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(code == 503 || code == 504, "{code} {msg}");
    tokio::task::block_in_place(|| broker.spawn());

    // The same subscription resumes by itself and gets every confirmed message.
    let mut got = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < confirmed.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the restart, {} of {n} came back: {got:?}",
            got.len()
        );
        // Until the first comes back, the broker may still be recovering; then each arrives
        // as soon as the one before is acknowledged (max_in_flight 1).
        let ms = if got.is_empty() {
            c.pushed_within(id, Duration::from_millis(500)).await
        } else {
            c.pushed(id, 1).await
        };
        for m in &ms {
            got.insert(value_of(m));
        }
        if !ms.is_empty() {
            ack(&mut c, id, &ms).await;
        }
    }
    assert_eq!(got, confirmed, "no confirmed message lost, nothing else");
    // The ack of the delivery from before the crash is refused: it came again instead.
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(&held),
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    // The oracle sees the durable queue on the restarted node, consumed by the member again.
    let amqp = broker.oracle().await;
    let ch = channel(&amqp).await;
    let q = ch
        .queue_declare(
            group_queue("/rabbit", &group, "evt.#").as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("the group queue survived the crash");
    assert_eq!(q.consumer_count(), 1, "the member consumes it again");
    assert!(c
        .pushed_within(id, Duration::from_millis(500))
        .await
        .is_empty());
    c.disconnect().await;
    drop(amqp);
    gw.stop().await;
}
