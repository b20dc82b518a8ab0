//! jwt-auth: every way to pass a token, exp and nbf, ACL claims, RS256 and ES256 keys, expiry,
//! cmd_refresh and a rotated secret.

use super::*;

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
    // Header names are case-insensitive (hyper writes them in lower case).
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-protocol: pubsub\r\n"),
        "{head}"
    );
    assert!(!head.contains(&token), "{head}");
    gw.stop().await;
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
