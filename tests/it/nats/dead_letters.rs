//! JetStream dead letters: the gateway publishes them (JetStream only reports a message out of
//! deliveries) with the dead-letter headers, and terminates the message. A plain async-nats
//! client reads them.

use std::collections::BTreeMap;

use async_nats::jetstream;

use super::*;

/// A JetStream route whose `delivery:` policy names `BASE` for the stream's subject prefix.
async fn js_dead(policy: &str) -> (Js, String) {
    let nc = oracle().await;
    let stream = unique("GWT");
    let base = unique("gwt.js").replace('_', ".");
    let dlq = format!("{base}.dlq");
    let yaml = format!(
        "{}    delivery: {{ {} }}\n",
        js_route("/js", NATS, &stream, &base, ", ack_wait_secs: 30"),
        policy.replace("BASE", &base)
    );
    let gw = Gateway::start(&yaml).await;
    (
        Js {
            gw,
            nc,
            stream,
            base,
        },
        dlq,
    )
}

fn nack(id: i64, subject: &str, offset: i64) -> Req {
    Req::CmdNack(CmdNack {
        subscription_id: id,
        positions: positions(subject, &[offset]),
        delay_ms: 0,
    })
}

fn headers_map(m: &async_nats::Message) -> BTreeMap<String, String> {
    m.headers
        .iter()
        .flat_map(|h| h.iter())
        .map(|(k, v)| {
            (
                k.to_string(),
                v.first().map(|v| v.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// The group's durable consumer as the server sees it: (ack pending, pending).
async fn consumer_state(js: &Js, group: &str) -> (usize, u64) {
    let ctx = jetstream::new(js.nc.clone());
    let stream = ctx.get_stream(&js.stream).await.unwrap();
    let mut c: jetstream::consumer::PullConsumer = stream.get_consumer(group).await.unwrap();
    let info = c.info().await.unwrap();
    (info.num_ack_pending, info.num_pending)
}

#[tokio::test]
async fn jetstream_a_nacked_last_delivery_is_published_as_a_dead_letter_and_terminated() {
    let (js, dlq) = js_dead("max_deliveries: 2, dead_letter: BASE.dlq").await;
    let t = js.subject("poison");
    let group = unique("grp");
    let mut dead = js.nc.subscribe(dlq.clone()).await.unwrap();
    js.nc.flush().await.unwrap();
    let mut c = js.gw.connect("/js").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: group.clone(),
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
    let produced = c
        .produce(CmdKafkaProduce {
            topic: t.clone(),
            value: b"poison".to_vec().into(),
            headers: vec![header("trace", "t-1")],
            ..Default::default()
        })
        .await;
    let first = c.pushed(id, 1).await;
    assert_eq!(first[0].delivery_attempt, 1);
    let r = c.request(nack(id, &t, first[0].offset)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let again = c.pushed(id, 1).await;
    assert_eq!(again[0].delivery_attempt, 2);
    // The last allowed delivery nacked: a dead letter, read by a plain NATS client.
    let r = c.request(nack(id, &t, again[0].offset)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let letter = next_plain(&mut dead).await;
    assert_eq!(&letter.payload[..], b"poison");
    let h = headers_map(&letter);
    assert_eq!(h["trace"], "t-1", "the message's own headers first");
    assert_eq!(h["x-dead-letter-topic"], t);
    assert_eq!(h["x-dead-letter-partition"], "0");
    assert_eq!(h["x-dead-letter-position"], produced.offset.to_string());
    assert_eq!(h["x-dead-letter-delivery-count"], "2");
    assert_eq!(h["x-dead-letter-first-delivery-ms"], "0");
    assert_eq!(h["x-dead-letter-reason"], "nack");
    // Stored in the stream like any publish.
    let ctx = jetstream::new(js.nc.clone());
    let stream = ctx.get_stream(&js.stream).await.unwrap();
    let stored = stream
        .get_last_raw_message_by_subject(&dlq)
        .await
        .expect("the dead letter is in the stream");
    assert_eq!(&stored.payload[..], b"poison");
    // Terminated: never delivered again, nothing pending at the server.
    assert!(c
        .pushed_within(id, Duration::from_millis(1_500))
        .await
        .is_empty());
    assert_eq!(consumer_state(&js, &group).await, (0, 0));
    // Settled: a second nack of it is refused.
    let (code, _) = error_of(c.request(nack(id, &t, again[0].offset)).await);
    assert_eq!(code, 400);
    js.end().await;
}

#[tokio::test]
async fn jetstream_a_last_delivery_left_unanswered_is_dead_lettered_by_the_next_member() {
    let (js, dlq) = js_dead("max_deliveries: 1, dead_letter: BASE.dlq").await;
    let t = js.subject("vanish");
    let group = unique("grp");
    let mut dead = js.nc.subscribe(dlq.clone()).await.unwrap();
    js.nc.flush().await.unwrap();
    let g = CmdKafkaSubscribe {
        group: group.clone(),
        start: StartPosition::Earliest as i32,
        ..sub(&t)
    };
    let mut a = js.gw.connect("/js").await;
    let ida = a.subscribe(g.clone()).await;
    a.produce_value(&t, "m1").await;
    a.produce_value(&t, "m2").await;
    let got = a.pushed(ida, 2).await;
    assert_eq!(values(&got), ["m1", "m2"]);
    let r = a
        .request(Req::CmdAck(CmdAck {
            subscription_id: ida,
            positions: positions(&t, &[got[1].offset]),
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    // Gone with m1 unanswered on its one allowed delivery: the group gets it back, and the
    // member that receives it dead-letters it instead of delivering it.
    a.disconnect().await;
    let mut b = js.gw.connect("/js").await;
    let idb = b.subscribe(g).await;
    let letter = next_plain(&mut dead).await;
    assert_eq!(&letter.payload[..], b"m1");
    let h = headers_map(&letter);
    assert_eq!(h["x-dead-letter-reason"], "max_deliveries");
    assert_eq!(h["x-dead-letter-delivery-count"], "1");
    assert_eq!(h["x-dead-letter-position"], got[0].offset.to_string());
    assert_eq!(h["x-dead-letter-topic"], t);
    assert!(b
        .pushed_within(idb, Duration::from_millis(1_000))
        .await
        .is_empty());
    assert_eq!(consumer_state(&js, &group).await, (0, 0));
    js.end().await;
}
