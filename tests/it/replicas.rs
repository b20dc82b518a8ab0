//! Gateways are stateless replicas, on every scheme with a broker (issue #21 item 5). Two gateway
//! processes (the binary, as an operator runs it) on one broker:
//!
//! 1. a message published through one reaches subscribers of the other, with its headers where
//!    the scheme carries them (Redis pub/sub does not: a publish with headers answers 400);
//! 2. a group with a member on each shares the work, each message to exactly one member (a
//!    RabbitMQ stream group lives in one gateway: members on two replicas each read everything);
//! 3. one is killed with SIGKILL while its group member holds unconfirmed deliveries: they reach
//!    the other's member (at least once) and nothing confirmed is lost. The time from the kill
//!    to the redelivery is measured and printed as a `redelivery:` line (run with
//!    `--nocapture`), next to the setting that governs it, set small in the routes here;
//! 4. a client of the killed one resumes on the other from its last position, without gap or
//!    duplicate, on the schemes with history.
//!
//! Core NATS has no acknowledgements: what the server had sent to the killed gateway is lost
//! (at most once); what is published after the kill goes to the members left. MQTT brokers
//! give a session's unacknowledged messages to that session only: a killed gateway's members'
//! sessions keep theirs until a gateway with the same `client_id_prefix` (the killed replica,
//! restarted) takes the slot again, within `group_session_expiry_secs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::{
    CmdAck, CmdKafkaCommit, CmdKafkaProduce, CmdKafkaSubscribe, KafkaHeader, KafkaMessage,
    KafkaPartitionOffset, MessagePosition, StartPosition,
};
use tokio::time::Instant;

use crate::common::proc::Proc;
use crate::common::{error_of, header, headers_of, value_of, values, Client};
use crate::common::{kafka, mqtt, nats, rabbitmq as rabbit, redis_support};

/// The settings that govern redelivery after a killed gateway, small so the tests are fast.
const KAFKA_SESSION_TIMEOUT_MS: u64 = 4000;
const JS_ACK_WAIT_SECS: u64 = 2;
const REDIS_CLAIM_IDLE_MS: u64 = 2000;
/// `rabbit::route` sets `heartbeat_secs: 2`.
const RABBIT_HEARTBEAT_SECS: u64 = 2;
const MQTT_GROUP_SESSION_EXPIRY_SECS: u64 = 20;

const GROUP: &str = "g";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Kafka,
    CoreNats,
    JetStream,
    RabbitClassic,
    RabbitQuorum,
    RabbitStream,
    RedisPubsub,
    RedisStreams,
    Mqtt,
}

/// What a group is across replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Groups {
    /// The scheme has none (400).
    None,
    /// Held by the broker: members on every replica share it.
    Shared,
    /// Held by each gateway (RabbitMQ stream groups keep their offset in memory).
    PerGateway,
}

/// How a member confirms a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Confirm {
    None,
    Commit,
    Ack,
}

impl Scheme {
    fn headers(self) -> bool {
        self != Scheme::RedisPubsub
    }

    fn groups(self) -> Groups {
        match self {
            Scheme::RedisPubsub => Groups::None,
            Scheme::RabbitStream => Groups::PerGateway,
            _ => Groups::Shared,
        }
    }

    fn confirm(self) -> Confirm {
        match self {
            Scheme::Kafka | Scheme::RabbitStream => Confirm::Commit,
            Scheme::CoreNats | Scheme::RedisPubsub => Confirm::None,
            _ => Confirm::Ack,
        }
    }

    /// The setting that governs redelivery after a killed gateway, as set here.
    fn governed_by(self) -> String {
        match self {
            Scheme::Kafka => format!("Kafka session.timeout.ms = {KAFKA_SESSION_TIMEOUT_MS}"),
            Scheme::JetStream => format!("nats.ack_wait_secs = {JS_ACK_WAIT_SECS}"),
            Scheme::RedisStreams => format!("redis.claim_idle_ms = {REDIS_CLAIM_IDLE_MS}"),
            Scheme::RabbitClassic | Scheme::RabbitQuorum => format!(
                "the AMQP connection's close (rabbitmq.heartbeat_secs = {RABBIT_HEARTBEAT_SECS} for a silent death)"
            ),
            Scheme::Mqtt => format!(
                "a restart of the killed replica (same client_id_prefix) within mqtt.group_session_expiry_secs = {MQTT_GROUP_SESSION_EXPIRY_SECS}"
            ),
            Scheme::CoreNats => "the NATS connection's close (no acks: at most once)".into(),
            Scheme::RabbitStream => "none: each gateway's group reads the whole stream".into(),
            Scheme::RedisPubsub => "none: no groups".into(),
        }
    }
}

/// One scheme on the machine's broker (Kafka: a Tansu of the test's own, or the process's shared
/// one), with names no other test uses, and the routes of its replicas.
struct Bed {
    scheme: Scheme,
    /// Small redelivery settings (the kill test) or generous ones (the others, so that a busy
    /// machine does not redeliver behind their backs).
    fast: bool,
    run: String,
    topic: String,
    kafka_own: Option<kafka::Broker>,
    kafka_bootstrap: String,
    stream: String,
    subjects: String,
    exchange: String,
    _rabbit: Option<rabbit::Leftovers>,
}

impl Bed {
    /// Fails loudly when the scheme's broker is not there.
    async fn new(scheme: Scheme, fast: bool, own_kafka: bool) -> Bed {
        static N: AtomicU32 = AtomicU32::new(0);
        let run = format!("rep{}-{scheme:?}", N.fetch_add(1, Ordering::Relaxed));
        let mut bed = Bed {
            scheme,
            fast,
            run,
            topic: String::new(),
            kafka_own: None,
            kafka_bootstrap: String::new(),
            stream: String::new(),
            subjects: String::new(),
            exchange: String::new(),
            _rabbit: None,
        };
        match scheme {
            Scheme::Kafka => {
                let topic = kafka::topic("replicas");
                if own_kafka {
                    let b = kafka::Broker::start();
                    b.create_topic(&topic, 2).await;
                    bed.kafka_bootstrap = b.bootstrap();
                    bed.kafka_own = Some(b);
                } else {
                    let b = kafka::shared();
                    b.create_topic(&topic, 2).await;
                    bed.kafka_bootstrap = b.bootstrap();
                }
                bed.topic = topic;
            }
            Scheme::CoreNats => {
                drop(nats::oracle().await);
                bed.topic = nats::unique("gwt.rep").replace('_', ".");
            }
            Scheme::JetStream => {
                let nc = nats::oracle().await;
                nats::sweep_stale_streams(&nc).await;
                bed.stream = nats::unique("GWT_REP");
                bed.subjects = nats::unique("gwt.rep").replace('_', ".");
                bed.topic = format!("{}.x", bed.subjects);
            }
            Scheme::RabbitClassic | Scheme::RabbitQuorum | Scheme::RabbitStream => {
                let conn = rabbit::oracle().await;
                let _ = conn.close(200, "checked".into()).await;
                bed.exchange = rabbit::unique("gwt-rep");
                bed.topic = rabbit::unique("rep");
                bed._rabbit = Some(rabbit::Leftovers {
                    exchanges: vec![bed.exchange.clone()],
                    queues: vec![
                        format!("gw/r:{GROUP}:{}", bed.topic),
                        format!("{}.stream", bed.exchange),
                    ],
                });
            }
            Scheme::RedisPubsub | Scheme::RedisStreams => {
                drop(redis_support::oracle().await);
                bed.topic = redis_support::unique("rep");
            }
            Scheme::Mqtt => {
                drop(mqtt::Peer::connect().await);
                bed.topic = mqtt::unique("gwt-rep");
            }
        }
        bed
    }

    fn path(&self) -> &'static str {
        if self.scheme == Scheme::Kafka {
            "/kafka"
        } else {
            "/r"
        }
    }

    /// The route of replica `replica` (MQTT: its `client_id_prefix`; the others are alike).
    fn route(&self, replica: &str) -> String {
        let fast = self.fast;
        match self.scheme {
            Scheme::Kafka => {
                let session = if fast {
                    KAFKA_SESSION_TIMEOUT_MS
                } else {
                    6000
                };
                kafka::kafka_yaml(
                    &self.kafka_bootstrap,
                    &format!(
                        "      kafka: {{ session.timeout.ms: \"{session}\", heartbeat.interval.ms: \"500\", max.poll.interval.ms: \"10000\" }}\n"
                    ),
                )
            }
            Scheme::CoreNats => nats::core_route("/r", nats::NATS),
            Scheme::JetStream => nats::js_route(
                "/r",
                nats::NATS,
                &self.stream,
                &self.subjects,
                &format!(
                    ", ack_wait_secs: {}",
                    if fast { JS_ACK_WAIT_SECS } else { 60 }
                ),
            ),
            Scheme::RabbitClassic => {
                rabbit::route("/r", rabbit::AMQP, &self.exchange, ", queue_type: classic")
            }
            Scheme::RabbitQuorum => {
                rabbit::route("/r", rabbit::AMQP, &self.exchange, ", queue_type: quorum")
            }
            Scheme::RabbitStream => {
                rabbit::route("/r", rabbit::AMQP, &self.exchange, ", queue_type: stream")
            }
            Scheme::RedisPubsub => redis_support::pubsub_route("/r", redis_support::REDIS),
            Scheme::RedisStreams => redis_support::streams_route(
                "/r",
                redis_support::REDIS,
                &format!(
                    ", claim_idle_ms: {}",
                    if fast { REDIS_CLAIM_IDLE_MS } else { 60_000 }
                ),
            ),
            Scheme::Mqtt => mqtt::route(
                "/r",
                mqtt::MOSQUITTO,
                &format!(
                    "      mqtt: {{ client_id_prefix: gwt-{}-{}-{replica}, group_session_expiry_secs: {MQTT_GROUP_SESSION_EXPIRY_SECS} }}\n",
                    std::process::id(),
                    self.run
                ),
            ),
        }
    }

    /// A gateway process named `name`, with the route of replica `replica`.
    fn start(&self, name: &str, replica: &str) -> Proc {
        let route = self.route(replica);
        Proc::start(&format!("{}-{name}", self.run), |port| {
            format!("server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n{route}")
        })
    }

    async fn connect(&self, p: &Proc) -> Client {
        Client::connect(p.addr, self.path()).await
    }

    fn sub(&self, group: &str, start: StartPosition) -> CmdKafkaSubscribe {
        CmdKafkaSubscribe {
            topic: self.topic.clone(),
            group: group.into(),
            start: start as i32,
            ..Default::default()
        }
    }

    fn produce_cmd(
        &self,
        value: &str,
        partition: i32,
        headers: Vec<KafkaHeader>,
    ) -> CmdKafkaProduce {
        CmdKafkaProduce {
            topic: self.topic.clone(),
            // Only Kafka routes take a partition.
            partition: (self.scheme == Scheme::Kafka).then_some(partition),
            value: value.as_bytes().to_vec().into(),
            headers,
            ..Default::default()
        }
    }

    async fn produce(&self, c: &mut Client, value: &str, partition: i32) {
        c.produce(self.produce_cmd(value, partition, Vec::new()))
            .await;
    }

    /// Confirms deliveries the way the scheme does: a cumulative commit, or an ack each.
    async fn confirm(&self, c: &mut Client, id: i64, ms: &[KafkaMessage]) {
        if ms.is_empty() {
            return;
        }
        match self.scheme.confirm() {
            Confirm::None => {}
            Confirm::Commit => {
                let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
                for m in ms {
                    let o = next.entry((m.topic.clone(), m.partition)).or_default();
                    *o = (*o).max(m.offset + 1);
                }
                let offsets: Vec<(&str, i32, i64)> = next
                    .iter()
                    .map(|((t, p), o)| (t.as_str(), *p, *o))
                    .collect();
                c.commit(id, &offsets).await;
            }
            Confirm::Ack => {
                let r = c
                    .request(Req::CmdAck(CmdAck {
                        subscription_id: id,
                        positions: ms
                            .iter()
                            .map(|m| MessagePosition {
                                topic: m.topic.clone(),
                                partition: m.partition,
                                offset: m.offset,
                                position: m.position.clone(),
                            })
                            .collect(),
                    }))
                    .await;
                assert!(matches!(r, Resp::OkResp(_)), "ack answered {r:?}");
            }
        }
    }

    /// Commits what a Kafka member got; false when the group took a partition away first.
    async fn try_commit(&self, c: &mut Client, id: i64, ms: &[KafkaMessage]) -> bool {
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for m in ms {
            let o = next.entry((m.topic.clone(), m.partition)).or_default();
            *o = (*o).max(m.offset + 1);
        }
        if next.is_empty() {
            return true;
        }
        let r = c
            .request(Req::CmdKafkaCommit(CmdKafkaCommit {
                subscription_id: id,
                offsets: next
                    .into_iter()
                    .map(|((topic, partition), offset)| KafkaPartitionOffset {
                        topic,
                        partition,
                        offset,
                    })
                    .collect(),
            }))
            .await;
        match r {
            Resp::OkResp(_) => true,
            Resp::ErrorResp(e) if e.code == 409 => false,
            other => panic!("commit answered {other:?}"),
        }
    }

    /// Until the Kafka group has split the topic's two partitions between members a and b (two
    /// rounds of probes in a row each reach a member of its own), every probe committed; returns
    /// (a's partition, b's partition).
    async fn kafka_split(
        &self,
        p: &mut Client,
        (a, ida): (&mut Client, i64),
        (b, idb): (&mut Client, i64),
    ) -> (i32, i32) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut settled = 0;
        let mut n = 0;
        loop {
            assert!(
                Instant::now() < deadline,
                "the Kafka group never split its two partitions between the replicas' members"
            );
            for part in 0..2 {
                self.produce(p, &format!("probe{n}"), part).await;
                n += 1;
            }
            let got_a = a.pushed_within(ida, Duration::from_millis(800)).await;
            let got_b = b.pushed_within(idb, Duration::from_millis(200)).await;
            // While the group rebalances a partition may be gone by the time of the commit
            // (409): the split is not settled then anyway.
            let a_ok = self.try_commit(a, ida, &got_a).await;
            let b_ok = self.try_commit(b, idb, &got_b).await;
            let pa: BTreeSet<i32> = got_a.iter().map(|m| m.partition).collect();
            let pb: BTreeSet<i32> = got_b.iter().map(|m| m.partition).collect();
            if a_ok && b_ok && pa.len() == 1 && pb.len() == 1 && pa != pb {
                settled += 1;
                if settled == 2 {
                    return (*pa.first().unwrap(), *pb.first().unwrap());
                }
            } else {
                settled = 0;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. across replicas
// ---------------------------------------------------------------------------------------------

async fn published_through_one_reaches_subscribers_of_the_other(scheme: Scheme) {
    let bed = Bed::new(scheme, false, false).await;
    let (a, b) = (bed.start("a", "a"), bed.start("b", "b"));
    let mut on_b = bed.connect(&b).await;
    let id = on_b.subscribe(bed.sub("", StartPosition::Latest)).await;
    let mut on_a = bed.connect(&a).await;
    let hs = vec![header("h", "v1"), header("trace", "t-1")];
    if scheme.headers() {
        on_a.produce(bed.produce_cmd("across", 0, hs.clone())).await;
    } else {
        let r = on_a
            .request(Req::CmdKafkaProduce(bed.produce_cmd(
                "across",
                0,
                hs.clone(),
            )))
            .await;
        let (code, msg) = error_of(r);
        assert_eq!(code, 400, "{scheme:?} has no headers: {msg}");
        bed.produce(&mut on_a, "across", 0).await;
    }
    let got = on_b.pushed(id, 1).await;
    assert_eq!(values(&got), ["across"], "{scheme:?}");
    if scheme.headers() {
        let have = headers_of(&got[0]);
        for h in [("h", "v1"), ("trace", "t-1")] {
            assert!(
                have.contains(&(h.0.to_string(), h.1.to_string())),
                "{scheme:?}: {h:?} not in {have:?}"
            );
        }
    }
    // And the other way round, the subscriber on a.
    let id = on_a.subscribe(bed.sub("", StartPosition::Latest)).await;
    bed.produce(&mut on_b, "back", 0).await;
    let got = on_a.pushed(id, 1).await;
    assert_eq!(values(&got), ["back"], "{scheme:?}");
    cleanup(&bed).await;
}

async fn cleanup(bed: &Bed) {
    match bed.scheme {
        Scheme::JetStream => nats::delete_stream(&nats::oracle().await, &bed.stream).await,
        Scheme::RedisStreams => {
            redis_support::del(&mut redis_support::oracle().await, &bed.topic).await
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// 2. a group across replicas
// ---------------------------------------------------------------------------------------------

async fn a_group_with_a_member_on_each_shares_the_work(scheme: Scheme) {
    let bed = Bed::new(scheme, false, true).await;
    let (a, b) = (bed.start("a", "a"), bed.start("b", "b"));
    let (mut ca, mut cb) = (bed.connect(&a).await, bed.connect(&b).await);
    if scheme.groups() == Groups::None {
        let r = ca
            .request(Req::CmdKafkaSubscribe(
                bed.sub(GROUP, StartPosition::Latest),
            ))
            .await;
        let (code, msg) = error_of(r);
        assert_eq!(code, 400, "{scheme:?} has no groups: {msg}");
        return;
    }
    let ida = ca.subscribe(bed.sub(GROUP, StartPosition::Latest)).await;
    let idb = cb.subscribe(bed.sub(GROUP, StartPosition::Latest)).await;
    let mut p = bed.connect(&b).await;
    if scheme == Scheme::Kafka {
        bed.kafka_split(&mut p, (&mut ca, ida), (&mut cb, idb))
            .await;
    }
    let n = 20;
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for i in 0..n {
        bed.produce(&mut p, &format!("w{i}"), i % 2).await;
        // Read as it comes (and confirm at once), so both members take turns.
        let m = ca.pushed_within(ida, Duration::from_millis(40)).await;
        bed.confirm(&mut ca, ida, &m).await;
        got_a.extend(values(&m));
        let m = cb.pushed_within(idb, Duration::from_millis(40)).await;
        bed.confirm(&mut cb, idb, &m).await;
        got_b.extend(values(&m));
    }
    let want_each = if scheme.groups() == Groups::PerGateway {
        n as usize
    } else {
        0
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while (got_a.len() + got_b.len() < n as usize
        || got_a.len() < want_each
        || got_b.len() < want_each)
        && Instant::now() < deadline
    {
        let m = ca.pushed_within(ida, Duration::from_millis(100)).await;
        bed.confirm(&mut ca, ida, &m).await;
        got_a.extend(values(&m));
        let m = cb.pushed_within(idb, Duration::from_millis(100)).await;
        bed.confirm(&mut cb, idb, &m).await;
        got_b.extend(values(&m));
    }
    // Nothing more: no message twice.
    for (c, id, got) in [(&mut ca, ida, &mut got_a), (&mut cb, idb, &mut got_b)] {
        let m = c.pushed_within(id, Duration::from_millis(500)).await;
        got.extend(values(&m));
    }
    let all: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    eprintln!("group split: {scheme:?} a {got_a:?} b {got_b:?}");
    if scheme.groups() == Groups::PerGateway {
        // Each gateway keeps its own group: its member reads every message.
        assert_eq!(got_a, all, "{scheme:?} member on a");
        assert_eq!(got_b, all, "{scheme:?} member on b");
        return;
    }
    let mut both: Vec<String> = got_a.iter().chain(&got_b).cloned().collect();
    both.sort_by_key(|v| v[1..].parse::<u32>().unwrap());
    assert_eq!(both, all, "{scheme:?}: each message to exactly one member");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "{scheme:?}: both members take a share: a {got_a:?} b {got_b:?}"
    );
    if scheme == Scheme::Kafka {
        // By partition: each member has one.
        for got in [&got_a, &got_b] {
            let parity: BTreeSet<u32> = got
                .iter()
                .map(|v| v[1..].parse::<u32>().unwrap() % 2)
                .collect();
            assert_eq!(parity.len(), 1, "{got:?}");
        }
    }
    cleanup(&bed).await;
}

// ---------------------------------------------------------------------------------------------
// 3. a killed replica
// ---------------------------------------------------------------------------------------------

/// Messages pushed to `id` until `want` are all there or `until` passed: (value, arrival) in
/// order, each confirmed as it comes.
async fn take_until(
    bed: &Bed,
    c: &mut Client,
    id: i64,
    want: &BTreeSet<String>,
    until: Instant,
) -> Vec<(String, Instant)> {
    let mut out: Vec<(String, Instant)> = Vec::new();
    while !want.iter().all(|w| out.iter().any(|(v, _)| v == w)) {
        let left = until.saturating_duration_since(Instant::now());
        let Some(push) = c.next_push(id, left).await else {
            break;
        };
        let now = Instant::now();
        bed.confirm(c, id, &push.messages).await;
        out.extend(push.messages.iter().map(|m| (value_of(m), now)));
    }
    out
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

async fn a_killed_ones_unconfirmed_deliveries_reach_the_other(scheme: Scheme) {
    let bed = Bed::new(scheme, true, true).await;
    let a = bed.start("a", "a");
    let b = bed.start("b", "b");
    let (mut ca, mut cb) = (bed.connect(&a).await, bed.connect(&b).await);
    let ida = ca.subscribe(bed.sub(GROUP, StartPosition::Latest)).await;
    let idb = cb.subscribe(bed.sub(GROUP, StartPosition::Latest)).await;
    let mut p = bed.connect(&b).await;
    let a_part = if scheme == Scheme::Kafka {
        bed.kafka_split(&mut p, (&mut ca, ida), (&mut cb, idb))
            .await
            .0
    } else {
        0
    };
    // a holds three deliveries unconfirmed; b confirms its own at once. Every message is seen
    // by one member before the next is published.
    let mut held: Vec<(String, Instant)> = Vec::new();
    let mut held_offsets: Vec<i64> = Vec::new();
    // With the time b's member got each.
    let mut confirmed_by_b: Vec<(String, Instant)> = Vec::new();
    let hold_started = Instant::now();
    for i in 0..60 {
        if held.len() >= 3 {
            break;
        }
        let v = format!("m{i}");
        bed.produce(&mut p, &v, a_part).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = ca.pushed_within(ida, Duration::from_millis(30)).await;
            let now = Instant::now();
            held.extend(values(&m).into_iter().map(|v| (v, now)));
            held_offsets.extend(m.iter().map(|m| m.offset));
            let m = cb.pushed_within(idb, Duration::from_millis(30)).await;
            bed.confirm(&mut cb, idb, &m).await;
            let now = Instant::now();
            confirmed_by_b.extend(values(&m).into_iter().map(|v| (v, now)));
            let everywhere = || {
                held.iter()
                    .map(|(v, _)| v)
                    .chain(confirmed_by_b.iter().map(|(v, _)| v))
            };
            if everywhere().any(|x| *x == v) || scheme.groups() == Groups::PerGateway {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{scheme:?}: {v} reached neither member"
            );
        }
    }
    let held_values: BTreeSet<String> = held.iter().map(|(v, _)| v.clone()).collect();
    assert!(
        held_values.len() >= 3,
        "{scheme:?}: a's member never got a share: {held:?} {confirmed_by_b:?}"
    );
    let hold_took = hold_started.elapsed();
    // Where a timer counts from the delivery (JetStream's ack wait, Redis's claim idle time),
    // nothing held comes back before it ran out: not before the kill either. On a busy machine
    // the holding phase can outlast the timer; a delivery held that long was rightly handed to
    // b already, and is no longer a's to lose.
    let floor = Duration::from_millis(match scheme {
        Scheme::JetStream => JS_ACK_WAIT_SECS * 1000,
        Scheme::RedisStreams => REDIS_CLAIM_IDLE_MS,
        _ => 0,
    });
    let mut redelivered_early = Vec::new();
    for (v, at_b) in &confirmed_by_b {
        let Some((_, at_a)) = held.iter().find(|(w, _)| w == v) else {
            continue;
        };
        if scheme.groups() != Groups::Shared {
            continue;
        }
        let after = at_b.saturating_duration_since(*at_a);
        assert!(
            !floor.is_zero() && after + Duration::from_millis(300) >= floor,
            "{scheme:?}: {v} redelivered to b {after:?} after its delivery to a, before the kill (holding took {hold_took:?})"
        );
        redelivered_early.push(v.clone());
    }
    if !redelivered_early.is_empty() {
        eprintln!(
            "{scheme:?}: {redelivered_early:?} held past the timer before the kill, redelivered then"
        );
        held.retain(|(v, _)| !redelivered_early.contains(v));
    }
    let held_values: BTreeSet<String> = held.iter().map(|(v, _)| v.clone()).collect();
    assert!(
        !held_values.is_empty() || scheme.groups() != Groups::Shared,
        "{scheme:?}: every held delivery came back before the kill (holding took {hold_took:?})"
    );

    let killed = Instant::now();
    a.signal(libc::SIGKILL);
    drop(ca);

    match scheme {
        Scheme::CoreNats => return core_nats_after_the_kill(&bed, killed, p, cb, idb).await,
        Scheme::Kafka => {
            let first_held = *held_offsets.iter().min().unwrap();
            return kafka_after_the_kill(
                &bed,
                killed,
                (held, first_held, a_part),
                &b,
                (p, cb, idb),
            )
            .await;
        }
        Scheme::Mqtt => {
            return mqtt_after_the_kill(&bed, killed, held, a, (p, cb, idb)).await;
        }
        Scheme::RabbitStream => {
            // b's member is the active member of b's own group: it read everything itself.
            let mut all: Vec<String> = confirmed_by_b.iter().map(|(v, _)| v.clone()).collect();
            all.sort();
            all.dedup();
            assert!(
                held_values.iter().all(|v| all.contains(v)),
                "{scheme:?}: b's member read {all:?}, a's {held_values:?}"
            );
            bed.produce(&mut p, "after", 0).await;
            let after = take_until(
                &bed,
                &mut cb,
                idb,
                &BTreeSet::from(["after".to_string()]),
                Instant::now() + Duration::from_secs(10),
            )
            .await;
            assert_eq!(after.len(), 1, "{after:?}");
            eprintln!(
                "redelivery: {scheme:?}: none needed (each gateway's group read every message) | governed by {}",
                scheme.governed_by()
            );
            return;
        }
        _ => {}
    }

    let limit = Duration::from_secs(30);
    let got = take_until(&bed, &mut cb, idb, &held_values, killed + limit).await;
    let missing: Vec<&String> = held_values
        .iter()
        .filter(|w| !got.iter().any(|(v, _)| v == *w))
        .collect();
    assert!(
        missing.is_empty(),
        "{scheme:?}: {missing:?} of a's unconfirmed deliveries never reached b within {limit:?} of the kill (b got {got:?})"
    );
    let others: Vec<&String> = got
        .iter()
        .map(|(v, _)| v)
        .filter(|v| !held_values.contains(*v))
        .collect();
    assert!(
        others.is_empty(),
        "{scheme:?}: b got more than a's unconfirmed deliveries: {others:?}"
    );
    let first = got.iter().map(|(_, t)| *t).min().unwrap() - killed;
    let last = got.iter().map(|(_, t)| *t).max().unwrap() - killed;
    // Per message, from its delivery to a to its redelivery to b.
    let gaps: Vec<Duration> = held
        .iter()
        .map(|(v, at)| got.iter().find(|(w, _)| w == v).unwrap().1 - *at)
        .collect();
    let (min_gap, max_gap) = (*gaps.iter().min().unwrap(), *gaps.iter().max().unwrap());
    eprintln!(
        "redelivery: {scheme:?}: kill -> first {} ms, last {} ms; delivery to a -> redelivery to b {}-{} ms (a held {} for {} ms before the kill) | governed by {}",
        ms(first),
        ms(last),
        ms(min_gap),
        ms(max_gap),
        held.len(),
        ms(killed - held[0].1),
        scheme.governed_by()
    );
    // The governing setting bounds it.
    let bound = match scheme {
        Scheme::JetStream => Duration::from_secs(JS_ACK_WAIT_SECS + 3),
        Scheme::RedisStreams => Duration::from_millis(REDIS_CLAIM_IDLE_MS * 3 / 2 + 3000),
        _ => Duration::from_secs(RABBIT_HEARTBEAT_SECS * 2 + 2),
    };
    assert!(last <= bound, "{scheme:?}: {last:?} > {bound:?}");
    // Where a timer counts from the delivery, nothing comes back before it ran out.
    assert!(
        min_gap + Duration::from_millis(300) >= floor,
        "{scheme:?}: redelivered {min_gap:?} after the delivery, before {floor:?}"
    );

    // b goes on alone with new messages (on Kafka, to the partition a had), each once.
    let after: BTreeSet<String> = (0..3).map(|i| format!("after{i}")).collect();
    for v in &after {
        bed.produce(&mut p, v, a_part).await;
    }
    let got = take_until(
        &bed,
        &mut cb,
        idb,
        &after,
        Instant::now() + Duration::from_secs(20),
    )
    .await;
    let mut got: Vec<String> = got.into_iter().map(|(v, _)| v).collect();
    got.extend(values(
        &cb.pushed_within(idb, Duration::from_millis(500)).await,
    ));
    got.sort();
    assert_eq!(got, after.into_iter().collect::<Vec<_>>(), "{scheme:?}");
    cleanup(&bed).await;
}

/// Kafka: a's member committed nothing of what it holds, so the group's committed offset of its
/// partition is the first held message (read by a direct client): nothing confirmed is lost and
/// nothing held is skipped. Apache Kafka gives a member's partitions to the others once it
/// missed `session.timeout.ms` of heartbeats. Tansu 0.6.0 (the test broker) removes the member
/// then but leaves its partitions unassigned until the group rebalances again; a plain
/// librdkafka consumer in b's member's place was seen to keep only its own partition too. So
/// when nothing came by `session.timeout.ms` + 8 s, a second member joins on b: that
/// rebalance hands a's partition over, and the held messages come from the committed offset.
async fn kafka_after_the_kill(
    bed: &Bed,
    killed: Instant,
    (held, first_held, a_part): (Vec<(String, Instant)>, i64, i32),
    b: &Proc,
    (mut p, mut cb, idb): (Client, Client, i64),
) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let direct: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bed.kafka_bootstrap)
        .set("group.id", GROUP)
        .create()
        .expect("a direct Kafka client");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(&bed.topic, a_part);
    let committed =
        tokio::task::spawn_blocking(move || direct.committed_offsets(tpl, Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("the group's committed offsets");
    let at = committed
        .find_partition(&bed.topic, a_part)
        .map(|e| e.offset());
    assert_eq!(
        at,
        Some(rdkafka::Offset::Offset(first_held)),
        "a's partition resumes at the first message a held"
    );

    let held_values: BTreeSet<String> = held.iter().map(|(v, _)| v.clone()).collect();
    let by_session =
        killed + Duration::from_millis(KAFKA_SESSION_TIMEOUT_MS) + Duration::from_secs(8);
    let mut got = take_until(bed, &mut cb, idb, &held_values, by_session).await;
    let mut members = vec![(cb, idb)];
    let mut joined = None;
    if got.is_empty() {
        // Tansu: a new member makes the group rebalance.
        let mut cb2 = bed.connect(b).await;
        let idb2 = cb2.subscribe(bed.sub(GROUP, StartPosition::Latest)).await;
        joined = Some(Instant::now());
        members.push((cb2, idb2));
    }
    let until = Instant::now() + Duration::from_secs(60);
    while got.len() < held_values.len() && Instant::now() < until {
        for (c, id) in members.iter_mut() {
            let m = c.pushed_within(*id, Duration::from_millis(200)).await;
            bed.confirm(c, *id, &m).await;
            let t = Instant::now();
            got.extend(values(&m).into_iter().map(|v| (v, t)));
        }
    }
    let mut have: Vec<String> = got.iter().map(|(v, _)| v.clone()).collect();
    have.sort();
    assert_eq!(
        have,
        held_values.iter().cloned().collect::<Vec<_>>(),
        "a's uncommitted deliveries reach b's members, each once"
    );
    let last = got.iter().map(|(_, t)| *t).max().unwrap();
    match joined {
        None => eprintln!(
            "redelivery: Kafka: kill -> last {} ms | governed by {}",
            ms(last - killed),
            bed.scheme.governed_by()
        ),
        Some(j) => eprintln!(
            "redelivery: Kafka: none by {} + 8 s (Tansu leaves a timed-out member's partitions unassigned); a member joining {} ms after the kill got them {} ms later | governed by {} on Apache Kafka",
            KAFKA_SESSION_TIMEOUT_MS,
            ms(j - killed),
            ms(last - j),
            bed.scheme.governed_by()
        ),
    }
    // The group goes on: new messages on a's partition, each to one member once.
    let after: BTreeSet<String> = (0..3).map(|i| format!("after{i}")).collect();
    for v in &after {
        bed.produce(&mut p, v, a_part).await;
    }
    let mut have = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while have.len() < after.len() && Instant::now() < until {
        for (c, id) in members.iter_mut() {
            let m = c.pushed_within(*id, Duration::from_millis(200)).await;
            bed.confirm(c, *id, &m).await;
            have.extend(values(&m));
        }
    }
    for (c, id) in members.iter_mut() {
        have.extend(values(
            &c.pushed_within(*id, Duration::from_millis(300)).await,
        ));
    }
    have.sort();
    assert_eq!(have, after.into_iter().collect::<Vec<_>>());
}

/// Core NATS: no acks. A queue group sends each message to one member when it is published;
/// once the killed gateway's connection is closed, the server sends everything to the others.
/// Measured: how many of the messages published right after the kill went to the dead member.
async fn core_nats_after_the_kill(
    bed: &Bed,
    killed: Instant,
    mut p: Client,
    mut cb: Client,
    idb: i64,
) {
    let mut sent = Vec::new();
    for i in 0..20 {
        let v = format!("after{i}");
        bed.produce(&mut p, &v, 0).await;
        sent.push((v, Instant::now() - killed));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let want: BTreeSet<String> = sent.iter().map(|(v, _)| v.clone()).collect();
    let got = take_until(
        bed,
        &mut cb,
        idb,
        &want,
        Instant::now() + Duration::from_secs(3),
    )
    .await;
    let got: BTreeSet<String> = got.into_iter().map(|(v, _)| v).collect();
    let lost: Vec<&(String, Duration)> = sent.iter().filter(|(v, _)| !got.contains(v)).collect();
    eprintln!(
        "redelivery: CoreNats: none (no acks); of 20 messages published 0-{} ms after the kill, {} went to the dead member | governed by {}",
        ms(sent.last().unwrap().1),
        lost.len(),
        bed.scheme.governed_by()
    );
    // Whatever is published once the server saw the connection close reaches b.
    let late: Vec<&&(String, Duration)> = lost
        .iter()
        .filter(|(_, at)| *at > Duration::from_millis(100))
        .collect();
    assert!(late.is_empty(), "lost after the kill was seen: {late:?}");
}

/// MQTT: the killed gateway's member session keeps what it held (and, while it lives, takes
/// its turn of new messages: Mosquitto queues them for it); b's member gets none of that. The
/// killed replica, restarted with the same `client_id_prefix`, takes the slot again and its
/// member gets them.
async fn mqtt_after_the_kill(
    bed: &Bed,
    killed: Instant,
    held: Vec<(String, Instant)>,
    a: Proc,
    (mut p, mut cb, idb): (Client, Client, i64),
) {
    drop(a);
    let after: Vec<String> = (0..6).map(|i| format!("after{i}")).collect();
    for v in &after {
        bed.produce(&mut p, v, 0).await;
    }
    let m = cb.pushed_within(idb, Duration::from_secs(3)).await;
    bed.confirm(&mut cb, idb, &m).await;
    let at_b = values(&m);
    let held_values: BTreeSet<String> = held.iter().map(|(v, _)| v.clone()).collect();
    assert!(
        at_b.iter().all(|v| !held_values.contains(v)),
        "Mosquitto gave the killed member's held messages to b: {at_b:?}"
    );
    // The replacement: the same prefix, so its member resumes the killed member's session.
    let restarted = Instant::now();
    let a2 = bed.start("a2", "a");
    let mut ca2 = bed.connect(&a2).await;
    let id2 = ca2.subscribe(bed.sub(GROUP, StartPosition::Latest)).await;
    let mut want: BTreeSet<String> = held_values.clone();
    want.extend(after.iter().filter(|v| !at_b.contains(v)).cloned());
    let got = take_until(
        bed,
        &mut ca2,
        id2,
        &want,
        Instant::now() + Duration::from_secs(20),
    )
    .await;
    let got_values: BTreeSet<String> = got.iter().map(|(v, _)| v.clone()).collect();
    let missing: Vec<&String> = want.iter().filter(|v| !got_values.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "the restarted replica's member did not get {missing:?} (got {got:?}, b got {at_b:?})"
    );
    let last = got.iter().map(|(_, t)| *t).max().unwrap();
    eprintln!(
        "redelivery: Mqtt: none to b; after a restart of the killed replica {} ms after the kill: restart -> last redelivery {} ms (kill -> {} ms); new messages queued for the dead member: {} of {} | governed by {}",
        ms(restarted - killed),
        ms(last - restarted),
        ms(last - killed),
        after.len() - after.iter().filter(|v| at_b.contains(v)).count(),
        after.len(),
        bed.scheme.governed_by()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. resuming on another replica
// ---------------------------------------------------------------------------------------------

async fn a_client_resumes_on_the_other_without_gap(scheme: Scheme) {
    let bed = Bed::new(scheme, false, false).await;
    let (a, b) = (bed.start("a", "a"), bed.start("b", "b"));
    let mut ca = bed.connect(&a).await;
    let mut sub = bed.sub("", StartPosition::Earliest);
    if scheme == Scheme::Kafka {
        sub.partitions = vec![0];
    }
    let id = ca.subscribe(sub.clone()).await;
    for i in 1..=5 {
        bed.produce(&mut ca, &format!("r{i}"), 0).await;
    }
    let got = ca.pushed(id, 5).await;
    assert_eq!(values(&got), ["r1", "r2", "r3", "r4", "r5"], "{scheme:?}");
    let last = got.last().unwrap().clone();
    a.signal(libc::SIGKILL);
    drop(ca);
    let mut cb = bed.connect(&b).await;
    // Published while the client moves over.
    for i in 6..=7 {
        bed.produce(&mut cb, &format!("r{i}"), 0).await;
    }
    let mut c = bed.connect(&b).await;
    let id = c
        .subscribe(CmdKafkaSubscribe {
            start: StartPosition::Offset as i32,
            start_value: last.offset + 1,
            start_epoch: last.epoch,
            ..sub
        })
        .await;
    for i in 8..=10 {
        bed.produce(&mut cb, &format!("r{i}"), 0).await;
    }
    let mut got = c.pushed(id, 5).await;
    got.extend(c.pushed_within(id, Duration::from_millis(500)).await);
    assert_eq!(
        values(&got),
        ["r6", "r7", "r8", "r9", "r10"],
        "{scheme:?}: resumed after offset {}",
        last.offset
    );
    assert!(
        got.windows(2).all(|w| w[0].offset < w[1].offset) && got[0].offset > last.offset,
        "{scheme:?}: positions go on: {:?}",
        got.iter().map(|m| m.offset).collect::<Vec<_>>()
    );
    cleanup(&bed).await;
}

// ---------------------------------------------------------------------------------------------
// the table
// ---------------------------------------------------------------------------------------------

macro_rules! replicas {
    ($($name:ident: $scheme:expr => [$($test:ident),* $(,)?];)*) => {
        $(
            mod $name {
                use super::*;
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $test() {
                        super::$test($scheme).await
                    }
                )*
            }
        )*
    };
}

replicas! {
    over_kafka: Scheme::Kafka => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
        a_client_resumes_on_the_other_without_gap,
    ];
    over_core_nats: Scheme::CoreNats => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
    ];
    over_jetstream: Scheme::JetStream => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
        a_client_resumes_on_the_other_without_gap,
    ];
    over_rabbitmq_classic: Scheme::RabbitClassic => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
    ];
    over_rabbitmq_quorum: Scheme::RabbitQuorum => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
    ];
    over_rabbitmq_stream: Scheme::RabbitStream => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
        a_client_resumes_on_the_other_without_gap,
    ];
    over_redis_pubsub: Scheme::RedisPubsub => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
    ];
    over_redis_streams: Scheme::RedisStreams => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
        a_client_resumes_on_the_other_without_gap,
    ];
    over_mqtt: Scheme::Mqtt => [
        published_through_one_reaches_subscribers_of_the_other,
        a_group_with_a_member_on_each_shares_the_work,
        a_killed_ones_unconfirmed_deliveries_reach_the_other,
    ];
}
