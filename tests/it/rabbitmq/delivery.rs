//! The route's `delivery:` on quorum group queues: the quorum queue counts deliveries, the
//! gateway waits the backoff on nacks and publishes dead letters itself (the `x-dead-letter-*`
//! headers of every scheme, not RabbitMQ's `x-death`). A plain lapin consumer of the
//! dead-letter exchange reads them.

use super::*;

/// A quorum route on /rabbit over `ex` with this `delivery:` policy.
fn quorum_route(ex: &str, policy: &str) -> String {
    format!(
        "{}    delivery: {{ {policy} }}\n",
        route("/rabbit", AMQP, ex, ", queue_type: quorum")
    )
}

#[tokio::test]
async fn rabbitmq_nacks_wait_the_backoff_and_the_last_allowed_one_is_dead_lettered_by_the_gateway()
{
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.dlv");
    let dlx = format!("{ex}.dlx");
    let group = unique("g");
    let queue = group_queue("/rabbit", &group, "tasks");
    let dead = plain_queue(&ch, &dlx, "#").await;
    let mut dead_c = consume(&ch, &dead, true).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone(), dlx.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&quorum_route(
        &ex,
        &format!(
            "max_deliveries: 2, backoff: {{ min_ms: 400, max_ms: 2000 }}, dead_letter: \"{dlx}\""
        ),
    ))
    .await;
    let mut c = gw.connect("/rabbit").await;
    let id = c.subscribe(group_sub("tasks", &group, 0)).await;
    c.produce(CmdKafkaProduce {
        topic: "tasks".into(),
        key: b"k-1".to_vec().into(),
        value: b"poison".to_vec().into(),
        headers: vec![header("trace", "t-1")],
        ..Default::default()
    })
    .await;
    let first = c.pushed(id, 1).await;
    assert_eq!(first[0].delivery_attempt, 1);
    // No delay of its own: the route's backoff, 400 ms after the first delivery.
    let nacked = std::time::Instant::now();
    nack(&mut c, id, &first).await;
    let again = c.pushed(id, 1).await;
    let waited = nacked.elapsed();
    assert!(waited >= Duration::from_millis(380), "after {waited:?}");
    assert_eq!(again[0].delivery_attempt, 2, "the quorum queue's count");
    // The last allowed delivery nacked: the gateway publishes the dead letter.
    nack(&mut c, id, &again).await;
    let d = next_delivery(&mut dead_c).await;
    assert_eq!(d.data, b"poison");
    assert_eq!(d.routing_key.as_str(), "tasks");
    assert_eq!(
        d.properties.message_id().as_ref().map(|m| m.as_str()),
        Some("k-1")
    );
    let h = |k: &str| header_text(&d, k);
    assert_eq!(h("trace").as_deref(), Some("t-1"));
    assert_eq!(h("x-dead-letter-topic").as_deref(), Some("tasks"));
    assert_eq!(h("x-dead-letter-partition").as_deref(), Some("0"));
    assert_eq!(h("x-dead-letter-position").as_deref(), Some(""));
    assert_eq!(h("x-dead-letter-delivery-count").as_deref(), Some("2"));
    assert_eq!(h("x-dead-letter-first-delivery-ms").as_deref(), Some("0"));
    assert_eq!(h("x-dead-letter-reason").as_deref(), Some("nack"));
    assert_eq!(
        h("x-death"),
        None,
        "published by the gateway, not the broker"
    );
    assert_eq!(
        h("x-delivery-count"),
        None,
        "the source queue's count is not carried"
    );
    assert!(
        c.pushed_within(id, Duration::from_millis(800))
            .await
            .is_empty(),
        "acknowledged: not delivered again"
    );
    gw.stop().await;
}

#[tokio::test]
async fn rabbitmq_a_last_delivery_left_unanswered_is_dead_lettered_by_the_next_member() {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.dlv");
    let dlx = format!("{ex}.dlx");
    let group = unique("g");
    let queue = group_queue("/rabbit", &group, "tasks");
    let dead = plain_queue(&ch, &dlx, "#").await;
    let mut dead_c = consume(&ch, &dead, true).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone(), dlx.clone()],
        queues: vec![queue.clone()],
    };
    let gw = Gateway::start(&quorum_route(
        &ex,
        &format!("max_deliveries: 1, dead_letter: \"{dlx}\""),
    ))
    .await;
    let mut a = gw.connect("/rabbit").await;
    let ida = a.subscribe(group_sub("tasks", &group, 0)).await;
    a.produce_value("tasks", "m0").await;
    let got = a.pushed(ida, 1).await;
    assert_eq!(got[0].delivery_attempt, 1);
    // A leaves with m0 unanswered on its one allowed delivery: the broker gives it back, and
    // the member that receives it dead-letters it instead of delivering it.
    a.disconnect().await;
    let mut b = gw.connect("/rabbit").await;
    let idb = b.subscribe(group_sub("tasks", &group, 0)).await;
    let d = next_delivery(&mut dead_c).await;
    assert_eq!(d.data, b"m0");
    assert_eq!(
        header_text(&d, "x-dead-letter-reason").as_deref(),
        Some("max_deliveries")
    );
    assert_eq!(
        header_text(&d, "x-dead-letter-delivery-count").as_deref(),
        Some("1")
    );
    assert!(b
        .pushed_within(idb, Duration::from_millis(800))
        .await
        .is_empty());
    gw.stop().await;
}
