//! The gateway binary as an operator runs it: signals, reload from the file, logs, memory.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::kafka as broker;
use crate::common::proc::*;
use crate::common::*;

fn embedded_config(port: u16, extra_server: &str, routes: &[&str]) -> String {
    let mut s = format!(
        "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n{extra_server}routes:\n"
    );
    for r in routes {
        s += &format!("  - uri: {r}\n    upstream: {{ scheme: embedded }}\n");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_sends_1001_and_exits_zero() {
    let mut p = Proc::start("term", |port| {
        embedded_config(port, "  limits: { shutdown_grace_secs: 5 }\n", &["/e"])
    });
    let mut c = Client::connect(p.addr, "/e").await;
    c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: "t".into(),
        ..Default::default()
    }))
    .await;
    // A long poll in flight when the signal arrives still gets its answer.
    let seq = c
        .send(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "t".into(),
            offset: 1,
            max_wait_ms: 1000,
            ..Default::default()
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.signal(libc::SIGTERM);
    let r = c.reply(seq).await;
    assert!(matches!(r, Resp::KafkaFetchResp(_)), "{r:?}");
    let close = c.closed().await.expect("close frame");
    assert_eq!(close.code, CloseCode::Away);
    let code = tokio::task::spawn_blocking(move || p.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_file_changes_reload_routes_and_bad_files_are_rejected() {
    let p = Proc::start("hup", |port| embedded_config(port, "", &["/a"]));
    let port = p.addr.port();
    let mut a = Client::connect(p.addr, "/a").await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(http_status(p.addr, &get("/b")).await, 404);

    std::fs::write(&p.config, embedded_config(port, "", &["/a", "/b"])).unwrap();
    p.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while http_status(p.addr, &get("/b")).await != 400 {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not add /b: {}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // An invalid file is refused; the gateway keeps serving the last good configuration.
    std::fs::write(
        &p.config,
        "routes:\n  - uri: /a\n    upstream: { scheme: nope }\n",
    )
    .unwrap();
    p.signal(libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(p.log().contains("reload rejected"), "{}", p.log());
    assert_eq!(http_status(p.addr, &get("/b")).await, 400);
    // Without a signal: the file watcher picks the change up.
    std::fs::write(&p.config, embedded_config(port, "", &["/a", "/c"])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while http_status(p.addr, &get("/c")).await != 400 {
        assert!(
            Instant::now() < deadline,
            "the file change was not picked up: {}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(http_status(p.addr, &get("/b")).await, 404);
    // The connection on the kept route was never dropped.
    let r = a.request(Req::CmdPing(CmdPing::default())).await;
    assert!(matches!(r, Resp::PongResp(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_parse_and_never_contain_secrets() {
    let sasl_port = free_port();
    let p = Proc::start("json", |port| {
        format!(
            r#"server:
  listen: "127.0.0.1:{port}"
  admin_listen: off
  log: {{ level: debug, json: true }}
routes:
  - uri: /keys
    upstream: {{ scheme: embedded }}
    plugins:
      key-auth: {{ keys: [{{ id: alice, key: key-SECRET-1111 }}] }}
  - uri: /jwt
    upstream: {{ scheme: embedded }}
    plugins:
      jwt-auth: {{ algorithm: HS256, secret: jwt-SECRET-2222 }}
  - uri: /kafka
    upstream: {{ scheme: kafka, nodes: ["127.0.0.1:{sasl_port}"], timeout: {{ connect: 1, send: 1, read: 1 }} }}
    plugins:
      kafka-proxy: {{ sasl: {{ username: u, password: sasl-SECRET-3333, mechanism: SCRAM-SHA-256 }} }}
"#
        )
    });
    let up = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n")
    };
    assert_eq!(
        http_status(p.addr, &up("/keys", "apikey: key-SECRET-1110\r\n")).await,
        401
    );
    assert_eq!(
        http_status(p.addr, &up("/jwt?token=abc.def.ghi", "")).await,
        401
    );
    let mut k = Client::connect(p.addr, "/kafka").await;
    let r = k
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "t".into(),
        }))
        .await;
    let (_, msg) = error_of(r);
    assert!(!msg.contains("SECRET"), "{msg}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = p.log();
    assert!(!log.is_empty());
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    for secret in [
        "key-SECRET-1111",
        "key-SECRET-1110",
        "jwt-SECRET-2222",
        "sasl-SECRET-3333",
    ] {
        assert!(!log.contains(secret), "{secret} appears in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_when_a_subscriber_stops_reading() {
    let p = Proc::start("slow", |port| {
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n  limits: {{ max_requests_per_sec: 1000000 }}\nroutes:\n  - uri: /e\n    upstream: {{ scheme: embedded, embedded: {{ retention_bytes: 8388608 }} }}\n"
        )
    });
    // The slow client subscribes, then never reads again.
    let mut slow = Client::connect(p.addr, "/e").await;
    let r = slow
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "flood".into(),
            ..Default::default()
        }))
        .await;
    assert!(matches!(r, Resp::KafkaSubscribeResp(_)), "{r:?}");
    let mut prod = Client::connect(p.addr, "/e").await;
    let value = Bytes::from(vec![b'x'; 32 * 1024]);
    // Warm up, then measure while 160 MiB flow past the stalled subscriber.
    for _ in 0..300 {
        let r = prod
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "flood".into(),
                value: value.clone(),
                ..Default::default()
            }))
            .await;
        assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    }
    let before = p.rss_kib();
    let mut peak = before;
    for i in 0..5000 {
        let seq = prod
            .send(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "flood".into(),
                value: value.clone(),
                ..Default::default()
            }))
            .await;
        let r = prod.reply(seq).await;
        assert!(matches!(r, Resp::KafkaProduceResp(_)), "produce {i}: {r:?}");
        if i % 250 == 0 {
            peak = peak.max(p.rss_kib());
        }
    }
    peak = peak.max(p.rss_kib());
    // Bounded by retention (8 MiB) plus the connection's outbound budget (1 MiB) plus
    // allocator slack, not by the 160 MiB produced.
    assert!(
        peak < before + 48 * 1024,
        "RSS grew from {before} KiB to {peak} KiB"
    );
    // And the producer's connection kept working throughout.
    let r = prod.request(Req::CmdPing(CmdPing::default())).await;
    assert!(matches!(r, Resp::PongResp(_)), "{r:?}");
    drop(slow);
}

fn kafka_config(port: u16, admin: u16, bootstrap: &str, extra_upstream: &str) -> String {
    format!(
        "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: \"127.0.0.1:{admin}\"\nroutes:\n  - uri: /kafka\n    upstream:\n      scheme: kafka\n      nodes: [\"{bootstrap}\"]\n      timeout: {{ connect: 3, send: 5, read: 5 }}\n{extra_upstream}    plugins:\n      topic-acl: {{ groups: [\".*\"] }}\n"
    )
}

/// Produces `n` messages of `size` bytes to partition 0, straight to the broker.
async fn produce_bulk(b: &broker::Broker, topic: &str, n: usize, size: usize) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let value = vec![b'x'; size];
    let sends = (0..n).map(|_| {
        producer.send(
            FutureRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .payload(&value[..]),
            Duration::from_secs(60),
        )
    });
    for r in futures_util::future::join_all(sends).await {
        r.map_err(|(e, _)| e).expect("bulk produce");
    }
}

/// Subscribes, retrying while the answer is 429 (a departed member's slot may take a moment to
/// come back); panics when it is still refused after `within`.
async fn subscribe_retrying(c: &mut Client, cmd: CmdKafkaSubscribe, within: Duration) -> i64 {
    let deadline = Instant::now() + within;
    loop {
        match c.request(Req::CmdKafkaSubscribe(cmd.clone())).await {
            Resp::KafkaSubscribeResp(s) => return s.subscription_id,
            Resp::ErrorResp(e) if e.code == 429 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            other => panic!("subscribe answered {other:?}"),
        }
    }
}

/// Waits until the gateway has stopped queueing pushes for 2 s: the stalled subscriber's
/// outbound queue is full and its subscription waits for room.
async fn wait_until_pushes_stop(admin: u16) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = (
        metric(admin, "pubsub_push_bytes_total").await,
        Instant::now(),
    );
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = metric(admin, "pubsub_push_bytes_total").await;
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(2) {
            eprintln!("pushes stopped at {now} bytes");
            return;
        }
        assert!(Instant::now() < deadline, "pushes never stopped");
    }
}

/// Group members whose clients stop reading with a full queue and then drop their TCP
/// connections must give back their consumers and `max_group_consumers` slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_group_members_that_vanish_give_back_their_slots_and_metrics_return_to_baseline() {
    let b = broker::Broker::start();
    let t = broker::topic("stall");
    b.create_topic(&t, 1).await;
    // Far more than a connection's outbound budget and socket buffers hold.
    // (30 MiB: several of the largest push frames, 256 messages each, must be waiting.)
    produce_bulk(&b, &t, 480, 64 * 1024).await;
    let admin = free_port();
    let p = Proc::start("stallgroups", |port| {
        kafka_config(
            port,
            admin,
            &b.bootstrap(),
            "      max_group_consumers: 3\n      kafka: { session.timeout.ms: \"6000\" }\n",
        )
    });
    let subs_before = metric(admin, "pubsub_subscriptions_open").await;
    let groups_before = metric(admin, "pubsub_kafka_group_consumers").await;
    let mut fifth = None;
    for i in 0..5 {
        let mut c = connect_small_window(p.addr, "/kafka").await;
        let cmd = CmdKafkaSubscribe {
            topic: t.clone(),
            group: format!("{t}-group-{i}"),
            start: StartPosition::Earliest as i32,
            ..Default::default()
        };
        let id = subscribe_retrying(&mut c, cmd, Duration::from_secs(15)).await;
        if i == 4 {
            fifth = Some(c);
            break;
        }
        // Delivery has begun; then the client stops reading and its queue fills.
        let deadline = Instant::now() + Duration::from_secs(60);
        while c
            .pushed_within(id, Duration::from_millis(500))
            .await
            .is_empty()
        {
            assert!(Instant::now() < deadline, "member {i} never got a push");
        }
        wait_until_pushes_stop(admin).await;
        drop(c);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let subs = metric(admin, "pubsub_subscriptions_open").await;
        let groups = metric(admin, "pubsub_kafka_group_consumers").await;
        // The fifth member is still connected.
        if subs == subs_before + 1 && groups == groups_before + 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subscriptions {subs} (baseline {subs_before}), group consumers {groups} (baseline {groups_before})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(fifth);
}

/// Threads of the process.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Established TCP connections of the process to `port`.
fn connections_to(pid: u32, port: u16) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut n = 0;
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for row in text.lines().skip(1) {
            let f: Vec<&str> = row.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let remote_port = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if remote_port == Some(port) && f[3] == "01" && inodes.contains(f[9]) {
                n += 1;
            }
        }
    }
    n
}

/// Uses every client a Kafka route has: producer, metadata, fetch pool and tail.
async fn use_kafka_route(addr: SocketAddr, t: &str) {
    let mut c = Client::connect(addr, "/kafka").await;
    c.produce_to(t, 0, "x").await;
    let id = c.subscribe(sub_from(t, Start::Earliest)).await;
    assert!(!c.pushed(id, 1).await.is_empty());
    assert!(!c.fetch(fetch_cmd(t, 0, 0)).await.is_empty());
    c.disconnect().await;
}

/// A reload that replaces a Kafka route's upstream builds a new backend; the old one's tail
/// consumer and every other librdkafka client it owned must stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_that_replace_a_kafka_route_leave_no_threads_or_broker_connections_behind() {
    let b = broker::Broker::start();
    let t = broker::topic("reload");
    b.create_topic(&t, 1).await;
    let admin = free_port();
    let bootstrap = b.bootstrap();
    let config = |port: u16, n: usize| {
        kafka_config(
            port,
            admin,
            &bootstrap,
            &format!("      partition_cache_messages: {}\n", 1000 + n),
        )
    };
    let p = Proc::start("reloadkafka", |port| config(port, 0));
    let pid = p.child.id();
    use_kafka_route(p.addr, &t).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (threads_before, conns_before) = (threads(pid), connections_to(pid, b.port));
    let reloaded = || p.log().matches("configuration reloaded").count();
    for n in 1..=10 {
        let before = reloaded();
        std::fs::write(&p.config, config(p.addr.port(), n)).unwrap();
        p.signal(libc::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        while reloaded() == before {
            assert!(Instant::now() < deadline, "no reload: {}", p.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        use_kafka_route(p.addr, &t).await;
    }
    // The route's current backend runs the same clients as before the reloads did.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (th, conns) = (threads(pid), connections_to(pid, b.port));
        if th <= threads_before + 4 && conns <= conns_before + 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "threads {th} (before {threads_before}), broker connections {conns} (before {conns_before})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A newcomer's first run: a Kafka route on its defaults and no Kafka. The log says the
/// upstream is unreachable once (not several lines a second), commands answer 503 within a
/// second instead of waiting the 10 s read timeout, and the route recovers by itself when a
/// broker appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_kafka_upstream_logs_state_changes_and_answers_503_quickly() {
    let kafka_port = free_port();
    let p = Proc::start("downkafka", |port| {
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\nroutes:\n  - uri: /kafka\n    upstream: {{ scheme: kafka, nodes: [\"127.0.0.1:{kafka_port}\"] }}\n"
        )
    });
    let mut c = Client::connect(p.addr, "/kafka").await;
    let list_offset = || {
        Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: "t".into(),
            partition: 0,
            timestamp: -1,
        })
    };
    // The clients notice on their own that no broker answers.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let kafka_lines = |p: &Proc| {
        p.log()
            .lines()
            .filter(|l| l.contains("kafka"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let lines = kafka_lines(&p);
    assert!(
        lines.len() <= 4,
        "{} kafka log lines in 10 s:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| l.contains("unreachable")),
        "{}",
        lines.join("\n")
    );
    for cmd in [
        list_offset(),
        Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "t".into(),
            value: Bytes::from_static(b"x"),
            ..Default::default()
        }),
        Req::CmdKafkaFetch(fetch_cmd("t", 0, 0)),
    ] {
        let started = Instant::now();
        let (code, msg) = error_of(c.request(cmd).await);
        assert_eq!(code, 503, "{msg}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "503 after {:?}",
            started.elapsed()
        );
    }
    // A broker appears on the upstream's address: commands work again without a restart.
    let b = broker::Broker::start_with(broker::BrokerOptions {
        port: Some(kafka_port),
        ..Default::default()
    });
    b.create_topic("t", 1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.request(list_offset()).await {
            Resp::KafkaListOffsetResp(_) => break,
            other => assert!(
                Instant::now() < deadline,
                "still failing after the broker came back: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        kafka_lines(&p)
            .iter()
            .any(|l| l.contains("reachable again")),
        "{}",
        kafka_lines(&p).join("\n")
    );
}
