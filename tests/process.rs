//! The gateway binary as an operator runs it: signals, reload from the file, logs, memory.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The gateway binary with a config file, its output captured line by line.
struct Proc {
    child: Child,
    addr: SocketAddr,
    config: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn start(name: &str, config_body: impl Fn(u16) -> String) -> Proc {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("pubsub-gw-proc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.yaml");
        std::fs::write(&config, config_body(port)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pubsub-gateway"))
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gateway binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(l);
                }
            });
        }
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "gateway did not listen: {:?}",
                lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Proc {
            child,
            addr,
            config,
            lines,
        }
    }

    fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.config.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

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
