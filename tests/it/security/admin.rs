//! The admin listener (hyper) against hostile and unusual requests: every refusal is a clear
//! status, a flood of idle connections is bounded, and the listener keeps serving afterwards.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Sends `request` bytes as they are and reads the whole answer (the admin listener closes each
/// connection after one answer); empty when the listener closed or reset the connection
/// unanswered.
async fn raw(admin: SocketAddr, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(admin).await.unwrap();
    if tcp.write_all(request).await.is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf))
        .await
        .expect("the admin listener answers and closes in time");
    if read.is_err() && buf.is_empty() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[tokio::test]
async fn admin_listener_answers_bad_methods_paths_and_heads_with_clear_statuses_and_keeps_serving()
{
    let gw = Gateway::start("routes:\n  - uri: /e\n    upstream: { scheme: embedded }\n").await;
    let admin = gw.admin.expect("admin listener on by default");

    let post = raw(
        admin,
        b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    assert_eq!(status(&post), 405, "{post}");
    assert!(
        post.to_ascii_lowercase().contains("allow: get, head"),
        "{post}"
    );
    let head = raw(admin, b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(status(&head), 200, "{head}");
    assert!(!head.ends_with("ok\n"), "HEAD answers no body: {head}");
    let missing = raw(admin, b"GET /nothing-here HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(status(&missing), 404, "{missing}");
    let console = raw(admin, b"GET /console HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(status(&console), 308, "{console}");
    assert!(
        console.to_ascii_lowercase().contains("location: /console/"),
        "{console}"
    );
    let query = raw(admin, b"GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(
        status(&query),
        200,
        "the query is not part of the path: {query}"
    );
    let garbage = raw(
        admin,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n",
    )
    .await;
    assert!(
        garbage.is_empty() || status(&garbage) == 400,
        "a TLS hello or garbage is refused: {garbage:?}"
    );
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let huge = raw(admin, huge.as_bytes()).await;
    assert!(
        huge.is_empty() || status(&huge) == 431,
        "a head over 8 KiB is refused: {huge:?}"
    );
    // Keep-alive is not offered: one answer, then the connection closes (read_to_end returned).
    let kept = raw(
        admin,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    assert_eq!(status(&kept), 200);
    assert!(
        kept.to_ascii_lowercase().contains("connection: close"),
        "{kept}"
    );

    let ok = raw(admin, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(status(&ok), 200, "still serving: {ok}");
    gw.stop().await;
}

#[tokio::test]
async fn admin_listener_bounds_idle_connections_and_serves_again_once_they_go() {
    let gw = Gateway::start("routes:\n  - uri: /e\n    upstream: { scheme: embedded }\n").await;
    let admin = gw.admin.expect("admin listener on by default");
    // 64 connections that never send a byte hold every slot.
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(admin).await.unwrap());
    }
    // Each is accepted (and holds its slot) before the next connection's fate is decided: a
    // connection over the bound is closed unanswered. Wait for that event, not for a time.
    let refused = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let answer = raw(admin, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await;
            if answer.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the 65th connection is closed unanswered");
    drop(idle);
    let served = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let answer = raw(admin, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await;
            if !answer.is_empty() {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("served again once the idle connections went");
    assert_eq!(status(&served), 200);
    gw.stop().await;
}

#[tokio::test]
async fn admin_listener_closes_a_connection_that_never_sends_its_request_head() {
    let gw = Gateway::start("routes:\n  - uri: /e\n    upstream: { scheme: embedded }\n").await;
    let admin = gw.admin.expect("admin listener on by default");
    let mut tcp = TcpStream::connect(admin).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // The head never ends: the listener gives up (5 s head timeout, 10 s a connection).
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "closed by the listener, not kept open");
    gw.stop().await;
}
