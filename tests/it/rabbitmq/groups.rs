//! Groups on a durable queue: shared with a plain consumer, redelivery after a member leaves,
//! nacks to the dead-letter exchange.

use super::*;

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
    assert!(held.iter().all(|m| m.delivery_attempt == 1), "{held:?}");
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
    // A classic queue does not count deliveries: a redelivery's attempt is unknown (0).
    assert!(again.iter().all(|m| m.delivery_attempt == 0), "{again:?}");
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
