//! Every refusal answers a clear 4xx, stores nothing, and leaves the connection (or the
//! process) serving: unknown paths and methods, bad query values, oversized bodies and heads,
//! credentials, ACLs, Origin and CORS.

use super::*;

#[tokio::test]
async fn bad_requests_answer_4xx_and_the_keep_alive_connection_keeps_serving() {
    let gw = Gateway::start(&embedded_with_limits("max_frame_bytes: 1024")).await;
    let t = topic("refuse");
    let mut http = Http::connect(gw.addr).await;
    let cases: Vec<(&str, String, &str, u16)> = vec![
        ("GET", "/embedded/nothing".into(), "", 404),
        ("GET", "/elsewhere/topics/x".into(), "", 404),
        ("DELETE", format!("/embedded/topics/{t}"), "", 405),
        ("PUT", "/embedded/info".into(), "", 405),
        ("GET", format!("/embedded/topics/{t}?offset=many"), "", 400),
        (
            "GET",
            format!("/embedded/topics/{t}?partition=1.5"),
            "",
            400,
        ),
        (
            "POST",
            format!("/embedded/topics/{t}?partition=x"),
            "v",
            400,
        ),
        ("POST", "/embedded/topics/bad%20topic".into(), "v", 400),
    ];
    for (method, path, body, status) in &cases {
        let a = http.send(method, path, &[], body.to_string()).await;
        assert_eq!(a.status, *status, "{method} {path}: {:?}", a.body);
        if *status != 404 {
            assert_eq!(a.json()["code"], json!(status), "{method} {path}");
        }
        if http.is_closed() {
            http = Http::connect(gw.addr).await;
        }
        assert_eq!(
            http.get("/embedded/info").await.status,
            200,
            "after {method} {path}"
        );
    }
    // A body over the frame limit: 413, and nothing stored.
    let a = http
        .send(
            "POST",
            &format!("/embedded/topics/{t}"),
            &[],
            vec![b'x'; 2048],
        )
        .await;
    assert_eq!(a.status, 413, "{:?}", a.body);
    let mut http = Http::connect(gw.addr).await;
    assert_eq!(http.get(&format!("/embedded/topics/{t}")).await.status, 404);
    // A head over 8 KiB: 431, and the gateway serves the next client.
    let big = "x".repeat(10_000);
    let a = Http::connect(gw.addr)
        .await
        .send("GET", "/embedded/info", &[("x-big", &big)], "")
        .await;
    assert_eq!(a.status, 431);
    assert_eq!(
        http.post(&format!("/embedded/topics/{t}"), "ok")
            .await
            .status,
        200
    );
    gw.stop().await;
}

#[tokio::test]
async fn key_auth_takes_the_apikey_header_or_query_and_acls_answer_403_storing_nothing() {
    let yaml = r#"
routes:
  - uri: /e
    upstream: { scheme: embedded }
    plugins:
      key-auth:
        keys:
          - { id: alice, key: alice-http-key-0123, acl: { write: ["mine-.*"], read: ["mine-.*"] } }
"#;
    let gw = Gateway::start(yaml).await;
    let mut http = Http::connect(gw.addr).await;
    let t = topic("mine");
    assert_eq!(http.post(&format!("/e/topics/{t}"), "x").await.status, 401);
    let a = http
        .send(
            "POST",
            &format!("/e/topics/{t}"),
            &[("apikey", "wrong")],
            "x",
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["message"], json!("invalid credentials"));
    let key = [("apikey", "alice-http-key-0123")];
    let a = http
        .send("POST", &format!("/e/topics/{t}"), &key, "x")
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = http
        .get(&format!("/e/topics/{t}?apikey=alice-http-key-0123"))
        .await;
    assert_eq!(fetched_values(&a.json()), ["x"]);
    // The ACL: the same 403 and wording a WebSocket client gets.
    let other = topic("theirs");
    let a = http
        .send("POST", &format!("/e/topics/{other}"), &key, "x")
        .await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    let mut ws = upgrade(gw.addr, "/e", &[("apikey", "alice-http-key-0123")])
        .await
        .expect("upgrade")
        .0;
    let r = ws
        .request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: other.clone(),
            value: "x".into(),
            ..Default::default()
        }))
        .await;
    assert_eq!(
        error_of(r),
        (403, a.json()["message"].as_str().unwrap().to_string())
    );
    let r = ws
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: other.clone(),
        }))
        .await;
    assert_eq!(error_of(r).0, 403);
    gw.stop().await;
}

#[tokio::test]
async fn jwt_auth_takes_a_bearer_token() {
    let yaml = r#"
routes:
  - uri: /e
    upstream: { scheme: embedded }
    plugins:
      jwt-auth: { algorithm: HS256, secret: http-jwt-secret, leeway_secs: 0 }
"#;
    let gw = Gateway::start(yaml).await;
    let now = pubsub_gateway::backend::now_ms() / 1000;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "dave", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"http-jwt-secret"),
    )
    .unwrap();
    let mut http = Http::connect(gw.addr).await;
    let t = topic("jwt");
    assert_eq!(http.post(&format!("/e/topics/{t}"), "x").await.status, 401);
    let bearer = format!("Bearer {token}");
    let a = http
        .send(
            "POST",
            &format!("/e/topics/{t}"),
            &[("authorization", &bearer)],
            "x",
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = http
        .send(
            "GET",
            "/e/info",
            &[("authorization", "Bearer not.a.token")],
            "",
        )
        .await;
    assert_eq!(a.status, 401);
    gw.stop().await;
}

#[tokio::test]
async fn cors_preflight_and_requests_follow_the_origin_allow_list() {
    let yaml = "routes:\n  - uri: /e\n    upstream: { scheme: embedded }\n    allowed_origins: [\"https://app.example\"]\n";
    let gw = Gateway::start(yaml).await;
    let mut http = Http::connect(gw.addr).await;
    let t = topic("cors");
    let path = format!("/e/topics/{t}");
    let a = http
        .send(
            "OPTIONS",
            &path,
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type, apikey"),
            ],
            "",
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(a
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        a.header("access-control-allow-headers"),
        Some("content-type, apikey")
    );
    let a = http
        .send(
            "OPTIONS",
            &path,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.header("access-control-allow-origin"), None);
    let a = http
        .send("POST", &path, &[("origin", "https://evil.example")], "x")
        .await;
    assert_eq!(a.status, 403);
    let a = http
        .send("POST", &path, &[("origin", "https://app.example")], "x")
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // Only the allowed origin's message was stored.
    let v = http.get(&path).await.json();
    assert_eq!(fetched_values(&v), ["x"]);
    gw.stop().await;
}

#[tokio::test]
async fn the_websocket_upgrade_on_the_same_listener_is_unchanged() {
    let gw = Gateway::start(EMBEDDED).await;
    // HTTP first on a connection, then the upgrade on another: both served.
    let mut http = Http::connect(gw.addr).await;
    assert_eq!(http.get("/embedded/info").await.status, 200);
    let mut ws = gw.connect("/embedded").await;
    ping_ok(&mut ws).await;
    // A plain GET on the route's own path still says it wants an upgrade.
    assert_eq!(
        http_status(gw.addr, "GET /embedded HTTP/1.1\r\nHost: x\r\n\r\n").await,
        400
    );
    // The subprotocol chosen: `pubsub.json` when offered, a bearer token never echoed.
    let (mut ws, resp) = upgrade(
        gw.addr,
        "/embedded",
        &[("sec-websocket-protocol", "bearer.abc, pubsub.json")],
    )
    .await
    .expect("upgrade");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("pubsub.json")
    );
    ws.send_raw(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
    gw.stop().await;
}

#[tokio::test]
async fn calls_over_the_request_rate_answer_429_and_the_connection_keeps_serving() {
    let gw = Gateway::start(&embedded_with_limits("max_requests_per_sec: 3")).await;
    let mut http = Http::connect(gw.addr).await;
    let before = pubsub_gateway::metrics::METRICS
        .rate_limited
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let a = http.get("/embedded/info").await;
        if a.status == 429 {
            assert_eq!(
                a.json()["message"],
                json!("rate limit exceeded (3 requests per second)")
            );
        }
        statuses.push(a.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.starts_with(&[200, 200, 200]), "{statuses:?}");
    assert!(
        pubsub_gateway::metrics::METRICS
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed)
            > before
    );
    // The bucket refills: the same connection is served again.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if http.get("/embedded/info").await.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_in_time_and_nothing_is_stored() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start(&embedded_with_limits("handshake_timeout_secs: 1")).await;
    let t = topic("slowbody");
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(
        format!("POST /embedded/topics/{t} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer))
        .await
        .expect("answered and closed in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let a = Http::connect(gw.addr)
        .await
        .get(&format!("/embedded/topics/{t}"))
        .await;
    assert_eq!(a.status, 404, "nothing stored: {:?}", a.body);
    gw.stop().await;
}
