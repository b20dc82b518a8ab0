//! Server-Sent Events: live pushes, resuming with Last-Event-ID, resets, heartbeats, release.

use super::*;

/// Posts `values` to `topic` on `/embedded` over one connection.
async fn post_all(addr: std::net::SocketAddr, topic: &str, values: &[&str]) {
    let mut http = Http::connect(addr).await;
    for v in values {
        let a = http.post(&format!("/embedded/topics/{topic}"), v).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
}

fn data_values(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.json()["value"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_event_stream_gets_live_messages_and_resumes_after_last_event_id_without_gap_or_duplicate(
) {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("sse");
    post_all(gw.addr, &t, &["before"]).await;
    let streams = || {
        pubsub_gateway::metrics::METRICS
            .http_streams
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let opened = streams();
    let mut s = Http::connect(gw.addr)
        .await
        .events(&format!("/embedded/topics/{t}?start=earliest"), &[])
        .await
        .expect("stream");
    post_all(gw.addr, &t, &["a", "b"]).await;
    let got = s.messages(3).await;
    assert_eq!(data_values(&got), ["before", "a", "b"]);
    assert!(streams() > opened, "the stream is counted");
    let last_seen = got[1].id.clone().expect("an id");
    drop(s);
    post_all(gw.addr, &t, &["c"]).await;
    // A reconnecting EventSource sends the last id it saw: the stream goes on right after it.
    let mut s = Http::connect(gw.addr)
        .await
        .events(
            &format!("/embedded/topics/{t}?start=earliest"),
            &[("last-event-id", &last_seen)],
        )
        .await
        .expect("resumed stream");
    let got = s.messages(2).await;
    assert_eq!(data_values(&got), ["b", "c"]);
    assert!(
        s.next_within(Duration::from_millis(300)).await.is_none(),
        "nothing more"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_stream_resumed_on_a_restarted_memory_broker_starts_over_with_a_reset_event() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("reset");
    post_all(gw.addr, &t, &["old-1", "old-2"]).await;
    let mut s = Http::connect(gw.addr)
        .await
        .events(&format!("/embedded/topics/{t}?start=earliest"), &[])
        .await
        .expect("stream");
    let got = s.messages(2).await;
    let last = got[1].id.clone().unwrap();
    drop(s);
    gw.stop().await;
    // A new gateway: a new, empty log of another epoch.
    let gw = Gateway::start(EMBEDDED).await;
    post_all(gw.addr, &t, &["new-1", "new-2", "new-3"]).await;
    let mut s = Http::connect(gw.addr)
        .await
        .events(
            &format!("/embedded/topics/{t}"),
            &[("last-event-id", &last)],
        )
        .await
        .expect("resumed stream");
    let got = s.messages(3).await;
    assert_eq!(got[0].event, "reset", "{got:?}");
    assert_eq!(data_values(&got), ["new-1", "new-2", "new-3"]);
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_stream_gets_comment_heartbeats_and_header_filters_apply() {
    let gw = Gateway::start(&embedded_with_limits("ping_interval_secs: 1")).await;
    let t = topic("beat");
    let mut s = Http::connect(gw.addr)
        .await
        .events(&format!("/embedded/topics/{t}?match.colour=red"), &[])
        .await
        .expect("stream");
    let mut ws = gw.connect("/embedded").await;
    let mut red = CmdKafkaProduce {
        topic: t.clone(),
        value: "red one".into(),
        headers: vec![header("colour", "red")],
        ..Default::default()
    };
    ws.produce(CmdKafkaProduce {
        value: "blue one".into(),
        headers: vec![header("colour", "blue")],
        ..red.clone()
    })
    .await;
    red.value = "red one".into();
    ws.produce(red).await;
    let got = s.messages(1).await;
    assert_eq!(data_values(&got), ["red one"]);
    // Nothing else comes; the stream still says it is alive.
    assert!(s.next_within(Duration::from_millis(2500)).await.is_none());
    assert!(s.heartbeats >= 1, "no heartbeat in 2.5 s");
    gw.stop().await;
}

#[tokio::test]
async fn a_stream_refused_by_the_subscribe_answers_its_error_and_bad_parameters_400() {
    let gw = Gateway::start(EMBEDDED).await;
    for (path, code) in [
        ("/embedded/topics/a?start=yesterday", 400),
        ("/embedded/topics/a?partition=x", 400),
        ("/embedded/topics/bad%20name", 400),
        ("/embedded/topics/a?pattern=maybe", 400),
    ] {
        let a = Http::connect(gw.addr)
            .await
            .events(path, &[])
            .await
            .err()
            .unwrap_or_else(|| panic!("{path} streamed"));
        assert_eq!(a.status, code, "{path}: {:?}", a.body);
    }
    let a = Http::connect(gw.addr)
        .await
        .events("/embedded/topics/a", &[("last-event-id", "garbage")])
        .await
        .err()
        .expect("a bad Last-Event-ID is refused");
    assert_eq!(a.status, 400);
    gw.stop().await;
}

#[tokio::test]
async fn a_stream_ends_with_a_close_event_when_its_route_is_removed_or_the_gateway_stops() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("end");
    let mut s = Http::connect(gw.addr)
        .await
        .events(&format!("/embedded/topics/{t}"), &[])
        .await
        .expect("stream");
    let stopping = tokio::spawn(gw.stop());
    let e = s.next().await;
    assert_eq!(e.event, "close", "{e:?}");
    assert!(s.ends_within(WAIT).await);
    stopping.await.unwrap();
}

#[tokio::test]
async fn streams_count_against_the_connection_limits_and_free_their_place_when_the_client_goes() {
    let gw = Gateway::start(&embedded_with_limits("max_connections: 1")).await;
    let t = topic("limit");
    let path = format!("/embedded/topics/{t}");
    let first = Http::connect(gw.addr)
        .await
        .events(&path, &[])
        .await
        .expect("the first stream");
    let refused = Http::connect(gw.addr)
        .await
        .events(&path, &[])
        .await
        .err()
        .expect("a second stream is over the limit");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    // Publishing is not a long-lived connection: still served.
    assert_eq!(
        Http::connect(gw.addr).await.post(&path, "x").await.status,
        200
    );
    drop(first);
    // The client went: its place is free again (released when the server sees it gone).
    let deadline = std::time::Instant::now() + WAIT;
    let mut s = loop {
        match Http::connect(gw.addr).await.events(&path, &[]).await {
            Ok(s) => break s,
            Err(a) => assert_eq!(a.status, 503),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        Http::connect(gw.addr).await.post(&path, "y").await.status,
        200
    );
    assert_eq!(s.next().await.json()["value"], json!("y"));
    gw.stop().await;
}

#[tokio::test]
async fn a_group_stream_commits_what_it_wrote_so_the_group_goes_on_after_it() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("grp");
    let group = topic("g");
    post_all(gw.addr, &t, &["one", "two"]).await;
    let path = format!("/embedded/topics/{t}?group={group}&start=earliest");
    let mut s = Http::connect(gw.addr)
        .await
        .events(&path, &[])
        .await
        .expect("stream");
    assert_eq!(data_values(&s.messages(2).await), ["one", "two"]);
    // Once "marker" arrives, the stream has gone on past "two": the two are committed.
    post_all(gw.addr, &t, &["marker"]).await;
    assert_eq!(data_values(&s.messages(1).await), ["marker"]);
    drop(s);
    post_all(gw.addr, &t, &["three"]).await;
    // The group's next member (the first one gone) goes on after them, not from the start.
    let mut again = Http::connect(gw.addr)
        .await
        .events(&path, &[])
        .await
        .expect("stream");
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some("three") {
        got.extend(data_values(&again.messages(1).await));
    }
    assert!(
        !got.iter().any(|v| v == "one" || v == "two"),
        "redelivered what was committed: {got:?}"
    );
    gw.stop().await;
}
