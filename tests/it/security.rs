//! Security and operations through real WebSocket clients: wss, key-auth and jwt-auth (including
//! the browser ways to pass a token), topic ACLs, Origin checks, limits, the admin listener and
//! reload.

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

#[tokio::test]
async fn wss_serves_the_protocol_with_a_test_certificate() {
    let dir = tmpdir("wss");
    let (ca, cert, key) = write_pki(&dir);
    let yaml = format!(
        "server:\n  tls: {{ cert: {}, key: {} }}\n{}",
        cert.display(),
        key.display(),
        EMBEDDED
    );
    let gw = Gateway::start(&yaml).await;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cc = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cc))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("TLS handshake with the gateway");
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/embedded", tls)
        .await
        .expect("upgrade over TLS");
    let (mut sink, mut stream) = ws.split();
    use futures_util::SinkExt;
    use prost::Message as _;
    let req = PubSubReq {
        sequence: 9,
        req: Some(Req::CmdPing(CmdPing {
            state: Bytes::from_static(b"tls"),
        })),
    };
    sink.send(Message::Binary(req.encode_to_vec().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Binary(b))) = stream.next().await else {
        panic!("no reply over wss")
    };
    let resp = PubSubResp::decode(b).unwrap();
    assert_eq!(resp.sequence, 9);
    assert_eq!(
        resp.resp,
        Some(Resp::PongResp(PongResp {
            state: Bytes::from_static(b"tls")
        }))
    );
    // Plain ws:// to a TLS listener does not get a WebSocket.
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /embedded HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("101"));
    gw.stop().await;
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
async fn jwt_from_bearer_header_query_or_subprotocol_and_exp_nbf_are_checked() {
    let yaml = r#"
routes:
  - uri: /embedded
    upstream: { scheme: embedded }
    plugins:
      jwt-auth: { algorithm: HS256, secret: test-jwt-secret, leeway_secs: 0 }
"#;
    let gw = Gateway::start(yaml).await;
    let good = hs256(
        "test-jwt-secret",
        serde_json::json!({ "sub": "carol", "exp": now() + 600 }),
    );
    let (mut c, _) = upgrade(
        gw.addr,
        "/embedded",
        &[("authorization", &format!("Bearer {good}"))],
    )
    .await
    .expect("bearer header");
    ping_ok(&mut c).await;
    let (mut c, _) = upgrade(gw.addr, &format!("/embedded?token={good}"), &[])
        .await
        .expect("token query");
    ping_ok(&mut c).await;
    // Browsers: the token as a subprotocol entry; the gateway selects `pubsub`.
    let (mut c, resp) = upgrade(
        gw.addr,
        "/embedded",
        &[("sec-websocket-protocol", &format!("pubsub, bearer.{good}"))],
    )
    .await
    .expect("token subprotocol");
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "pubsub"
    );
    ping_ok(&mut c).await;

    let expired = hs256(
        "test-jwt-secret",
        serde_json::json!({ "sub": "carol", "exp": now() - 60 }),
    );
    let not_yet = hs256(
        "test-jwt-secret",
        serde_json::json!({ "sub": "carol", "exp": now() + 600, "nbf": now() + 300 }),
    );
    let forged = hs256(
        "another-secret",
        serde_json::json!({ "sub": "carol", "exp": now() + 600 }),
    );
    for bad in [expired, not_yet, forged, "garbage".to_string()] {
        assert_eq!(
            upgrade(gw.addr, &format!("/embedded?token={bad}"), &[])
                .await
                .err(),
            Some(401)
        );
    }
    assert_eq!(upgrade(gw.addr, "/embedded", &[]).await.err(), Some(401));
    gw.stop().await;
}

#[tokio::test]
async fn jwt_acl_claim_narrows_what_the_route_allows() {
    let yaml = r#"
routes:
  - uri: /embedded
    upstream: { scheme: embedded }
    plugins:
      jwt-auth: { algorithm: HS256, secret: s3 }
      topic-acl: { read: ["game-.*"], write: ["game-.*"] }
"#;
    let gw = Gateway::start(yaml).await;
    let token = hs256(
        "s3",
        serde_json::json!({ "sub": "p1", "exp": now() + 600, "acl": { "write": ["game-room1"] } }),
    );
    let (mut c, _) = upgrade(gw.addr, &format!("/embedded?token={token}"), &[])
        .await
        .unwrap();
    let produce = |t: &str| {
        Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: t.into(),
            value: Bytes::from_static(b"x"),
            ..Default::default()
        })
    };
    assert!(matches!(
        c.request(produce("game-room1")).await,
        Resp::KafkaProduceResp(_)
    ));
    assert_eq!(
        error_of(c.request(produce("game-room2")).await).0,
        403,
        "the claim narrows writes"
    );
    assert_eq!(
        error_of(c.request(produce("chat")).await).0,
        403,
        "the route forbids it anyway"
    );
    let r = c
        .request(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "game-room1".into(),
            ..Default::default()
        }))
        .await;
    assert!(
        matches!(r, Resp::KafkaFetchResp(_)),
        "reads follow the route ACL: {r:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn jwt_rs256_and_es256_public_keys_verify_tokens() {
    let dir = tmpdir("jwtkeys");
    openssl(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
    );
    openssl(
        &dir,
        &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa_pub.pem"],
    );
    openssl(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ],
    );
    openssl(
        &dir,
        &["pkey", "-in", "ec.pem", "-pubout", "-out", "ec_pub.pem"],
    );
    for (alg, priv_key, pub_key) in [
        ("RS256", "rsa.pem", "rsa_pub.pem"),
        ("ES256", "ec.pem", "ec_pub.pem"),
    ] {
        let yaml = format!(
            "routes:\n  - uri: /e\n    upstream: {{ scheme: embedded }}\n    plugins:\n      jwt-auth: {{ algorithm: {alg}, public_key_file: {} }}\n",
            dir.join(pub_key).display()
        );
        let gw = Gateway::start(&yaml).await;
        let pem = std::fs::read(dir.join(priv_key)).unwrap();
        let (key, algorithm) = if alg == "RS256" {
            (
                jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
                jsonwebtoken::Algorithm::RS256,
            )
        } else {
            (
                jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
                jsonwebtoken::Algorithm::ES256,
            )
        };
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(algorithm),
            &serde_json::json!({ "exp": now() + 60 }),
            &key,
        )
        .unwrap();
        let (mut c, _) = upgrade(gw.addr, &format!("/e?token={token}"), &[])
            .await
            .unwrap_or_else(|s| panic!("{alg}: {s}"));
        ping_ok(&mut c).await;
        let hs = hs256("x", serde_json::json!({ "exp": now() + 60 }));
        assert_eq!(
            upgrade(gw.addr, &format!("/e?token={hs}"), &[]).await.err(),
            Some(401),
            "{alg} refuses HS256"
        );
        gw.stop().await;
    }
}

#[tokio::test]
async fn origin_allow_list_is_enforced_before_the_upgrade() {
    let yaml = "routes:\n  - uri: /e\n    upstream: { scheme: embedded }\n    allowed_origins: [\"https://game.example\"]\n";
    let gw = Gateway::start(yaml).await;
    assert!(
        upgrade(gw.addr, "/e", &[("origin", "https://game.example")])
            .await
            .is_ok()
    );
    assert_eq!(
        upgrade(gw.addr, "/e", &[("origin", "https://evil.example")])
            .await
            .err(),
        Some(403)
    );
    assert!(
        upgrade(gw.addr, "/e", &[]).await.is_ok(),
        "non-browser clients send no Origin"
    );
    gw.stop().await;
}

#[tokio::test]
async fn connection_limits_close_with_1013_and_free_up_when_clients_leave() {
    let yaml = format!("server:\n  limits: {{ max_connections: 2 }}\n{EMBEDDED}");
    let gw = Gateway::start(&yaml).await;
    let mut a = gw.connect("/embedded").await;
    let b = gw.connect("/embedded").await;
    let mut c = gw.connect("/embedded").await;
    let close = c.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Again);
    drop(b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut d = gw.connect("/embedded").await;
    ping_ok(&mut d).await;
    ping_ok(&mut a).await;
    gw.stop().await;

    let yaml = format!("server:\n  limits: {{ max_connections_per_ip: 1 }}\n{EMBEDDED}");
    let gw = Gateway::start(&yaml).await;
    let _a = gw.connect("/embedded").await;
    let mut b = gw.connect("/embedded").await;
    assert_eq!(b.closed().await.expect("close").code, CloseCode::Again);
    gw.stop().await;
}

#[tokio::test]
async fn request_rate_and_inflight_limits_answer_429_and_keep_the_connection() {
    let yaml = format!("server:\n  limits: {{ max_requests_per_sec: 5 }}\n{EMBEDDED}");
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/embedded").await;
    let mut seqs = Vec::new();
    for _ in 0..10 {
        seqs.push(c.send(Req::CmdPing(CmdPing::default())).await);
    }
    let mut limited = 0;
    for s in seqs {
        if let Resp::ErrorResp(e) = c.reply(s).await {
            assert_eq!(e.code, 429);
            limited += 1;
        }
    }
    assert!(limited >= 4, "only {limited} of 10 limited");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ping_ok(&mut c).await;
    gw.stop().await;

    let yaml = format!("server:\n  limits: {{ max_inflight_requests: 2 }}\n{EMBEDDED}");
    let gw = Gateway::start(&yaml).await;
    let mut c = gw.connect("/embedded").await;
    c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: "quiet".into(),
        ..Default::default()
    }))
    .await;
    // Two long polls at the end of the log fill the window; the next request is refused at once.
    for _ in 0..2 {
        c.send(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "quiet".into(),
            offset: 1,
            max_wait_ms: 3000,
            ..Default::default()
        }))
        .await;
    }
    let started = std::time::Instant::now();
    let r = c.request(Req::CmdPing(CmdPing::default())).await;
    let (code, msg) = error_of(r);
    assert_eq!(code, 429, "{msg}");
    assert!(msg.contains("in flight"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not after the polls"
    );
    gw.stop().await;
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

#[tokio::test]
async fn reload_swaps_the_tls_certificate_for_new_connections() {
    let (dir_a, dir_b) = (tmpdir("cert-a"), tmpdir("cert-b"));
    let (ca_a, cert_a, key_a) = write_pki(&dir_a);
    let (ca_b, cert_b, key_b) = write_pki(&dir_b);
    let yaml = |cert: &Path, key: &Path| {
        format!(
            "server:\n  tls: {{ cert: {}, key: {} }}\n{EMBEDDED}",
            cert.display(),
            key.display()
        )
    };
    let gw = Gateway::start(&yaml(&cert_a, &key_a)).await;
    wss_ping(gw.addr, &ca_a).await.expect("certificate A");
    assert!(wss_ping(gw.addr, &ca_b).await.is_err());
    let mut next = pubsub_gateway::Config::parse(&yaml(&cert_b, &key_b), "t").unwrap();
    next.server.listen = gw.addr;
    next.server.admin_listen = None;
    gw.handle.reload(next).expect("reload with certificate B");
    wss_ping(gw.addr, &ca_b)
        .await
        .expect("certificate B after reload");
    assert!(
        wss_ping(gw.addr, &ca_a).await.is_err(),
        "certificate A is no longer served"
    );
    gw.stop().await;
}

#[tokio::test]
async fn origin_must_equal_an_allowed_origin_not_extend_it() {
    let yaml = "routes:\n  - uri: /e\n    upstream: { scheme: embedded }\n    allowed_origins: [\"https://game.example\"]\n";
    let gw = Gateway::start(yaml).await;
    for bad in [
        "https://game.example.evil.net",
        "https://game.example:8443",
        "https://game.examplex",
        "http://game.example",
        "https://game.exampl",
    ] {
        assert_eq!(
            upgrade(gw.addr, "/e", &[("origin", bad)]).await.err(),
            Some(403),
            "{bad}"
        );
    }
    let (mut c, _) = upgrade(gw.addr, "/e", &[("origin", "https://GAME.example")])
        .await
        .expect("host names are case-insensitive");
    ping_ok(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn only_the_exact_key_authenticates_never_a_longer_shorter_or_prefix_one() {
    let yaml = r#"
routes:
  - uri: /e
    upstream: { scheme: embedded }
    plugins:
      key-auth:
        keys:
          - { id: alice, key: alice-key-0123456789 }
          - { id: bob, key: bob-key-abcdefghij }
"#;
    let gw = Gateway::start(yaml).await;
    for good in ["alice-key-0123456789", "bob-key-abcdefghij"] {
        let (mut c, _) = upgrade(gw.addr, "/e", &[("apikey", good)])
            .await
            .unwrap_or_else(|s| panic!("{good}: {s}"));
        ping_ok(&mut c).await;
    }
    for bad in [
        "alice-key-012345678",
        "alice-key-01234567890",
        "alice",
        "a",
        "Alice-key-0123456789",
        "alice-key-0123456788",
        "bob-key-abcdefghij-alice-key-0123456789",
        "bob-key-abcdefghijalice-key-0123456789",
    ] {
        assert_eq!(
            upgrade(gw.addr, "/e", &[("apikey", bad)]).await.err(),
            Some(401),
            "{bad:?}"
        );
    }
    // Header values lose surrounding whitespace (HTTP); query values keep it.
    assert_eq!(
        upgrade(gw.addr, "/e?apikey=alice-key-0123456789%20", &[])
            .await
            .err(),
        Some(401)
    );
    gw.stop().await;
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

#[tokio::test]
async fn a_lone_bearer_subprotocol_is_never_echoed_in_the_101() {
    let yaml = r#"
routes:
  - uri: /e
    upstream: { scheme: embedded }
    plugins:
      jwt-auth: { algorithm: HS256, secret: sub-secret }
"#;
    let gw = Gateway::start(yaml).await;
    let token = hs256(
        "sub-secret",
        serde_json::json!({ "sub": "dave", "exp": now() + 600 }),
    );
    let head = raw_head(
        gw.addr,
        "/e",
        &format!("Sec-WebSocket-Protocol: bearer.{token}\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(!head.contains(&token), "the token came back: {head}");
    assert!(
        !head.to_ascii_lowercase().contains("bearer."),
        "no bearer entry comes back: {head}"
    );
    // With another entry offered, that one is selected.
    let head = raw_head(
        gw.addr,
        "/e",
        &format!("Sec-WebSocket-Protocol: bearer.{token}, pubsub\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Protocol: pubsub\r\n"),
        "{head}"
    );
    assert!(!head.contains(&token), "{head}");
    gw.stop().await;
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

#[tokio::test]
async fn an_idle_socket_is_closed_after_the_request_head_timeout() {
    let yaml = format!(
        "server:\n  limits: {{ request_head_timeout_ms: 300, handshake_timeout_secs: 30 }}\n{EMBEDDED}"
    );
    let gw = Gateway::start(&yaml).await;
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    let took = closed_within(&mut idle, Duration::from_secs(5))
        .await
        .expect("the idle socket is closed long before the handshake timeout");
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    // Half a request head is no better than none.
    let mut slow = TcpStream::connect(gw.addr).await.unwrap();
    slow.write_all(b"GET /embedded HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(5))
        .await
        .is_some());
    let mut c = gw.connect("/embedded").await;
    ping_ok(&mut c).await;
    gw.stop().await;
}

/// A full server closes the oldest socket that has sent nothing for a new one, and never one
/// that has spoken; when every handshake has spoken, the new socket is refused.
#[tokio::test]
async fn a_full_server_closes_the_oldest_silent_socket_for_a_new_one_and_clients_get_in() {
    let yaml = format!(
        "server:\n  limits: {{ max_handshakes: 3, request_head_timeout_ms: 30000, handshake_timeout_secs: 60 }}\n{EMBEDDED}"
    );
    let gw = Gateway::start(&yaml).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(gw.addr).await.unwrap());
        // Accepted in this order.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Half a request head: spoken, so never evicted.
    idle[1]
        .write_all(b"GET /embedded HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut newer = TcpStream::connect(gw.addr).await.unwrap();
    assert!(
        closed_within(&mut idle[0], Duration::from_secs(3))
            .await
            .is_some(),
        "the oldest silent socket is closed to make room"
    );
    let mut probe = [0u8; 1];
    for (i, s) in idle.iter_mut().enumerate().skip(1) {
        assert!(
            tokio::time::timeout(Duration::from_millis(200), s.read(&mut probe))
                .await
                .is_err(),
            "socket {i} is still waiting for its request"
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), newer.read(&mut probe))
            .await
            .is_err(),
        "the new socket was taken"
    );
    // A real client evicts the next silent one and gets in.
    let mut c = gw.connect("/embedded").await;
    ping_ok(&mut c).await;
    drop(idle);
    drop(newer);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // An upgraded connection no longer counts as a handshake.
    let mut more = Vec::new();
    for _ in 0..3 {
        let mut c = gw.connect("/embedded").await;
        ping_ok(&mut c).await;
        more.push(c);
    }
    gw.stop().await;
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

#[tokio::test]
async fn kafka_routes_refuse_consumer_groups_without_an_allow_list_naming_the_setting() {
    let gw = Gateway::start(&kafka_unreachable("")).await;
    let mut c = gw.connect("/k").await;
    let (code, msg) = quick_error(
        &mut c,
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "orders".into(),
            group: "billing".into(),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(code, 403, "{msg}");
    assert!(msg.contains("topic-acl.groups"), "{msg}");
    ping_ok(&mut c).await;
    gw.stop().await;

    // An allow-list lets the groups it names through, and only them.
    let gw = Gateway::start(&kafka_unreachable(
        "    plugins:\n      topic-acl: { groups: [\"game-.*\"] }\n",
    ))
    .await;
    let mut c = gw.connect("/k").await;
    let (code, msg) = quick_error(
        &mut c,
        Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "orders".into(),
            group: "billing".into(),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(code, 403, "{msg}");
    ping_ok(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn embedded_routes_keep_allowing_groups_by_default() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
            topic: "room".into(),
            group: "g".into(),
            ..Default::default()
        }))
        .await;
    assert!(matches!(r, Resp::KafkaSubscribeResp(_)), "{r:?}");
    gw.stop().await;
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

#[tokio::test]
async fn kafka_internal_topics_are_refused_for_every_command_unless_an_acl_names_them() {
    let gw = Gateway::start(&kafka_unreachable("")).await;
    let mut c = gw.connect("/k").await;
    for req in internal_topic_commands("__consumer_offsets") {
        let (code, msg) = quick_error(&mut c, req.clone()).await;
        assert_eq!(code, 403, "{req:?}: {msg}");
    }
    ping_ok(&mut c).await;
    gw.stop().await;

    // A broad pattern is not enough: `.*` does not name internal topics.
    let gw = Gateway::start(&kafka_unreachable(
        "    plugins:\n      topic-acl: { read: [\".*\"], write: [\".*\"] }\n",
    ))
    .await;
    let mut c = gw.connect("/k").await;
    for req in internal_topic_commands("__transaction_state") {
        let (code, msg) = quick_error(&mut c, req.clone()).await;
        assert_eq!(code, 403, "{req:?}: {msg}");
    }
    gw.stop().await;

    // An explicit pattern starting with `__` lets that internal topic through the ACL: the
    // command then goes on to the (unreachable) broker instead of answering 403.
    let gw = Gateway::start(&kafka_unreachable(
        "    plugins:\n      topic-acl: { read: [\"__consumer_offsets\"] }\n",
    ))
    .await;
    let mut c = gw.connect("/k").await;
    let seq = c
        .send(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "__consumer_offsets".into(),
        }))
        .await;
    match tokio::time::timeout(Duration::from_secs(2), c.reply(seq)).await {
        Err(_) => {} // waiting on the broker: the ACL let it through
        Ok(r) => assert_ne!(error_of(r).0, 403, "the ACL names the topic"),
    }
    let (code, _) = quick_error(
        &mut c,
        Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: "__other_internal".into(),
        }),
    )
    .await;
    assert_eq!(code, 403);
    gw.stop().await;
}

#[tokio::test]
async fn embedded_routes_do_not_treat_double_underscore_topics_as_internal() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut c = gw.connect("/embedded").await;
    let r = c
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "__mine".into(),
            value: Bytes::from_static(b"x"),
            ..Default::default()
        }))
        .await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    gw.stop().await;
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

#[tokio::test]
async fn a_jwt_connection_is_closed_with_1008_when_its_token_expires() {
    let gw = Gateway::start(JWT_ROUTE).await;
    let token = hs256(
        "life-secret",
        serde_json::json!({ "sub": "erin", "exp": now() + 2 }),
    );
    let started = std::time::Instant::now();
    let (mut c, _) = upgrade(gw.addr, &format!("/e?token={token}"), &[])
        .await
        .expect("a valid token");
    ping_ok(&mut c).await;
    let close = c
        .closed()
        .await
        .expect("a close frame when the token expires");
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(close.reason.as_str(), "token expired");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before exp: {:?}",
        started.elapsed()
    );
    // Keys never expire: an hour-long token, too, is still fine after the short one is gone.
    let long = hs256(
        "life-secret",
        serde_json::json!({ "sub": "erin", "exp": now() + 3600 }),
    );
    let (mut c, _) = upgrade(gw.addr, &format!("/e?token={long}"), &[])
        .await
        .unwrap();
    ping_ok(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn a_refreshed_token_keeps_the_connection_past_the_first_exp_and_its_acl_applies_next() {
    let gw = Gateway::start(JWT_ROUTE).await;
    let short = hs256(
        "life-secret",
        serde_json::json!({ "sub": "erin", "exp": now() + 2 }),
    );
    let (mut c, _) = upgrade(gw.addr, &format!("/e?token={short}"), &[])
        .await
        .unwrap();
    assert!(matches!(
        c.request(produce("room-2")).await,
        Resp::KafkaProduceResp(_)
    ));
    // Bad tokens answer 401 and change nothing.
    let expired = hs256(
        "life-secret",
        serde_json::json!({ "sub": "erin", "exp": now() - 60 }),
    );
    let forged = hs256(
        "not-the-secret",
        serde_json::json!({ "sub": "erin", "exp": now() + 600 }),
    );
    for bad in [expired.as_str(), forged.as_str(), "garbage", ""] {
        let (code, msg) = error_of(c.request(refresh(bad)).await);
        assert_eq!(code, 401, "{bad}: {msg}");
    }
    assert!(matches!(
        c.request(produce("room-2")).await,
        Resp::KafkaProduceResp(_)
    ));
    let narrower = hs256(
        "life-secret",
        serde_json::json!({ "sub": "erin", "exp": now() + 600, "acl": { "write": ["room-1"] } }),
    );
    let r = c.request(refresh(&narrower)).await;
    assert!(matches!(r, Resp::OkResp(_)), "{r:?}");
    assert_eq!(
        error_of(c.request(produce("room-2")).await).0,
        403,
        "the new token's ACL applies to the next command"
    );
    assert!(matches!(
        c.request(produce("room-1")).await,
        Resp::KafkaProduceResp(_)
    ));
    // Past the first token's exp the connection is still open.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ping_ok(&mut c).await;
    gw.stop().await;
}

#[tokio::test]
async fn a_reload_closes_connections_of_removed_keys_and_narrows_acls_of_kept_ones() {
    let keys = |alice_acl: &str, bob: bool| {
        format!(
            "routes:\n  - uri: /e\n    upstream: {{ scheme: embedded }}\n    plugins:\n      key-auth:\n        keys:\n          - {{ id: alice, key: alice-reload-key{alice_acl} }}\n{}",
            if bob {
                "          - { id: bob, key: bob-reload-key }\n"
            } else {
                "          - { id: carol, key: carol-reload-key }\n"
            }
        )
    };
    let gw = Gateway::start(&keys("", true)).await;
    let (mut alice, _) = upgrade(gw.addr, "/e", &[("apikey", "alice-reload-key")])
        .await
        .unwrap();
    let (mut bob, _) = upgrade(gw.addr, "/e", &[("apikey", "bob-reload-key")])
        .await
        .unwrap();
    for c in [&mut alice, &mut bob] {
        assert!(matches!(
            c.request(produce("anything")).await,
            Resp::KafkaProduceResp(_)
        ));
    }
    let next =
        pubsub_gateway::Config::parse(&keys(", acl: { write: [\"only-this\"] }", false), "t")
            .unwrap();
    gw.handle.reload(next).expect("valid reload");
    assert_eq!(
        error_of(alice.request(produce("anything")).await).0,
        403,
        "the narrowed ACL applies to the next command"
    );
    assert!(matches!(
        alice.request(produce("only-this")).await,
        Resp::KafkaProduceResp(_)
    ));
    let close = bob.closed().await.expect("a close frame for a removed key");
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(close.reason.as_str(), "credentials revoked");
    assert_eq!(
        upgrade(gw.addr, "/e", &[("apikey", "bob-reload-key")])
            .await
            .err(),
        Some(401)
    );
    // A reload that changes nothing about alice keeps her connection.
    let same =
        pubsub_gateway::Config::parse(&keys(", acl: { write: [\"only-this\"] }", false), "t")
            .unwrap();
    gw.handle.reload(same).unwrap();
    ping_ok(&mut alice).await;
    gw.stop().await;
}

#[tokio::test]
async fn a_reload_that_changes_the_jwt_secret_revokes_tokens_signed_with_the_old_one() {
    let gw = Gateway::start(JWT_ROUTE).await;
    let token = hs256(
        "life-secret",
        serde_json::json!({ "sub": "erin", "exp": now() + 600 }),
    );
    let (mut c, _) = upgrade(gw.addr, &format!("/e?token={token}"), &[])
        .await
        .unwrap();
    ping_ok(&mut c).await;
    let next =
        pubsub_gateway::Config::parse(&JWT_ROUTE.replace("life-secret", "rotated"), "t").unwrap();
    gw.handle.reload(next).unwrap();
    let close = c.closed().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(close.reason.as_str(), "credentials revoked");
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_socket_on_a_tls_listener_is_closed_after_the_request_head_timeout() {
    let dir = tmpdir("tls-idle");
    let (_, cert, key) = write_pki(&dir);
    let yaml = format!(
        "server:\n  tls: {{ cert: {}, key: {} }}\n  limits: {{ request_head_timeout_ms: 300, handshake_timeout_secs: 30 }}\n{EMBEDDED}",
        cert.display(),
        key.display(),
    );
    let gw = Gateway::start(&yaml).await;
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5))
            .await
            .is_some(),
        "a socket that never starts its TLS handshake is closed long before the handshake timeout"
    );
    gw.stop().await;
}
