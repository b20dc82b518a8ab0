//! Redis: ACL users, and one user's password changed.

use super::*;

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
