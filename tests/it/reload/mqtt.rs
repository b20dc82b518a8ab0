//! MQTT: a private Mosquitto with dynamic security.

use super::*;

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
