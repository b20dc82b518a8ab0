//! Unit tests of the Kafka scheme's pieces that need no broker.

use super::*;

fn info(name: &str, failed: bool, partitions: &[i32]) -> TopicInfo {
    TopicInfo {
        name: Arc::from(name),
        failed,
        partitions: partitions.to_vec(),
    }
}

/// A pattern's topic whose metadata failed is remembered as existing, so it is not later
/// treated as a new topic (replayed from its first message).
#[test]
fn failed_topics_of_a_pattern_are_remembered_not_dropped() {
    let spec = SubscribeSpec::parse(
        crate::pb::CmdKafkaSubscribe {
            topic_pattern: "a.*".into(),
            ..Default::default()
        },
        1024,
    )
    .unwrap();
    let m = select_topics(
        &[
            info("a1", false, &[0, 1]),
            info("a2", true, &[]),
            info("b", false, &[0]),
            info("__a", false, &[0]),
        ],
        &spec,
    )
    .unwrap();
    let tps: Vec<_> = m.tps.iter().map(|(t, p)| (t.to_string(), *p)).collect();
    assert_eq!(tps, [("a1".to_string(), 0), ("a1".to_string(), 1)]);
    assert_eq!(
        m.failed.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        ["a2"]
    );
}

/// A shared tail whose consumer never reaches a broker: for driving `deliver` by hand.
fn unconnected_tail(cache_bytes: usize) -> Tail {
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", "127.0.0.1:1");
    let consumer: StreamConsumer<GwContext> = consumer_config(&base)
        .create_with_context(GwContext {
            diag: Arc::new(Diagnostics::default()),
        })
        .unwrap();
    Tail {
        consumer: Arc::new(consumer),
        parts: Mutex::new(HashMap::new()),
        cache_messages: 1000,
        cache_bytes,
    }
}

/// A partition of large messages must not keep `partition_cache_messages` of them.
#[tokio::test]
async fn the_tail_cache_is_bounded_in_bytes_as_well_as_messages() {
    let tail = unconnected_tail(10_000);
    let tp: Tp = (Arc::from("t"), 0);
    let part = tail.join(&tp, 0).unwrap();
    let big = |o: i64| {
        Arc::new(Record::new(
            tp.0.clone(),
            0,
            o,
            0,
            Bytes::new(),
            Bytes::from(vec![0u8; 1000]),
            vec![],
        ))
    };
    tail.deliver(&tp, (0..100).map(big).collect());
    let st = lock(&part.state);
    assert!(st.cache_size <= 10_000, "{} bytes cached", st.cache_size);
    assert_eq!(
        st.cache_size,
        st.cache.iter().map(|r| r.size()).sum::<usize>()
    );
    assert!(st.cache.len() >= 9, "only {} kept", st.cache.len());
    assert_eq!(st.cache.back().map(|r| r.offset), Some(99));
    assert_eq!(st.next, 100);
}

/// Upstream trouble is logged on state changes: down once, up once.
#[test]
fn health_tracks_down_and_back() {
    let h = Health::default();
    assert!(!h.is_down());
    h.trouble(false, "connect failed", "refused");
    assert!(
        !h.is_down(),
        "one failed connection is not the whole upstream"
    );
    h.trouble(true, "all down", "1/1 brokers are down");
    assert!(h.is_down());
    for _ in 0..100 {
        h.trouble(true, "all down", "1/1 brokers are down");
    }
    assert_eq!(lock(&h.log).quiet, 100);
    h.ok();
    assert!(!h.is_down());
    assert_eq!(lock(&h.log).quiet, 0);
}

/// One read of the shared tail handed to subscriptions that start at different offsets: those
/// from its first record share one frame of all of it; one that starts inside it gets exactly
/// the records from its start (the shared frame would hand it what lies before).
#[tokio::test]
async fn a_tail_batch_goes_whole_to_subscriptions_from_its_start_and_in_part_to_later_ones() {
    use crate::outbox::{Outbound, Outbox};
    use prost::Message as _;
    let tail = unconnected_tail(1 << 20);
    let tp: Tp = (Arc::from("t"), 0);
    let part = tail.join(&tp, 0).unwrap();
    let mut queues = Vec::new();
    // Alike subscriptions on three connections (same subscribe sequence and id).
    for from in [0, 0, 5] {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let sink = PushSink::new(Outbox::new(tx, 1 << 20), 1, 7, 1000);
        sink.gate().open();
        let sub = Arc::new(SubShared {
            sink,
            match_headers: Vec::new(),
            lagging: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        lock(&part.state).attached.push(Attached { sub, from });
        queues.push((from, rx));
    }
    let rec = |o: i64| {
        Arc::new(Record::new(
            tp.0.clone(),
            0,
            o,
            0,
            Bytes::new(),
            Bytes::from(format!("m{o}")),
            vec![],
        ))
    };
    tail.deliver(&tp, (0..10).map(rec).collect());
    let mut frames = Vec::new();
    for (from, rx) in &mut queues {
        let frame = match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Outbound::Frame(f))) => f,
            other => panic!("from {from}: no push: {other:?}"),
        };
        let offsets: Vec<i64> = match crate::pb::PubSubResp::decode(frame.clone()).unwrap().resp {
            Some(crate::pb::pub_sub_resp::Resp::KafkaPush(f)) => {
                f.messages.iter().map(|m| m.offset).collect()
            }
            other => panic!("from {from}: not a push: {other:?}"),
        };
        assert_eq!(offsets, (*from..10).collect::<Vec<_>>(), "from {from}");
        frames.push(frame);
    }
    assert_eq!(frames[0].as_ptr(), frames[1].as_ptr(), "one frame shared");
}
