//! MQTT groups (shared subscriptions) against the machine's Mosquitto 2.0, through real
//! WebSocket clients with plain rumqttc v5 clients in the same shares: splitting, per-message
//! acks, redelivery of what a departed member left unacknowledged, and release of what a
//! vanished client held (counted on a private `mosquitto`).

use std::time::Duration;

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use rumqttc::v5::mqttbytes::v5::PublishProperties;

use crate::common::mqtt::*;
use crate::common::*;

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
    assert!(ms.iter().all(|m| m.delivery_attempt == 1), "{ms:?}");
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
    // Resent by the resumed session (DUP): delivered before, how often MQTT does not say.
    assert!(ms.iter().all(|m| m.delivery_attempt == 0), "{ms:?}");
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

#[tokio::test]
async fn a_group_member_resubscribes_by_itself_after_a_broker_outage() {
    let mut broker = PrivateBroker::start().await;
    let gw = Gateway::start(&route("/mqtt", &broker.addr(), "")).await;
    let base = unique("gw");
    let mut c = gw.connect("/mqtt").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: unique("g"),
            ..sub(&format!("{base}/#"))
        })
        .await;
    broker.kill();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The private broker keeps no state: the member's session is new and must subscribe again.
    broker.restart().await;
    let peer = Peer::connect_to(&broker.addr(), false).await;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while got.is_empty() && tokio::time::Instant::now() < deadline {
        peer_publish(
            &peer,
            &format!("{base}/x"),
            "back",
            PublishProperties::default(),
            false,
        )
        .await;
        got = c
            .pushed_within(id, std::time::Duration::from_millis(300))
            .await;
    }
    assert_eq!(values(&got)[..1], ["back".to_string()], "{got:?}");
    let r = c.request(ack(id, &got[0].topic, &[got[0].offset])).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    gw.stop().await;
}

#[tokio::test]
async fn group_members_past_max_group_members_answer_429_until_one_leaves() {
    let gw = gateway("      mqtt: { max_group_members: 2 }\n").await;
    let base = unique("gw");
    let group = |g: &str, topic: &str| CmdKafkaSubscribe {
        group: g.into(),
        ..sub(&format!("{base}/{topic}"))
    };
    let mut c = gw.connect("/mqtt").await;
    let a = c.subscribe(group("g1", "a")).await;
    let _b = c.subscribe(group("g2", "b")).await;
    // The limit is the upstream's: another member of a group already there, another group,
    // another client of the route, all answer 429.
    let mut other = gw.connect("/mqtt").await;
    for (on_other, req) in [
        (false, group("g1", "a")),
        (false, group("g3", "c")),
        (true, group("g3", "c")),
    ] {
        let client = if on_other { &mut other } else { &mut c };
        let (code, msg) = error_of(client.request(Req::CmdKafkaSubscribe(req)).await);
        assert_eq!(code, 429, "{msg}");
        assert!(msg.contains("max_group_members"), "{msg}");
    }
    // Plain subscriptions are not group members.
    let plain = other.subscribe(sub(&format!("{base}/a"))).await;
    // The members there work.
    let publisher = Peer::connect().await;
    peer_publish(
        &publisher,
        &format!("{base}/a"),
        "one",
        PublishProperties::default(),
        false,
    )
    .await;
    let got = c.pushed(a, 1).await;
    assert_eq!(values(&got), ["one"]);
    assert_eq!(values(&other.pushed(plain, 1).await), ["one"]);
    let r = c.request(ack(a, &got[0].topic, &[got[0].offset])).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    // One leaves (nothing unacknowledged): its slot is free for the next member.
    let r = c
        .request(Req::CmdUnsubscribe(CmdUnsubscribe { subscription_id: a }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match other
            .request(Req::CmdKafkaSubscribe(group("g3", "c")))
            .await
        {
            Resp::KafkaSubscribeResp(_) => break,
            Resp::ErrorResp(e) if e.code == 429 => {}
            r => panic!("{r:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(group("g1", "a"))).await);
    assert_eq!(code, 429, "two members again: {msg}");
    drop((c, other));
    gw.stop().await;
}
