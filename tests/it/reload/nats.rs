//! NATS: a private nats-server whose users file is reloaded.

use super::*;

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
