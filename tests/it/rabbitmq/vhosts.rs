//! Quorum groups, virtual hosts, credentials.

use super::*;
use crate::common::proc::Proc;

#[tokio::test]
async fn quorum_group_is_shared_redelivers_after_a_member_leaves_and_dead_letters_after_max_deliveries(
) {
    let amqp = oracle().await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.quorum");
    let dlx = format!("{ex}.dlx");
    let group = unique("q");
    let queue = group_queue("/rabbit", &group, "work.#");
    let dead = plain_queue(&ch, &dlx, "#").await;
    let mut dead_c = consume(&ch, &dead, true).await;
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone(), dlx.clone()],
        queues: vec![queue.clone()],
    };
    let extra =
        format!(", queue_type: quorum, dead_letter_exchange: \"{dlx}\", max_deliveries: 2, prefetch_count: 1");
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, &extra)).await;
    let mut a = gw.connect("/rabbit").await;
    let ida = a.subscribe(group_sub("work.#", &group, 0)).await;
    assert_eq!(
        queue_type_of("/", &queue).as_deref(),
        Some("quorum"),
        "the group queue is a quorum queue"
    );

    // A plain AMQP consumer of the quorum queue competes with the member.
    let plain_ch = channel(&amqp).await;
    plain_ch
        .basic_qos(1, Default::default())
        .await
        .expect("qos");
    let mut plain = consume(&plain_ch, &queue, false).await;
    assert_eq!(consumer_count(&ch, &queue).await, 2);
    for i in 0..10 {
        a.produce_value(&format!("work.{i}"), &format!("job-{i}"))
            .await;
    }
    let mut seen = BTreeSet::new();
    let (mut gateway_got, mut plain_got) = (0, 0);
    while gateway_got + plain_got < 10 {
        tokio::select! {
            d = next_delivery(&mut plain) => {
                seen.insert(String::from_utf8_lossy(&d.data).into_owned());
                plain_got += 1;
                d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            }
            m = a.pushed(ida, 1) => {
                seen.insert(value_of(&m[0]));
                gateway_got += 1;
                ack(&mut a, ida, &m).await;
            }
        }
    }
    assert_eq!(seen.len(), 10, "each message to one consumer: {seen:?}");
    assert!(
        gateway_got > 0 && plain_got > 0,
        "both competed: {gateway_got} / {plain_got}"
    );
    drop(plain);
    plain_ch.close(200, "bye".into()).await.expect("close");

    // A member that leaves without acking: another member gets the message again.
    a.produce_value("work.held", "held").await;
    let held = a.pushed(ida, 1).await;
    assert_eq!(values(&held), ["held"]);
    a.disconnect().await;
    let mut b = gw.connect("/rabbit").await;
    let idb = b.subscribe(group_sub("work.#", &group, 0)).await;
    let again = b.pushed(idb, 1).await;
    assert_eq!(values(&again), ["held"]);
    assert_eq!(hval(&again[0], "amqp-redelivered").as_deref(), Some("true"));
    // The quorum queue counted the return of a member that left, as it counts a nack.
    assert_eq!(hval(&again[0], "x-delivery-count").as_deref(), Some("1"));
    assert_eq!(
        (held[0].delivery_attempt, again[0].delivery_attempt),
        (1, 2),
        "the quorum queue's count"
    );
    ack(&mut b, idb, &again).await;

    // max_deliveries 2 = x-delivery-limit 2: nacked with requeue, the message comes back until
    // the broker has counted more returns than the limit, then goes to the dead-letter exchange.
    b.produce_value("work.poison", "poison").await;
    let mut deliveries = 0;
    let dead_lettered = loop {
        tokio::select! {
            d = next_delivery(&mut dead_c) => break d,
            m = b.pushed(idb, 1) => {
                assert_eq!(values(&m), ["poison"]);
                deliveries += 1;
                assert!(deliveries <= 10, "never dead-lettered");
                nack(&mut b, idb, &m).await;
            }
        }
    };
    assert_eq!(dead_lettered.data, b"poison");
    assert_eq!(
        death_reason(&dead_lettered).as_deref(),
        Some("delivery_limit"),
        "{:?}",
        dead_lettered.properties.headers()
    );
    assert_eq!(deliveries, 3, "delivered once plus twice requeued");
    assert!(
        b.pushed_within(idb, Duration::from_millis(500))
            .await
            .is_empty(),
        "not requeued once dead-lettered"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_route_on_its_own_vhost_publishes_and_subscribes_there_and_not_on_the_default_one() {
    // A vhost with a `/` in its name: it must reach the broker as one name, not as a URI path.
    let vhost = Vhost::create("gwt/vh", &["guest"]);
    let amqp = oracle_as("guest", "guest", &vhost).await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.vh");
    let group = unique("g");
    let q = plain_queue(&ch, &ex, "news.#").await;
    let mut plain = consume(&ch, &q, true).await;
    let queue = group_queue("/rabbit", &group, "news.#");
    // Only a wrong gateway would make these on `/`; the vhost's go with the vhost.
    let _leftovers = Leftovers {
        exchanges: vec![ex.clone()],
        queues: vec![queue.clone()],
    };
    let extra = format!(", vhost: \"{}\"", vhost.name);
    let gw = Gateway::start(&route("/rabbit", AMQP, &ex, &extra)).await;
    let mut c = gw.connect("/rabbit").await;
    let live = c.subscribe(sub("news.*")).await;
    let grp = c.subscribe(group_sub("news.#", &group, 0)).await;
    // Gateway to oracle, on the vhost.
    c.produce(CmdKafkaProduce {
        topic: "news.1".into(),
        value: b"from the gateway".to_vec().into(),
        headers: vec![header("h", "v")],
        ..Default::default()
    })
    .await;
    let d = next_delivery(&mut plain).await;
    assert_eq!(d.data, b"from the gateway");
    assert_eq!(header_text(&d, "h").as_deref(), Some("v"));
    // Oracle to gateway, on the vhost: the plain subscription and the group both get it.
    publish(
        &ch,
        &ex,
        "news.2",
        b"from the oracle",
        BasicProperties::default(),
    )
    .await;
    let got: BTreeSet<String> = [c.pushed(live, 2).await, c.pushed(grp, 2).await]
        .concat()
        .iter()
        .map(value_of)
        .collect();
    assert_eq!(
        got,
        ["from the gateway", "from the oracle"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    // The group queue lives on the vhost, and nothing of the route on `/`.
    assert_eq!(
        queue_type_of(&vhost.name, &queue).as_deref(),
        Some("classic")
    );
    assert_eq!(queue_type_of("/", &queue), None);
    let root = oracle().await;
    let root_ch = channel(&root).await;
    let on_root = root_ch
        .exchange_declare(
            ex.as_str().into(),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await;
    assert!(on_root.is_err(), "the exchange is not on `/`");
    gw.stop().await;
    let _ = amqp.close(200, "bye".into()).await;
    // `vhost` drops here: the vhost goes with everything in it.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_auth_logs_in_as_its_user_with_the_password_from_the_environment_and_never_shows_it(
) {
    let password = format!("pw-{}", unique("S3CRET"));
    let wrong = format!("pw-{}", unique("WR0NG"));
    let user = User::create("gwt-user", &password);
    // Only this user may use the vhost: the gateway getting in proves it logged in as the user.
    let vhost = Vhost::create("gwt-authvh", &[&user.name]);
    let amqp = oracle_as(&user.name, &password, &vhost).await;
    let ch = channel(&amqp).await;
    let ex = unique("gwt.auth");
    let q = plain_queue(&ch, &ex, "#").await;
    let mut plain = consume(&ch, &q, true).await;
    let (good_var, bad_var) = (unique("GWT_RABBIT_PW"), unique("GWT_RABBIT_WRONG"));
    let rabbit_route = |uri: &str, vhost: &str, var: &str| {
        format!(
            "  - uri: {uri}\n    upstream:\n      scheme: rabbitmq\n      nodes: [\"{AMQP}\"]\n      timeout: {{ connect: 3, send: 10, read: 10 }}\n      rabbitmq: {{ exchange: \"{ex}\", vhost: \"{vhost}\", heartbeat_secs: 2 }}\n    plugins:\n      rabbitmq-auth: {{ username: \"{}\", password_env: {var} }}\n",
            user.name
        )
    };
    let gw = Proc::start_with_env(
        "rabbit-auth",
        |port| {
            format!(
                "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\n  log: {{ level: trace }}\nroutes:\n{}{}{}",
                rabbit_route("/good", &vhost.name, &good_var),
                rabbit_route("/bad", &vhost.name, &bad_var),
                // The right password on a vhost the user has no permissions on.
                rabbit_route("/noperm", "/", &good_var),
            )
        },
        &[(&good_var, &password), (&bad_var, &wrong)],
    );
    // The right password: publish and subscribe on the user's vhost.
    let mut good = Client::connect(gw.addr, "/good").await;
    let id = good.subscribe(sub("auth.t")).await;
    good.produce_value("auth.t", "as the user").await;
    assert_eq!(values(&good.pushed(id, 1).await), ["as the user"]);
    assert_eq!(next_delivery(&mut plain).await.data, b"as the user");
    let connections = ctl(&["list_connections", "-q", "user", "vhost"]);
    assert!(
        connections
            .lines()
            .any(|l| l == format!("{}\t{}", user.name, vhost.name)),
        "the gateway's connection is the user's: {connections}"
    );
    // A wrong password, or no permissions on the vhost: 503 "RabbitMQ unreachable", the
    // broker's refusal logged, no password anywhere.
    for path in ["/bad", "/noperm"] {
        let mut bad = Client::connect(gw.addr, path).await;
        for req in [
            Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: "auth.t".into(),
                value: b"x".to_vec().into(),
                ..Default::default()
            }),
            Req::CmdKafkaSubscribe(sub("auth.t")),
        ] {
            let (code, msg) = error_of(bad.request(req).await);
            assert_eq!(code, 503, "{msg}");
            assert!(msg.contains("RabbitMQ unreachable"), "{msg}");
            assert!(!msg.contains(&wrong) && !msg.contains(&password), "{msg}");
        }
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    // The gateway's own warning carries the broker's reason (lapin's trace lines aside).
    let refused = |reason: &str| {
        gw.log()
            .lines()
            .any(|l| l.contains("RabbitMQ unreachable; retrying") && l.contains(reason))
    };
    while !(refused("ACCESS_REFUSED") && refused("NOT_ALLOWED")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refusal is logged: {}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = gw.log();
    assert!(log.contains("RabbitMQ connected"), "{log}");
    assert!(!log.contains(&password), "the password appears in the logs");
    assert!(
        !log.contains(&wrong),
        "the wrong password appears in the logs"
    );
    let _ = amqp.close(200, "bye".into()).await;
    drop(gw);
    // `vhost` and `user` drop here and are deleted from the broker.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_broker_loses_no_confirmed_message_of_a_durable_group_queue() {
    let mut broker = PrivateBroker::start();
    let ex = unique("gwt.restart");
    let group = unique("g");
    let gw = Gateway::start(&route("/rabbit", &broker.addr(), &ex, "")).await;
    let mut c = gw.connect("/rabbit").await;
    // max_in_flight 1: the member holds one message unacknowledged when the broker dies.
    let id = c.subscribe(group_sub("evt.#", &group, 1)).await;
    let n = 20;
    let mut confirmed = BTreeSet::new();
    for i in 0..n {
        // The reply comes once the broker confirmed: persisted, for a durable queue.
        c.produce_value(&format!("evt.{i}"), &format!("m{i}")).await;
        confirmed.insert(format!("m{i}"));
    }
    let held = c.pushed(id, 1).await;
    assert_eq!(values(&held), ["m0"]);

    tokio::task::block_in_place(|| broker.kill());
    // While it is down: a clear 503 (504 for a request caught in flight).
    let (code, msg) = error_of(
        c.request(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: "evt.x".into(),
            value: b"x".to_vec().into(),
            ..Default::default()
        }))
        .await,
    );
    assert!(code == 503 || code == 504, "{code} {msg}");
    tokio::task::block_in_place(|| broker.spawn());

    // The same subscription resumes by itself and gets every confirmed message.
    let mut got = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < confirmed.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the restart, {} of {n} came back: {got:?}",
            got.len()
        );
        // Until the first comes back, the broker may still be recovering; then each arrives
        // as soon as the one before is acknowledged (max_in_flight 1).
        let ms = if got.is_empty() {
            c.pushed_within(id, Duration::from_millis(500)).await
        } else {
            c.pushed(id, 1).await
        };
        for m in &ms {
            got.insert(value_of(m));
        }
        if !ms.is_empty() {
            ack(&mut c, id, &ms).await;
        }
    }
    assert_eq!(got, confirmed, "no confirmed message lost, nothing else");
    // The ack of the delivery from before the crash is refused: it came again instead.
    let (code, msg) = error_of(
        c.request(Req::CmdAck(CmdAck {
            subscription_id: id,
            positions: positions(&held),
        }))
        .await,
    );
    assert_eq!(code, 400, "{msg}");
    // The oracle sees the durable queue on the restarted node, consumed by the member again.
    let amqp = broker.oracle().await;
    let ch = channel(&amqp).await;
    let q = ch
        .queue_declare(
            group_queue("/rabbit", &group, "evt.#").as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("the group queue survived the crash");
    assert_eq!(q.consumer_count(), 1, "the member consumes it again");
    assert!(c
        .pushed_within(id, Duration::from_millis(500))
        .await
        .is_empty());
    c.disconnect().await;
    drop(amqp);
    gw.stop().await;
}
