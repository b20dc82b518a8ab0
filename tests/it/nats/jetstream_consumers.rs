//! JetStream consumers: groups as durable consumers shared with plain ones, redelivery, nacks
//! with a delay, plain subscribers of one subject on one consumer, max_in_flight.

use super::*;

#[tokio::test]
async fn jetstream_group_is_a_durable_consumer_shared_by_members_and_a_plain_consumer() {
    let js = Js::start("").await;
    let t = js.subject("g");
    let group = unique("grp");
    let mut a = js.gw.connect("/js").await;
    let mut b = js.gw.connect("/js").await;
    let g = CmdKafkaSubscribe {
        group: group.clone(),
        start: StartPosition::Earliest as i32,
        max_in_flight: 5,
        ..sub(&t)
    };
    let ida = a.subscribe(g.clone()).await;
    let idb = b.subscribe(g).await;
    let jsc = async_nats::jetstream::new(js.nc.clone());
    let n = 40;
    for i in 0..n {
        jsc.publish(t.clone(), i.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // Each message goes to one member; max_in_flight 5 holds each member to 5 unacknowledged.
    let mut seen: Vec<i64> = Vec::new();
    let (mut na, mut nb) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < n && tokio::time::Instant::now() < deadline {
        for (c, id, count) in [(&mut a, ida, &mut na), (&mut b, idb, &mut nb)] {
            let got = c.pushed_within(id, Duration::from_millis(100)).await;
            assert!(got.len() <= 5, "max_in_flight 5, got {}", got.len());
            if !got.is_empty() {
                *count += got.len();
                seen.extend(offsets_of(&got));
                let r = c
                    .request(Req::CmdAck(CmdAck {
                        subscription_id: id,
                        positions: positions(&t, &offsets_of(&got)),
                    }))
                    .await;
                assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
            }
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (1..=n as i64).collect::<Vec<_>>(),
        "each message once across the group"
    );
    assert!(na > 0 && nb > 0, "both members got some: {na} {nb}");

    // A plain NATS client bound to the same durable consumer goes on where the group is.
    for (c, id) in [(&mut a, ida), (&mut b, idb)] {
        let r = c
            .request(Req::CmdUnsubscribe(CmdUnsubscribe {
                subscription_id: id,
            }))
            .await;
        assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    }
    let stream = jsc.get_stream(&js.stream).await.unwrap();
    let plain: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(&group).await.unwrap();
    // The members' last pull requests expire first (they would take messages otherwise).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for i in n..n + 5 {
        jsc.publish(t.clone(), i.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    let mut batch = plain
        .batch()
        .max_messages(5)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(WAIT, batch.next()).await {
        got.push(m.info().unwrap().stream_sequence as i64);
        m.ack().await.unwrap();
    }
    assert_eq!(got, (n as i64 + 1..=n as i64 + 5).collect::<Vec<_>>());
    js.end().await;
}

#[tokio::test]
async fn jetstream_group_redelivers_what_a_member_left_unacknowledged() {
    let js = Js::start(", ack_wait_secs: 30").await;
    let t = js.subject("r");
    let group = unique("grp");
    let g = CmdKafkaSubscribe {
        group: group.clone(),
        start: StartPosition::Earliest as i32,
        max_in_flight: 2,
        ..sub(&t)
    };
    let mut a = js.gw.connect("/js").await;
    let ida = a.subscribe(g.clone()).await;
    for i in 1..=2 {
        a.produce_value(&t, &format!("m{i}")).await;
    }
    let got = a.pushed(ida, 2).await;
    assert_eq!(values(&got), ["m1", "m2"]);
    assert!(got.iter().all(|m| m.delivery_attempt == 1), "{got:?}");
    // Gone without acknowledging: the next member gets both well before the 30 s ack wait.
    a.disconnect().await;
    let mut b = js.gw.connect("/js").await;
    let idb = b.subscribe(g).await;
    let again = b.pushed(idb, 2).await;
    let mut v = values(&again);
    v.sort();
    assert_eq!(v, ["m1", "m2"]);
    assert!(
        again.iter().all(|m| m.delivery_attempt == 2),
        "JetStream's count: {again:?}"
    );
    js.end().await;
}

#[tokio::test]
async fn jetstream_nack_with_delay_redelivers_after_the_delay_and_bad_acks_are_refused() {
    let js = Js::start("").await;
    let t = js.subject("n");
    let mut c = js.gw.connect("/js").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: unique("grp"),
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
    c.produce_value(&t, "retry-me").await;
    let first = c.pushed(id, 1).await;
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(&t, &[42]),
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(msg.contains("was not delivered"), "{msg}");
    let nacked = std::time::Instant::now();
    let r = c
        .request(Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&t, &offsets_of(&first)),
            delay_ms: 1_500,
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    assert!(
        c.pushed_within(id, Duration::from_millis(1_000))
            .await
            .is_empty(),
        "not before the delay"
    );
    let again = c.pushed(id, 1).await;
    assert!(nacked.elapsed() >= Duration::from_millis(1_400));
    assert_eq!(again[0].offset, first[0].offset);
    assert_eq!(
        (first[0].delivery_attempt, again[0].delivery_attempt),
        (1, 2),
        "the delivery attempt rises with the redelivery"
    );
    let r = c
        .request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(&t, &[again[0].offset]),
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    // Acknowledged once: a second ack is refused.
    let (code, _) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(&t, &[again[0].offset]),
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(c
        .pushed_within(id, Duration::from_millis(500))
        .await
        .is_empty());
    js.end().await;
}

#[tokio::test]
async fn plain_jetstream_subscribers_of_one_subject_share_one_consumer() {
    let js = Js::start("").await;
    let t = js.subject("fan");
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = js.gw.connect("/js").await;
        let id = c.subscribe(sub(&t)).await;
        clients.push((c, id));
    }
    let jsc = async_nats::jetstream::new(js.nc.clone());
    let mut stream = jsc.get_stream(&js.stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.consumer_count,
        1,
        "five LATEST subscribers, one JetStream consumer"
    );
    for i in 1..=3 {
        jsc.publish(t.clone(), format!("m{i}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    for (c, id) in &mut clients {
        assert_eq!(values(&c.pushed(*id, 3).await), ["m1", "m2", "m3"]);
    }
    // A late EARLIEST subscriber reads the past alone, then joins the tail: all once, in order.
    let mut late = js.gw.connect("/js").await;
    let id = late.subscribe(sub_from(&t, Start::Earliest)).await;
    assert_eq!(values(&late.pushed(id, 3).await), ["m1", "m2", "m3"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    jsc.publish(t.clone(), "m4".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(values(&late.pushed(id, 1).await), ["m4"]);
    assert!(late
        .pushed_within(id, Duration::from_millis(300))
        .await
        .is_empty());
    js.end().await;
}

#[tokio::test]
async fn a_plain_jetstream_subscriber_held_by_max_in_flight_loses_nothing_and_holds_nobody_back() {
    let js = Js::start("").await;
    let t = js.subject("slow");
    let mut fast = js.gw.connect("/js").await;
    let fid = fast.subscribe(sub(&t)).await;
    let mut slow = js.gw.connect("/js").await;
    let sid = slow
        .subscribe(CmdKafkaSubscribe {
            max_in_flight: 2,
            ..sub(&t)
        })
        .await;
    let n = 12;
    for i in 0..n {
        slow.produce_value(&t, &format!("m{i}")).await;
    }
    let want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    assert_eq!(
        values(&fast.pushed(fid, n).await),
        want,
        "the fast one is not held back"
    );
    let mut got = Vec::new();
    while got.len() < n {
        let batch = slow.pushed(sid, 1).await;
        assert!(batch.len() <= 2, "max_in_flight 2: {}", batch.len());
        let r = slow
            .request(Req::CmdAck(CmdAck {
                subscription_id: sid,
                positions: positions(&t, &offsets_of(&batch)),
            }))
            .await;
        assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
        got.extend(values(&batch));
    }
    assert_eq!(got, want);
    assert!(slow
        .pushed_within(sid, Duration::from_millis(300))
        .await
        .is_empty());
    js.end().await;
}

/// A JetStream route with this `delivery:` policy.
async fn js_with_policy(policy: &str) -> Js {
    let nc = oracle().await;
    let stream = unique("GWT");
    let base = unique("gwt.js").replace('_', ".");
    let yaml = format!(
        "{}    delivery: {{ {policy} }}\n",
        js_route("/js", NATS, &stream, &base, "")
    );
    let gw = Gateway::start(&yaml).await;
    Js {
        gw,
        nc,
        stream,
        base,
    }
}

#[tokio::test]
async fn jetstream_nacks_wait_the_routes_backoff_and_stop_after_max_deliveries() {
    let js = js_with_policy("max_deliveries: 2, backoff: { min_ms: 600, max_ms: 5000 }").await;
    let t = js.subject("p");
    let mut c = js.gw.connect("/js").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: unique("grp"),
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
    c.produce_value(&t, "poison").await;
    let first = c.pushed(id, 1).await;
    assert_eq!(first[0].delivery_attempt, 1);
    let nack = |offset: i64| {
        Req::CmdNack(CmdNack {
            subscription_id: id,
            positions: positions(&t, &[offset]),
            delay_ms: 0,
        })
    };
    // No delay of its own: the route's backoff, 600 ms on the first delivery.
    let nacked = std::time::Instant::now();
    let r = c.request(nack(first[0].offset)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let again = c.pushed(id, 1).await;
    let waited = nacked.elapsed();
    assert!(waited >= Duration::from_millis(550), "after {waited:?}");
    assert_eq!(again[0].delivery_attempt, 2);
    // The second delivery was the last (the consumer's max_deliver): no third.
    let r = c.request(nack(again[0].offset)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    assert!(
        c.pushed_within(id, Duration::from_millis(2_000))
            .await
            .is_empty(),
        "delivered past max_deliveries"
    );
    js.end().await;
}
