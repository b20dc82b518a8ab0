//! Nacks and the route's `delivery:` on MQTT shared subscriptions, run by the gateway (MQTT has
//! no retry): the backoff, the gateway's delivery count, and the dead letter published to the
//! `dead_letter` topic with the dead-letter headers as user properties, read by a plain
//! rumqttc client.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use rumqttc::v5::mqttbytes::v5::PublishProperties;

use crate::common::mqtt::*;
use crate::common::*;

fn nack(id: i64, m: &KafkaMessage, delay_ms: i64) -> Req {
    Req::CmdNack(CmdNack {
        subscription_id: id,
        positions: vec![MessagePosition {
            topic: m.topic.clone(),
            partition: 0,
            offset: m.offset,
            ..Default::default()
        }],
        delay_ms,
    })
}

#[tokio::test]
async fn mqtt_nacks_redeliver_after_the_backoff_and_the_last_allowed_one_is_dead_lettered() {
    let base = unique("gw");
    let dlq = format!("{base}-dlq");
    let yaml = format!(
        "{}    delivery: {{ max_deliveries: 2, backoff: {{ min_ms: 400, max_ms: 2000 }}, dead_letter: \"{dlq}\" }}\n",
        route("/mqtt", MOSQUITTO, "")
    );
    let gw = Gateway::start(&yaml).await;
    let mut dead = Peer::connect().await;
    dead.subscribe(&dlq).await;
    let mut c = gw.connect("/mqtt").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: unique("g"),
            ..sub(&format!("{base}/#"))
        })
        .await;
    let publisher = Peer::connect().await;
    let before = now_ms();
    peer_publish(
        &publisher,
        &format!("{base}/m"),
        "poison",
        PublishProperties {
            user_properties: vec![("trace".into(), "t-1".into())],
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
        false,
    )
    .await;
    let first = c.pushed(id, 1).await;
    assert_eq!(first[0].delivery_attempt, 1);
    // No delay of its own: the route's backoff, 400 ms after the first delivery.
    let nacked = Instant::now();
    let r = c.request(nack(id, &first[0], 0)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    // Nacked: no longer the client's to acknowledge.
    assert_eq!(
        error_of(
            c.request(ack(id, &first[0].topic, &[first[0].offset]))
                .await
        )
        .0,
        400
    );
    let again = c.pushed(id, 1).await;
    let waited = nacked.elapsed();
    assert!(waited >= Duration::from_millis(380), "after {waited:?}");
    assert_eq!(value_of(&again[0]), "poison");
    assert_eq!(again[0].delivery_attempt, 2, "the gateway's count");
    assert_ne!(
        again[0].offset, first[0].offset,
        "a new delivery, a new position"
    );
    let after = now_ms();
    // The last allowed delivery nacked: the dead letter, then the original's PUBACK.
    let r = c.request(nack(id, &again[0], 0)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    let letter = dead.next().await;
    assert_eq!(&letter.payload[..], b"poison");
    let props = letter.properties.expect("properties");
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    let h: BTreeMap<String, String> = props.user_properties.into_iter().collect();
    assert_eq!(h["trace"], "t-1");
    assert_eq!(h["x-dead-letter-topic"], format!("{base}/m"));
    assert_eq!(h["x-dead-letter-partition"], "0");
    assert_eq!(h["x-dead-letter-position"], "");
    assert_eq!(h["x-dead-letter-delivery-count"], "2");
    assert_eq!(h["x-dead-letter-reason"], "nack");
    let first_ms: i64 = h["x-dead-letter-first-delivery-ms"].parse().unwrap();
    assert!(
        (before..=after).contains(&first_ms),
        "{first_ms} not in {before}..{after}"
    );
    assert!(
        c.pushed_within(id, Duration::from_millis(1_000))
            .await
            .is_empty(),
        "acknowledged: not delivered again"
    );
    gw.stop().await;
}

#[tokio::test]
async fn mqtt_a_nack_with_its_own_delay_waits_that_delay_without_a_policy() {
    let gw = gateway("").await;
    let base = unique("gw");
    let mut c = gw.connect("/mqtt").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            group: unique("g"),
            ..sub(&format!("{base}/#"))
        })
        .await;
    let publisher = Peer::connect().await;
    peer_publish(
        &publisher,
        &format!("{base}/m"),
        "again",
        PublishProperties::default(),
        false,
    )
    .await;
    let first = c.pushed(id, 1).await;
    let nacked = Instant::now();
    let r = c.request(nack(id, &first[0], 700)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    assert!(
        c.pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty(),
        "not before the delay"
    );
    let again = c.pushed(id, 1).await;
    assert!(nacked.elapsed() >= Duration::from_millis(680));
    assert_eq!(
        (value_of(&again[0]).as_str(), again[0].delivery_attempt),
        ("again", 2)
    );
    let r = c
        .request(ack(id, &again[0].topic, &[again[0].offset]))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    gw.stop().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
