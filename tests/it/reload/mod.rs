//! Rotating a route's broker credentials with a reload (issue #21 item 2), through the gateway
//! binary and real WebSocket clients, one test per scheme with credentials: the broker accepts
//! the new identity, the config names it, SIGHUP; the route's open connections close with 1012
//! "upstream changed", the old backend lets go of its broker connections, the old identity is
//! removed at the broker, and new connections publish and subscribe as the new identity (a
//! plain client of each broker as peer and oracle). No password ever reaches the gateway's log
//! (run at debug level). A reload that changes only what checks clients (key-auth,
//! topic-acl) keeps the connections and the backend; one that changes only the contents of a
//! file the upstream names (a CA file) rebuilds it.

mod kafka;
mod mqtt;
mod nats;
mod rabbitmq;
mod redis_users;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::CmdKafkaProduce;
use redis::aio::MultiplexedConnection;

use crate::common::proc::Proc;
use crate::common::redis_support::AclUser;
use crate::common::{error_of, fetch_cmd, free_port, sub, values, Client, TempDir, WAIT};

// ---------------------------------------------------------------------------------------------
// The gateway process, reloads and what every test checks
// ---------------------------------------------------------------------------------------------

/// A config with `routes` (YAML list items), logging at debug so that a leaked secret shows.
fn gateway_yaml(port: u16, routes: &str) -> String {
    format!(
        "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n  log: {{ level: debug }}\nroutes:\n{routes}"
    )
}

/// Replaces the gateway's config file in one step (so that the file watcher never reads half
/// of it), sends SIGHUP, and waits until a reload is logged; a rejected reload fails the test.
async fn reload(gw: &Proc, yaml: &str) {
    let reloads = || gw.log().matches("configuration reloaded").count();
    let before = reloads();
    let next = gw.config.with_extension("yaml.next");
    std::fs::write(&next, yaml).expect("write the new config");
    std::fs::rename(&next, &gw.config).expect("replace the config");
    gw.signal(libc::SIGHUP);
    let deadline = Instant::now() + WAIT;
    while reloads() == before {
        assert!(Instant::now() < deadline, "no reload logged: {}", gw.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !gw.log().contains("reload rejected"),
        "the reload was rejected: {}",
        gw.log()
    );
}

/// The connection's next frame is the server's close, 1012 "upstream changed".
async fn expect_upstream_changed(c: &mut Client, what: &str) {
    let frame = c
        .closed()
        .await
        .unwrap_or_else(|| panic!("{what}: the connection ended without a close frame"));
    assert_eq!(u16::from(frame.code), 1012, "{what}: {frame:?}");
    assert_eq!(
        frame.reason.as_str(),
        "upstream changed",
        "{what}: {frame:?}"
    );
}

/// No line of the gateway's output holds any of `secrets`.
fn assert_no_secret_logged(gw: &Proc, secrets: &[&str]) {
    let log = gw.log();
    assert!(!log.is_empty(), "the gateway logged nothing");
    for line in log.lines() {
        for s in secrets {
            assert!(
                !line.contains(s),
                "a secret appears in the gateway's log: {line}"
            );
        }
    }
}

/// A password no other test (or run) uses.
fn secret(tag: &str) -> String {
    format!(
        "{tag}-{}",
        crate::common::nats::unique("pw").replace('_', "-")
    )
}

/// Polls `probe` every 200 ms until it holds; panics with `what` and the last value after
/// `within`.
async fn until<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> (bool, T),
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let (ok, seen) = tokio::task::block_in_place(&mut probe);
        if ok {
            return seen;
        }
        assert!(Instant::now() < deadline, "{what}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A plain HTTP/1.0 GET (no chunked answers) to 127.0.0.1:`port`; the body.
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("monitoring port");
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut text))
        .await
        .expect("answer in time")
        .unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"))
}
