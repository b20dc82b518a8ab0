//! Parsing and validation of configurations, without a server.

use super::*;

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = "routes:\n  - uri: /a\n    upstream:\n      scheme: embedded\n      bogus: 1\n";
    let err = Config::parse(text, "t.yaml").unwrap_err().to_string();
    assert!(err.contains("bogus"), "{err}");
    assert!(err.contains("line 5"), "{err}");
}

#[test]
fn nodes_accept_apisix_map_and_lists() {
    let text = r#"
routes:
  - uri: /a
    upstream: { scheme: kafka, type: none, nodes: { "127.0.0.1:9092": 1, "b:9093": 2 } }
  - uri: /b
    upstream: { scheme: kafka, nodes: ["h:1"] }
  - uri: /c
    upstream: { scheme: kafka, nodes: [{ host: h, port: 2, weight: 1 }] }
"#;
    let c = Config::parse(text, "t").unwrap();
    assert_eq!(
        c.routes[0].upstream.nodes.0,
        vec!["127.0.0.1:9092", "b:9093"]
    );
    assert_eq!(c.routes[1].upstream.nodes.0, vec!["h:1"]);
    assert_eq!(c.routes[2].upstream.nodes.0, vec!["h:2"]);
}

#[test]
fn bad_node_is_rejected_with_line() {
    let text =
        "routes:\n  - uri: /a\n    upstream:\n      scheme: kafka\n      nodes: [\"nohost\"]\n";
    let err = Config::parse(text, "t").unwrap_err().to_string();
    assert!(err.contains("nohost") && err.contains("line 5"), "{err}");
}

#[test]
fn gateway_owned_kafka_keys_are_refused() {
    let text = "routes:\n  - uri: /a\n    upstream:\n      scheme: kafka\n      nodes: [\"h:1\"]\n      kafka: { sasl.password: x }\n";
    let err = Config::parse(text, "t").unwrap_err().to_string();
    assert!(
        err.contains("routes[0].upstream.kafka.sasl.password"),
        "{err}"
    );
}

#[test]
fn sasl_debug_never_shows_the_password() {
    let s = Sasl {
        username: "u".into(),
        password: "hunter2".into(),
        mechanism: SaslMechanism::ScramSha512,
    };
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn idle_timeout_must_exceed_the_ping_interval() {
    let text = "server:\n  limits: { idle_timeout_secs: 5, ping_interval_secs: 5 }\nroutes:\n  - uri: /a\n    upstream: { scheme: embedded }\n";
    let err = Config::parse(text, "t").unwrap_err().to_string();
    assert!(err.contains("server.limits.idle_timeout_secs"), "{err}");
}

#[test]
fn prefix_routes_match_by_prefix() {
    let text = "routes:\n  - uri: /ws/*\n    upstream: { scheme: embedded }\n";
    let c = Config::parse(text, "t").unwrap();
    assert!(c.routes[0].matches("/ws/game"));
    assert!(!c.routes[0].matches("/other"));
}

const NATS_ROUTE: &str =
    "routes:\n  - uri: /n\n    upstream:\n      scheme: nats\n      nodes: [\"127.0.0.1:4222\"]\n";

#[test]
fn nats_section_errors_name_the_key_and_line() {
    let text = format!("{NATS_ROUTE}      nats:\n        create_stream: {{ subjects: [a.>] }}\n");
    let err = Config::parse(&text, "t").unwrap_err().to_string();
    assert!(
        err.contains("nats.create_stream needs nats.stream"),
        "{err}"
    );
    assert!(
        err.contains("routes[0].upstream") && err.contains("line 4"),
        "{err}"
    );
    let text = format!("{NATS_ROUTE}      nats: {{ stream: S, bogus: 1 }}\n");
    let err = Config::parse(&text, "t").unwrap_err().to_string();
    assert!(err.contains("bogus") && err.contains("line 6"), "{err}");
    let text = format!("{NATS_ROUTE}      nats: {{ stream: \"a.b\" }}\n");
    let err = Config::parse(&text, "t").unwrap_err().to_string();
    assert!(err.contains("not a JetStream stream name"), "{err}");
}

#[test]
fn nats_route_parses_with_stream_and_credentials() {
    let text = format!("{NATS_ROUTE}      nats: {{ stream: CHAT, create_stream: {{ subjects: [\"chat.>\"], max_msgs: 10 }} }}\n    plugins:\n      nats-auth: {{ user: u, password: hunter2 }}\n");
    let c = Config::parse(&text, "t").unwrap();
    let SchemeConfig::Nats(n) = &c.routes[0].upstream.scheme else {
        panic!("a nats route")
    };
    assert!(n.is_jetstream());
    assert_eq!(n.max_ack_pending, 1000);
    let auth = c.routes[0].plugins.nats_auth.as_ref().unwrap();
    assert!(!format!("{auth:?}").contains("hunter2"));
    assert!(!format!("{:?}", c.routes[0]).contains("hunter2"));
}

#[test]
fn nats_auth_needs_exactly_one_method_and_nats_options_only_on_nats() {
    let text = format!(
        "{NATS_ROUTE}    plugins:\n      nats-auth: {{ token: a, user: u, password: p }}\n"
    );
    let err = Config::parse(&text, "t").unwrap_err().to_string();
    assert!(
        err.contains("exactly one") && err.contains("line 7"),
        "{err}"
    );
    let text = "routes:\n  - uri: /a\n    upstream: { scheme: embedded, nats: { stream: S } }\n";
    let err = Config::parse(text, "t").unwrap_err().to_string();
    assert!(
        err.contains("`nats` is an option of the nats scheme, not of embedded"),
        "{err}"
    );
}

#[test]
fn nats_tls_always_verifies() {
    let text = format!("{NATS_ROUTE}      tls: {{ verify: false }}\n");
    let err = Config::parse(&text, "t").unwrap_err().to_string();
    assert!(err.contains("routes[0].upstream.tls.verify"), "{err}");
}

/// #22: a Kafka option on a NATS route was accepted and limited nothing.
#[test]
fn an_option_of_another_scheme_is_refused_with_its_key_scheme_and_line() {
    let text = format!("{NATS_ROUTE}      max_group_consumers: 3\n");
    let err = Config::parse(&text, "t").unwrap_err().to_string();
    assert!(
        err.contains("`max_group_consumers` is an option of the kafka scheme, not of nats")
            && err.contains("line 6"),
        "{err}"
    );
    // Before `scheme` too (the line is then the upstream's).
    let text = "routes:\n  - uri: /a\n    upstream:\n      redis: { mode: pubsub }\n      scheme: mqtt\n      nodes: [\"h:1\"]\n";
    let err = Config::parse(text, "t").unwrap_err().to_string();
    assert!(
        err.contains("`redis` is an option of the redis scheme, not of mqtt")
            && err.contains("line"),
        "{err}"
    );
    for (scheme, plugin) in [
        ("nats", "redis-auth: { password: p }"),
        ("embedded", "nats-auth: { token: t }"),
    ] {
        let nodes = if scheme == "embedded" {
            ""
        } else {
            ", nodes: [\"h:1\"]"
        };
        let text = format!(
            "routes:\n  - uri: /a\n    upstream: {{ scheme: {scheme}{nodes} }}\n    plugins:\n      {plugin}\n"
        );
        let err = Config::parse(&text, "t").unwrap_err().to_string();
        assert!(
            err.contains("does not apply to the") && err.contains("routes[0].plugins."),
            "{err}"
        );
    }
}

/// What every scheme shares is checked once against the scheme's rules.
#[test]
fn shared_parts_follow_each_schemes_rules() {
    let cases = [
        ("scheme: embedded, nodes: [\"h:1\"]", "upstream.nodes"),
        (
            "scheme: redis, nodes: [\"h:1\", \"h:2\"]",
            "exactly one server",
        ),
        ("scheme: mqtt, nodes: []", "exactly one server"),
        ("scheme: kafka", "at least one server"),
        ("scheme: rabbitmq, nodes: [\"h:1\"]", "needs `rabbitmq:`"),
        (
            "scheme: redis, nodes: [\"h:1\"], tls: { verify: false }",
            "upstream.tls.verify",
        ),
        (
            "scheme: kafka, nodes: [\"h:1\"], tls: { client_cert: /c }",
            "go together",
        ),
        ("scheme: embedded, tls: {}", "upstream.tls"),
        (
            "scheme: nats, nodes: [\"h:1\"], timeout: { read: 0 }",
            "upstream.timeout.read",
        ),
    ];
    for (upstream, want) in cases {
        let text = format!("routes:\n  - uri: /a\n    upstream: {{ {upstream} }}\n");
        let err = Config::parse(&text, "t").unwrap_err().to_string();
        assert!(err.contains(want), "{upstream}: {err}");
    }
    let ok = "routes:\n  - uri: /a\n    upstream: { scheme: kafka, nodes: [\"h:1\"], tls: { verify: false } }\n";
    assert!(
        Config::parse(ok, "t").is_ok(),
        "Kafka may skip verification"
    );
}

fn gcp_route(opts: &str, rest: &str) -> String {
    format!(
        "routes:\n  - uri: /g\n    upstream:\n      scheme: gcp-pubsub\n      nodes: [\"127.0.0.1:8085\"]\n      gcp_pubsub:\n{opts}{rest}"
    )
}

#[test]
fn gcp_pubsub_options_are_checked_naming_the_key_and_line() {
    let ok = gcp_route("        project: my-project\n        emulator: true\n", "");
    let c = Config::parse(&ok, "t").unwrap();
    let SchemeConfig::GcpPubsub(g) = &c.routes[0].upstream.scheme else {
        panic!("not gcp-pubsub")
    };
    assert_eq!(
        (
            g.ack_deadline_secs,
            g.max_delivery_attempts,
            g.message_ordering
        ),
        (30, 5, false)
    );
    for (opts, want) in [
        ("        project: p1\n", "gcp_pubsub.project"),
        ("        project: My-Project\n", "gcp_pubsub.project"),
        ("        project: my-project-\n", "gcp_pubsub.project"),
        ("        project: my-project\n        bogus: 1\n", "bogus"),
        ("        project: my-project\n        ack_deadline_secs: 9\n", "ack_deadline_secs"),
        ("        project: my-project\n        ack_deadline_secs: 601\n", "ack_deadline_secs"),
        ("        project: my-project\n        max_delivery_attempts: 5\n", "needs dead_letter_topic"),
        ("        project: my-project\n        dead_letter_topic: dlq\n        max_delivery_attempts: 4\n", "between 5 and 100"),
        ("        project: my-project\n        dead_letter_topic: dlq\n        max_delivery_attempts: 101\n", "between 5 and 100"),
        ("        project: my-project\n        dead_letter_topic: goog-x\n", "dead_letter_topic"),
        ("        project: my-project\n        subscription_prefix: goog-\n", "subscription_prefix"),
        ("        project: my-project\n        subscription_prefix: 1gw-\n", "subscription_prefix"),
        ("        project: my-project\n        subscription_prefix: a/b\n", "subscription_prefix"),
        ("        project: my-project\n        live_subscription_ttl_secs: 3600\n", "live_subscription_ttl_secs"),
        ("        project: my-project\n        max_lease_secs: 29\n", "max_lease_secs"),
        ("        project: my-project\n        max_lease_secs: 86401\n", "max_lease_secs"),
        ("        project: my-project\n        replay_window_secs: 599\n", "replay_window_secs"),
        ("        project: my-project\n        replay_window_secs: 604801\n", "replay_window_secs"),
    ] {
        let err = Config::parse(&gcp_route(opts, ""), "t").unwrap_err().to_string();
        assert!(err.contains(want) && err.contains("line"), "{opts}: {err}");
    }
    let good = "        project: my-project\n        dead_letter_topic: dlq\n        max_delivery_attempts: 100\n        emulator: true\n";
    assert!(Config::parse(&gcp_route(good, ""), "t").is_ok());
    for good in [
        "        project: my-project\n        replay_window_secs: 0\n        max_lease_secs: 30\n        emulator: true\n",
        "        project: my-project\n        replay_window_secs: 604800\n        max_lease_secs: 86400\n        emulator: true\n",
    ] {
        assert!(Config::parse(&gcp_route(good, ""), "t").is_ok(), "{good}");
    }
}

#[test]
fn gcp_pubsub_routes_follow_the_schemes_rules() {
    let cases = [
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: gcp-pubsub, nodes: [\"h:1\"] }\n".to_string(),
            "needs `gcp_pubsub:`",
        ),
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: gcp-pubsub, gcp_pubsub: { project: my-project, emulator: true } }\n".to_string(),
            "exactly one node",
        ),
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: gcp-pubsub, nodes: [\"a:1\", \"b:2\"], gcp_pubsub: { project: my-project, emulator: true } }\n".to_string(),
            "at most one",
        ),
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: gcp-pubsub, nodes: [\"h:8085\"], gcp_pubsub: { project: my-project } }\n".to_string(),
            "port 443",
        ),
        (
            gcp_route(
                "        project: my-project\n        emulator: true\n",
                "    plugins:\n      gcp-auth: { credentials_file: /k.json }\n",
            ),
            "routes[0].plugins.gcp-auth",
        ),
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: redis, nodes: [\"h:1\"], gcp_pubsub: { project: my-project } }\n".to_string(),
            "`gcp_pubsub` is an option of the gcp-pubsub scheme, not of redis",
        ),
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: gcp-pubsub, redis: { mode: pubsub }, gcp_pubsub: { project: my-project } }\n".to_string(),
            "`redis` is an option of the redis scheme, not of gcp-pubsub",
        ),
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: redis, nodes: [\"h:1\"] }\n    plugins:\n      gcp-auth: { credentials_file: /k.json }\n".to_string(),
            "does not apply to the redis scheme",
        ),
        (
            "routes:\n  - uri: /g\n    upstream: { scheme: gcp-pubsub, gcp_pubsub: { project: my-project } }\n    plugins:\n      gcp-auth: { credentials_file: /k.json, private_key: x }\n".to_string(),
            "private_key",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse(&text, "t").unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
    let google = "routes:\n  - uri: /g\n    upstream: { scheme: gcp-pubsub, nodes: [\"europe-west1-pubsub.googleapis.com:443\"], gcp_pubsub: { project: my-project } }\n    plugins:\n      gcp-auth: { credentials_file: /k.json }\n";
    assert!(Config::parse(google, "t").is_ok());
}
