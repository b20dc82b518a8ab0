//! RabbitMQ: a vhost and users of the test's own.

use super::*;

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
