//! Security and operations through real WebSocket clients: wss, key-auth and jwt-auth (including
//! the browser ways to pass a token), topic ACLs, Origin checks, limits, the admin listener and
//! reload.

mod admin;
mod jwt;
mod keys_and_acls;
mod tls;
mod upgrades;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::common::certs::{openssl, write_pki};
use crate::common::*;

fn tmpdir(name: &str) -> PathBuf {
    sweep_stale_dirs("pubsub-gw-sec-");
    let d = std::env::temp_dir().join(format!("pubsub-gw-sec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hs256(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now() -> i64 {
    pubsub_gateway::backend::now_ms() / 1000
}

#[tokio::test]
async fn admin_listener_reports_health_readiness_and_metrics() {
    let port = free_port();
    let yaml = format!(
        "routes:\n  - uri: /embedded\n    upstream: {{ scheme: embedded }}\n  - uri: /kafka\n    upstream: {{ scheme: kafka, nodes: [\"127.0.0.1:{port}\"], timeout: {{ connect: 1, send: 1, read: 1 }} }}\n"
    );
    let gw = Gateway::start(&yaml).await;
    let admin = gw.admin.expect("admin listener on by default");
    let mut c = gw.connect("/embedded").await;
    ping_ok(&mut c).await;
    let get = |path: &'static str| async move {
        let mut tcp = TcpStream::connect(admin).await.unwrap();
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    };
    assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
    let ready = get("/readyz").await;
    assert!(
        ready.starts_with("HTTP/1.1 503"),
        "kafka is unreachable: {ready}"
    );
    let json: serde_json::Value = serde_json::from_str(body(&ready)).unwrap();
    assert_eq!(json["routes"]["/embedded"], "ready");
    assert_ne!(json["routes"]["/kafka"], "ready");
    let metrics = get("/metrics").await;
    for needle in [
        "pubsub_connections_open",
        "pubsub_commands_total{command=\"ping\",result=\"ok\"}",
        "pubsub_command_duration_seconds_bucket{command=\"ping\"",
        "pubsub_push_messages_total",
        "pubsub_slow_consumer_closes_total",
        "pubsub_kafka_client_errors_total",
        "pubsub_outbound_queued_frames",
    ] {
        assert!(metrics.contains(needle), "missing {needle}");
    }
    let routes = get("/api/routes").await;
    let json: serde_json::Value = serde_json::from_str(body(&routes)).unwrap();
    assert_eq!(json["ws_base"], format!("ws://{}", gw.addr));
    assert_eq!(json["routes"][1]["scheme"], "kafka");
    gw.stop().await;
}

#[tokio::test]
async fn reload_adds_and_removes_routes_and_keeps_connections_of_kept_routes() {
    let gw = Gateway::start("routes:\n  - uri: /a\n    upstream: { scheme: embedded }\n  - uri: /b\n    upstream: { scheme: embedded }\n").await;
    let mut a = gw.connect("/a").await;
    a.request(Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: "kept".into(),
        value: Bytes::from_static(b"v"),
        ..Default::default()
    }))
    .await;
    let mut b = gw.connect("/b").await;
    assert_eq!(
        http_status(gw.addr, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n").await,
        404
    );

    // An invalid configuration is refused and changes nothing.
    let bad = pubsub_gateway::Config::parse(
        "routes:\n  - uri: /a\n    upstream: { scheme: kafka }\n",
        "t",
    );
    assert!(bad.is_err());
    let wrong_env = pubsub_gateway::Config::parse(
        "routes:\n  - uri: /a\n    upstream: { scheme: embedded }\n    plugins:\n      key-auth: { keys: [{ id: x, key_env: PUBSUB_GW_UNSET_VAR }] }\n",
        "t",
    )
    .unwrap();
    assert!(gw.handle.reload(wrong_env).is_err());
    ping_ok(&mut a).await;

    let next = pubsub_gateway::Config::parse("routes:\n  - uri: /a\n    upstream: { scheme: embedded }\n  - uri: /c\n    upstream: { scheme: embedded }\n", "t").unwrap();
    gw.handle.reload(next).expect("valid reload");
    let close = b
        .closed()
        .await
        .expect("a close frame for the removed route");
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason.as_str(), "route removed");
    ping_ok(&mut a).await;
    // The kept route kept its broker and its messages.
    let r = a
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "kept".into(),
            ..Default::default()
        }))
        .await;
    let Resp::KafkaFetchResp(f) = r else {
        panic!("{r:?}")
    };
    assert_eq!(f.messages.len(), 1);
    let mut c = gw.connect("/c").await;
    ping_ok(&mut c).await;
    assert_eq!(
        http_status(gw.addr, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n").await,
        404
    );
    gw.stop().await;
}

/// Connects over TLS trusting only `ca` and pings; Err with the TLS error otherwise.
async fn wss_ping(addr: std::net::SocketAddr, ca: &Path) -> Result<(), String> {
    use futures_util::SinkExt;
    use prost::Message as _;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cc = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cc))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/embedded", tls)
        .await
        .map_err(|e| e.to_string())?;
    let req = PubSubReq {
        sequence: 1,
        req: Some(Req::CmdPing(CmdPing::default())),
    };
    ws.send(Message::Binary(req.encode_to_vec().into()))
        .await
        .map_err(|e| e.to_string())?;
    match ws.next().await {
        Some(Ok(Message::Binary(_))) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

/// The raw response head of an upgrade request with these extra header lines.
async fn raw_head(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before a full answer: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads until the server closes the socket; the time it took, or None after `wait`.
async fn closed_within(tcp: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + wait),
            tcp.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

fn kafka_unreachable(plugins: &str) -> String {
    // Nothing listens on port 9 of loopback: every broker call fails (5xx after the timeouts,
    // never 403), so a 403 proves the ACL answered first.
    format!(
        "server:\n  limits: {{ shutdown_grace_secs: 1 }}\nroutes:\n  - uri: /k\n    upstream: {{ scheme: kafka, nodes: [\"127.0.0.1:9\"], timeout: {{ connect: 2, send: 2, read: 2 }} }}\n{plugins}"
    )
}

/// The error code and message of a reply; an ACL refusal needs no broker and comes at once.
async fn quick_error(c: &mut Client, req: Req) -> (i32, String) {
    let r = tokio::time::timeout(Duration::from_secs(5), c.request(req))
        .await
        .expect("an ACL refusal comes before any broker call");
    error_of(r)
}

fn internal_topic_commands(topic: &str) -> Vec<Req> {
    vec![
        Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: topic.into(),
            ..Default::default()
        }),
        Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: topic.into(),
            timestamp: -1,
            ..Default::default()
        }),
        Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: topic.into(),
            value: Bytes::from_static(b"x"),
            ..Default::default()
        }),
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: topic.into(),
            ..Default::default()
        }),
        Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: topic.into(),
        }),
    ]
}

const JWT_ROUTE: &str = r#"
routes:
  - uri: /e
    upstream: { scheme: embedded }
    plugins:
      jwt-auth: { algorithm: HS256, secret: life-secret, leeway_secs: 0 }
"#;

fn produce(topic: &str) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        value: Bytes::from_static(b"x"),
        ..Default::default()
    })
}

fn refresh(token: &str) -> Req {
    Req::CmdRefresh(CmdRefresh {
        token: token.into(),
    })
}
