//! Group consumption over plain HTTP, at least once: a GET leases the group's next messages
//! under ack_ids, `POST {uri}/ack` settles them, `POST {uri}/nack` and a lapsed lease give them
//! back; ids this membership did not give are refused without settling anything. On the embedded
//! scheme, JetStream and Kafka.

use super::*;

/// One HTTP consumer of `group` on `base`'s `topic`, over one keep-alive connection.
struct Consumer {
    http: Http,
    base: String,
    topic: String,
    group: String,
}

impl Consumer {
    async fn new(addr: std::net::SocketAddr, base: &str, topic: &str, group: &str) -> Consumer {
        Consumer {
            http: Http::connect(addr).await,
            base: base.into(),
            topic: topic.into(),
            group: group.into(),
        }
    }

    /// A group GET with `query`; its messages.
    async fn get(&mut self, query: &str) -> Vec<Value> {
        let a = self
            .http
            .get(&format!(
                "{}/topics/{}?group={}&{query}",
                self.base, self.topic, self.group
            ))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let v = a.json();
        assert_eq!(v["group"], json!(self.group));
        v["messages"].as_array().expect("messages").clone()
    }

    /// The one message of a GET that waits for it.
    async fn next(&mut self, query: &str) -> (String, u64, String) {
        // Within the test client's own time bound (WAIT).
        let got = self.get(&format!("wait_ms=8000&{query}")).await;
        assert_eq!(got.len(), 1, "{got:?}");
        let m = &got[0];
        (
            m["value"].as_str().expect("text value").to_string(),
            m["delivery_attempt"].as_u64().expect("delivery_attempt"),
            m["ack_id"].as_str().expect("ack_id").to_string(),
        )
    }

    /// `POST {base}/{what}` with `body`.
    async fn settle(&mut self, what: &str, body: Value) -> Answer {
        self.http
            .send(
                "POST",
                &format!("{}/{what}", self.base),
                &[("content-type", "application/json")],
                body.to_string(),
            )
            .await
    }

    /// Acks (or nacks) `ids` of this group and topic: the answer's JSON, after a 200.
    async fn ack(&mut self, what: &str, ids: &[&str]) -> Value {
        let body = json!({"group": self.group, "topic": self.topic, "ack_ids": ids});
        let a = self.settle(what, body).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.json()
    }
}

/// The whole contract on the route at `base`: ack settles, a lapsed lease and a nack redeliver
/// with a higher delivery_attempt, foreign and forged ids are refused and settle nothing.
async fn at_least_once(addr: std::net::SocketAddr, base: &str, topic: &str) {
    let mut publisher = Http::connect(addr).await;
    for v in ["a", "b"] {
        let a = publisher.post(&format!("{base}/topics/{topic}"), v).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let group = super::topic("g");
    let mut c = Consumer::new(addr, base, topic, &group).await;
    let (v, attempt, a_id) = c.next("start=earliest").await;
    assert_eq!((v.as_str(), attempt), ("a", 1));
    assert_eq!(
        c.ack("ack", &[&a_id]).await,
        json!({"acked": 1, "expired": []})
    );

    // Leased for 500 ms and not acknowledged: the group gives it again.
    let (v, attempt, b_lapsed) = c.next("ack_timeout_ms=500").await;
    assert_eq!((v.as_str(), attempt), ("b", 1));
    let (v, attempt, b_id) = c.next("").await;
    assert_eq!(
        (v.as_str(), attempt),
        ("b", 2),
        "redelivered after the lease lapsed"
    );
    assert_eq!(
        c.ack("ack", &[&b_lapsed]).await,
        json!({"acked": 0, "expired": [b_lapsed]}),
        "a lapsed lease settles nothing"
    );
    // A nack gives it back at once.
    assert_eq!(
        c.ack("nack", &[&b_id]).await,
        json!({"nacked": 1, "expired": []})
    );
    let (v, attempt, b_id) = c.next("").await;
    assert_eq!((v.as_str(), attempt), ("b", 3));

    // Ids this group's membership on this topic did not give: 400, and nothing is settled.
    let mut other = Consumer::new(addr, base, topic, &super::topic("h")).await;
    let (v, _, foreign) = other.next("start=earliest").await;
    assert_eq!(v, "a");
    let forged = "0123456789abcdef0123456789abcdef";
    for (t, ids) in [
        (topic, vec![b_id.as_str(), foreign.as_str()]),
        (topic, vec![b_id.as_str(), forged]),
        (topic, vec![b_id.as_str(), "not an id"]),
        ("another-topic", vec![b_id.as_str()]),
    ] {
        for what in ["ack", "nack"] {
            let a = c
                .settle(what, json!({"group": group, "topic": t, "ack_ids": ids}))
                .await;
            assert_eq!(a.status, 400, "{what} {t} {ids:?}: {:?}", a.body);
            assert!(
                a.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains("was not given by group"),
                "{:?}",
                a.body
            );
        }
    }
    let a = c
        .settle("ack", json!({"group": group, "ack_ids": [b_id]}))
        .await;
    assert_eq!(a.status, 400, "a body without the topic: {:?}", a.body);
    // b's lease stood through every refusal.
    assert_eq!(
        c.ack("ack", &[&b_id]).await,
        json!({"acked": 1, "expired": []})
    );
    assert!(
        c.get("wait_ms=300").await.is_empty(),
        "settled messages are not given again"
    );
    assert_eq!(other.ack("ack", &[&foreign]).await["acked"], json!(1));
}

#[tokio::test]
async fn embedded_group_get_leases_ack_settles_and_lapsed_or_nacked_leases_are_redelivered() {
    let gw = Gateway::start(EMBEDDED).await;
    at_least_once(gw.addr, "/embedded", &topic("hg")).await;
    gw.stop().await;
}

#[tokio::test]
async fn jetstream_group_get_leases_ack_settles_and_lapsed_or_nacked_leases_are_redelivered() {
    use crate::common::nats::{delete_stream, js_route, oracle, unique, NATS};
    let nc = oracle().await;
    let stream = unique("GWHG");
    let base = unique("gwhg.js").replace('_', ".");
    let gw = Gateway::start(&js_route("/js", NATS, &stream, &base, "")).await;
    at_least_once(gw.addr, "/js", &format!("{base}.t")).await;
    gw.stop().await;
    delete_stream(&nc, &stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_group_get_leases_ack_settles_and_lapsed_or_nacked_leases_are_redelivered() {
    use crate::common::kafka::{kafka_yaml, shared, topic as kafka_topic};
    let broker = shared();
    let t = kafka_topic("httpg");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    at_least_once(gw.addr, "/kafka", &t).await;
    gw.stop().await;
}

/// On the route at `base` (`gw`'s): a membership is not idle while a GET waits on it; one that
/// is idle is released, and what it had leased goes back to the group at once. The
/// delivery_attempt of the message's delivery to the group's next member.
async fn idle_release(gw: &Gateway, base: &str, t: &str) -> u32 {
    let group = topic("g");
    let mut c = Consumer::new(gw.addr, base, t, &group).await;
    assert!(c.get("start=earliest").await.is_empty());
    // Not idle while a GET waits on it, however short its idle_ms: the GET gets what comes.
    let mut publisher = Http::connect(gw.addr).await;
    let (got, posted) = tokio::join!(c.get("wait_ms=20000&idle_ms=100"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        publisher.post(&format!("{base}/topics/{t}"), "w").await
    });
    assert_eq!(posted.status, 200, "{:?}", posted.body);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["value"], json!("w"));
    let w = got[0]["ack_id"].as_str().unwrap().to_string();
    assert_eq!(c.ack("ack", &[&w]).await["acked"], json!(1));
    let a = c.http.post(&format!("{base}/topics/{t}"), "x").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // Leased for a minute, by a membership released after 300 ms without a call.
    let (v, attempt, id) = c.next("ack_timeout_ms=60000&idle_ms=300").await;
    assert_eq!((v.as_str(), attempt), ("x", 1));
    // Another member of the group, over WebSocket: it gets the message once the idle
    // membership gives it back, long before the lease would have lapsed.
    let mut ws = gw.connect(base).await;
    let sid = ws
        .subscribe(CmdKafkaSubscribe {
            group: group.clone(),
            ..sub(t)
        })
        .await;
    let got = ws.pushed(sid, 1).await;
    assert_eq!(value_of(&got[0]), "x");
    // Its ids died with it (asked on a new connection: the gateway closes idle ones).
    c.http = Http::connect(gw.addr).await;
    let a = c
        .settle("ack", json!({"group": group, "topic": t, "ack_ids": [id]}))
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    got[0].delivery_attempt
}

#[tokio::test]
async fn embedded_an_idle_membership_is_released_and_gives_its_leased_messages_back_to_the_group() {
    let gw = Gateway::start(EMBEDDED).await;
    assert_eq!(idle_release(&gw, "/embedded", &topic("idle")).await, 2);
    gw.stop().await;
}

#[tokio::test]
async fn jetstream_an_idle_membership_is_released_and_gives_its_leased_messages_back_to_the_group()
{
    use crate::common::nats::{delete_stream, js_route, oracle, unique, NATS};
    let nc = oracle().await;
    let stream = unique("GWHI");
    let base = unique("gwhi.js").replace('_', ".");
    let gw = Gateway::start(&js_route("/js", NATS, &stream, &base, "")).await;
    // JetStream counts every delivery, the one to the released member's closing pull included.
    assert!(idle_release(&gw, "/js", &format!("{base}.t")).await >= 2);
    gw.stop().await;
    delete_stream(&nc, &stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_an_idle_membership_is_released_and_gives_its_leased_messages_back_to_the_group() {
    use crate::common::kafka::{kafka_yaml, shared, topic as kafka_topic};
    let broker = shared();
    let t = kafka_topic("httpi");
    broker.create_topic(&t, 1).await;
    let gw = Gateway::start(&kafka_yaml(&broker.bootstrap(), "")).await;
    // The next member reads on from the group's committed offset: the gateway's count of
    // attempts, kept per member, starts over there.
    assert!(idle_release(&gw, "/kafka", &t).await >= 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_group_get_on_a_scheme_without_per_message_ack_answers_the_capability_error() {
    use crate::common::nats::{core_route, NATS};
    let gw = Gateway::start(&core_route("/n", NATS)).await;
    let mut http = Http::connect(gw.addr).await;
    let a = http.get("/n/topics/gwhg.core?group=g").await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let m = a.json()["message"].as_str().unwrap().to_string();
    assert!(m.contains("core NATS") && m.contains("ack"), "{m}");
    // Bad queries and bodies answer 400 before any membership is made.
    for q in [
        "group=",
        "group=g&ack_timeout_ms=0",
        "group=g&idle_ms=x",
        "group=g&start=soon",
    ] {
        let a = http.get(&format!("/n/topics/gwhg.core?{q}")).await;
        assert_eq!(a.status, 400, "{q}: {:?}", a.body);
    }
    let a = http.post("/n/ack", "{").await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let a = http.get("/n/ack").await;
    assert_eq!(a.status, 405, "{:?}", a.body);
    gw.stop().await;
}

#[tokio::test]
async fn a_membership_holds_at_most_max_leased_messages_and_settling_one_makes_room() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("full");
    let mut c = Consumer::new(gw.addr, "/embedded", &t, &topic("g")).await;
    let messages: Vec<Value> = (0..1001)
        .map(|i| json!({"value": format!("{i}")}))
        .collect();
    let a = c
        .http
        .send(
            "POST",
            &format!("/embedded/topics/{t}"),
            &[("content-type", "application/vnd.pubsub.batch+json")],
            json!({ "messages": messages }).to_string(),
        )
        .await;
    assert_eq!(a.status, 200);
    let mut ids = Vec::new();
    while ids.len() < 1000 {
        for m in c.get("start=earliest&max=1000&wait_ms=5000").await {
            ids.push(m["ack_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(ids.len(), 1000, "the first 1000, no more");
    // Full: a GET answers no message (and says so), however long it may wait.
    let a = c
        .http
        .get(&format!(
            "/embedded/topics/{t}?group={}&wait_ms=300",
            c.group
        ))
        .await;
    let v = a.json();
    assert_eq!(v["messages"], json!([]));
    assert_eq!(
        (v["leased"].clone(), v["max_leased"].clone()),
        (json!(1000), json!(1000))
    );
    // One settled makes room for the last message.
    assert_eq!(c.ack("ack", &[&ids[0]]).await["acked"], json!(1));
    let (v, attempt, _) = c.next("").await;
    assert_eq!((v.as_str(), attempt), ("1000", 1));
    gw.stop().await;
}

#[tokio::test]
async fn each_credential_holds_its_own_membership_under_its_own_acls() {
    let yaml = r#"
routes:
  - uri: /e
    upstream: { scheme: embedded }
    plugins:
      key-auth:
        keys:
          - { id: alice, key: alice-http-key-0123, acl: { write: ["mine-.*"], read: ["mine-.*"] } }
          - { id: bob, key: bob-http-key-0123456 }
"#;
    let gw = Gateway::start(yaml).await;
    let mut http = Http::connect(gw.addr).await;
    let t = topic("mine");
    let alice = [("apikey", "alice-http-key-0123")];
    let bob = [("apikey", "bob-http-key-0123456")];
    for v in ["one", "two"] {
        let a = http
            .send("POST", &format!("/e/topics/{t}"), &alice, v)
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let get = |topic: &str| format!("/e/topics/{topic}?group=g&start=earliest&wait_ms=300");
    assert_eq!(http.get(&get(&t)).await.status, 401);
    // Alice's ACL applies to her membership, as to her WebSocket subscribe.
    let a = http.send("GET", &get(&topic("theirs")), &alice, "").await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    // Bob's membership takes the group's messages (the one he asked for leased, the other
    // delivered to it, waiting for his next GET): Alice's own membership, in the same group,
    // gets none of them.
    let a = http.send("GET", &get(&t), &bob, "").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let bobs = a.json()["messages"][0].clone();
    assert_eq!(bobs["value"], json!("one"));
    let a = http.send("GET", &get(&t), &alice, "").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.json()["messages"], json!([]));
    let settle = |id: &Value| json!({"group": "g", "topic": t, "ack_ids": [id]}).to_string();
    let a = http
        .send("POST", "/e/ack", &[], settle(&bobs["ack_id"]))
        .await;
    assert_eq!(a.status, 401);
    // Bob's id is not Alice's to settle.
    let a = http
        .send("POST", "/e/ack", &alice, settle(&bobs["ack_id"]))
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let a = http
        .send("POST", "/e/ack", &bob, settle(&bobs["ack_id"]))
        .await;
    assert_eq!(a.json()["acked"], json!(1), "{:?}", a.body);
    let a = http.send("GET", &get(&t), &bob, "").await;
    assert_eq!(a.json()["messages"][0]["value"], json!("two"));
    gw.stop().await;
}
