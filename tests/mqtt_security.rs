//! The MQTT scheme's credentials, TLS and the broker's ACLs, against private `mosquitto`
//! processes (TLS listener, password file, ACL file) on free ports: mqtts with the route's CA,
//! username/password from the environment, refused credentials that answer 503 without showing
//! the password, and subscribes and publishes the broker refuses (403 / 502; reason codes
//! Mosquitto never sends come from a fake broker inside the test).

mod common;
#[path = "common/mqtt.rs"]
mod mqtt_support;
#[path = "common/nats.rs"]
mod nats_support;

use common::*;
use mqtt_support::*;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

fn produce(topic: &str, value: &str) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        value: value.as_bytes().to_vec().into(),
        ..Default::default()
    })
}

/// A TLS broker that wants user `gw` with password `pw-s3cret`.
async fn tls_broker(pki: &nats_support::Pki) -> PrivateBroker {
    let passwd = pki.dir.join("passwd");
    std::fs::write(&passwd, "gw:pw-s3cret\n").expect("password file");
    let out = std::process::Command::new("mosquitto_passwd")
        .arg("-U")
        .arg(&passwd)
        .output()
        .expect("mosquitto_passwd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // mosquitto may drop to its own user: the files must be readable by it.
    for f in std::fs::read_dir(&pki.dir).expect("pki dir").flatten() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644));
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&pki.dir, std::fs::Permissions::from_mode(0o755));
    PrivateBroker::start_with(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous false\npassword_file {}\n",
        pki.ca.display(),
        pki.cert.display(),
        pki.key.display(),
        passwd.display()
    ))
    .await
}

fn tls_route(uri: &str, broker: &str, ca: &std::path::Path, password_env: &str) -> String {
    route(
        uri,
        broker,
        &format!(
            "      tls: {{ ca_file: {} }}\n    plugins:\n      mqtt-auth: {{ username: gw, password_env: {password_env} }}\n",
            ca.display()
        ),
    )
}

#[tokio::test]
async fn mqtts_with_username_and_password_from_the_environment_publishes_and_subscribes() {
    let pki = nats_support::make_pki();
    let broker = tls_broker(&pki).await;
    std::env::set_var("GW_MQTT_TEST_PASSWORD", "pw-s3cret");
    let gw = Gateway::start(&tls_route(
        "/mqtts",
        &broker.addr(),
        &pki.ca,
        "GW_MQTT_TEST_PASSWORD",
    ))
    .await;
    let mut c = gw.connect("/mqtts").await;
    let topic = format!("{}/tls", unique("gw"));
    let id = c
        .subscribe(CmdKafkaSubscribe {
            topic: topic.clone(),
            ..Default::default()
        })
        .await;
    let r = c.request(produce(&topic, "over tls")).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    assert_eq!(value_of(&c.pushed(id, 1).await[0]), "over tls");
    gw.stop().await;
}

#[tokio::test]
async fn refused_mqtt_credentials_answer_503_without_the_password() {
    let pki = nats_support::make_pki();
    let broker = tls_broker(&pki).await;
    std::env::set_var("GW_MQTT_TEST_WRONG", "wrong-hunter2");
    let gw = Gateway::start(&tls_route(
        "/mqtts",
        &broker.addr(),
        &pki.ca,
        "GW_MQTT_TEST_WRONG",
    ))
    .await;
    let mut c = gw.connect("/mqtts").await;
    let (code, msg) = error_of(c.request(produce("a/b", "x")).await);
    assert_eq!(code, 503, "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    // A missing environment variable fails the route's build, naming the variable only.
    let bad = tls_route("/m", &broker.addr(), &pki.ca, "GW_MQTT_TEST_UNSET_VAR");
    let cfg = pubsub_gateway::Config::parse(&bad, "t").expect("parses");
    let e = pubsub_gateway::backend::build(&cfg.routes[0])
        .err()
        .expect("build fails");
    assert!(e.contains("GW_MQTT_TEST_UNSET_VAR"), "{e}");
    gw.stop().await;
}

/// A directory under the temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A plain broker with Mosquitto's dynamic security plugin (its acl_file grants every
/// subscription and only filters deliveries; the plugin refuses in the SUBACK): anonymous
/// clients (the oracle) may do anything; user `gw` (password `acl-pw-s3cret`) may publish and
/// subscribe to `ok/#`, only subscribe to `ro/#`, only publish to `wo/#`, and nothing else.
async fn acl_broker() -> (PrivateBroker, TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir(std::env::temp_dir().join(unique("gw-mosquitto-acl")));
    std::fs::create_dir_all(&dir.0).expect("acl dir");
    let file = dir.0.join("dynamic-security.json");
    // `init` hashes the password (PBKDF2) the way the plugin checks it.
    let out = std::process::Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(&file)
        .args(["gw", "acl-pw-s3cret"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("mosquitto_ctrl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut conf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("dynsec file")).expect("json");
    let acl = |acltype: &str, topic: &str| serde_json::json!({ "acltype": acltype, "topic": topic, "allow": true });
    conf["clients"][0]["roles"] = serde_json::json!([{ "rolename": "gw" }]);
    conf["roles"] = serde_json::json!([
        {
            "rolename": "gw",
            "acls": [
                acl("publishClientSend", "ok/#"),
                acl("subscribePattern", "ok/#"),
                // Mosquitto 2.0.11 checks a shared subscription with its `$share/{group}/`.
                acl("subscribePattern", "$share/+/ok/#"),
                acl("subscribePattern", "ro/#"),
                acl("publishClientSend", "wo/#"),
            ]
        },
        {
            "rolename": "anyone",
            "acls": [acl("publishClientSend", "#"), acl("subscribePattern", "#")]
        }
    ]);
    conf["groups"] = serde_json::json!([
        { "groupname": "anonymous", "roles": [{ "rolename": "anyone" }], "clients": [] }
    ]);
    conf["anonymousGroup"] = serde_json::json!("anonymous");
    std::fs::write(&file, serde_json::to_vec_pretty(&conf).expect("json")).expect("write");
    // mosquitto may drop to its own user: the files must be readable by it.
    let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644));
    let _ = std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755));
    let broker = PrivateBroker::start_with(&format!(
        "allow_anonymous true\nplugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so\nplugin_opt_config_file {}\n",
        file.display()
    ))
    .await;
    (broker, dir)
}

#[tokio::test]
async fn subscribes_the_broker_refuses_answer_403_and_refused_publishes_502() {
    let (broker, _dir) = acl_broker().await;
    std::env::set_var("GW_MQTT_ACL_PASSWORD", "acl-pw-s3cret");
    let gw = Gateway::start(&route(
        "/m",
        &broker.addr(),
        "      mqtt: { max_group_members: 1 }\n    plugins:\n      mqtt-auth: { username: gw, password_env: GW_MQTT_ACL_PASSWORD }\n",
    ))
    .await;
    let mut c = gw.connect("/m").await;
    let mut oracle = Peer::connect_to(&broker.addr(), false).await;
    oracle.subscribe("#").await;

    // Allowed both ways.
    let ok = c.subscribe(sub("ok/a")).await;
    let r = c.request(produce("ok/a", "fine")).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    assert_eq!(values(&c.pushed(ok, 1).await), ["fine"]);
    assert_eq!(oracle.next().await.topic, "ok/a");

    // Read only: the subscription is granted, the publish refused in its PUBACK (502).
    let ro = c.subscribe(sub("ro/a")).await;
    let (code, msg) = error_of(c.request(produce("ro/a", "refused")).await);
    assert_eq!(code, 502, "{msg}");
    assert!(msg.contains("NotAuthorized"), "{msg}");
    peer_publish(&oracle, "ro/a", "to read", Default::default(), false).await;
    assert_eq!(values(&c.pushed(ro, 1).await), ["to read"]);

    // Write only: the publish goes through, the subscription is refused in its SUBACK (403).
    let r = c.request(produce("wo/a", "written")).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub("wo/a"))).await);
    assert_eq!(code, 403, "{msg}");

    // Nothing allowed: refused either way, for a group member (its own connection) and a
    // wildcard reaching beyond the user's topics too.
    let (code, msg) = error_of(c.request(produce("secret/a", "refused")).await);
    assert_eq!(code, 502, "{msg}");
    for req in [
        sub("secret/a"),
        CmdKafkaSubscribe {
            group: "g".into(),
            ..sub("secret/a")
        },
        sub("#"),
    ] {
        let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(req.clone())).await);
        assert_eq!(code, 403, "{req:?}: {msg}");
        assert!(!msg.contains("acl-pw-s3cret"), "{msg}");
    }

    // A refused group member gave its slot back (the route allows one member).
    let member = c
        .subscribe(CmdKafkaSubscribe {
            group: "g".into(),
            ..sub("ok/#")
        })
        .await;

    // The broker saw only what it allowed, and the connection and its subscriptions go on.
    peer_publish(&oracle, "ok/a", "still", Default::default(), false).await;
    assert_eq!(values(&c.pushed(ok, 1).await), ["still"]);
    assert_eq!(values(&c.pushed(member, 1).await), ["still"]);
    let mut seen: Vec<(String, String)> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen.iter().any(|(_, v)| v == "still") {
        assert!(tokio::time::Instant::now() < deadline, "{seen:?}");
        let p = oracle.next().await;
        seen.push((
            String::from_utf8_lossy(&p.topic).into_owned(),
            String::from_utf8_lossy(&p.payload).into_owned(),
        ));
    }
    let topics: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, ["ro/a", "wo/a", "ok/a"], "{seen:?}");
    assert!(c
        .pushed_within(ok, std::time::Duration::from_millis(200))
        .await
        .is_empty());
    drop(c);
    gw.stop().await;
}

/// A fake MQTT 5 broker that accepts every connection, grants every subscription except those
/// under `refuse/` (SUBACK reason 0x80, Unspecified error) and answers every QoS 1 publish with
/// PUBACK reason 0x97 (Quota exceeded): broker refusals no Mosquitto configuration produces.
async fn refusing_broker() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("fake broker binds");
    let addr = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One whole packet: type byte, variable-length remaining length, body.
                    let mut parsed = None;
                    if buf.len() >= 2 {
                        let (mut len, mut mul, mut i) = (0usize, 1usize, 1usize);
                        while i < buf.len() && i < 5 {
                            len += usize::from(buf[i] & 0x7f) * mul;
                            mul *= 128;
                            i += 1;
                            if buf[i - 1] & 0x80 == 0 {
                                if buf.len() >= i + len {
                                    parsed = Some((buf[0], i, len));
                                }
                                break;
                            }
                        }
                    }
                    let Some((kind, head, len)) = parsed else {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let body: Vec<u8> = buf[head..head + len].to_vec();
                    buf.drain(..head + len);
                    let reply: Vec<u8> = match kind >> 4 {
                        1 => vec![0x20, 0x03, 0x00, 0x00, 0x00],
                        8 => {
                            // Packet id, properties (length then bytes), then the first filter.
                            let (props, mut mul, mut i) = (&body[2..], 1usize, 0usize);
                            let mut plen = 0usize;
                            loop {
                                plen += usize::from(props[i] & 0x7f) * mul;
                                mul *= 128;
                                i += 1;
                                if props[i - 1] & 0x80 == 0 {
                                    break;
                                }
                            }
                            let f = &props[i + plen..];
                            let flen = usize::from(u16::from_be_bytes([f[0], f[1]]));
                            let filter = String::from_utf8_lossy(&f[2..2 + flen]).into_owned();
                            let code = if filter.starts_with("refuse/") {
                                0x80
                            } else {
                                0x01
                            };
                            vec![0x90, 0x04, body[0], body[1], 0x00, code]
                        }
                        3 if (kind >> 1) & 0x03 == 1 => {
                            let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
                            let (hi, lo) = (body[2 + tlen], body[3 + tlen]);
                            vec![0x40, 0x03, hi, lo, 0x97]
                        }
                        12 => vec![0xd0, 0x00],
                        14 => return,
                        _ => Vec::new(),
                    };
                    if !reply.is_empty() && tcp.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn other_suback_and_puback_refusals_answer_502_with_the_reason() {
    let (addr, broker) = refusing_broker().await;
    let gw = Gateway::start(&route("/m", &addr, "")).await;
    let mut c = gw.connect("/m").await;
    c.subscribe(sub("fine/a")).await;
    let (code, msg) = error_of(c.request(Req::CmdKafkaSubscribe(sub("refuse/a"))).await);
    assert_eq!(code, 502, "{msg}");
    assert!(msg.contains("Unspecified"), "{msg}");
    let (code, msg) = error_of(c.request(produce("fine/a", "v")).await);
    assert_eq!(code, 502, "{msg}");
    assert!(msg.contains("QuotaExceeded"), "{msg}");
    // The connection goes on: the next subscription is granted.
    c.subscribe(sub("fine/b")).await;
    drop(c);
    gw.stop().await;
    broker.abort();
}
