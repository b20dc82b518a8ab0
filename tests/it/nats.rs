//! The NATS scheme against the machine's NATS server (127.0.0.1:4222, JetStream on), through a
//! real WebSocket client, with a plain async-nats client as oracle and interop peer. Every test
//! uses its own subjects and streams and deletes the streams it made.

use std::time::Duration;

use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::nats::*;
use crate::common::*;

fn route_info(r: Resp) -> RouteInfoResp {
    match r {
        Resp::RouteInfoResp(i) => i,
        other => panic!("expected route info, got {other:?}"),
    }
}

async fn next_plain(s: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("plain NATS subscriber got a message in time")
        .expect("subscription open")
}

// ---------------------------------------------------------------------------------------------
// Core NATS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn core_headers_travel_both_ways_multi_valued() {
    let nc = oracle().await;
    let subject = unique("gwt.core.h").replace('_', ".");
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut c = gw.connect("/chat").await;

    // Gateway -> plain NATS.
    let mut plain = nc.subscribe(subject.clone()).await.unwrap();
    settle(&nc).await;
    let r = c
        .produce(CmdKafkaProduce {
            topic: subject.clone(),
            value: "from-gw".as_bytes().to_vec().into(),
            headers: vec![header("X-A", "1"), header("X-A", "2"), header("X-B", "b")],
            ..Default::default()
        })
        .await;
    assert_eq!(r.offset, -1, "core NATS has no positions");
    let m = next_plain(&mut plain).await;
    assert_eq!(&m.payload[..], b"from-gw");
    let h = m.headers.expect("headers arrive");
    let xa: Vec<_> = h.get_all("X-A").map(|v| v.as_str().to_owned()).collect();
    assert_eq!(xa, ["1", "2"]);
    assert_eq!(h.get("X-B").map(|v| v.as_str()), Some("b"));

    // Plain NATS -> gateway.
    let id = c.subscribe(sub(&subject)).await;
    let mut hm = async_nats::HeaderMap::new();
    hm.append("X-C", "x");
    hm.append("X-C", "y");
    nc.publish_with_headers(subject.clone(), hm, "from-nats".into())
        .await
        .unwrap();
    settle(&nc).await;
    let got = c.pushed(id, 1).await;
    assert_eq!(values(&got), ["from-nats"]);
    assert_eq!(got[0].topic, subject);
    let xc: Vec<_> = got[0]
        .headers
        .iter()
        .filter(|h| h.key == "X-C")
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .collect();
    assert_eq!(xc, ["x", "y"]);
    gw.stop().await;
}

#[tokio::test]
async fn core_wildcards_deliver_matching_subjects_and_share_one_nats_subscription() {
    let nc = oracle().await;
    let base = unique("gwt.core.w").replace('_', ".");
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut a = gw.connect("/chat").await;
    let mut b = gw.connect("/chat").await;
    let star = a.subscribe(sub(&format!("{base}.*"))).await;
    let star_b = b.subscribe(sub(&format!("{base}.*"))).await;
    let rest = b.subscribe(sub(&format!("{base}.>"))).await;
    for s in ["x", "y.z", "q"] {
        nc.publish(format!("{base}.{s}"), s.to_owned().into())
            .await
            .unwrap();
    }
    settle(&nc).await;
    assert_eq!(values(&a.pushed(star, 2).await), ["x", "q"]);
    assert_eq!(values(&b.pushed(star_b, 2).await), ["x", "q"]);
    assert_eq!(values(&b.pushed(rest, 3).await), ["x", "y.z", "q"]);
    assert!(a
        .pushed_within(star, Duration::from_millis(300))
        .await
        .is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn core_group_is_a_queue_group_shared_with_plain_nats_subscribers() {
    let nc = oracle().await;
    let subject = unique("gwt.core.q").replace('_', ".");
    let queue = unique("workers");
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut a = gw.connect("/chat").await;
    let mut b = gw.connect("/chat").await;
    let ida = a
        .subscribe(CmdKafkaSubscribe {
            group: queue.clone(),
            ..sub(&subject)
        })
        .await;
    let idb = b
        .subscribe(CmdKafkaSubscribe {
            group: queue.clone(),
            ..sub(&subject)
        })
        .await;
    let peer = oracle().await;
    let mut plain = peer
        .queue_subscribe(subject.clone(), queue.clone())
        .await
        .unwrap();
    settle(&peer).await;
    let n = 60;
    for i in 0..n {
        nc.publish(subject.clone(), i.to_string().into())
            .await
            .unwrap();
    }
    settle(&nc).await;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let (mut na, mut nb, mut np) = (0, 0, 0);
    while seen.len() < n && tokio::time::Instant::now() < deadline {
        for m in a.pushed_within(ida, Duration::from_millis(100)).await {
            na += 1;
            seen.push(value_of(&m));
        }
        for m in b.pushed_within(idb, Duration::from_millis(100)).await {
            nb += 1;
            seen.push(value_of(&m));
        }
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(50), plain.next()).await
        {
            np += 1;
            seen.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
    }
    seen.sort_by_key(|v| v.parse::<i32>().unwrap());
    let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(
        seen, want,
        "each message exactly once across the queue group"
    );
    assert!(
        na > 0 && nb > 0 && np > 0,
        "all three members got some: {na} {nb} {np}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn core_route_says_what_it_can_do_and_refuses_history_with_capability_errors() {
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut c = gw.connect("/chat").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(info.scheme, "nats");
    let caps = info.capabilities.unwrap();
    assert!(!caps.history && !caps.fetch && !caps.ack && caps.groups && caps.headers);
    assert_eq!(caps.starts, [StartPosition::Latest as i32]);
    assert_eq!(caps.wildcards, "nats");

    let (code, msg) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub("gwt.core.e")
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(
        msg.contains("start EARLIEST needs history") && msg.contains("core NATS"),
        "{msg}"
    );
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("gwt.core.e", 0, 0)))
            .await,
    );
    assert_eq!(code, 400);
    assert!(
        msg.contains("fetch needs history") && msg.contains("/chat"),
        "{msg}"
    );
    let (code, _) = error_of(
        c.request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "gwt.core.e".into(),
            partition: 0,
            timestamp: -1,
        }))
        .await,
    );
    assert_eq!(code, 400);
    // The connection lives.
    c.produce_value("gwt.core.e", "still here").await;
    gw.stop().await;
}

#[tokio::test]
async fn bad_subjects_and_oversized_payloads_answer_400_and_the_connection_lives() {
    let gw = Gateway::start(&core_route("/chat", NATS)).await;
    let mut c = gw.connect("/chat").await;
    for bad in ["a..b", "a b", ".a", "a.*", "a.>", "$JS.API.STREAM.LIST"] {
        let (code, msg) = error_of(
            c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: bad.into(),
                value: "x".as_bytes().to_vec().into(),
                ..Default::default()
            }))
            .await,
        );
        assert_eq!(code, 400, "{bad}: {msg}");
        assert!(msg.contains("invalid NATS subject"), "{msg}");
    }
    for bad in ["a.>.b", "a*", "a..*"] {
        let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub(bad))).await);
        assert_eq!(code, 400, "{bad}");
    }
    let nc = oracle().await;
    let max = nc.server_info().max_payload;
    // The gateway's own frame limit must let the oversized message through to be judged.
    let gw2 = Gateway::start(&format!(
        "server:\n  limits: {{ max_frame_bytes: {} }}\n{}",
        max * 2 + 4096,
        core_route("/chat", NATS)
    ))
    .await;
    let mut c2 = gw2.connect("/chat").await;
    let (code, msg) = error_of(
        c2.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.big".into(),
            value: vec![b'x'; max + 1].into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400);
    assert!(msg.contains("max_payload"), "{msg}");
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.h".into(),
            value: "x".as_bytes().to_vec().into(),
            headers: vec![header("bad key", "v")],
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    c.produce_value("gwt.ok", "fine").await;
    c2.produce_value("gwt.ok", "fine").await;
    gw.stop().await;
    gw2.stop().await;
}

#[tokio::test]
async fn two_gateways_on_one_nats_server_are_replicas() {
    let nc = oracle().await;
    let subject = unique("gwt.two").replace('_', ".");
    let stream = unique("GWT_TWO");
    let one = Gateway::start(&core_route("/chat", NATS)).await;
    let two = Gateway::start(&core_route("/chat", NATS)).await;
    let mut a = one.connect("/chat").await;
    let mut b = two.connect("/chat").await;
    let id = b.subscribe(sub(&subject)).await;
    a.produce_value(&subject, "across").await;
    assert_eq!(values(&b.pushed(id, 1).await), ["across"]);

    let js_subject = unique("gwt.twojs").replace('_', ".");
    let route = js_route("/js", NATS, &stream, &js_subject, "");
    let one = Gateway::start(&route).await;
    let two = Gateway::start(&route).await;
    let mut a = one.connect("/js").await;
    let mut b = two.connect("/js").await;
    let r = a.produce_value(&format!("{js_subject}.x"), "stored").await;
    let id = b
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&format!("{js_subject}.>"))
        })
        .await;
    let got = b.pushed(id, 1).await;
    assert_eq!(values(&got), ["stored"]);
    assert_eq!(got[0].offset, r.offset);
    delete_stream(&nc, &stream).await;
}

#[tokio::test]
async fn unreachable_server_answers_503_within_the_connect_timeout() {
    let port = free_port();
    let gw = Gateway::start(&core_route("/chat", &format!("127.0.0.1:{port}"))).await;
    let mut c = gw.connect("/chat").await;
    let started = std::time::Instant::now();
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.down".into(),
            value: "x".as_bytes().to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(matches!(code, 502..=504), "{code} {msg}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub("gwt.down"))).await);
    assert!(matches!(code, 502..=504));
    // The connection lives, and the route recovers by itself once a server is there.
    let mut server = PrivateServer::start_on(port).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "gwt.down".into(),
                value: "x".as_bytes().to_vec().into(),
                ..Default::default()
            }))
            .await
        {
            Resp::KafkaProduceResp(_) => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "not recovered: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill();
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// JetStream
// ---------------------------------------------------------------------------------------------

/// A JetStream route on /js over a fresh stream; the stream is deleted when the test ends.
struct Js {
    gw: Gateway,
    nc: async_nats::Client,
    stream: String,
    base: String,
}

impl Js {
    async fn start(extra: &str) -> Js {
        let nc = oracle().await;
        sweep_stale_streams(&nc).await;
        let stream = unique("GWT");
        let base = unique("gwt.js").replace('_', ".");
        let gw = Gateway::start(&js_route("/js", NATS, &stream, &base, extra)).await;
        Js {
            gw,
            nc,
            stream,
            base,
        }
    }

    fn subject(&self, s: &str) -> String {
        format!("{}.{s}", self.base)
    }

    async fn end(self) {
        delete_stream(&self.nc, &self.stream).await;
        self.gw.stop().await;
    }
}

fn list_offset(topic: &str, timestamp: i64) -> Req {
    Req::CmdKafkaListOffset(CmdKafkaListOffset {
        topic: topic.into(),
        partition: 0,
        timestamp,
    })
}

fn offset_of(r: Resp) -> i64 {
    match r {
        Resp::KafkaListOffsetResp(o) => o.offset,
        other => panic!("expected an offset, got {other:?}"),
    }
}

fn positions(subject: &str, offsets: &[i64]) -> Vec<MessagePosition> {
    offsets
        .iter()
        .map(|o| MessagePosition {
            topic: subject.into(),
            partition: 0,
            offset: *o,
            position: String::new(),
        })
        .collect()
}

#[tokio::test]
async fn jetstream_publish_answers_the_sequence_and_fetch_offsets_metadata_hold_at_the_edges() {
    let js = Js::start("").await;
    let t = js.subject("a");
    let mut c = js.gw.connect("/js").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(info.scheme, "nats-jetstream");
    let caps = info.capabilities.unwrap();
    assert!(caps.history && caps.fetch && caps.ack && caps.nack && caps.epochs && !caps.commit);
    assert_eq!(caps.starts, (0..=5).collect::<Vec<i32>>());

    let before = now_ms();
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(c.produce_value(&t, &format!("m{i}")).await.offset);
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // Plain JetStream sees the same sequences.
    let jsc = async_nats::jetstream::new(js.nc.clone());
    let mut stream = jsc.get_stream(&js.stream).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.last_sequence, 5);

    let all = c.fetch(fetch_cmd(&t, 0, 1)).await;
    assert_eq!(offsets_of(&all), [1, 2, 3, 4, 5]);
    assert!(all
        .iter()
        .all(|m| m.epoch > 0 && m.partition == 0 && m.topic == t));
    let two = c
        .fetch(CmdKafkaFetch {
            max_messages: 2,
            ..fetch_cmd(&t, 0, 3)
        })
        .await;
    assert_eq!(values(&two), ["m2", "m3"]);
    assert!(
        c.fetch(fetch_cmd(&t, 0, 6)).await.is_empty(),
        "at the end: empty"
    );
    let (code, msg) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&t, 0, 7))).await);
    assert_eq!(code, 416, "{msg}");
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&t, 0, 0))).await);
    assert_eq!(code, 416);
    let (code, _) = error_of(c.request(Req::CmdKafkaFetch(fetch_cmd(&t, 1, 1))).await);
    assert_eq!(code, 404, "partition 1 does not exist on NATS");

    assert_eq!(offset_of(c.request(list_offset(&t, -2)).await), 1);
    assert_eq!(offset_of(c.request(list_offset(&t, -1)).await), 6);
    assert_eq!(
        offset_of(c.request(list_offset(&t, before - 60_000)).await),
        1
    );
    assert_eq!(
        offset_of(c.request(list_offset(&t, now_ms() + 60_000)).await),
        -1
    );
    let third = all[2].timestamp;
    let at = offset_of(c.request(list_offset(&t, third)).await);
    assert!(at <= 3 && all[(at - 1) as usize].timestamp >= third, "{at}");

    match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata { topic: t.clone() }))
        .await
    {
        Resp::KafkaMetadataResp(m) => {
            assert_eq!(m.partitions.len(), 1);
            assert_eq!((m.partitions[0].earliest, m.partitions[0].latest), (1, 6));
            assert_eq!(m.partitions[0].epoch, all[0].epoch, "the stream's epoch");
        }
        other => panic!("{other:?}"),
    }

    // Long poll at the end: answered by the next message.
    let seq = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            max_wait_ms: 5_000,
            ..fetch_cmd(&t, 0, 6)
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    jsc.publish(t.clone(), "late".into())
        .await
        .unwrap()
        .await
        .unwrap();
    match c.reply(seq).await {
        Resp::KafkaFetchResp(r) => assert_eq!(values(&r.messages), ["late"]),
        other => panic!("{other:?}"),
    }
    js.end().await;
}

#[tokio::test]
async fn jetstream_headers_interoperate_with_plain_jetstream_clients() {
    let js = Js::start("").await;
    let t = js.subject("h");
    let mut c = js.gw.connect("/js").await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
    let jsc = async_nats::jetstream::new(js.nc.clone());
    let mut hm = async_nats::HeaderMap::new();
    hm.append("X-K", "1");
    hm.append("X-K", "2");
    let ack = jsc
        .publish_with_headers(t.clone(), hm, "plain".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let got = c.pushed(id, 1).await;
    assert_eq!(got[0].offset as u64, ack.sequence);
    let ks: Vec<_> = got[0]
        .headers
        .iter()
        .filter(|h| h.key == "X-K")
        .map(|h| h.value.to_vec())
        .collect();
    assert_eq!(ks, [b"1".to_vec(), b"2".to_vec()]);
    // Gateway -> a plain consumer of the stream.
    let r = c
        .produce(CmdKafkaProduce {
            topic: t.clone(),
            value: "gw".as_bytes().to_vec().into(),
            headers: vec![header("X-G", "a"), header("X-G", "b")],
            ..Default::default()
        })
        .await;
    let stream = jsc.get_stream(&js.stream).await.unwrap();
    let reader = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: r.offset as u64,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = reader.fetch().max_messages(1).messages().await.unwrap();
    let m = batch.next().await.expect("stored").unwrap();
    assert_eq!(&m.payload[..], b"gw");
    let g: Vec<_> = m
        .headers
        .as_ref()
        .expect("headers stored")
        .get_all("X-G")
        .map(|v| v.as_str().to_owned())
        .collect();
    assert_eq!(g, ["a", "b"]);
    js.end().await;
}

#[tokio::test]
async fn jetstream_subscribe_honours_every_start_position() {
    let js = Js::start("").await;
    let t = js.subject("s");
    let mut c = js.gw.connect("/js").await;
    for i in 1..=3 {
        c.produce_value(&t, &format!("m{i}")).await;
        // Distinct millisecond timestamps, so TIMESTAMP has one answer.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = c.fetch(fetch_cmd(&t, 0, 1)).await;
    let ts2 = all[1].timestamp;
    let starts = [
        (StartPosition::Earliest, 0, vec!["m1", "m2", "m3"]),
        (StartPosition::Last, 0, vec!["m3"]),
        (StartPosition::Offset, 2, vec!["m2", "m3"]),
        (StartPosition::Timestamp, ts2, vec!["m2", "m3"]),
        (StartPosition::TimeDelta, 3_600_000, vec!["m1", "m2", "m3"]),
        (StartPosition::Latest, 0, vec![]),
    ];
    let mut ids = Vec::new();
    for (start, value, _) in &starts {
        ids.push(
            c.subscribe(CmdKafkaSubscribe {
                start: *start as i32,
                start_value: *value,
                ..sub(&t)
            })
            .await,
        );
    }
    c.produce_value(&t, "m4").await;
    for ((start, _, want), id) in starts.iter().zip(ids) {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.push("m4".into());
        let got = c.pushed(id, want.len()).await;
        assert_eq!(values(&got), want, "{start:?}");
        assert!(c
            .pushed_within(id, Duration::from_millis(100))
            .await
            .is_empty());
    }
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_value: 99,
            ..sub(&t)
        }))
        .await,
    );
    assert_eq!(code, 416);
    js.end().await;
}

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
    // Gone without acknowledging: the next member gets both well before the 30 s ack wait.
    a.disconnect().await;
    let mut b = js.gw.connect("/js").await;
    let idb = b.subscribe(g).await;
    let again = b.pushed(idb, 2).await;
    let mut v = values(&again);
    v.sort();
    assert_eq!(v, ["m1", "m2"]);
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
async fn jetstream_missing_stream_answers_404_and_is_not_created() {
    let nc = oracle().await;
    let stream = unique("GWT_MISSING");
    let gw = Gateway::start(&format!(
        "routes:\n  - uri: /js\n    upstream:\n      scheme: nats\n      nodes: [\"{NATS}\"]\n      nats: {{ stream: {stream} }}\n"
    ))
    .await;
    let mut c = gw.connect("/js").await;
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd("gwt.none", 0, 1)))
            .await,
    );
    assert_eq!(code, 404, "{msg}");
    assert!(
        msg.contains(&stream) && msg.contains("does not exist"),
        "{msg}"
    );
    let (code, _) = error_of(c.request(Req::CmdKafkaSubscribe(sub("gwt.none"))).await);
    assert_eq!(code, 404);
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.none".into(),
            value: "x".as_bytes().to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 404, "{msg}");
    let jsc = async_nats::jetstream::new(nc.clone());
    assert!(
        jsc.get_stream(&stream).await.is_err(),
        "the gateway made no stream"
    );
    // The connection lives.
    let pong = c
        .request(Req::CmdPing(CmdPing {
            state: b"ok".to_vec().into(),
        }))
        .await;
    assert!(matches!(pong, Resp::PongResp(_)), "{pong:?}");
    gw.stop().await;
}

#[tokio::test]
async fn jetstream_resume_into_a_recreated_stream_starts_over_with_reset() {
    let js = Js::start("").await;
    let t = js.subject("e");
    let mut c = js.gw.connect("/js").await;
    c.produce_value(&t, "old1").await;
    c.produce_value(&t, "old2").await;
    let old = c.fetch(fetch_cmd(&t, 0, 1)).await;
    let old_epoch = old[0].epoch;
    delete_stream(&js.nc, &js.stream).await;
    // The route makes the stream again on the next publish: a new epoch.
    let gw2 = Gateway::start(&js_route("/js", NATS, &js.stream, &js.base, "")).await;
    let mut c2 = gw2.connect("/js").await;
    c2.produce_value(&t, "new1").await;
    c2.produce_value(&t, "new2").await;
    c2.produce_value(&t, "new3").await;
    let seq = c2
        .send(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_value: 3,
            start_epoch: old_epoch,
            ..sub(&t)
        }))
        .await;
    let id = match c2.reply(seq).await {
        Resp::KafkaSubscribeResp(r) => r.subscription_id,
        other => panic!("{other:?}"),
    };
    let frame = loop {
        let f = c2.recv_frame().await;
        if let Some(Resp::KafkaPush(p)) = f.resp {
            if p.subscription_id == id {
                break p;
            }
        }
    };
    assert!(frame.reset, "first push says reset");
    let mut got = values(&frame.messages);
    if got.len() < 3 {
        got.extend(values(&c2.pushed(id, 3 - got.len()).await));
    }
    assert_eq!(
        got,
        ["new1", "new2", "new3"],
        "from the new stream's beginning"
    );
    assert_ne!(frame.messages[0].epoch, old_epoch);
    gw2.stop().await;
    js.end().await;
}

#[tokio::test]
async fn wildcard_subscriptions_deliver_only_subjects_the_acl_allows() {
    let nc = oracle().await;
    let base = unique("gwt.acl").replace('_', ".");
    let re = regex_escape(&base);
    let yaml = format!(
        "{}    plugins:\n      topic-acl: {{ read: ['{re}\\.(\\*|pub.*)'], write: ['.*'] }}\n",
        core_route("/chat", NATS)
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/chat").await;
    let id = c.subscribe(sub(&format!("{base}.*"))).await;
    let (code, _) = error_of(
        c.request(Req::CmdKafkaSubscribe(sub(&format!("{base}.secret"))))
            .await,
    );
    assert_eq!(code, 403);
    for s in ["secret", "pub1", "other", "pub2"] {
        nc.publish(format!("{base}.{s}"), s.to_owned().into())
            .await
            .unwrap();
    }
    settle(&nc).await;
    let got = c.pushed(id, 2).await;
    assert_eq!(values(&got), ["pub1", "pub2"]);
    assert!(c
        .pushed_within(id, Duration::from_millis(300))
        .await
        .is_empty());
    gw.stop().await;
}

fn regex_escape(s: &str) -> String {
    s.replace('.', "\\.")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn jetstream_subscription_survives_a_server_restart_without_loss() {
    let mut server = PrivateServer::start().await;
    let stream = unique("GWT_OUT");
    let base = "gwt.out";
    let t = format!("{base}.x");
    let gw = Gateway::start(&js_route("/js", &server.addr(), &stream, base, "")).await;
    let mut c = gw.connect("/js").await;
    let mut pub_c = gw.connect("/js").await;
    let plain = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
    let group = c
        .subscribe(CmdKafkaSubscribe {
            group: "survivors".into(),
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
    for i in 1..=3 {
        pub_c.produce_value(&t, &format!("m{i}")).await;
    }
    assert_eq!(values(&c.pushed(plain, 3).await), ["m1", "m2", "m3"]);
    let g = c.pushed(group, 3).await;
    let r = c
        .request(Req::CmdAck(CmdAck {
            subscription_id: group,
            positions: positions(&t, &offsets_of(&g)),
        }))
        .await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");

    server.kill();
    let (code, _) = error_of(
        pub_c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: t.clone(),
                value: "lost?".as_bytes().to_vec().into(),
                ..Default::default()
            }))
            .await,
    );
    assert!(matches!(code, 502..=504), "{code}");
    server.restart().await;
    // Publishes succeed again once the gateway has reconnected by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    while sent < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gateway did not recover"
        );
        match pub_c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: t.clone(),
                value: format!("n{}", sent + 1).into_bytes().into(),
                ..Default::default()
            }))
            .await
        {
            Resp::KafkaProduceResp(_) => sent += 1,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let after = tokio::time::timeout(Duration::from_secs(30), c.pushed(plain, 3))
        .await
        .expect("plain subscription resumed after the restart");
    assert_eq!(values(&after), ["n1", "n2", "n3"]);
    // A hard kill may lose the server's record of the last acks (it writes consumer state
    // lazily): those come again (at least once), and nothing is lost.
    let mut got: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !["n1", "n2", "n3"]
        .iter()
        .all(|n| got.iter().any(|g| g == n))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "group got only {got:?}"
        );
        let batch = c.pushed_within(group, Duration::from_millis(200)).await;
        if !batch.is_empty() {
            let r = c
                .request(Req::CmdAck(CmdAck {
                    subscription_id: group,
                    positions: positions(&t, &offsets_of(&batch)),
                }))
                .await;
            assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
        }
        got.extend(values(&batch));
    }
    assert!(
        got.iter()
            .all(|v| ["m1", "m2", "m3", "n1", "n2", "n3"].contains(&v.as_str())),
        "{got:?}"
    );
    gw.stop().await;
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
    let id = late
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Earliest as i32,
            ..sub(&t)
        })
        .await;
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

#[tokio::test]
async fn jetstream_route_looks_up_each_subjects_stream_and_answers_404_without_one() {
    let nc = oracle().await;
    let stream = unique("GWT_LOOKUP");
    let base = unique("gwt.lookup").replace('_', ".");
    let jsc = async_nats::jetstream::new(nc.clone());
    jsc.create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("{base}.>")],
        ..Default::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&format!(
        "routes:\n  - uri: /js\n    upstream:\n      scheme: nats\n      nodes: [\"{NATS}\"]\n      nats: {{ jetstream: true }}\n"
    ))
    .await;
    let mut c = gw.connect("/js").await;
    let info = route_info(c.request(Req::CmdRouteInfo(CmdRouteInfo {})).await);
    assert_eq!(info.scheme, "nats-jetstream");
    let t = format!("{base}.a");
    assert_eq!(c.produce_value(&t, "found").await.offset, 1);
    assert_eq!(values(&c.fetch(fetch_cmd(&t, 0, 1)).await), ["found"]);
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaFetch(fetch_cmd(
            &format!("{base}x.none"),
            0,
            1,
        )))
        .await,
    );
    assert_eq!(code, 404, "{msg}");
    assert!(msg.contains("no JetStream stream holds subject"), "{msg}");
    delete_stream(&nc, &stream).await;
    gw.stop().await;
}

#[tokio::test]
async fn tls_upstream_verifies_the_server_with_the_route_ca() {
    let pki = certs::make_pki();
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();
    let server = PrivateServer::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key]).await;
    let route = |uri: &str, tls: &str| {
        format!(
            "  - uri: {uri}\n    upstream:\n      scheme: nats\n      nodes: [\"{}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n      tls: {{ {tls} }}\n",
            server.addr()
        )
    };
    let yaml = format!(
        "routes:\n{}{}",
        route("/tls", &format!("ca_file: \"{}\"", pki.ca.display())),
        route("/untrusted", "verify: true")
    );
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/tls").await;
    let id = c.subscribe(sub("gwt.tls")).await;
    c.produce_value("gwt.tls", "sealed").await;
    assert_eq!(values(&c.pushed(id, 1).await), ["sealed"]);
    // Without the CA the server's certificate is not trusted: no connection, 503 in time.
    let mut u = gw.connect("/untrusted").await;
    let started = std::time::Instant::now();
    let (code, msg) = error_of(
        u.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.tls".into(),
            value: "x".as_bytes().to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(matches!(code, 502..=504), "{code} {msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
    gw.stop().await;
}

#[tokio::test]
async fn core_subscriptions_come_back_by_themselves_after_a_server_restart() {
    let mut server = PrivateServer::start().await;
    let gw = Gateway::start(&core_route("/chat", &server.addr())).await;
    let mut c = gw.connect("/chat").await;
    let id = c.subscribe(sub("gwt.back.*")).await;
    server.kill();
    server.restart().await;
    let peer = async_nats::connect(server.addr()).await.unwrap();
    // Core NATS keeps nothing: what is published before the gateway is back is gone, so publish
    // until one arrives.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscription did not come back"
        );
        peer.publish("gwt.back.x", "again".into()).await.unwrap();
        settle(&peer).await;
        let got = c.pushed_within(id, Duration::from_millis(200)).await;
        if !got.is_empty() {
            assert!(values(&got).iter().all(|v| v == "again"));
            break;
        }
    }
    gw.stop().await;
}
