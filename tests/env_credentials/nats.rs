//! NATS credentials from the environment (`password_env`) against a private `nats-server`.

use std::time::Duration;

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::*;

use crate::common::nats::*;
use crate::common::*;

#[tokio::test]
async fn nats_auth_credentials_come_from_the_environment_and_never_reach_error_messages() {
    let server = PrivateServer::start_with(&["--user", "gw", "--pass", "s3cret-pw"]).await;
    let var = unique("GWT_NATS_PASS");
    std::env::set_var(&var, "s3cret-pw");
    let route = |uri: &str, password: &str| {
        format!(
            "  - uri: {uri}\n    upstream:\n      scheme: nats\n      nodes: [\"{}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n    plugins:\n      nats-auth: {{ user: gw, {password} }}\n",
            server.addr()
        )
    };
    let yaml = format!(
        "routes:\n{}{}",
        route("/good", &format!("password_env: {var}")),
        route("/bad", "password: wrong-pw")
    );
    let gw = Gateway::start(&yaml).await;
    let mut good = gw.connect("/good").await;
    let id = good.subscribe(sub("gwt.auth")).await;
    good.produce_value("gwt.auth", "in").await;
    assert_eq!(values(&good.pushed(id, 1).await), ["in"]);
    let mut bad = gw.connect("/bad").await;
    let started = std::time::Instant::now();
    let (code, msg) = error_of(
        bad.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "gwt.auth".into(),
            value: "x".as_bytes().to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(matches!(code, 502..=504), "{code} {msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        !msg.contains("wrong-pw") && !msg.contains("s3cret"),
        "{msg}"
    );
    gw.stop().await;
}
