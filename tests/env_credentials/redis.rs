//! A Redis ACL user whose password comes from the environment (`password_env`).

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::*;

use crate::common::redis_support::*;
use crate::common::*;

#[tokio::test]
async fn an_acl_user_logs_in_by_username_and_password_env_and_stays_within_its_keys() {
    let mut rc = oracle().await;
    let password = format!("pw-{}", unique("secret").replace(':', "-"));
    let prefix = unique("aclkeys");
    let user = AclUser::create(&mut rc, &password, &prefix).await;
    let env = format!("GW_REDIS_ACL_PW_{}", std::process::id());
    let wrong_env = format!("GW_REDIS_ACL_WRONG_{}", std::process::id());
    std::env::set_var(&env, &password);
    std::env::set_var(&wrong_env, "not-the-password-77");
    let auth = |var: &str| {
        format!(
            "redis-auth: {{ username: {}, password_env: {var} }}",
            user.name
        )
    };
    let yaml = joined_routes(&[
        route("/s", REDIS, "mode: streams", &auth(&env)),
        route("/ps", REDIS, "mode: pubsub", &auth(&env)),
        route("/wrong", REDIS, "mode: streams", &auth(&wrong_env)),
    ]);
    let config = pubsub_gateway::config::Config::parse(&yaml, "test").unwrap();
    assert!(!format!("{config:?}").contains(&password));
    let gw = Gateway::start(&yaml).await;

    // Logged in as the user: its keys and channels work, and Redis says who wrote.
    let key = format!("{prefix}:stream");
    let _cleanup = Keys {
        db: 0,
        keys: vec![key.clone()],
    };
    let mut s = gw.connect("/s").await;
    let id = s.subscribe(sub_from(&key, Start::Earliest)).await;
    s.produce_value(&key, "as the acl user").await;
    assert_eq!(values(&s.pushed(id, 1).await), ["as the acl user"]);
    assert_eq!(xrange_values(&mut rc, &key).await, ["as the acl user"]);
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut rc)
        .await
        .unwrap();
    assert!(
        clients.contains(&format!("user={}", user.name)),
        "no connection of {}: {clients}",
        user.name
    );
    let channel = format!("{prefix}:chan");
    let mut p = gw.connect("/ps").await;
    let pid = p.subscribe(sub(&channel)).await;
    assert_eq!(p.produce_value(&channel, "hello").await.offset, 1);
    assert_eq!(values(&p.pushed(pid, 1).await), ["hello"]);

    // Outside its keys and channels: Redis says NOPERM, the gateway 403; the subscription
    // already made goes on.
    let outside = unique("not-its-prefix");
    let produce_outside = || {
        Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: outside.clone(),
            value: value("v"),
            ..Default::default()
        })
    };
    let mut replies = Vec::new();
    for c in [&mut s, &mut p] {
        for req in [produce_outside(), Req::CmdKafkaSubscribe(sub(&outside))] {
            let (code, msg) = error_of(c.request(req).await);
            assert_eq!(code, 403, "{msg}");
            replies.push(msg);
        }
    }
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&outside)
        .query_async(&mut rc)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("still there")
        .query_async(&mut rc)
        .await
        .unwrap();
    assert_eq!(values(&p.pushed(pid, 1).await), ["still there"]);

    // The wrong password: the login is refused, answered like a server the gateway cannot
    // use (503), and the reply names neither password.
    let mut w = gw.connect("/wrong").await;
    for req in [
        Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: key.clone(),
            value: value("v"),
            ..Default::default()
        }),
        Req::CmdKafkaSubscribe(sub(&key)),
    ] {
        let (code, msg) = error_of(w.request(req).await);
        assert_eq!(code, 503, "{msg}");
        replies.push(msg);
    }
    for msg in &replies {
        assert!(
            !msg.contains(&password) && !msg.contains("not-the-password-77"),
            "{msg}"
        );
    }
    assert_eq!(xlen(&mut rc, &key).await, 1, "nothing written by /wrong");
    drop((s, p, w));
    gw.stop().await;
    let name = user.name.clone();
    drop(user);
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query_async(&mut rc)
        .await
        .unwrap();
    assert!(!users.contains(&name), "{name} left on the server");
}
