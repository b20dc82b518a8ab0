//! Pub/Sub group subscriptions through a real WebSocket client, against the emulator, with
//! Google's protocol as oracle and peer: durable named subscriptions shared with plain Pub/Sub
//! subscribers, ack and nack, leases, a vanished member's messages, flow control, dead letters,
//! ordering keys, seeks and exactly-once.

use std::time::{Duration, Instant};

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{
    CmdAck, CmdKafkaSubscribe, CmdNack, CmdUnsubscribe, KafkaMessage, MessagePosition,
    StartPosition,
};

use super::{produce, subscribe};
use crate::common::gcp::{attributes, project, route, Oracle};
use crate::common::{error_of, value_of, Client, Gateway, WAIT};

fn group(topic: &str, group: &str, max_in_flight: i32) -> CmdKafkaSubscribe {
    CmdKafkaSubscribe {
        group: group.into(),
        max_in_flight,
        ..subscribe(topic)
    }
}

fn positions(ms: &[KafkaMessage]) -> Vec<MessagePosition> {
    ms.iter()
        .map(|m| MessagePosition {
            topic: m.topic.clone(),
            partition: 0,
            offset: m.offset,
            position: m.position.clone(),
        })
        .collect()
}

async fn ack_answer(c: &mut Client, id: i64, ms: &[KafkaMessage]) -> Resp {
    c.request(Req::CmdAck(CmdAck {
        subscription_id: id,
        positions: positions(ms),
    }))
    .await
}

async fn ack(c: &mut Client, id: i64, ms: &[KafkaMessage]) {
    let r = ack_answer(c, id, ms).await;
    assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
}

async fn nack(c: &mut Client, id: i64, ms: &[KafkaMessage], delay_ms: i64) {
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(ms),
            delay_ms,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "nack answered {r:?}");
}

async fn pushed(c: &mut Client, id: i64, n: usize) -> Vec<KafkaMessage> {
    tokio::time::timeout(WAIT, c.pushed(id, n))
        .await
        .unwrap_or_else(|_| panic!("{n} pushes within {WAIT:?}"))
}

async fn unsubscribe(c: &mut Client, id: i64) {
    let r = c
        .request(Req::CmdUnsubscribe(CmdUnsubscribe {
            subscription_id: id,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "unsubscribe answered {r:?}");
}

#[tokio::test]
async fn gcp_a_group_is_a_durable_named_subscription_shared_with_plain_pubsub_subscribers() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("jobs").await;
    let gw = Gateway::start(&route(
        "/g",
        &p,
        "subscription_prefix: gw-t-, ack_deadline_secs: 20",
    ))
    .await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("jobs", "workers", 0)).await;
    let name = oracle.subscription_name("gw-t-workers.jobs");
    let sub = oracle.subscription(&name).await;
    assert_eq!(sub.topic, oracle.topic_name("jobs"));
    assert_eq!(sub.ack_deadline_seconds, 20);
    assert!(sub.retain_acked_messages, "kept for TIMESTAMP starts");
    assert_eq!(
        sub.message_retention_duration.map(|d| d.seconds),
        Some(86_400)
    );
    assert_eq!(
        sub.expiration_policy.map(|e| e.ttl),
        Some(None),
        "a group's subscription never expires"
    );
    let sent = oracle.publish("jobs", "one", &[("k", "v")], "").await;
    let got = pushed(&mut c, id, 1).await;
    assert_eq!(value_of(&got[0]), "one");
    assert_eq!(got[0].position, sent, "the message id is the position");
    assert_eq!(got[0].offset, 0, "the member's first delivery");
    ack(&mut c, id, &got).await;
    unsubscribe(&mut c, id).await;
    // Durable: what is published while no member reads waits for the group, and a plain
    // Pub/Sub subscriber of the named subscription shares it.
    oracle.publish("jobs", "two", &[], "").await;
    let peer = oracle.pull("gw-t-workers.jobs", 1).await;
    assert_eq!(String::from_utf8_lossy(&peer[0].data), "two");
    oracle.publish("jobs", "three", &[], "").await;
    let id = c.subscribe(group("jobs", "workers", 0)).await;
    let got = pushed(&mut c, id, 1).await;
    assert_eq!(value_of(&got[0]), "three", "published while away");
    ack(&mut c, id, &got).await;
    assert_eq!(
        oracle.topic_subscriptions("jobs").await,
        [name],
        "one subscription for the group, kept after its members leave"
    );
    gw.stop().await;
}

#[tokio::test]
async fn gcp_group_ack_settles_nack_redelivers_with_a_higher_delivery_attempt_and_unknown_acks_change_nothing(
) {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("tasks").await;
    oracle.create_topic("tasks-dlq").await;
    let gw = Gateway::start(&route(
        "/g",
        &p,
        "dead_letter_topic: tasks-dlq, max_delivery_attempts: 10",
    ))
    .await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("tasks", "g1", 0)).await;
    let r = c.request(produce("tasks", "", "job", &[])).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    let first = pushed(&mut c, id, 1).await;
    assert_eq!(first[0].delivery_attempt, 1);
    // An offset never delivered, or one of another topic: 400, and the real one stays held.
    let mut bogus = first.clone();
    bogus[0].offset = 99;
    let (code, msg) = error_of(ack_answer(&mut c, id, &bogus).await);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("not delivered to this subscription"), "{msg}");
    let mut other = first.clone();
    other[0].topic = "other".into();
    let (code, _) = error_of(ack_answer(&mut c, id, &other).await);
    assert_eq!(code, 400);
    nack(&mut c, id, &first, 0).await;
    let second = pushed(&mut c, id, 1).await;
    assert_eq!(value_of(&second[0]), "job");
    assert_eq!(second[0].delivery_attempt, 2, "Pub/Sub counts the attempt");
    assert_eq!(second[0].position, first[0].position, "the same message");
    assert_ne!(second[0].offset, first[0].offset, "a new delivery");
    let (code, _) = error_of(ack_answer(&mut c, id, &first).await);
    assert_eq!(code, 400, "a nacked delivery is settled");
    ack(&mut c, id, &second).await;
    let (code, _) = error_of(ack_answer(&mut c, id, &second).await);
    assert_eq!(code, 400, "acked twice");
    let more = c.pushed_within(id, Duration::from_secs(2)).await;
    assert!(more.is_empty(), "acked: not redelivered: {more:?}");
    gw.stop().await;
}

#[tokio::test]
async fn gcp_nack_with_a_delay_redelivers_not_before_the_delay() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("later").await;
    let gw = Gateway::start(&route("/g", &p, "")).await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("later", "g1", 0)).await;
    oracle.publish("later", "x", &[], "").await;
    let got = pushed(&mut c, id, 1).await;
    let nacked = Instant::now();
    nack(&mut c, id, &got, 3000).await;
    let again = pushed(&mut c, id, 1).await;
    assert_eq!(value_of(&again[0]), "x");
    let after = nacked.elapsed();
    assert!(
        after >= Duration::from_millis(2900),
        "redelivered {after:?} after a 3 s nack"
    );
    ack(&mut c, id, &again).await;
    gw.stop().await;
}

#[tokio::test]
async fn gcp_a_held_message_is_leased_past_the_ack_deadline_and_not_redelivered() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("slow").await;
    let gw = Gateway::start(&route("/g", &p, "ack_deadline_secs: 10")).await;
    let mut a = gw.connect("/g").await;
    let mut b = gw.connect("/g").await;
    let ia = a.subscribe(group("slow", "g1", 0)).await;
    let ib = b.subscribe(group("slow", "g1", 0)).await;
    oracle.publish("slow", "held", &[], "").await;
    // Whichever member received it holds it for 1.6 deadlines.
    let (mut holder, hid, mut other, oid) = tokio::select! {
        _ = a.next_push(ia, WAIT) => (a, ia, b, ib),
        _ = b.next_push(ib, WAIT) => (b, ib, a, ia),
    };
    let _ = &mut holder;
    let again = other.pushed_within(oid, Duration::from_secs(16)).await;
    assert!(again.is_empty(), "leased: not redelivered: {again:?}");
    let mine = holder.pushed_within(hid, Duration::from_millis(100)).await;
    assert!(mine.is_empty(), "not redelivered to its holder: {mine:?}");
    gw.stop().await;
}

#[tokio::test]
async fn gcp_a_vanished_members_messages_go_to_another_member_at_once() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("work").await;
    // A 10-minute deadline: only the gateway giving them back makes them come again soon.
    let gw = Gateway::start(&route("/g", &p, "ack_deadline_secs: 600")).await;
    let mut a = gw.connect("/g").await;
    let ia = a.subscribe(group("work", "g1", 5)).await;
    for i in 0..5 {
        oracle.publish("work", &format!("m{i}"), &[], "").await;
    }
    let held = pushed(&mut a, ia, 5).await;
    assert_eq!(held.len(), 5);
    let mut b = gw.connect("/g").await;
    let ib = b.subscribe(group("work", "g1", 0)).await;
    a.disconnect().await;
    let mut got: Vec<String> = pushed(&mut b, ib, 5).await.iter().map(value_of).collect();
    got.sort();
    assert_eq!(got, ["m0", "m1", "m2", "m3", "m4"]);
    gw.stop().await;
}

#[tokio::test]
async fn gcp_max_in_flight_pauses_delivery_until_acks_free_the_window() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("flow").await;
    let gw = Gateway::start(&route("/g", &p, "")).await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("flow", "g1", 3)).await;
    for i in 0..10 {
        oracle.publish("flow", &format!("m{i}"), &[], "").await;
    }
    let first = pushed(&mut c, id, 3).await;
    let more = c.pushed_within(id, Duration::from_secs(1)).await;
    assert!(more.is_empty(), "3 in flight: nothing more: {more:?}");
    ack(&mut c, id, &first[..1]).await;
    let one = pushed(&mut c, id, 1).await;
    let more = c.pushed_within(id, Duration::from_millis(500)).await;
    assert!(more.is_empty(), "one ack frees one place: {more:?}");
    let mut all = first.clone();
    all.extend(one.clone());
    ack(&mut c, id, &all[1..]).await;
    while all.len() < 10 {
        let next = pushed(&mut c, id, 1).await;
        all.extend(next.clone());
        ack(&mut c, id, &next).await;
    }
    let mut values: Vec<String> = all.iter().map(value_of).collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 10, "{values:?}");
    gw.stop().await;
}

#[tokio::test]
async fn gcp_dead_letters_after_max_delivery_attempts_carry_the_dead_letter_attributes() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("orders").await;
    oracle.create_topic("orders-dlq").await;
    oracle
        .create_subscription("orders-dlq", "dlq-reader", false)
        .await;
    let gw = Gateway::start(&route(
        "/g",
        &p,
        "subscription_prefix: gw-d-, dead_letter_topic: orders-dlq, max_delivery_attempts: 5",
    ))
    .await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("orders", "g1", 0)).await;
    let sent = oracle
        .publish("orders", "poison", &[("kind", "bad")], "")
        .await;
    for attempt in 1..=5 {
        let got = pushed(&mut c, id, 1).await;
        assert_eq!(got[0].delivery_attempt, attempt);
        nack(&mut c, id, &got, 0).await;
    }
    let dead = oracle.pull("dlq-reader", 1).await;
    assert_eq!(String::from_utf8_lossy(&dead[0].data), "poison");
    let attrs = attributes(&dead[0]);
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} in {attrs:?}"))
    };
    assert_eq!(get("kind"), "bad", "its own attributes");
    assert_eq!(get("CloudPubSubDeadLetterSourceDeliveryCount"), "5");
    assert_eq!(
        get("CloudPubSubDeadLetterSourceSubscription"),
        "gw-d-g1.orders"
    );
    assert_eq!(get("CloudPubSubDeadLetterSourceSubscriptionProject"), p);
    assert_ne!(dead[0].message_id, sent, "a new message on the DLQ topic");
    let more = c.pushed_within(id, Duration::from_secs(1)).await;
    assert!(more.is_empty(), "dead-lettered, not redelivered: {more:?}");
    gw.stop().await;
}

#[tokio::test]
async fn gcp_ordering_keys_keep_per_key_order_through_a_group() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("seq").await;
    let gw = Gateway::start(&route("/g", &p, "message_ordering: true")).await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("seq", "g1", 0)).await;
    let mut sent = Vec::new();
    for i in 0..6 {
        for key in ["a", "b"] {
            let value = format!("{key}{i}");
            let r = c.request(produce("seq", key, &value, &[])).await;
            assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
            sent.push(value);
        }
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let next = pushed(&mut c, id, 1).await;
        ack(&mut c, id, &next).await;
        got.extend(next);
    }
    for key in ["a", "b"] {
        let of_key: Vec<String> = got
            .iter()
            .filter(|m| m.key.as_ref() == key.as_bytes())
            .map(value_of)
            .collect();
        let want: Vec<String> = (0..6).map(|i| format!("{key}{i}")).collect();
        assert_eq!(of_key, want, "key {key} keeps its order");
    }
    gw.stop().await;
}

#[tokio::test]
async fn gcp_start_timestamp_and_time_delta_replay_acked_messages_to_the_group() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("replay").await;
    let gw = Gateway::start(&route("/g", &p, "")).await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("replay", "g1", 0)).await;
    let before = pubsub_gateway::backend::now_ms() - 1000;
    oracle.publish("replay", "r1", &[], "").await;
    oracle.publish("replay", "r2", &[], "").await;
    let got = pushed(&mut c, id, 2).await;
    ack(&mut c, id, &got).await;
    unsubscribe(&mut c, id).await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Timestamp as i32,
            start_value: before,
            ..group("replay", "g1", 0)
        })
        .await;
    let mut again: Vec<String> = pushed(&mut c, id, 2).await.iter().map(value_of).collect();
    again.sort();
    assert_eq!(again, ["r1", "r2"], "acked, and replayed by the seek");
    unsubscribe(&mut c, id).await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::TimeDelta as i32,
            start_value: 600_000,
            ..group("replay", "g1", 0)
        })
        .await;
    let again = pushed(&mut c, id, 2).await;
    ack(&mut c, id, &again).await;
    let r = c.request(Req::CmdRouteInfo(Default::default())).await;
    let Resp::RouteInfoResp(info) = r else {
        panic!("route info answered {r:?}")
    };
    let caps = info.capabilities.expect("capabilities");
    assert_eq!(
        caps.starts,
        [
            StartPosition::Latest as i32,
            StartPosition::Timestamp as i32,
            StartPosition::TimeDelta as i32
        ]
    );
    assert!(caps.groups && caps.ack && caps.nack && !caps.fetch && !caps.commit);
    gw.stop().await;
}

#[tokio::test]
async fn gcp_exactly_once_answers_409_for_an_ack_after_the_lease_lapsed() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("once").await;
    let gw = Gateway::start(&route(
        "/g",
        &p,
        "exactly_once: true, ack_deadline_secs: 10, max_lease_secs: 10",
    ))
    .await;
    let mut c = gw.connect("/g").await;
    let id = c.subscribe(group("once", "g1", 0)).await;
    assert!(
        oracle
            .subscription(&oracle.subscription_name("gw-g-g1.once"))
            .await
            .enable_exactly_once_delivery
    );
    oracle.publish("once", "x", &[], "").await;
    let first = pushed(&mut c, id, 1).await;
    // The lease stops after 10 s; Pub/Sub redelivers once the deadline passes.
    let second = c
        .next_push(id, Duration::from_secs(40))
        .await
        .expect("redelivered after the lease lapsed")
        .messages;
    assert_eq!(second[0].position, first[0].position);
    let (code, msg) = error_of(ack_answer(&mut c, id, &first).await);
    assert_eq!(code, 409, "{msg}");
    assert!(msg.contains("lease lapsed"), "{msg}");
    ack(&mut c, id, &second).await;
    gw.stop().await;
}

#[tokio::test]
async fn gcp_bad_groups_long_names_and_group_options_on_plain_subscriptions_answer_400() {
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("t1x").await;
    let gw = Gateway::start(&route("/g", &p, "message_ordering: true")).await;
    let mut c = gw.connect("/g").await;
    let long_topic = format!("t{}", "x".repeat(250));
    oracle.create_topic(&long_topic).await;
    for (req, want) in [
        (group("t1x", "a.b", 0), "invalid group"),
        (group("t1x", "a b", 0), "invalid group"),
        (group("t1x", &"g".repeat(101), 0), "invalid group"),
        (group(&long_topic, "g1", 0), "Pub/Sub allows 255"),
        (
            CmdKafkaSubscribe {
                max_in_flight: 5,
                ..subscribe("t1x")
            },
            "max_in_flight needs acknowledgements",
        ),
        (
            CmdKafkaSubscribe {
                start: StartPosition::TimeDelta as i32,
                start_value: 1000,
                ..subscribe("t1x")
            },
            "needs a group",
        ),
        // The emulator cannot seek an ordered subscription by time.
        (
            CmdKafkaSubscribe {
                start: StartPosition::TimeDelta as i32,
                start_value: 1000,
                ..group("t1x", "g1", 0)
            },
            "does not implement",
        ),
    ] {
        let what = format!("{req:?}");
        let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(req)).await);
        assert_eq!(code, 400, "{what}: {msg}");
        assert!(msg.contains(want), "{want}: {msg}");
    }
    let id = c.subscribe(subscribe("t1x")).await;
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: vec![MessagePosition {
                topic: "t1x".into(),
                ..Default::default()
            }],
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("needs a group"), "{msg}");
    gw.stop().await;
}
