//! The aws scheme where moto or the gateway goes away: a private moto stopped and started
//! again, moto with its authentication on, and the gateway binary killed and started again.

use std::time::{Duration, Instant};

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;

use super::{plain, produce, send, until};
use crate::common::aws::{live_owner, name, route_to, Moto, Oracle, AUTH};
use crate::common::proc::Proc;
use crate::common::{error_of, value_of, Client, Gateway, WAIT};

#[tokio::test]
async fn aws_moto_stopped_answers_503_within_a_second_then_the_route_resumes_once_it_is_back() {
    let mut moto = Moto::start(None, &[]);
    let port = moto.port;
    let o = Oracle::at(&moto.addr(), "testing", "testing");
    let topic = name("up");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("r{:x}-", std::process::id());
    let gw = Gateway::start(&route_to(
        &moto.addr(),
        "/aws",
        &format!("queue_prefix: {prefix}"),
        AUTH,
    ))
    .await;
    let mut c = gw.connect("/aws").await;
    send(&mut c, &topic, "", "before").await;
    let sid = c
        .subscribe(pubsub_gateway::pb::CmdKafkaSubscribe {
            topic: topic.clone(),
            group: "g".into(),
            max_in_flight: 5,
            ..Default::default()
        })
        .await;
    let mut live = Client::connect(gw.addr, "/aws").await;
    let lid = live.subscribe(plain(&topic)).await;
    moto.stop();
    for _ in 0..3 {
        let at = Instant::now();
        let (code, msg) = error_of(c.request(produce(&topic, "", "down", vec![])).await);
        assert_eq!(code, 503, "{msg}");
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "took {:?}",
            at.elapsed()
        );
    }
    // Back, empty: the topic is made again; the gateway makes its group's and live queues again.
    let _moto = Moto::start(Some(port), &[]);
    let arn2 = o.create_topic(&topic).await;
    assert_eq!(arn, arn2);
    until(
        Duration::from_secs(20),
        "the group's queue and the live queue made again",
        || async {
            !o.queues(&format!("{prefix}g-")).await.is_empty()
                && !o.queues(&format!("{prefix}live-")).await.is_empty()
                && o.subscriptions(&arn).await.len() == 2
        },
    )
    .await;
    send(&mut c, &topic, "", "after").await;
    let m = c.pushed(sid, 1).await;
    assert_eq!(value_of(&m[0]), "after");
    let m = live.pushed(lid, 1).await;
    assert_eq!(value_of(&m[0]), "after", "the live subscriber resumed too");
    gw.stop().await;
}

/// moto's Python (the project's virtual environment), to create an IAM user with boto3.
fn moto_python() -> String {
    let cache = std::env::var("PUBSUB_GATEWAY_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/pubsub-gateway",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    format!("{cache}/moto-venv/bin/python")
}

/// Creates an IAM user allowed everything; its access key id and secret.
fn iam_user(addr: &str) -> (String, String) {
    let script = format!(
        r#"
import boto3, json
iam = boto3.client("iam", endpoint_url="http://{addr}", region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
iam.create_user(UserName="gw")
iam.put_user_policy(UserName="gw", PolicyName="all", PolicyDocument=json.dumps(
    {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": "*"}}]}}))
k = iam.create_access_key(UserName="gw")["AccessKey"]
print(k["AccessKeyId"], k["SecretAccessKey"])
"#
    );
    let out = std::process::Command::new(moto_python())
        .args(["-c", &script])
        .output()
        .expect("moto's python runs");
    assert!(
        out.status.success(),
        "creating the IAM user: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut w = text.split_whitespace();
    (
        w.next().expect("key id").to_string(),
        w.next().expect("secret").to_string(),
    )
}

#[tokio::test]
async fn aws_a_wrong_secret_is_refused_403_by_moto_with_authentication_on_the_sdks_own_chain_signs_and_no_secret_is_logged(
) {
    // Authentication from moto's 4th call on: the 3 that create the user go unchecked.
    let moto = Moto::start(None, &[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let (id, secret) = iam_user(&moto.addr());
    let o = Oracle::at(&moto.addr(), &id, &secret);
    let topic = name("auth");
    o.create_topic(&topic).await;
    let wrong = format!("{}x", &secret[..secret.len() - 1]);
    let addr = moto.addr();
    let p = Proc::start_with_env(
        &name("aws-auth"),
        |port| {
            let good = route_to(
                &addr,
                "/good",
                "",
                "aws-auth: { access_key_id_env: GW_KEY, secret_access_key_env: GW_SECRET }",
            );
            let bad = route_to(
                &addr,
                "/bad",
                "",
                "aws-auth: { access_key_id_env: GW_KEY, secret_access_key_env: GW_WRONG }",
            );
            // No aws-auth: the SDK's own chain, here the environment's AWS_* variables.
            let chain = route_to(&addr, "/chain", "", "");
            format!(
                "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n  log: {{ level: debug }}\n{}{}{}",
                good,
                bad.replacen("routes:\n", "", 1),
                chain.replacen("routes:\n", "", 1)
            )
        },
        &[
            ("GW_KEY", &id),
            ("GW_SECRET", &secret),
            ("GW_WRONG", &wrong),
            ("AWS_ACCESS_KEY_ID", &id),
            ("AWS_SECRET_ACCESS_KEY", &secret),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let mut chain = Client::connect(p.addr, "/chain").await;
    let r = chain.request(produce(&topic, "", "chain", vec![])).await;
    assert!(matches!(r, Resp::KafkaProduceResp(_)), "{r:?}");
    let mut good = Client::connect(p.addr, "/good").await;
    send(&mut good, &topic, "", "signed").await;
    let mut bad = Client::connect(p.addr, "/bad").await;
    let (code, msg) = error_of(bad.request(produce(&topic, "", "x", vec![])).await);
    assert_eq!(code, 403, "{msg}");
    let (code, msg) = error_of(bad.request(Req::CmdKafkaSubscribe(plain(&topic))).await);
    assert_eq!(code, 403, "{msg}");
    assert!(!msg.contains(&secret) && !msg.contains(&wrong), "{msg}");
    let log = p.log();
    assert!(
        log.contains("DEBUG") || log.contains("debug"),
        "logged at debug: {log}"
    );
    assert!(
        !log.contains(&secret) && !log.contains(&wrong),
        "a secret in the log: {log}"
    );
}

#[tokio::test]
async fn aws_a_restarted_gateway_removes_the_live_queues_and_subscriptions_an_earlier_run_left() {
    let o = Oracle::new();
    let topic = name("crash");
    let arn = o.create_topic(&topic).await;
    let prefix = format!("c{:x}-", std::process::id());
    let uri = format!("/crash{:x}", std::process::id());
    let moto = crate::common::aws::moto().to_string();
    let config = |port: u16| {
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n{}",
            route_to(&moto, &uri, &format!("queue_prefix: {prefix}"), AUTH)
        )
    };
    let env = [
        ("PUBSUB_GW_TEST_AWS_KEY", "testing"),
        ("PUBSUB_GW_TEST_AWS_SECRET", "testing"),
    ];
    let mut p = Proc::start_with_env(&name("aws-crash"), config, &env);
    let mut c = Client::connect(p.addr, &uri).await;
    c.subscribe(plain(&topic)).await;
    let live = format!("{prefix}live-{}-", live_owner(&uri));
    let queues = o.queues(&live).await;
    assert_eq!(queues.len(), 1, "named {live}…: {queues:?}");
    assert_eq!(o.subscriptions(&arn).await.len(), 1);
    drop(c);
    // SIGKILL: nothing is cleaned up by this run.
    p.restart();
    until(WAIT, "the earlier run's queue removed", || async {
        o.queues(&live).await.is_empty()
    })
    .await;
    until(WAIT, "its subscription removed", || async {
        o.subscriptions(&arn).await.is_empty()
    })
    .await;
    // The new run serves as before.
    let mut c = Client::connect(p.addr, &uri).await;
    let sid = c.subscribe(plain(&topic)).await;
    o.publish(&arn, "again", &[]).await;
    assert_eq!(value_of(&c.pushed(sid, 1).await[0]), "again");
    let _ = Resp::OkResp(Default::default());
}
