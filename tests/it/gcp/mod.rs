//! The gcp-pubsub scheme against Google's emulator (one per test binary, each test its own
//! project), through a real WebSocket client, with Google's protocol (gcloud-pubsub's gRPC
//! clients) as oracle and peer.

use std::time::Duration;

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{
    CmdKafkaCommit, CmdKafkaFetch, CmdKafkaListOffset, CmdKafkaMetadata, CmdKafkaProduce,
    CmdKafkaSubscribe, CmdUnsubscribe, KafkaHeader, StartPosition,
};

use crate::common::gcp::{attributes, project, route, Oracle};
use crate::common::{error_of, value_of, Gateway, WAIT};

mod credentials;
mod groups;
mod outage;

fn header(k: &str, v: &str) -> KafkaHeader {
    KafkaHeader {
        key: k.into(),
        value: v.as_bytes().to_vec().into(),
    }
}

fn produce(topic: &str, key: &str, value: &str, headers: &[(&str, &str)]) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        key: key.as_bytes().to_vec().into(),
        value: value.as_bytes().to_vec().into(),
        headers: headers.iter().map(|(k, v)| header(k, v)).collect(),
        ..Default::default()
    })
}

fn subscribe(topic: &str) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        topic: topic.into(),
        start: StartPosition::Latest as i32,
        ..Default::default()
    }
}

/// Polls the topic's subscriptions until there are `n` (panics after 10 s).
async fn wait_subscriptions(oracle: &Oracle, topic: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let subs = oracle.topic_subscriptions(topic).await;
        if subs.len() == n {
            return subs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic}: {} subscriptions, want {n}: {subs:?}",
            subs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn gcp_produce_reaches_a_plain_pubsub_subscriber_with_attributes_ordering_key_and_the_message_id(
) {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("orders").await;
    oracle.create_subscription("orders", "peer", true).await;
    let gw = Gateway::start(&route("/g", &p, "message_ordering: true")).await;
    let mut c = gw.connect("/g").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = c
            .request(produce(
                "orders",
                "customer-7",
                &format!("m{i}"),
                &[("b", "2"), ("a", "1")],
            ))
            .await;
        let Resp::KafkaProduceResp(r) = r else {
            panic!("produce answered {r:?}")
        };
        assert_eq!((r.partition, r.offset), (0, -1));
        assert!(!r.position.is_empty(), "the message id is the position");
        ids.push(r.position);
    }
    let got = oracle.pull("peer", 3).await;
    let values: Vec<_> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.data).into_owned())
        .collect();
    assert_eq!(
        values,
        ["m0", "m1", "m2"],
        "one ordering key keeps its order"
    );
    for (m, id) in got.iter().zip(&ids) {
        assert_eq!(&m.message_id, id);
        assert_eq!(m.ordering_key, "customer-7");
        assert_eq!(
            attributes(m),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn gcp_a_plain_publisher_reaches_every_live_subscriber_through_one_pubsub_subscription() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("news").await;
    let gw = Gateway::start(&route("/g", &p, "")).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = gw.connect("/g").await;
        let id = c.subscribe(subscribe("news")).await;
        clients.push((c, id));
    }
    let subs = wait_subscriptions(&oracle, "news", 1).await;
    let sub = oracle.subscription(&subs[0]).await;
    assert_eq!(
        sub.expiration_policy.and_then(|e| e.ttl).map(|t| t.seconds),
        Some(86_400),
        "the live subscription expires if a gateway vanishes"
    );
    assert!(
        subs[0].contains("gw-g-live."),
        "named after the route: {}",
        subs[0]
    );
    let id = oracle.publish("news", "hello", &[("lang", "en")], "").await;
    for (c, sid) in &mut clients {
        let got = tokio::time::timeout(WAIT, c.pushed(*sid, 1))
            .await
            .expect("every member receives what a plain publisher sends");
        assert_eq!(value_of(&got[0]), "hello");
        assert_eq!(got[0].topic, "news");
        assert_eq!(got[0].position, id, "the message id is the position");
        assert_eq!(
            got[0].offset, -1,
            "no offset: clients must not de-duplicate live messages by one"
        );
        assert_eq!(got[0].headers, [header("lang", "en")]);
    }
    // Still one subscription; the last member out deletes it.
    assert_eq!(oracle.topic_subscriptions("news").await.len(), 1);
    let (mut first, sid) = clients.remove(0);
    let r = first
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: sid,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "unsubscribe answered {r:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(oracle.topic_subscriptions("news").await.len(), 1);
    for (c, _) in clients {
        c.disconnect().await;
    }
    wait_subscriptions(&oracle, "news", 0).await;
    // A new member opens a new one, and receives.
    let sid = first.subscribe(subscribe("news")).await;
    wait_subscriptions(&oracle, "news", 1).await;
    oracle.publish("news", "again", &[], "").await;
    let got = tokio::time::timeout(WAIT, first.pushed(sid, 1))
        .await
        .expect("a member of the recreated subscription receives");
    assert_eq!(value_of(&got[0]), "again");
    gw.stop().await;
}

#[tokio::test]
async fn gcp_bad_names_repeated_headers_and_empty_messages_answer_400() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("fine").await;
    let gw = Gateway::start(&route("/g", &p, "")).await;
    let mut c = gw.connect("/g").await;
    for (req, want) in [
        (produce("ab", "", "v", &[]), "invalid topic name `ab`"),
        (
            produce("goog-x", "", "v", &[]),
            "invalid topic name `goog-x`",
        ),
        (produce("1abc", "", "v", &[]), "invalid topic name `1abc`"),
        (produce("a/b/c", "", "v", &[]), "invalid topic name"),
        (
            produce("fine", "", "v", &[("a", "1"), ("a", "2")]),
            "given twice",
        ),
        (produce("fine", "", "", &[]), "needs a value"),
        (produce("fine", "", "v", &[("googx", "1")]), "Google's"),
    ] {
        let (code, msg) = error_of(c.request(req).await);
        assert_eq!(code, 400, "{msg}");
        assert!(msg.contains(want), "{want}: {msg}");
    }
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(subscribe("no such topic")))
            .await,
    );
    assert_eq!(code, 400, "{msg}");
    assert!(oracle.project_subscriptions().await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn gcp_a_missing_topic_answers_404_naming_it_and_leaves_no_subscription() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    let gw = Gateway::start(&route("/g", &p, "")).await;
    let mut c = gw.connect("/g").await;
    let (code, msg) = error_of(c.request(produce("missing", "", "v", &[])).await);
    assert_eq!(code, 404, "{msg}");
    assert!(msg.contains("missing"), "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(subscribe("missing")))
            .await,
    );
    assert_eq!(code, 404, "{msg}");
    assert!(msg.contains("missing"), "{msg}");
    assert!(oracle.project_subscriptions().await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn gcp_an_unreachable_pubsub_answers_503_at_once() {
    let yaml = format!(
        "routes:\n  - uri: /g\n    upstream:\n      scheme: gcp-pubsub\n      nodes: [\"127.0.0.1:{}\"]\n      gcp_pubsub: {{ project: my-project, emulator: true }}\n",
        crate::common::free_port()
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/g").await;
    for req in [
        produce("t1x", "", "v", &[]),
        Req::CmdKafkaSubscribe(subscribe("t1x")),
    ] {
        let started = std::time::Instant::now();
        let (code, msg) = error_of(c.request(req).await);
        assert_eq!(code, 503, "{msg}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}: {msg}",
            started.elapsed()
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn gcp_unsupported_commands_answer_the_capability_error_naming_the_scheme() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("t1x").await;
    let gw = Gateway::start(&route("/g", &p, "")).await;
    let mut c = gw.connect("/g").await;
    let sid = c.subscribe(subscribe("t1x")).await;
    let requests = [
        Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "t1x".into(),
            ..Default::default()
        }),
        Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "t1x".into(),
            timestamp: -1,
            ..Default::default()
        }),
        Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "t1x".into(),
        }),
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..subscribe("t1x")
        }),
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            group: "g1".into(),
            start: StartPosition::Earliest as i32,
            ..subscribe("t1x")
        }),
        // A key is an ordering key only on routes with message_ordering.
        produce("t1x", "k", "v", &[]),
        Req::CmdKafkaCommit(CmdKafkaCommit {
            subscription_id: sid,
            ..Default::default()
        }),
    ];
    for req in requests {
        let what = format!("{req:?}");
        let (code, msg) = error_of(c.request(req).await);
        assert_eq!(code, 400, "{what}: {msg}");
        assert!(
            msg.contains("route /g is Google Cloud Pub/Sub, which has none"),
            "{what}: {msg}"
        );
    }
    let r = c.request(Req::CmdRouteInfo(Default::default())).await;
    let Resp::RouteInfoResp(info) = r else {
        panic!("route info answered {r:?}")
    };
    assert_eq!(info.scheme, "gcp-pubsub");
    let caps = info.capabilities.expect("capabilities");
    assert!(caps.headers && !caps.keys && caps.groups && caps.ack && !caps.fetch);
    drop(oracle);
    gw.stop().await;
}
