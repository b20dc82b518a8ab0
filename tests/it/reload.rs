//! Rotating a route's broker credentials with a reload (issue #21 item 2), through the gateway
//! binary and real WebSocket clients, one test per scheme with credentials: the broker accepts
//! the new identity, the config names it, SIGHUP; the route's open connections close with 1012
//! "upstream changed", the old backend lets go of its broker connections, the old identity is
//! removed at the broker, and new connections publish and subscribe as the new identity (a
//! plain client of each broker as peer and oracle). No password ever reaches the gateway's log
//! (run at debug level). A reload that changes only what checks clients (key-auth,
//! topic-acl) keeps the connections and the backend; one that changes only the contents of a
//! file the upstream names (a CA file) rebuilds it.

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

// ---------------------------------------------------------------------------------------------
// NATS
// ---------------------------------------------------------------------------------------------

/// A private nats-server whose users come from a config file that the test rewrites and the
/// server reloads (SIGHUP), with its monitoring port for `/connz?auth=1`.
struct NatsUsers {
    server: crate::common::nats::PrivateServer,
    monitor: u16,
    conf: PathBuf,
    pid_file: PathBuf,
    _dir: TempDir,
}

impl NatsUsers {
    async fn start(users: &[(&str, &str)]) -> NatsUsers {
        let dir = TempDir::new("gw-reload-nats");
        let conf = dir.0.join("nats.conf");
        let pid_file = dir.0.join("nats.pid");
        std::fs::write(&conf, Self::conf_text(&pid_file, users)).expect("nats.conf");
        let monitor = free_port();
        let server = crate::common::nats::PrivateServer::start_with(&[
            "-c",
            &conf.display().to_string(),
            "-m",
            &monitor.to_string(),
        ])
        .await;
        NatsUsers {
            server,
            monitor,
            conf,
            pid_file,
            _dir: dir,
        }
    }

    fn conf_text(pid_file: &Path, users: &[(&str, &str)]) -> String {
        let users: String = users
            .iter()
            .map(|(u, p)| format!("    {{ user: \"{u}\", password: \"{p}\" }}\n"))
            .collect();
        format!(
            "pid_file: \"{}\"\nauthorization {{\n  users = [\n{users}  ]\n}}\n",
            pid_file.display()
        )
    }

    fn addr(&self) -> String {
        self.server.addr()
    }

    /// Rewrites the users and has the server reload them (it closes the connections of users
    /// it no longer has).
    fn set_users(&self, users: &[(&str, &str)]) {
        std::fs::write(&self.conf, Self::conf_text(&self.pid_file, users)).expect("nats.conf");
        let pid: i32 = std::fs::read_to_string(&self.pid_file)
            .expect("nats pid file")
            .trim()
            .parse()
            .expect("a pid");
        // SAFETY: signals the private server this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0, "SIGHUP nats");
    }

    async fn login(&self, user: &str, password: &str) -> Result<async_nats::Client, String> {
        let connect =
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
                .connect(self.addr());
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// The gateway's connections (named `pubsub-gateway`) as (cid, authorized user).
    async fn gateway_connections(&self) -> Vec<(u64, String)> {
        let body = http_get(self.monitor, "/connz?auth=1").await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("connz is JSON");
        v["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == "pubsub-gateway")
            .map(|c| {
                (
                    c["cid"].as_u64().unwrap_or(0),
                    c["authorized_user"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Waits until the gateway's connections, as `/connz` lists them, satisfy `ok`.
    async fn until_gateway(
        &self,
        what: &str,
        ok: impl Fn(&[(u64, String)]) -> bool,
    ) -> Vec<(u64, String)> {
        let deadline = Instant::now() + WAIT;
        loop {
            let conns = self.gateway_connections().await;
            if ok(&conns) {
                return conns;
            }
            assert!(Instant::now() < deadline, "{what}: {conns:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn users_of(conns: &[(u64, String)]) -> BTreeSet<&str> {
    conns.iter().map(|(_, u)| u.as_str()).collect()
}

async fn next_nats(sub: &mut async_nats::Subscriber) -> String {
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a NATS message in time")
        .expect("subscription open");
    String::from_utf8_lossy(&m.payload).into_owned()
}

fn nats_route(addr: &str, plugins: &str) -> String {
    format!(
        "  - uri: /n\n    upstream:\n      scheme: nats\n      nodes: [\"{addr}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n    plugins:\n{plugins}"
    )
}

fn nats_auth(user: &str, password: &str) -> String {
    format!("      nats-auth: {{ user: \"{user}\", password: \"{password}\" }}\n")
}

/// Messages flow both ways between a gateway client on /n and the peer: the peer publishes to
/// `{base}.in`, which the client subscribed, and the client produces to `{base}.out`, which
/// the peer subscribed.
async fn nats_both_ways(
    c: &mut Client,
    peer: &async_nats::Client,
    from_gw: &mut async_nats::Subscriber,
    base: &str,
    tag: &str,
) {
    let id = c.subscribe(sub(&format!("{base}.in"))).await;
    peer.publish(format!("{base}.in"), format!("to-gw-{tag}").into())
        .await
        .unwrap();
    crate::common::nats::settle(peer).await;
    assert_eq!(values(&c.pushed(id, 1).await), [format!("to-gw-{tag}")]);
    c.produce_value(&format!("{base}.out"), &format!("from-gw-{tag}"))
        .await;
    assert_eq!(next_nats(from_gw).await, format!("from-gw-{tag}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_credentials_rotate_with_a_reload() {
    let (pw1, pw2, peer_pw) = (secret("natsA"), secret("natsB"), secret("natsP"));
    let nats = NatsUsers::start(&[("gw1", &pw1), ("peer", &peer_pw)]).await;
    let peer = nats
        .login("peer", &peer_pw)
        .await
        .expect("the peer logs in");
    let base = crate::common::nats::unique("gwt_rot");
    let mut from_gw = peer.subscribe(format!("{base}.out")).await.unwrap();
    crate::common::nats::settle(&peer).await;
    let addr = nats.addr();
    let gw = Proc::start("reload-nats", |port| {
        gateway_yaml(port, &nats_route(&addr, &nats_auth("gw1", &pw1)))
    });
    let mut c1 = Client::connect(gw.addr, "/n").await;
    nats_both_ways(&mut c1, &peer, &mut from_gw, &base, "1").await;
    let before = nats.gateway_connections().await;
    assert!(
        !before.is_empty() && users_of(&before) == BTreeSet::from(["gw1"]),
        "{before:?}"
    );

    // The server accepts gw2 too; the gateway switches to it.
    nats.set_users(&[("gw1", &pw1), ("gw2", &pw2), ("peer", &peer_pw)]);
    until(WAIT, "the server accepts gw2", || {
        let r = tokio::runtime::Handle::current().block_on(nats.login("gw2", &pw2));
        (r.is_ok(), r.err())
    })
    .await;
    reload(
        &gw,
        &gateway_yaml(gw.addr.port(), &nats_route(&addr, &nats_auth("gw2", &pw2))),
    )
    .await;
    expect_upstream_changed(&mut c1, "the connection open at the reload").await;
    // The old backend lets go of its connection by itself, before gw1 is removed.
    nats.until_gateway("the old backend's gw1 connection closes", |c| {
        !users_of(c).contains("gw1")
    })
    .await;

    // gw1 is removed at the server; the gateway works as gw2.
    nats.set_users(&[("gw2", &pw2), ("peer", &peer_pw)]);
    until(WAIT, "the server refuses gw1", || {
        let r = tokio::runtime::Handle::current().block_on(nats.login("gw1", &pw1));
        (r.is_err(), r.is_ok())
    })
    .await;
    let mut c2 = Client::connect(gw.addr, "/n").await;
    nats_both_ways(&mut c2, &peer, &mut from_gw, &base, "2").await;
    let after = nats
        .until_gateway("the gateway's connections are gw2's", |c| {
            !c.is_empty() && users_of(c) == BTreeSet::from(["gw2"])
        })
        .await;
    assert!(after
        .iter()
        .all(|(cid, _)| !before.iter().any(|(b, _)| b == cid)));
    assert_no_secret_logged(&gw, &[&pw1, &pw2, &peer_pw]);
    c2.disconnect().await;
}

/// A reload that changes only what checks clients (a key added to key-auth, a narrower
/// topic-acl) keeps the backend: the connection stays open, its subscription goes on, the
/// gateway's NATS connection is the same one; the new rules apply to its next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_client_side_plugins_only_keeps_connections_and_backend() {
    let (pw, peer_pw) = (secret("natsK"), secret("natsKP"));
    let (key1, key2) = (secret("key1"), secret("key2"));
    let nats = NatsUsers::start(&[("gw", &pw), ("peer", &peer_pw)]).await;
    let peer = nats
        .login("peer", &peer_pw)
        .await
        .expect("the peer logs in");
    let base = crate::common::nats::unique("gwt_keep");
    let mut from_gw = peer.subscribe(format!("{base}.out")).await.unwrap();
    crate::common::nats::settle(&peer).await;
    let addr = nats.addr();
    let plugins = |keys: &[(&str, &str)], acl: &str| {
        let keys: Vec<String> = keys
            .iter()
            .map(|(id, k)| format!("{{ id: {id}, key: \"{k}\" }}"))
            .collect();
        format!(
            "{}      key-auth: {{ keys: [{}] }}\n      topic-acl: {{ read: [\"{acl}\"], write: [\"{acl}\"] }}\n",
            nats_auth("gw", &pw),
            keys.join(", ")
        )
    };
    let gw = Proc::start("reload-keep", |port| {
        gateway_yaml(port, &nats_route(&addr, &plugins(&[("k1", &key1)], ".*")))
    });
    let mut c = Client::connect(gw.addr, &format!("/n?apikey={key1}")).await;
    let id = c.subscribe(sub(&format!("{base}.in"))).await;
    peer.publish(format!("{base}.in"), "m1".into())
        .await
        .unwrap();
    crate::common::nats::settle(&peer).await;
    assert_eq!(values(&c.pushed(id, 1).await), ["m1"]);
    c.produce_value(&format!("{base}.out"), "p1").await;
    assert_eq!(next_nats(&mut from_gw).await, "p1");
    let before = nats.gateway_connections().await;
    assert_eq!(users_of(&before), BTreeSet::from(["gw"]), "{before:?}");

    reload(
        &gw,
        &gateway_yaml(
            gw.addr.port(),
            &nats_route(
                &addr,
                &plugins(&[("k1", &key1), ("k2", &key2)], "gwt_keep_.*"),
            ),
        ),
    )
    .await;
    // The subscription goes on (a close would fail `pushed`), and produce works.
    for i in 2..=4 {
        peer.publish(format!("{base}.in"), format!("m{i}").into())
            .await
            .unwrap();
        crate::common::nats::settle(&peer).await;
        assert_eq!(values(&c.pushed(id, 1).await), [format!("m{i}")]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c.produce_value(&format!("{base}.out"), "p2").await;
    assert_eq!(next_nats(&mut from_gw).await, "p2");
    // The narrower topic-acl applies to the open connection's next command.
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt_elsewhere.x".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert_eq!(code, 403, "{msg}");
    // The new key gets in.
    let mut c2 = Client::connect(gw.addr, &format!("/n?apikey={key2}")).await;
    c2.produce_value(&format!("{base}.out"), "p3").await;
    assert_eq!(next_nats(&mut from_gw).await, "p3");
    // The same NATS connection carried everything: the backend was kept.
    assert_eq!(nats.gateway_connections().await, before);
    assert!(
        !gw.log().contains("upstream changed"),
        "the backend was rebuilt: {}",
        gw.log()
    );
    assert!(c
        .pushed_within(id, Duration::from_millis(300))
        .await
        .is_empty());
    assert_no_secret_logged(&gw, &[&pw, &peer_pw, &key1, &key2]);
    c.disconnect().await;
    c2.disconnect().await;
}

/// A reload rebuilds the backend when a file the upstream names changed, the config's text
/// being the same: the CA file of a TLS route, overwritten during a CA rotation (first both
/// CAs, then the new one only) while the server moves to a certificate of the new CA. The
/// 1012 is what shows the rebuild: async-nats reads the CA file at every connection, so on
/// NATS a kept backend would also have trusted the new CA after reconnecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_ca_file_rebuilds_the_backend_on_reload() {
    let (old_pki, new_pki) = (
        crate::common::certs::make_pki(),
        crate::common::certs::make_pki(),
    );
    let tls_args = |pki: &crate::common::certs::Pki| {
        [
            "--tls".to_owned(),
            "--tlscert".to_owned(),
            pki.cert.display().to_string(),
            "--tlskey".to_owned(),
            pki.key.display().to_string(),
        ]
    };
    let old_args = tls_args(&old_pki);
    let mut server =
        crate::common::nats::PrivateServer::start_with(&old_args.each_ref().map(String::as_str))
            .await;
    let dir = TempDir::new("gw-reload-ca");
    let ca_file = dir.0.join("ca.pem");
    let ca = |pki: &crate::common::certs::Pki| std::fs::read_to_string(&pki.ca).expect("CA");
    std::fs::write(&ca_file, ca(&old_pki)).unwrap();
    let addr = server.addr();
    let yaml = |port: u16| {
        gateway_yaml(
            port,
            &format!(
                "  - uri: /n\n    upstream:\n      scheme: nats\n      nodes: [\"{}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n      tls: {{ ca_file: \"{}\" }}\n",
                addr,
                ca_file.display()
            ),
        )
    };
    let gw = Proc::start("reload-ca", yaml);
    let base = crate::common::nats::unique("gwt_ca");
    let round_trip = |tag: &'static str| {
        let base = base.clone();
        let addr = gw.addr;
        async move {
            let mut c = Client::connect(addr, "/n").await;
            let id = c.subscribe(sub(&base)).await;
            c.produce_value(&base, tag).await;
            assert_eq!(values(&c.pushed(id, 1).await), [tag]);
            c
        }
    };
    let mut c1 = round_trip("old CA").await;

    // Both CAs in the file: the same config text, a new backend.
    std::fs::write(&ca_file, ca(&old_pki) + &ca(&new_pki)).unwrap();
    reload(&gw, &yaml(gw.addr.port())).await;
    expect_upstream_changed(&mut c1, "the connection open at the reload").await;
    // The server moves to the new CA's certificate.
    server.kill();
    server.args = tls_args(&new_pki).to_vec();
    server.restart().await;
    let mut c2 = round_trip("both CAs").await;
    // The new CA only.
    std::fs::write(&ca_file, ca(&new_pki)).unwrap();
    reload(&gw, &yaml(gw.addr.port())).await;
    expect_upstream_changed(&mut c2, "the connection open at the second reload").await;
    let c3 = round_trip("new CA").await;
    c3.disconnect().await;
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ
// ---------------------------------------------------------------------------------------------

/// The users of the broker's connections to `vhost`, but `except`'s.
fn rabbit_users(vhost: &str, except: &str) -> Vec<String> {
    crate::common::rabbitmq::ctl(&[
        "list_connections",
        "-q",
        "--no-table-headers",
        "user",
        "vhost",
    ])
    .lines()
    .filter_map(|l| {
        let (user, v) = l.split_once('\t')?;
        (v.trim() == vhost && user != except).then(|| user.to_owned())
    })
    .collect()
}

fn rabbit_route(vhost: &str, exchange: &str, user: &str, password: &str) -> String {
    format!(
        "  - uri: /r\n    upstream:\n      scheme: rabbitmq\n      nodes: [\"{}\"]\n      timeout: {{ connect: 3, send: 10, read: 10 }}\n      rabbitmq: {{ exchange: \"{exchange}\", vhost: \"{vhost}\", heartbeat_secs: 2 }}\n    plugins:\n      rabbitmq-auth: {{ username: \"{user}\", password: \"{password}\" }}\n",
        crate::common::rabbitmq::AMQP
    )
}

/// Publish and subscribe through /r with a lapin peer on the same exchange: the peer's
/// publish reaches the client's subscription, the client's produce the peer's queue.
async fn rabbit_both_ways(
    c: &mut Client,
    ch: &lapin::Channel,
    consumer: &mut lapin::Consumer,
    exchange: &str,
    tag: &str,
) {
    let id = c.subscribe(sub("rot.in")).await;
    crate::common::rabbitmq::publish(
        ch,
        exchange,
        "rot.in",
        format!("to-gw-{tag}").as_bytes(),
        Default::default(),
    )
    .await;
    assert_eq!(values(&c.pushed(id, 1).await), [format!("to-gw-{tag}")]);
    c.produce_value("rot.out", &format!("from-gw-{tag}")).await;
    loop {
        let d = crate::common::rabbitmq::next_delivery(consumer).await;
        if d.routing_key.as_str() == "rot.out" {
            assert_eq!(d.data, format!("from-gw-{tag}").as_bytes());
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_credentials_rotate_with_a_reload() {
    use crate::common::rabbitmq::{ctl, User, Vhost};
    let (pw1, pw2, peer_pw) = (secret("rmqA"), secret("rmqB"), secret("rmqP"));
    let user1 = User::create("gwt-rot1", &pw1);
    let peer_user = User::create("gwt-rotpeer", &peer_pw);
    let vhost = Vhost::create("gwt-rotvh", &[&user1.name, &peer_user.name]);
    let amqp = crate::common::rabbitmq::oracle_as(&peer_user.name, &peer_pw, &vhost).await;
    let ch = crate::common::rabbitmq::channel(&amqp).await;
    let ex = crate::common::rabbitmq::unique("gwt.rot");
    let q = crate::common::rabbitmq::plain_queue(&ch, &ex, "rot.out").await;
    let mut consumer = crate::common::rabbitmq::consume(&ch, &q, true).await;
    let (vh, u1) = (vhost.name.clone(), user1.name.clone());
    let gw = Proc::start("reload-rabbit", |port| {
        gateway_yaml(port, &rabbit_route(&vh, &ex, &u1, &pw1))
    });
    let mut c1 = Client::connect(gw.addr, "/r").await;
    rabbit_both_ways(&mut c1, &ch, &mut consumer, &ex, "1").await;
    let users = rabbit_users(&vh, &peer_user.name);
    assert!(
        !users.is_empty() && users.iter().all(|u| *u == u1),
        "{users:?}"
    );

    let user2 = User::create("gwt-rot2", &pw2);
    vhost.permit(&user2.name);
    reload(
        &gw,
        &gateway_yaml(gw.addr.port(), &rabbit_route(&vh, &ex, &user2.name, &pw2)),
    )
    .await;
    expect_upstream_changed(&mut c1, "the connection open at the reload").await;
    // The old backend closes its connection by itself, before user1 is removed.
    until(WAIT, "the old backend's connection closes", || {
        let users = rabbit_users(&vh, &peer_user.name);
        (!users.contains(&u1), users)
    })
    .await;
    // user1 is forced off (had anything kept it) and removed.
    ctl(&["close_all_user_connections", &u1, "credentials rotated"]);
    ctl(&["delete_user", &u1]);

    let mut c2 = Client::connect(gw.addr, "/r").await;
    rabbit_both_ways(&mut c2, &ch, &mut consumer, &ex, "2").await;
    let users = rabbit_users(&vh, &peer_user.name);
    assert!(
        !users.is_empty() && users.iter().all(|u| *u == user2.name),
        "the gateway's connections are user2's: {users:?}"
    );
    assert_no_secret_logged(&gw, &[&pw1, &pw2, &peer_pw]);
    c2.disconnect().await;
    drop(gw);
    let _ = amqp.close(200, "bye".into()).await;
    // The vhost (and the exchange and queue in it) and the users are deleted on drop.
    drop((user1, user2, peer_user, vhost));
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/// `CLIENT LIST` as (id, user) pairs.
async fn redis_clients(rc: &mut MultiplexedConnection) -> Vec<(u64, String)> {
    let text: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(rc)
        .await
        .expect("CLIENT LIST");
    text.lines()
        .filter_map(|l| {
            let fields: HashMap<&str, &str> =
                l.split(' ').filter_map(|f| f.split_once('=')).collect();
            Some((
                fields.get("id")?.parse().ok()?,
                fields.get("user")?.to_string(),
            ))
        })
        .collect()
}

async fn redis_ids_of(rc: &mut MultiplexedConnection, user: &str) -> BTreeSet<u64> {
    redis_clients(rc)
        .await
        .into_iter()
        .filter(|(_, u)| u == user)
        .map(|(id, _)| id)
        .collect()
}

async fn kill_user(rc: &mut MultiplexedConnection, user: &str) -> i64 {
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg(user)
        .query_async(rc)
        .await
        .expect("CLIENT KILL USER")
}

fn redis_routes(user: &str, password: &str) -> String {
    ["/ps:pubsub", "/s:streams"]
        .iter()
        .map(|r| {
            let (uri, mode) = r.split_once(':').unwrap();
            format!(
                "  - uri: {uri}\n    upstream:\n      scheme: redis\n      nodes: [\"{}\"]\n      timeout: {{ connect: 1, send: 2, read: 2 }}\n      redis: {{ mode: {mode} }}\n    plugins:\n      redis-auth: {{ username: \"{user}\", password: \"{password}\" }}\n",
                crate::common::redis_support::REDIS
            )
        })
        .collect()
}

/// A pub/sub subscription on /ps gets what the client and a plain client publish; /s appends
/// to a stream and reads it back. Returns the pub/sub client and its subscription id.
async fn redis_both_ways(
    gw: &Proc,
    rc: &mut MultiplexedConnection,
    channel: &str,
    key: &str,
    tag: &str,
    stored_before: &[String],
    first: &mut Option<i64>,
) -> (Client, i64, Client) {
    let mut ps = Client::connect(gw.addr, "/ps").await;
    let id = ps.subscribe(sub(channel)).await;
    ps.produce_value(channel, &format!("ps-{tag}")).await;
    assert_eq!(values(&ps.pushed(id, 1).await), [format!("ps-{tag}")]);
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(format!("ext-{tag}"))
        .query_async(rc)
        .await
        .unwrap();
    assert_eq!(values(&ps.pushed(id, 1).await), [format!("ext-{tag}")]);
    let mut s = Client::connect(gw.addr, "/s").await;
    let r = s.produce_value(key, &format!("s-{tag}")).await;
    // Redis offsets are entry ids: the stream's first is the first produce's.
    let first = *first.get_or_insert(r.offset);
    let mut want = stored_before.to_vec();
    want.push(format!("s-{tag}"));
    assert_eq!(values(&s.fetch(fetch_cmd(key, 0, first)).await), want);
    (ps, id, s)
}

/// `same_user`: the reported case, one ACL user whose password changes (A to B at the server,
/// then in the config), `CLIENT KILL USER` right after the reload, and again once the new
/// backend is in use; otherwise a second user replaces the first.
async fn redis_rotation(same_user: bool) {
    let mut rc = crate::common::redis_support::oracle().await;
    let (pw1, pw2) = (secret("redisA"), secret("redisB"));
    let prefix = crate::common::redis_support::unique("rot");
    let (channel, key) = (format!("{prefix}:chan"), format!("{prefix}:stream"));
    let user1 = AclUser::create(&mut rc, &pw1, &prefix).await;
    let u1 = user1.name.clone();
    let mut first = None;
    let gw = Proc::start(
        if same_user {
            "reload-redis-same"
        } else {
            "reload-redis"
        },
        |port| gateway_yaml(port, &redis_routes(&u1, &pw1)),
    );
    let (mut ps1, _, mut s1) =
        redis_both_ways(&gw, &mut rc, &channel, &key, "1", &[], &mut first).await;
    let old_ids = redis_ids_of(&mut rc, &u1).await;
    assert!(
        old_ids.len() >= 2,
        "a command and a subscriber connection of {u1}: {old_ids:?}"
    );

    let user2 = if same_user {
        let _: String = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&u1)
            .arg("resetpass")
            .arg(format!(">{pw2}"))
            .query_async(&mut rc)
            .await
            .expect("ACL SETUSER resetpass");
        None
    } else {
        Some(AclUser::create(&mut rc, &pw2, &prefix).await)
    };
    let u2 = user2.as_ref().map_or(u1.clone(), |u| u.name.clone());
    reload(&gw, &gateway_yaml(gw.addr.port(), &redis_routes(&u2, &pw2))).await;
    expect_upstream_changed(&mut ps1, "the pub/sub connection open at the reload").await;
    expect_upstream_changed(&mut s1, "the streams connection open at the reload").await;
    if same_user {
        // The reported reproduction: the user's connections are killed after the reload.
        kill_user(&mut rc, &u1).await;
    } else {
        // The old backend closes its connections by itself, before user1 is removed.
        let deadline = Instant::now() + WAIT;
        loop {
            let left: Vec<u64> = redis_ids_of(&mut rc, &u1).await.into_iter().collect();
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the old backend's connections are still open: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(user1);
    }

    let (mut ps2, id2, mut s2) = redis_both_ways(
        &gw,
        &mut rc,
        &channel,
        &key,
        "2",
        &["s-1".into()],
        &mut first,
    )
    .await;
    let clients = redis_clients(&mut rc).await;
    let now: BTreeSet<u64> = clients
        .iter()
        .filter(|(_, u)| *u == u2)
        .map(|(id, _)| *id)
        .collect();
    assert!(now.len() >= 2, "the new backend's connections: {clients:?}");
    assert!(now.is_disjoint(&old_ids), "old connections: {clients:?}");
    if !same_user {
        assert!(!clients.iter().any(|(_, u)| *u == u1), "{clients:?}");
    }

    if same_user {
        // Killed again, the new backend's connections come back with the new password:
        // commands and the subscription keep working.
        assert!(kill_user(&mut rc, &u1).await >= 2);
        let r = s2
            .produce_once_recovered(
                CmdKafkaProduce {
                    topic: key.clone(),
                    value: b"s-3".to_vec().into(),
                    ..Default::default()
                },
                WAIT,
                "a produce after CLIENT KILL USER",
            )
            .await;
        assert!(r.offset > 0);
        let got = values(&s2.fetch(fetch_cmd(&key, 0, first.unwrap())).await);
        assert_eq!(got.last().map(String::as_str), Some("s-3"), "{got:?}");
        let deadline = Instant::now() + WAIT;
        let mut n = 0;
        loop {
            n += 1;
            let _: i64 = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(format!("ext-3-{n}"))
                .query_async(&mut rc)
                .await
                .unwrap();
            if !ps2
                .pushed_within(id2, Duration::from_millis(300))
                .await
                .is_empty()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the subscription did not come back after CLIENT KILL USER"
            );
        }
        assert!(!redis_ids_of(&mut rc, &u1).await.is_empty());
    }
    assert_no_secret_logged(&gw, &[&pw1, &pw2]);
    ps2.disconnect().await;
    s2.disconnect().await;
    drop(gw);
    crate::common::redis_support::del(&mut rc, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_credentials_rotate_to_another_user_with_a_reload() {
    redis_rotation(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_password_change_with_a_reload_survives_client_kill_user() {
    redis_rotation(true).await;
}

// ---------------------------------------------------------------------------------------------
// MQTT
// ---------------------------------------------------------------------------------------------

/// A private Mosquitto with the dynamic security plugin, administered at run time with
/// `mosquitto_ctrl` (user `admin`); anonymous clients (the peer) may do anything. Its log
/// (connection messages) tells which user each client connected as.
struct Dynsec {
    broker: crate::common::mqtt::PrivateBroker,
    admin_pw: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Dynsec {
    async fn start() -> Dynsec {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("gw-reload-dynsec");
        let file = dir.0.join("dynamic-security.json");
        let log = dir.0.join("mosquitto.log");
        let admin_pw = secret("admin");
        let out = Command::new("mosquitto_ctrl")
            .args(["dynsec", "init"])
            .arg(&file)
            .args(["admin", &admin_pw])
            .stdin(Stdio::null())
            .output()
            .expect("mosquitto_ctrl runs (the MQTT test needs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Mosquitto may drop to its own user: it must read and write these files.
        std::fs::write(&log, "").expect("log file");
        for f in [&file, &log] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        }
        let broker = crate::common::mqtt::PrivateBroker::start_with(&format!(
            "allow_anonymous true\nplugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so\nplugin_opt_config_file {}\nlog_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n",
            file.display(),
            log.display()
        ))
        .await;
        let d = Dynsec {
            broker,
            admin_pw,
            log,
            _dir: dir,
        };
        d.ctl(&["createRole", "rw"]);
        d.ctl(&["addRoleACL", "rw", "publishClientSend", "#", "allow"]);
        d.ctl(&["addRoleACL", "rw", "subscribePattern", "#", "allow"]);
        d.ctl(&["createGroup", "anyone"]);
        d.ctl(&["addGroupRole", "anyone", "rw"]);
        d.ctl(&["setAnonymousGroup", "anyone"]);
        d
    }

    fn ctl(&self, args: &[&str]) {
        let out = Command::new("mosquitto_ctrl")
            .args(["-h", "127.0.0.1", "-p", &self.broker.port.to_string()])
            .args(["-u", "admin", "-P", &self.admin_pw, "dynsec"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("mosquitto_ctrl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !text.contains("Error"),
            "mosquitto_ctrl dynsec {args:?}: {text}"
        );
    }

    fn add_client(&self, user: &str, password: &str) {
        self.ctl(&["createClient", user, "-p", password]);
        self.ctl(&["addClientRole", user, "rw"]);
    }

    /// The clients whose id starts with `prefix` connected now, with their user, as the
    /// broker's log tells.
    fn connected(&self, prefix: &str) -> BTreeSet<(String, String)> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut now: HashMap<String, String> = HashMap::new();
        for line in log.lines() {
            if let Some((_, rest)) = line.split_once("New client connected from ") {
                // "127.0.0.1:35064 as ID (p5, c1, k60, u'USER')."
                let Some((_, rest)) = rest.split_once(" as ") else {
                    continue;
                };
                let Some((id, tail)) = rest.split_once(' ') else {
                    continue;
                };
                let user = tail
                    .split_once("u'")
                    .and_then(|(_, u)| u.split_once('\''))
                    .map_or("", |(u, _)| u);
                now.insert(id.to_owned(), user.to_owned());
            } else if let Some((_, rest)) = line.split_once("Socket error on client ") {
                now.remove(rest.split(',').next().unwrap_or(""));
            } else if let Some((_, rest)) = line.split_once(": Client ") {
                if rest.contains("disconnect") || rest.contains("closed its connection") {
                    now.remove(rest.split(' ').next().unwrap_or(""));
                }
            }
        }
        now.into_iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .collect()
    }
}

fn mqtt_route(addr: &str, prefix: &str, user: &str, password: &str) -> String {
    format!(
        "  - uri: /m\n    upstream:\n      scheme: mqtt\n      nodes: [\"{addr}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n      mqtt: {{ client_id_prefix: {prefix} }}\n    plugins:\n      mqtt-auth: {{ username: \"{user}\", password: \"{password}\" }}\n"
    )
}

async fn mqtt_both_ways(
    c: &mut Client,
    peer: &mut crate::common::mqtt::Peer,
    base: &str,
    tag: &str,
) {
    let id = c.subscribe(sub(&format!("{base}/in"))).await;
    crate::common::mqtt::peer_publish(
        peer,
        &format!("{base}/in"),
        &format!("to-gw-{tag}"),
        Default::default(),
        false,
    )
    .await;
    assert_eq!(values(&c.pushed(id, 1).await), [format!("to-gw-{tag}")]);
    c.produce_value(&format!("{base}/out"), &format!("from-gw-{tag}"))
        .await;
    let p = peer.next().await;
    assert_eq!(
        String::from_utf8_lossy(&p.payload),
        format!("from-gw-{tag}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_credentials_rotate_with_a_reload() {
    let (pw1, pw2) = (secret("mqttA"), secret("mqttB"));
    let ds = Dynsec::start().await;
    let (user1, user2) = (
        crate::common::mqtt::unique("gwt-u1"),
        crate::common::mqtt::unique("gwt-u2"),
    );
    ds.add_client(&user1, &pw1);
    let prefix = crate::common::mqtt::unique("gwrot").replace('-', "_");
    let base = crate::common::mqtt::unique("gwt/rot");
    let mut peer = crate::common::mqtt::Peer::connect_to(&ds.broker.addr(), false).await;
    peer.subscribe(&format!("{base}/out")).await;
    let addr = ds.broker.addr();
    let gw = Proc::start("reload-mqtt", |port| {
        gateway_yaml(port, &mqtt_route(&addr, &prefix, &user1, &pw1))
    });
    let mut c1 = Client::connect(gw.addr, "/m").await;
    mqtt_both_ways(&mut c1, &mut peer, &base, "1").await;
    let before = ds.connected(&prefix);
    assert!(
        !before.is_empty() && before.iter().all(|(_, u)| *u == user1),
        "{before:?}"
    );

    ds.add_client(&user2, &pw2);
    reload(
        &gw,
        &gateway_yaml(gw.addr.port(), &mqtt_route(&addr, &prefix, &user2, &pw2)),
    )
    .await;
    expect_upstream_changed(&mut c1, "the connection open at the reload").await;
    // The old backend disconnects by itself, before user1 is removed.
    until(WAIT, "the old backend's connection closes", || {
        let now = ds.connected(&prefix);
        (now.iter().all(|(_, u)| *u != user1), now)
    })
    .await;
    // Deleting the client disconnects it, had anything kept it.
    ds.ctl(&["deleteClient", &user1]);

    let mut c2 = Client::connect(gw.addr, "/m").await;
    mqtt_both_ways(&mut c2, &mut peer, &base, "2").await;
    let after = ds.connected(&prefix);
    assert!(
        !after.is_empty() && after.iter().all(|(_, u)| *u == user2),
        "the gateway's connections are user2's: {after:?}"
    );
    assert!(after.is_disjoint(&before));
    assert_no_secret_logged(&gw, &[&pw1, &pw2, &ds.admin_pw]);
    c2.disconnect().await;
}

// ---------------------------------------------------------------------------------------------
// Kafka (Tansu with SCRAM)
// ---------------------------------------------------------------------------------------------

/// `tansu user create|delete` against a broker started without `--authentication` (Tansu's
/// admin tool does not authenticate).
fn tansu_user(b: &crate::common::kafka::Broker, args: &[&str]) {
    let out = Command::new(crate::common::kafka::tansu_bin())
        .arg("user")
        .args(args)
        .args(["--broker", &format!("tcp://{}", b.bootstrap())])
        .args(["--mechanism", "scram256"])
        .stdin(Stdio::null())
        .output()
        .expect("run tansu user");
    assert!(
        out.status.success(),
        "tansu user {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The broker again on its port and storage, with or without authentication.
fn restart(b: crate::common::kafka::Broker, authentication: bool) -> crate::common::kafka::Broker {
    let port = b.port;
    let dir = b.stop_keep_dir();
    crate::common::kafka::Broker::start_with(crate::common::kafka::BrokerOptions {
        port: Some(port),
        dir: Some(dir),
        authentication,
    })
}

fn kafka_route(bootstrap: &str, user: &str, password: &str) -> String {
    format!(
        "  - uri: /k\n    upstream:\n      scheme: kafka\n      nodes: {{ \"{bootstrap}\": 1 }}\n      timeout: {{ connect: 3, send: 5, read: 5 }}\n    plugins:\n      kafka-proxy:\n        sasl: {{ username: \"{user}\", password: \"{password}\", mechanism: SCRAM-SHA-256 }}\n"
    )
}

/// Whether a plain librdkafka client logs in with these credentials (a metadata request).
fn kafka_login(bootstrap: &str, user: &str, password: &str) -> Result<(), String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanism", "SCRAM-SHA-256")
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("log_level", "0")
        .create()
        .map_err(|e| e.to_string())?;
    c.fetch_metadata(None, Duration::from_secs(5))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Established TCP connections of process `pid` to `port`, by socket inode (inodes are not
/// reused while the test runs, so a new connection never looks like an old one).
fn sockets_to(pid: u32, port: u16) -> HashSet<String> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for row in text.lines().skip(1) {
            let f: Vec<&str> = row.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let remote_port = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if remote_port == Some(port) && f[3] == "01" && inodes.contains(f[9]) {
                out.insert(f[9].to_owned());
            }
        }
    }
    out
}

async fn kafka_produce_and_fetch(c: &mut Client, topic: &str, value: &str, want: &[&str]) {
    let r = c
        .produce_once_recovered(
            CmdKafkaProduce {
                topic: topic.into(),
                partition: Some(0),
                value: value.as_bytes().to_vec().into(),
                ..Default::default()
            },
            Duration::from_secs(30),
            "produce",
        )
        .await;
    assert_eq!(r.offset, want.len() as i64 - 1, "{r:?}");
    // Right after a broker restart the fetch consumers may still be reconnecting (503).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.request(Req::CmdKafkaFetch(fetch_cmd(topic, 0, 0))).await {
            Resp::KafkaFetchResp(f) => {
                assert_eq!(values(&f.messages), want);
                return;
            }
            other => assert!(Instant::now() < deadline, "fetch: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// user1 and user2 are made together at the start: Tansu's users are made on a broker without
/// authentication, and restarting it after the gateway connected would drop the connections
/// whose end after the reload the test checks. The broker restarts twice after the reload to
/// delete user1 (`tansu user delete`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_sasl_credentials_rotate_with_a_reload() {
    let (pw1, pw2) = (secret("kafkaA"), secret("kafkaB"));
    let t = crate::common::kafka::topic("rot");
    let (user1, user2) = ("gwt-user1", "gwt-user2");
    let b = tokio::task::block_in_place(|| {
        let b = crate::common::kafka::Broker::start();
        tansu_user(&b, &["create", user1, &pw1]);
        tansu_user(&b, &["create", user2, &pw2]);
        b
    });
    b.create_topic(&t, 1).await;
    let b = tokio::task::block_in_place(|| restart(b, true));
    let bootstrap = b.bootstrap();
    let gw = Proc::start("reload-kafka", |port| {
        gateway_yaml(port, &kafka_route(&bootstrap, user1, &pw1))
    });
    let pid = gw.child.id();
    let mut c1 = Client::connect(gw.addr, "/k").await;
    kafka_produce_and_fetch(&mut c1, &t, "k-1", &["k-1"]).await;
    let old = sockets_to(pid, b.port);
    assert!(!old.is_empty(), "the gateway's connections to the broker");

    reload(
        &gw,
        &gateway_yaml(gw.addr.port(), &kafka_route(&bootstrap, user2, &pw2)),
    )
    .await;
    expect_upstream_changed(&mut c1, "the connection open at the reload").await;
    // The old backend's librdkafka clients close their connections.
    until(WAIT, "the old backend's connections close", || {
        let left: Vec<String> = sockets_to(pid, b.port)
            .intersection(&old)
            .cloned()
            .collect();
        (left.is_empty(), left)
    })
    .await;

    // user1 is deleted; after the restart every connection logs in again.
    let b = tokio::task::block_in_place(|| {
        let b = restart(b, false);
        tansu_user(&b, &["delete", user1]);
        restart(b, true)
    });
    let (bs, p1, p2) = (bootstrap.clone(), pw1.clone(), pw2.clone());
    let (as1, as2) = tokio::task::spawn_blocking(move || {
        (kafka_login(&bs, user1, &p1), kafka_login(&bs, user2, &p2))
    })
    .await
    .unwrap();
    assert!(as1.is_err(), "user1 still logs in");
    as2.expect("user2 logs in");
    let mut c2 = Client::connect(gw.addr, "/k").await;
    kafka_produce_and_fetch(&mut c2, &t, "k-2", &["k-1", "k-2"]).await;
    assert_no_secret_logged(&gw, &[&pw1, &pw2]);
    c2.disconnect().await;
    drop(gw);
    drop(b);
}
