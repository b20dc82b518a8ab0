//! A Pub/Sub that goes away and comes back: a private emulator stopped (503 at once, within a
//! second) and started again on the same port, empty; produce, live and group subscriptions
//! resume by themselves (their subscriptions made again), without the clients reconnecting.

use std::time::{Duration, Instant};

use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::CmdKafkaSubscribe;

use super::{produce, subscribe};
use crate::common::gcp::{project, route, Oracle, PrivateEmulator};
use crate::common::{error_of, value_of, Gateway};
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::{CmdAck, MessagePosition};

fn route_to(addr: &str, project: &str) -> String {
    format!(
        "routes:\n  - uri: /g\n    upstream:\n      scheme: gcp-pubsub\n      nodes: [\"{addr}\"]\n      timeout: {{ connect: 2, send: 5, read: 5 }}\n      gcp_pubsub: {{ project: {project}, emulator: true }}\n"
    )
}

#[tokio::test]
async fn gcp_emulator_stopped_answers_503_within_a_second_and_everything_resumes_after_it_restarts()
{
    let p = project();
    let mut emu = PrivateEmulator::start(None);
    let oracle = Oracle::at(&emu.addr(), &p).await;
    oracle.create_topic("events").await;
    let gw = Gateway::start(&route_to(&emu.addr(), &p)).await;
    let mut c = gw.connect("/g").await;
    let live = c.subscribe(subscribe("events")).await;
    let grp = c
        .subscribe(CmdKafkaSubscribe {
            group: "g1".into(),
            ..subscribe("events")
        })
        .await;
    let r = c.request(produce("events", "", "before", &[])).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    for id in [live, grp] {
        let got = c
            .next_push(id, Duration::from_secs(10))
            .await
            .expect("delivered before the outage");
        assert_eq!(value_of(&got.messages[0]), "before");
    }
    // Group messages need no ack here: the emulator's restart forgets them.
    emu.stop();
    let started = Instant::now();
    let (code, msg) = error_of(c.request(produce("events", "", "down", &[])).await);
    assert_eq!(code, 503, "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}: {msg}",
        started.elapsed()
    );
    let port = emu.port;
    let emu = PrivateEmulator::start(Some(port));
    let oracle = Oracle::at(&emu.addr(), &p).await;
    oracle.create_topic("events").await;
    // Produce answers again without reconnecting the client.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.request(produce("events", "", "after", &[])).await {
            Resp::KafkaProduceResp(_) => break,
            r => assert!(
                Instant::now() < deadline,
                "produce after the restart: {r:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both subscriptions were made again by the gateway; publish until each has received one
    // (a message published before a subscription is recreated is not for it).
    let mut waiting = vec![live, grp];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting.is_empty() {
        assert!(
            Instant::now() < deadline,
            "subscriptions {waiting:?} did not resume after the restart"
        );
        oracle.publish("events", "resumed", &[], "").await;
        let mut still = Vec::new();
        for id in waiting {
            match c.next_push(id, Duration::from_millis(700)).await {
                Some(p) if p.messages.iter().any(|m| value_of(m) == "resumed") => {}
                _ => still.push(id),
            }
        }
        waiting = still;
    }
    let subs = oracle.project_subscriptions().await;
    assert_eq!(
        subs.len(),
        2,
        "the live and the group subscription: {subs:?}"
    );
    gw.stop().await;
    drop(emu);
}

#[tokio::test]
async fn gcp_a_group_member_that_stops_reading_then_vanishes_with_thousands_pending_loses_nothing()
{
    let p = project();
    let oracle = Oracle::new(&p).await;
    oracle.create_topic("flood").await;
    // A 10-minute deadline: only the gateway giving them back makes them come again soon.
    let gw = Gateway::start(&route("/g", &p, "ack_deadline_secs: 600")).await;
    let mut stalled = gw.connect("/g").await;
    let group = |max_in_flight| CmdKafkaSubscribe {
        group: "g1".into(),
        max_in_flight,
        ..subscribe("flood")
    };
    stalled.subscribe(group(0)).await;
    const N: usize = 3000;
    oracle.publish_many("flood", "m", N).await;
    // The stalled member holds at most its window (1000) and reads nothing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut b = gw.connect("/g").await;
    let id = b.subscribe(group(500)).await;
    drop(stalled);
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < N {
        assert!(
            Instant::now() < deadline,
            "{} of {N} after 60 s",
            seen.len()
        );
        let Some(push) = b.next_push(id, Duration::from_secs(10)).await else {
            panic!("{} of {N}: nothing more pushed", seen.len())
        };
        let positions = push
            .messages
            .iter()
            .map(|m| MessagePosition {
                topic: m.topic.clone(),
                partition: 0,
                offset: m.offset,
                position: m.position.clone(),
            })
            .collect();
        let r = b
            .request(Req::CmdAck(CmdAck {
                subscription_id: id,
                positions,
            }))
            .await;
        assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
        seen.extend(push.messages.iter().map(value_of));
    }
    assert_eq!(seen.len(), N, "every message, the vanished member's too");
    gw.stop().await;
}
