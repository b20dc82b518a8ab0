//! Clients that stop reading, flood or pipeline: slow-consumer closes, bounded log lines, a
//! thousand requests in one write.

use super::*;

/// On one runtime thread (as when the other workers are busy) the connection's reader must give
/// its writer a turn while it works through requests that arrived together: otherwise the
/// replies fill the queue, the requests behind them count as in flight, and the refusals past
/// the in-flight limit find no room and are dropped, leaving the client waiting for good.
#[tokio::test]
async fn a_thousand_requests_arriving_in_one_write_each_get_their_reply() {
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ max_requests_per_sec: 1000000 }}\n{}",
        embedded_with("partitions: 1")
    ))
    .await;
    let mut c = gw.connect("/embedded").await;
    let topic = "one-write";
    let mut seqs = Vec::new();
    for i in 0..1000 {
        let req = if i % 2 == 0 {
            Req::CmdPing(CmdPing::default())
        } else {
            Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                value: Bytes::from(format!("m{i}")),
                ..Default::default()
            })
        };
        seqs.push(c.feed(req).await);
    }
    c.flush().await;
    for (i, s) in seqs.into_iter().enumerate() {
        match c.reply(s).await {
            Resp::PongResp(_) if i % 2 == 0 => {}
            Resp::KafkaProduceResp(r) if i % 2 == 1 => assert_eq!(r.offset, (i / 2) as i64),
            other => panic!("request {i}: {other:?}"),
        }
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_close_fires_with_the_default_queue_and_large_pushes() {
    // Default queue sizes (256 frames, 1 MiB): 200 KiB pushes never use up the byte budget
    // exactly, so "full" must mean "a push is waiting for room".
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ slow_consumer: close, slow_consumer_timeout_ms: 500 }}\n{}",
        embedded_with("retention_bytes: 67108864")
    ))
    .await;
    let mut s = connect_small_window(gw.addr, "/embedded").await;
    s.subscribe(sub_from("big", Start::Earliest)).await;
    let mut p = gw.connect("/embedded").await;
    let big = "z".repeat(200 * 1024);
    for _ in 0..60 {
        p.produce_value("big", &big).await;
    }
    // The subscriber stays away past the policy's timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Reading now drains what was queued, then the close frame.
    let frame = s.closed().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(frame.reason, "slow consumer");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_flooding_bad_frames_without_reading_is_still_closed_as_a_slow_consumer() {
    let gw = Gateway::start(&embedded_with_limits(
        "slow_consumer: close, slow_consumer_timeout_ms: 300, outbound_queue: 8, max_requests_per_sec: 1000000",
    ))
    .await;
    let mut p = gw.connect("/embedded").await;
    p.produce_value("flood-big", &"z".repeat(256 * 1024)).await;
    let mut c = connect_small_window(gw.addr, "/embedded").await;
    // First 10 MiB of fetch replies the client does not read: more than the kernel's socket
    // buffers hold (4 MiB at most here), so its queue is full from then on, whatever the writer
    // does. Tiny replies alone would fill it only while the writer waits for a turn.
    for _ in 0..40 {
        c.feed(Req::CmdKafkaFetch(CmdKafkaFetch {
            topic: "flood-big".into(),
            ..Default::default()
        }))
        .await;
    }
    c.flush().await;
    // Undecodable frames each answer "wrong command"; the client reads none of them. The flood
    // lasts three times the policy's timeout (the reader is busy all along), then the client
    // waits out one more before it reads.
    let garbage = Message::Binary(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
    let flood_until = Instant::now() + Duration::from_millis(900);
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while Instant::now() < flood_until {
            if c.ws.feed(garbage.clone()).await.is_err() {
                break;
            }
        }
        let _ = c.ws.flush().await;
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The close frame reaches the client although it sent on after the gateway had closed: the
    // gateway drained its input instead of resetting the connection.
    let frame = c.closed().await.expect("a close frame");
    assert_eq!(
        frame.code,
        CloseCode::Policy,
        "the reader kept watching the queue"
    );
    gw.stop().await;
}

#[test]
fn a_flood_of_bad_frames_writes_a_bounded_number_of_log_lines() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("pubsub-gw-flood{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n  limits: {{ max_requests_per_sec: 1000000 }}\nroutes:\n  - uri: /e\n    upstream: {{ scheme: embedded }}\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pubsub-gateway"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "gateway did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut tasks = Vec::new();
        for _ in 0..4 {
            tasks.push(tokio::spawn(async move {
                let mut c = Client::connect(addr, "/e").await;
                for i in 0..5_000u32 {
                    let junk = Message::Binary(Bytes::from(vec![0xff, (i % 251) as u8, 0xff]));
                    c.ws.feed(junk).await.unwrap();
                    let _ = c.ws.feed(Message::Text("hello".into())).await;
                }
                c.ws.flush().await.unwrap();
                // Frames are handled in order: once the ping answers, every bad frame was seen.
                assert_alive(&mut c).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(dir.join("log")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lines = text
        .lines()
        .filter(|l| l.contains("undecodable") || l.contains("text frame"))
        .count();
    assert!(
        (1..=16).contains(&lines),
        "{lines} log lines for 40,000 bad frames"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_catches_up_is_not_closed_as_a_slow_consumer() {
    let gw = Gateway::start(&format!(
        "server:\n  limits: {{ slow_consumer: close, slow_consumer_timeout_ms: 2000, outbound_queue: 8, max_requests_per_sec: 100000 }}\n{}",
        embedded_with("retention_bytes: 67108864")
    ))
    .await;
    let mut s = connect_small_window(gw.addr, "/embedded").await;
    let id = s.subscribe(sub_from("burst", Start::Earliest)).await;
    let mut p = gw.connect("/embedded").await;
    // A burst far larger than the socket buffers, pipelined so it takes well under the policy's
    // timeout: the queue fills and pushes wait for room while the client looks away.
    let big = Bytes::from("b".repeat(64 * 1024));
    let mut seqs = Vec::new();
    for _ in 0..200 {
        seqs.push(
            p.send(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "burst".into(),
                value: big.clone(),
                ..Default::default()
            }))
            .await,
        );
        if seqs.len() == 32 {
            for seq in seqs.drain(..) {
                assert!(matches!(p.reply(seq).await, Resp::KafkaProduceResp(_)));
            }
        }
    }
    for seq in seqs.drain(..) {
        assert!(matches!(p.reply(seq).await, Resp::KafkaProduceResp(_)));
    }
    assert_eq!(s.pushed(id, 200).await.len(), 200);
    // Caught up: its queue is empty from now on, and it must stay open past the timeout.
    for i in 0..12 {
        p.produce_value("burst", &format!("small{i}")).await;
        assert_eq!(s.pushed(id, 1).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_alive(&mut s).await;
    gw.stop().await;
}
