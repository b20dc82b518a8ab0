//! Before and around the upgrade: Origin checks, connection and request limits, silent
//! sockets.

use super::*;

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
