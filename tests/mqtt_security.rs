//! The MQTT scheme's credentials and TLS, against private `mosquitto` processes (TLS listener,
//! password file) on free ports: mqtts with the route's CA, username/password from the
//! environment, and refused credentials that answer 503 without showing the password.

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
