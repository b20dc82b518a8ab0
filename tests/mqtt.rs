//! The MQTT scheme against the machine's Mosquitto 2.0 (127.0.0.1:1883), through a real
//! WebSocket client, with plain rumqttc v5 clients as oracle and interop peer. Every test uses
//! its own topics; outages use a private `mosquitto` on a free port.

mod common;
#[path = "common/mqtt.rs"]
mod mqtt_support;

use std::time::Duration;

use common::*;
use mqtt_support::*;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use rumqttc::v5::mqttbytes::QoS;

fn header(k: &str, v: &str) -> KafkaHeader {
    KafkaHeader {
        key: k.into(),
        value: v.as_bytes().to_vec().into(),
    }
}

fn sub(topic: &str) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        topic: topic.into(),
        ..Default::default()
    }
}

fn produce(topic: &str, value: &str, headers: Vec<KafkaHeader>) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        value: value.as_bytes().to_vec().into(),
        headers,
        ..Default::default()
    })
}

fn headers_of(m: &KafkaMessage) -> Vec<(String, String)> {
    m.headers
        .iter()
        .map(|h| {
            (
                h.key.clone(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect()
}

fn values(ms: &[KafkaMessage]) -> Vec<String> {
    ms.iter().map(value_of).collect()
}

fn ack(subscription_id: i64, topic: &str, offsets: &[i64]) -> Req {
    Req::CmdAck(CmdAck {
        subscription_id,
        positions: offsets
            .iter()
            .map(|o| MessagePosition {
                topic: topic.into(),
                partition: 0,
                offset: *o,
                ..Default::default()
            })
            .collect(),
    })
}

async fn gateway(extra: &str) -> Gateway {
    Gateway::start(&route("/mqtt", MOSQUITTO, extra)).await
}

async fn peer_publish(
    peer: &Peer,
    topic: &str,
    value: &str,
    props: PublishProperties,
    retain: bool,
) {
    peer.client
        .publish_with_properties(topic, QoS::AtLeastOnce, retain, value.to_owned(), props)
        .await
        .expect("peer publish queued");
}

#[tokio::test]
async fn gateway_publish_reaches_mqtt_peer_with_user_properties_content_type_and_correlation() {
    let gw = gateway("").await;
    let mut c = gw.connect("/mqtt").await;
    let topic = format!("{}/in", unique("gw"));
    let mut peer = Peer::connect().await;
    peer.subscribe(&topic).await;
    let r = c
        .request(produce(
            &topic,
            "hello",
            vec![
                header("lang", "en"),
                header("lang", "fr"),
                header("mqtt.content_type", "text/plain"),
                header("mqtt.correlation_data", "req-7"),
                header("mqtt.response_topic", "replies/7"),
            ],
        ))
        .await;
    // QoS 1 by default: the reply comes with the PUBACK; MQTT has no positions.
    let Resp::KafkaProduceResp(p) = r else {
        panic!("expected a produce reply, got {r:?}")
    };
    assert_eq!((p.partition, p.offset), (0, -1));
    let got = peer.next().await;
    assert_eq!(&got.payload[..], b"hello");
    assert_eq!(got.qos, QoS::AtLeastOnce);
    let props = got.properties.expect("properties");
    assert_eq!(
        props.user_properties,
        vec![("lang".into(), "en".into()), ("lang".into(), "fr".into())]
    );
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.correlation_data.as_deref(), Some(&b"req-7"[..]));
    assert_eq!(props.response_topic.as_deref(), Some("replies/7"));

    // QoS 0 and retain set per message through the reserved headers.
    let r = c
        .request(produce(
            &topic,
            "zero",
            vec![header("mqtt.qos", "0"), header("mqtt.retain", "true")],
        ))
        .await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    let got = peer.next().await;
    assert_eq!((&got.payload[..], got.qos), (&b"zero"[..], QoS::AtMostOnce));
    // A new subscriber gets it as the topic's retained message.
    let mut late = Peer::connect().await;
    late.subscribe(&topic).await;
    let r = late.next().await;
    assert!(r.retain && &r.payload[..] == b"zero");
    peer.client
        .publish(&topic, QoS::AtLeastOnce, true, Vec::new())
        .await
        .unwrap();
    gw.stop().await;
}

#[tokio::test]
async fn mqtt_peer_publish_reaches_gateway_subscriber_with_properties_as_headers() {
    let gw = gateway("").await;
    let mut c = gw.connect("/mqtt").await;
    let topic = format!("{}/out", unique("gw"));
    let id = c.subscribe(sub(&topic)).await;
    let peer = Peer::connect().await;
    let props = PublishProperties {
        user_properties: vec![("player".into(), "42".into())],
        content_type: Some("application/json".into()),
        correlation_data: Some(bytes::Bytes::from_static(b"c-1")),
        ..Default::default()
    };
    peer_publish(&peer, &topic, "{\"x\":1}", props, false).await;
    let ms = c.pushed(id, 1).await;
    assert_eq!(value_of(&ms[0]), "{\"x\":1}");
    assert_eq!(
        (ms[0].topic.as_str(), ms[0].partition, ms[0].offset),
        (topic.as_str(), 0, -1)
    );
    assert_eq!(
        headers_of(&ms[0]),
        vec![
            ("player".into(), "42".into()),
            ("mqtt.content_type".into(), "application/json".into()),
            ("mqtt.correlation_data".into(), "c-1".into()),
            ("mqtt.qos".into(), "1".into()),
        ]
    );
    gw.stop().await;
}

#[tokio::test]
async fn wildcard_filters_deliver_matching_topics_and_acls_apply_per_delivered_topic() {
    let base = unique("gw");
    let extra = format!(
        "    plugins:\n      topic-acl: {{ read: [\"{base}/#\", \"{base}/public/.*\", \"{base}/\\\\+/score\"] }}\n"
    );
    let gw = gateway(&extra).await;
    let mut c = gw.connect("/mqtt").await;
    let all = c.subscribe(sub(&format!("{base}/#"))).await;
    let plus = c.subscribe(sub(&format!("{base}/+/score"))).await;
    let peer = Peer::connect().await;
    for t in ["public/news", "secret/plan", "public/score", "a/b/score"] {
        peer_publish(
            &peer,
            &format!("{base}/{t}"),
            t,
            PublishProperties::default(),
            false,
        )
        .await;
    }
    // `#` delivers only what the ACL lets this identity read: not secret/plan.
    let ms = c.pushed(all, 2).await;
    assert_eq!(values(&ms), vec!["public/news", "public/score"]);
    let ms = c.pushed(plus, 1).await;
    assert_eq!(
        values(&ms),
        vec!["public/score"],
        "`+` is one level: not a/b/score"
    );
    assert!(c
        .pushed_within(all, Duration::from_millis(300))
        .await
        .is_empty());
    assert!(c
        .pushed_within(plus, Duration::from_millis(100))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn start_last_delivers_the_retained_message_first_and_only_to_that_subscriber() {
    let gw = gateway("").await;
    let base = unique("gw");
    let topic = format!("{base}/state");
    let peer = Peer::connect().await;
    peer_publish(&peer, &topic, "v1", PublishProperties::default(), true).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut watcher = gw.connect("/mqtt").await;
    let latest = watcher.subscribe(sub(&topic)).await;
    let mut c = gw.connect("/mqtt").await;
    let last = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Last as i32,
            ..sub(&topic)
        })
        .await;
    let ms = c.pushed(last, 1).await;
    assert_eq!(value_of(&ms[0]), "v1");
    assert!(headers_of(&ms[0]).contains(&("mqtt.retain".into(), "true".into())));
    peer_publish(&peer, &topic, "v2", PublishProperties::default(), true).await;
    assert_eq!(values(&c.pushed(last, 1).await), vec!["v2"]);
    // The LATEST subscriber of the same filter saw only the live message.
    assert_eq!(values(&watcher.pushed(latest, 1).await), vec!["v2"]);
    assert!(watcher
        .pushed_within(latest, Duration::from_millis(300))
        .await
        .is_empty());
    // A LAST subscriber of a filter nobody watched yet.
    let mut fresh = gw.connect("/mqtt").await;
    let wild = fresh
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Last as i32,
            ..sub(&format!("{base}/#"))
        })
        .await;
    assert_eq!(values(&fresh.pushed(wild, 1).await), vec!["v2"]);
    peer.client
        .publish(&topic, QoS::AtLeastOnce, true, Vec::new())
        .await
        .unwrap();
    gw.stop().await;
}

#[tokio::test]
async fn many_gateway_subscribers_of_one_filter_cost_one_mqtt_subscription() {
    let broker = PrivateBroker::start().await;
    let gw = Gateway::start(&route("/mqtt", &broker.addr(), "")).await;
    let topic = format!("{}/room", unique("gw"));
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = gw.connect("/mqtt").await;
        let id = c.subscribe(sub(&topic)).await;
        clients.push((c, id));
    }
    let mut peer = Peer::connect_to(&broker.addr(), false).await;
    peer.subscribe("$SYS/broker/subscriptions/count").await;
    // $SYS is published every second; the peer's own $SYS subscription counts too.
    let mut count = String::new();
    for _ in 0..5 {
        let p = peer.next().await;
        count = String::from_utf8_lossy(&p.payload).into_owned();
        if count == "2" {
            break;
        }
    }
    assert_eq!(
        count, "2",
        "one MQTT subscription for five gateway subscribers"
    );
    peer_publish(&peer, &topic, "hi", PublishProperties::default(), false).await;
    for (c, id) in &mut clients {
        assert_eq!(values(&c.pushed(*id, 1).await), vec!["hi"]);
    }
    gw.stop().await;
}

#[tokio::test]
async fn shared_subscription_splits_messages_between_a_gateway_member_and_a_plain_client() {
    let gw = gateway("").await;
    let mut c = gw.connect("/mqtt").await;
    let base = unique("gw");
    let group = unique("g");
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: group.clone(),
            ..sub(&format!("{base}/#"))
        })
        .await;
    let mut plain = Peer::connect().await;
    plain.subscribe(&format!("$share/{group}/{base}/#")).await;
    let publisher = Peer::connect().await;
    for i in 0..20 {
        peer_publish(
            &publisher,
            &format!("{base}/m"),
            &i.to_string(),
            PublishProperties::default(),
            false,
        )
        .await;
    }
    let mut got_gw = Vec::new();
    let mut got_plain = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got_gw.len() + got_plain.len() < 20 && tokio::time::Instant::now() < deadline {
        for m in c.pushed_within(id, Duration::from_millis(100)).await {
            c.request(ack(id, &m.topic, &[m.offset])).await;
            got_gw.push(value_of(&m));
        }
        got_plain.extend(
            plain
                .within(Duration::from_millis(50))
                .await
                .iter()
                .map(|p| String::from_utf8_lossy(&p.payload).into_owned()),
        );
    }
    assert_eq!(
        got_gw.len() + got_plain.len(),
        20,
        "each message once: {got_gw:?} {got_plain:?}"
    );
    assert!(
        !got_gw.is_empty() && !got_plain.is_empty(),
        "both members got some: {got_gw:?} {got_plain:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn unacknowledged_group_deliveries_come_back_to_the_next_member_of_the_slot() {
    let gw = gateway("      mqtt: { group_session_expiry_secs: 60 }\n").await;
    let base = unique("gw");
    let group = unique("g");
    let filter = format!("{base}/#");
    let mut first = gw.connect("/mqtt").await;
    let id = first
        .subscribe(CmdKafkaSubscribe {
            group: group.clone(),
            ..sub(&filter)
        })
        .await;
    let publisher = Peer::connect().await;
    for v in ["a", "b", "c"] {
        peer_publish(
            &publisher,
            &format!("{base}/x"),
            v,
            PublishProperties::default(),
            false,
        )
        .await;
    }
    let ms = first.pushed(id, 3).await;
    assert_eq!(values(&ms), vec!["a", "b", "c"]);
    assert_eq!(
        ms.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    // a is acknowledged; b and c are not when the member goes away.
    let r = first.request(ack(id, &ms[0].topic, &[0])).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let r = first.request(ack(id, &ms[0].topic, &[0])).await;
    assert_eq!(error_of(r).0, 400, "an offset acknowledged already");
    first.disconnect().await;
    // The slot is free once the member's DISCONNECT had time to reach the broker.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Mosquitto keeps them in the member's session; the next member resumes it.
    let mut second = gw.connect("/mqtt").await;
    let id2 = second
        .subscribe(CmdKafkaSubscribe {
            group: group.clone(),
            ..sub(&filter)
        })
        .await;
    let ms = second.pushed(id2, 2).await;
    assert_eq!(values(&ms), vec!["b", "c"]);
    let offsets: Vec<i64> = ms.iter().map(|m| m.offset).collect();
    let r = second.request(ack(id2, &ms[0].topic, &offsets)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    peer_publish(
        &publisher,
        &format!("{base}/x"),
        "d",
        PublishProperties::default(),
        false,
    )
    .await;
    assert_eq!(values(&second.pushed(id2, 1).await), vec!["d"]);
    assert!(
        second
            .pushed_within(id2, Duration::from_millis(500))
            .await
            .is_empty(),
        "acknowledged ones do not come back"
    );
    gw.stop().await;
}

#[tokio::test]
async fn hostile_and_unsupported_requests_answer_clear_errors() {
    let gw = gateway("").await;
    let mut c = gw.connect("/mqtt").await;
    let t = format!("{}/ok", unique("gw"));
    for (topic, why) in [
        ("a/+", "wildcards"),
        ("a/#", "wildcards"),
        ("$SYS/broker/load", "`$`"),
        ("$share/g/a", "`$`"),
        ("a\0b", "NUL"),
        ("", "1 to"),
    ] {
        let (code, msg) = error_of(c.request(produce(topic, "x", vec![])).await);
        assert_eq!(code, 400, "{topic:?}: {msg}");
        assert!(msg.contains(why), "{topic:?}: {msg}");
    }
    let long = "a".repeat(5000);
    assert_eq!(
        error_of(c.request(produce(&long, "x", vec![])).await).0,
        400
    );
    for h in [
        header("mqtt.qos", "2"),
        header("mqtt.retain", "maybe"),
        header("mqtt.bogus", "1"),
        KafkaHeader {
            key: "bin".into(),
            value: vec![0xff, 0xfe].into(),
        },
    ] {
        let (code, msg) = error_of(c.request(produce(&t, "x", vec![h.clone()])).await);
        assert_eq!(code, 400, "{h:?}: {msg}");
    }
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.clone(),
            key: b"k".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(code == 400 && msg.contains("MQTT"), "{msg}");
    for (filter, why) in [
        ("a/#/b", "last level"),
        ("a+", "whole levels"),
        ("$SYS/#", "`$`"),
    ] {
        let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub(filter))).await);
        assert!(code == 400 && msg.contains(why), "{filter}: {msg}");
    }
    let bad_subs = [
        CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        },
        CmdKafkaSubscribe {
            topic: String::new(),
            topic_pattern: "a.*".into(),
            ..Default::default()
        },
        CmdKafkaSubscribe {
            max_in_flight: 5,
            ..sub(&t)
        },
        CmdKafkaSubscribe {
            group: "a/b".into(),
            ..sub(&t)
        },
        CmdKafkaSubscribe {
            group: "g".into(),
            start: StartPosition::Last as i32,
            ..sub(&t)
        },
        CmdKafkaSubscribe {
            partitions: vec![1],
            ..sub(&t)
        },
    ];
    for s in bad_subs {
        let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(s.clone())).await);
        assert_eq!(code, 400, "{s:?}: {msg}");
    }
    let (code, msg) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&t, 0, 0))).await);
    assert!(code == 400 && msg.contains("MQTT"), "{msg}");
    // Plain subscriptions take no acks; the connection stays usable throughout.
    let id = c.subscribe(sub(&t)).await;
    assert_eq!(error_of(c.request(ack(id, &t, &[0])).await).0, 400);
    let r = c.request(produce(&t, "still fine", vec![])).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    assert_eq!(values(&c.pushed(id, 1).await), vec!["still fine"]);
    let info = c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await;
    let Resp::RouteInfoResp(info) = info else {
        panic!("{info:?}")
    };
    assert_eq!(info.scheme, "mqtt");
    let caps = info.capabilities.expect("capabilities");
    assert_eq!(caps.wildcards, "mqtt");
    assert!(caps.groups && caps.ack && !caps.nack && !caps.history && !caps.keys);
    gw.stop().await;
}

#[tokio::test]
async fn broker_outage_answers_503_and_subscriptions_resume_when_it_is_back() {
    let mut broker = PrivateBroker::start().await;
    let gw = Gateway::start(&route("/mqtt", &broker.addr(), "")).await;
    let mut c = gw.connect("/mqtt").await;
    let topic = format!("{}/live", unique("gw"));
    let id = c.subscribe(sub(&topic)).await;
    let r = c.request(produce(&topic, "before", vec![])).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    assert_eq!(values(&c.pushed(id, 1).await), vec!["before"]);
    broker.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let (code, msg) = error_of(c.request(produce(&topic, "during", vec![])).await);
    assert_eq!(code, 503, "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "within the connect timeout"
    );
    broker.restart().await;
    // The gateway reconnects and renews the subscription by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.request(produce(&topic, "after", vec![])).await;
        if matches!(r, Resp::KafkaProduceResp(_)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gateway did not reconnect: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let peer = Peer::connect_to(&broker.addr(), false).await;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !got.contains(&"peer".to_string()) && tokio::time::Instant::now() < deadline {
        peer_publish(&peer, &topic, "peer", PublishProperties::default(), false).await;
        got.extend(values(
            &c.pushed_within(id, Duration::from_millis(300)).await,
        ));
    }
    assert!(
        got.contains(&"peer".to_string()),
        "subscription resumed: {got:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn mqtt_config_refuses_unknown_keys_and_other_schemes_sections() {
    let bad = route("/m", MOSQUITTO, "      mqtt: { qos: 1, bogus: 2 }\n");
    let e = pubsub_gateway::Config::parse(&bad, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
    let bad = route("/m", MOSQUITTO, "      mqtt: { qos: 2 }\n");
    assert!(pubsub_gateway::Config::parse(&bad, "t").is_err());
    let bad = "routes:\n  - uri: /n\n    upstream:\n      scheme: nats\n      nodes: [\"127.0.0.1:4222\"]\n      mqtt: { qos: 1 }\n";
    let e = pubsub_gateway::Config::parse(bad, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("upstream.mqtt"), "{e}");
    let ok = route(
        "/m",
        MOSQUITTO,
        "    plugins:\n      mqtt-auth: { username: gw, password: s3cret }\n",
    );
    let cfg = pubsub_gateway::Config::parse(&ok, "t").expect("parses");
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("s3cret") && dbg.contains("redacted"), "{dbg}");
}

/// What Mosquitto 2.0 does on its own: the messages a departed session left unacknowledged go
/// to no other session of the share (they wait in that session until it expires).
#[tokio::test]
async fn mosquitto_gives_a_departed_sessions_unacknowledged_messages_to_no_other_member() {
    let gw = gateway("      mqtt: { group_session_expiry_secs: 5 }\n").await;
    let base = unique("gw");
    let group = unique("g");
    let filter = format!("{base}/#");
    let mut a = gw.connect("/mqtt").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            group: group.clone(),
            ..sub(&filter)
        })
        .await;
    let mut plain = Peer::connect().await;
    plain.subscribe(&format!("$share/{group}/{filter}")).await;
    let publisher = Peer::connect().await;
    for i in 0..6 {
        peer_publish(
            &publisher,
            &format!("{base}/x"),
            &i.to_string(),
            PublishProperties::default(),
            false,
        )
        .await;
    }
    let got_a = a.pushed_within(ida, Duration::from_millis(800)).await;
    let got_plain = plain.within(Duration::from_millis(100)).await;
    assert_eq!(got_a.len() + got_plain.len(), 6, "{got_a:?} {got_plain:?}");
    assert!(
        !got_a.is_empty(),
        "round robin gives the gateway member some"
    );
    a.disconnect().await;
    let again = plain.within(Duration::from_secs(2)).await;
    assert!(
        again.is_empty(),
        "Mosquitto hands them to no other member: {again:?}"
    );
    gw.stop().await;
}

/// So the gateway does it: a departing member's session is taken over and its unacknowledged
/// messages go to another gateway member of the share.
#[tokio::test]
async fn a_departed_members_unacknowledged_deliveries_go_to_another_gateway_member() {
    let gw = gateway("      mqtt: { group_session_expiry_secs: 5 }\n").await;
    let publisher = Peer::connect().await;
    let base = unique("gw");
    let group = unique("g");
    let filter = format!("{base}/#");
    let join = || CmdKafkaSubscribe {
        group: group.clone(),
        ..sub(&filter)
    };
    let mut a = gw.connect("/mqtt").await;
    let ida = a.subscribe(join()).await;
    let mut b = gw.connect("/mqtt").await;
    let idb = b.subscribe(join()).await;

    for i in 0..6 {
        peer_publish(
            &publisher,
            &format!("{base}/x"),
            &i.to_string(),
            PublishProperties::default(),
            false,
        )
        .await;
    }
    let got_a = a.pushed_within(ida, Duration::from_millis(800)).await;
    let got_b = b.pushed_within(idb, Duration::from_millis(100)).await;
    assert_eq!(got_a.len() + got_b.len(), 6, "{got_a:?} {got_b:?}");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "round robin: {got_a:?} {got_b:?}"
    );
    let offsets: Vec<i64> = got_b.iter().map(|m| m.offset).collect();
    let r = b.request(ack(idb, &got_b[0].topic, &offsets)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    // a leaves with everything unacknowledged: b gets exactly those, and acknowledges them.
    a.disconnect().await;
    let again = b.pushed(idb, got_a.len()).await;
    let mut want = values(&got_a);
    let mut have = values(&again);
    want.sort();
    have.sort();
    assert_eq!(have, want);
    let offsets: Vec<i64> = again.iter().map(|m| m.offset).collect();
    let r = b.request(ack(idb, &again[0].topic, &offsets)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    assert!(b
        .pushed_within(idb, Duration::from_millis(500))
        .await
        .is_empty());
    // New messages keep flowing to the remaining member.
    peer_publish(
        &publisher,
        &format!("{base}/x"),
        "new",
        PublishProperties::default(),
        false,
    )
    .await;
    assert_eq!(values(&b.pushed(idb, 1).await), vec!["new"]);
    gw.stop().await;
}

/// Waits until the broker's `$SYS` values (published every second by the private broker) are
/// `want`, returning the last ones seen.
async fn sys_until(peer: &mut Peer, want: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut seen: std::collections::BTreeMap<String, String> = Default::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        for p in peer.within(Duration::from_millis(200)).await {
            seen.insert(
                String::from_utf8_lossy(&p.topic).into_owned(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            );
        }
        if want
            .iter()
            .all(|(k, v)| seen.get(*k).map(String::as_str) == Some(*v))
        {
            break;
        }
    }
    seen.into_iter().collect()
}

#[tokio::test]
async fn a_vanished_client_releases_its_mqtt_subscription_and_group_connection() {
    let broker = PrivateBroker::start().await;
    let gw = Gateway::start(&route("/mqtt", &broker.addr(), "")).await;
    let mut peer = Peer::connect_to(&broker.addr(), false).await;
    peer.subscribe("$SYS/broker/subscriptions/count").await;
    peer.subscribe("$SYS/broker/clients/connected").await;
    let (subs, clients) = (
        "$SYS/broker/subscriptions/count",
        "$SYS/broker/clients/connected",
    );
    let base = unique("gw");
    let mut c = gw.connect("/mqtt").await;
    let plain = c.subscribe(sub(&format!("{base}/a"))).await;
    let group = c
        .subscribe(CmdKafkaSubscribe {
            group: unique("g"),
            ..sub(&format!("{base}/#"))
        })
        .await;
    // The peer, the route's shared connection and the group member; two $SYS subscriptions
    // and the plain one (Mosquitto leaves shared subscriptions out of this count).
    let seen = sys_until(&mut peer, &[(subs, "3"), (clients, "3")]).await;
    assert!(
        seen.contains(&(subs.into(), "3".into())) && seen.contains(&(clients.into(), "3".into())),
        "{seen:?}"
    );
    // Messages pile up unread, then the client vanishes without a close.
    let publisher = Peer::connect_to(&broker.addr(), false).await;
    for i in 0..50 {
        peer_publish(
            &publisher,
            &format!("{base}/a"),
            &i.to_string(),
            PublishProperties::default(),
            false,
        )
        .await;
    }
    let _ = (plain, group);
    drop(c);
    drop(publisher);
    // The shared connection stays for the route; the rest is gone.
    let seen = sys_until(&mut peer, &[(subs, "2"), (clients, "2")]).await;
    assert!(
        seen.contains(&(subs.into(), "2".into())) && seen.contains(&(clients.into(), "2".into())),
        "{seen:?}"
    );
    gw.stop().await;
}
