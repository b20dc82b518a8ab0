//! Kafka: Tansu with SCRAM users.

use super::*;

/// `tansu user create|delete` against a broker started without `--authentication` (Tansu's
/// admin tool does not authenticate).
fn tansu_user(b: &crate::common::kafka::Broker, args: &[&str]) {
    let out = Command::new(crate::common::kafka::tansu_bin())
        .arg("user")
        .args(args)
        .args(["--broker", &format!("tcp://{}", b.bootstrap())])
        .args(["--mechanism", "scram256"])
        .stdin(Stdio::null())
        .output()
        .expect("run tansu user");
    assert!(
        out.status.success(),
        "tansu user {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The broker again on its port and storage, with or without authentication.
fn restart(b: crate::common::kafka::Broker, authentication: bool) -> crate::common::kafka::Broker {
    let port = b.port;
    let dir = b.stop_keep_dir();
    crate::common::kafka::Broker::start_with(crate::common::kafka::BrokerOptions {
        port: Some(port),
        dir: Some(dir),
        authentication,
    })
}

fn kafka_route(bootstrap: &str, user: &str, password: &str) -> String {
    format!(
        "  - uri: /k\n    upstream:\n      scheme: kafka\n      nodes: {{ \"{bootstrap}\": 1 }}\n      timeout: {{ connect: 3, send: 5, read: 5 }}\n    plugins:\n      kafka-proxy:\n        sasl: {{ username: \"{user}\", password: \"{password}\", mechanism: SCRAM-SHA-256 }}\n"
    )
}

/// Whether a plain librdkafka client logs in with these credentials (a metadata request).
fn kafka_login(bootstrap: &str, user: &str, password: &str) -> Result<(), String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanism", "SCRAM-SHA-256")
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("log_level", "0")
        .create()
        .map_err(|e| e.to_string())?;
    c.fetch_metadata(None, Duration::from_secs(5))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Established TCP connections of process `pid` to `port`, by socket inode (inodes are not
/// reused while the test runs, so a new connection never looks like an old one).
fn sockets_to(pid: u32, port: u16) -> HashSet<String> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
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
    let mut out = HashSet::new();
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
                out.insert(f[9].to_owned());
            }
        }
    }
    out
}

async fn kafka_produce_and_fetch(c: &mut Client, topic: &str, value: &str, want: &[&str]) {
    let r = c
        .produce_once_recovered(
            CmdKafkaProduce {
                topic: topic.into(),
                partition: Some(0),
                value: value.as_bytes().to_vec().into(),
                ..Default::default()
            },
            Duration::from_secs(30),
            "produce",
        )
        .await;
    assert_eq!(r.offset, want.len() as i64 - 1, "{r:?}");
    // Right after a broker restart the fetch consumers may still be reconnecting (503).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.request(Req::CmdKafkaFetch(fetch_cmd(topic, 0, 0))).await {
            Resp::KafkaFetchResp(f) => {
                assert_eq!(values(&f.messages), want);
                return;
            }
            other => assert!(Instant::now() < deadline, "fetch: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// user1 and user2 are made together at the start: Tansu's users are made on a broker without
/// authentication, and restarting it after the gateway connected would drop the connections
/// whose end after the reload the test checks. The broker restarts twice after the reload to
/// delete user1 (`tansu user delete`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_sasl_credentials_rotate_with_a_reload() {
    let (pw1, pw2) = (secret("kafkaA"), secret("kafkaB"));
    let t = crate::common::kafka::topic("rot");
    let (user1, user2) = ("gwt-user1", "gwt-user2");
    let b = tokio::task::block_in_place(|| {
        let b = crate::common::kafka::Broker::start();
        tansu_user(&b, &["create", user1, &pw1]);
        tansu_user(&b, &["create", user2, &pw2]);
        b
    });
    b.create_topic(&t, 1).await;
    let b = tokio::task::block_in_place(|| restart(b, true));
    let bootstrap = b.bootstrap();
    let gw = Proc::start("reload-kafka", |port| {
        gateway_yaml(port, &kafka_route(&bootstrap, user1, &pw1))
    });
    let pid = gw.child.id();
    let mut c1 = Client::connect(gw.addr, "/k").await;
    kafka_produce_and_fetch(&mut c1, &t, "k-1", &["k-1"]).await;
    let old = sockets_to(pid, b.port);
    assert!(!old.is_empty(), "the gateway's connections to the broker");

    reload(
        &gw,
        &gateway_yaml(gw.addr.port(), &kafka_route(&bootstrap, user2, &pw2)),
    )
    .await;
    expect_upstream_changed(&mut c1, "the connection open at the reload").await;
    // The old backend's librdkafka clients close their connections.
    until(WAIT, "the old backend's connections close", || {
        let left: Vec<String> = sockets_to(pid, b.port)
            .intersection(&old)
            .cloned()
            .collect();
        (left.is_empty(), left)
    })
    .await;

    // user1 is deleted; after the restart every connection logs in again.
    let b = tokio::task::block_in_place(|| {
        let b = restart(b, false);
        tansu_user(&b, &["delete", user1]);
        restart(b, true)
    });
    let (bs, p1, p2) = (bootstrap.clone(), pw1.clone(), pw2.clone());
    let (as1, as2) = tokio::task::spawn_blocking(move || {
        (kafka_login(&bs, user1, &p1), kafka_login(&bs, user2, &p2))
    })
    .await
    .unwrap();
    assert!(as1.is_err(), "user1 still logs in");
    as2.expect("user2 logs in");
    let mut c2 = Client::connect(gw.addr, "/k").await;
    kafka_produce_and_fetch(&mut c2, &t, "k-2", &["k-1", "k-2"]).await;
    assert_no_secret_logged(&gw, &[&pw1, &pw2]);
    c2.disconnect().await;
    drop(gw);
    drop(b);
}
