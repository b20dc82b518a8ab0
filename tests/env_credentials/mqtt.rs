//! MQTT credentials from the environment (`password_env`) against private `mosquitto`
//! processes: mqtts with the route's CA, refused credentials that answer 503 without showing the
//! password, and subscribes and publishes the broker's ACLs refuse (403 / 502).

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use crate::common::certs;
use crate::common::mqtt::*;
use crate::common::*;

fn produce(topic: &str, value: &str) -> Req {
    crate::common::mqtt::produce(topic, value, Vec::new())
}

/// A TLS broker that wants user `gw` with password `pw-s3cret`.
async fn tls_broker(pki: &certs::Pki) -> PrivateBroker {
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
    let pki = certs::make_pki();
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
    let pki = certs::make_pki();
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

/// A plain broker with Mosquitto's dynamic security plugin (its acl_file grants every
/// subscription and only filters deliveries; the plugin refuses in the SUBACK): anonymous
/// clients (the oracle) may do anything; user `gw` (password `acl-pw-s3cret`) may publish and
/// subscribe to `ok/#`, only subscribe to `ro/#`, only publish to `wo/#`, and nothing else.
async fn acl_broker() -> (PrivateBroker, TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("gw-mosquitto-acl");
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
