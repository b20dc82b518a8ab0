//! The `pubsub` binary as a person or a script runs it, against the real gateway (started
//! in-process) on an embedded route and on a Kafka route (Tansu, see tests/common/kafka.rs in the
//! root).

#[path = "../../../tests/common/kafka.rs"]
mod broker;
#[path = "../../../tests/common/harness.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{embedded_with, Gateway, EMBEDDED};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pubsub");

/// Runs `pubsub ARGS` with PUBSUB_URL set, feeding `stdin`; off the runtime's threads, since
/// the gateway runs in this process.
async fn run(url: &str, args: &[&str], stdin: &str) -> Output {
    let url = url.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(&args)
            .env("PUBSUB_URL", &url)
            .env_remove("PUBSUB_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pubsub");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        wait_output(child, Duration::from_secs(30))
    })
    .await
    .expect("runner")
}

/// The child's output; kills it (and fails) after `limit`.
fn wait_output(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("pubsub output"),
        Err(_) => {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("pubsub did not finish within {limit:?}");
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_then_sub_prints_messages_for_people_and_as_json_lines() {
    let gw = Gateway::start(EMBEDDED).await;
    let url = format!("ws://{}/embedded", gw.addr);

    assert_eq!(
        ok(&run(&url, &["pub", "chat", "hello"], "").await),
        "chat 0 0\n"
    );
    // `-` publishes each line of stdin, reported in order.
    assert_eq!(
        ok(&run(&url, &["pub", "chat", "-"], "a\nb\n").await),
        "chat 0 1\nchat 0 2\n"
    );
    let out = ok(&run(
        &url,
        &[
            "pub",
            "chat",
            "--key",
            "k",
            "-H",
            "h=v",
            "-H",
            "x=y",
            "--partition",
            "0",
            "--json",
            "world",
        ],
        "",
    )
    .await);
    assert_eq!(json_lines(&out)[0]["offset"], 3);

    let out = ok(&run(
        &url,
        &[
            "sub", "chat", "--start", "earliest", "--count", "4", "--json",
        ],
        "",
    )
    .await);
    let lines = json_lines(&out);
    let values: Vec<&str> = lines.iter().map(|l| l["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["hello", "a", "b", "world"]);
    assert_eq!(lines[3]["key"], "k");
    assert_eq!(lines[3]["headers"]["h"], "v");
    assert_eq!(lines[3]["headers"]["x"], "y");
    assert_eq!(lines[1]["offset"], 1);

    // For people: aligned columns, text values, headers; --hex for bytes.
    let out = ok(&run(
        &url,
        &["sub", "chat", "--start", "offset:3", "--count", "1"],
        "",
    )
    .await);
    assert!(
        out.starts_with("chat               0        3  "),
        "{out:?}"
    );
    assert!(out.contains("[k] world  h=v  x=y"), "{out:?}");
    let out = ok(&run(
        &url,
        &["sub", "chat", "--start", "last", "--count", "1", "--hex"],
        "",
    )
    .await);
    assert!(out.contains("776f726c64"), "{out:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_offsets_meta_and_info_answer_for_people_and_programs() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let url = format!("ws://{}/embedded", gw.addr);
    ok(&run(
        &url,
        &["pub", "f", "--partition", "1", "-"],
        "m0\nm1\nm2\nm3\n",
    )
    .await);

    let out = ok(&run(&url, &["fetch", "f", "1", "1", "--json"], "").await);
    let offsets: Vec<i64> = json_lines(&out)
        .iter()
        .map(|l| l["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [1, 2, 3], "from OFFSET to the end");
    let out = ok(&run(&url, &["fetch", "f", "1", "0", "--count", "2"], "").await);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().nth(1).unwrap().ends_with("m1"), "{out}");

    let out = ok(&run(&url, &["offsets", "f"], "").await);
    assert_eq!(
        out,
        "PARTITION     EARLIEST          END\n        0            0            0\n        1            0            4\n"
    );
    let out = ok(&run(&url, &["offsets", "f", "1", "--at", "0", "--json"], "").await);
    assert_eq!(json_lines(&out)[0]["offset"], 0);
    let out = ok(&run(&url, &["meta", "f", "--json"], "").await);
    let meta = &json_lines(&out)[0];
    assert_eq!(meta["partitions"][1]["messages"], 4);
    let out = ok(&run(&url, &["meta", "f"], "").await);
    assert!(
        out.starts_with("topic f: 2 partitions, 4 messages\n"),
        "{out}"
    );

    let out = ok(&run(&url, &["info"], "").await);
    assert!(out.contains("scheme            embedded\n"), "{out}");
    assert!(out.contains("commit            yes\n"), "{out}");
    let info = &json_lines(&ok(&run(&url, &["info", "--json"], "").await))[0];
    assert_eq!(info["scheme"], "embedded");
    assert_eq!(info["capabilities"]["ack"], true);
    assert!(ok(&run(&url, &["ping"], "").await).starts_with("pong in "));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_error_replies_usage_errors_and_connection_failures_apart() {
    let gw = Gateway::start(EMBEDDED).await;
    let url = format!("ws://{}/embedded", gw.addr);
    ok(&run(&url, &["pub", "x", "v"], "").await);

    let o = run(&url, &["meta", "missing"], "").await;
    assert_eq!(o.status.code(), Some(1), "an error reply");
    assert!(String::from_utf8_lossy(&o.stderr).contains("404"));
    let o = run(&url, &["fetch", "x", "0", "99"], "").await;
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("416"));

    assert_eq!(run(&url, &["bogus"], "").await.status.code(), Some(2));
    assert_eq!(run(&url, &["sub"], "").await.status.code(), Some(2));
    assert_eq!(
        run(&url, &["sub", "x", "--start", "soon"], "")
            .await
            .status
            .code(),
        Some(2)
    );

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("ws://{}/embedded", free.local_addr().unwrap());
    drop(free);
    let o = run(&dead, &["ping"], "").await;
    assert_eq!(o.status.code(), Some(3), "no connection");
    // The flag wins over the environment.
    let o = run(&dead, &["--url", &url, "ping"], "").await;
    assert_eq!(o.status.code(), Some(0));
    gw.stop().await;
}

/// Several URLs (the same route on gateway replicas): a comma-separated PUBSUB_URL or a
/// repeated --url; a dead first one is passed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_urls_are_tried_in_order_and_a_dead_first_one_is_passed_over() {
    let gw = Gateway::start(EMBEDDED).await;
    let url = format!("ws://{}/embedded", gw.addr);
    let dead = |n| {
        let free = std::net::TcpListener::bind(format!("127.0.0.{n}:0")).unwrap();
        let dead = format!("ws://{}/embedded", free.local_addr().unwrap());
        drop(free);
        dead
    };
    let (dead1, dead2) = (dead(1), dead(2));

    let both = format!("{dead1},{url}");
    assert_eq!(ok(&run(&both, &["pub", "fo", "one"], "").await), "fo 0 0\n");
    assert_eq!(
        ok(&run(
            &dead1,
            &["--url", &dead2, "--url", &url, "pub", "fo", "two"],
            ""
        )
        .await),
        "fo 0 1\n"
    );
    let out = ok(&run(
        &both,
        &["sub", "fo", "--start", "earliest", "--count", "2", "--json"],
        "",
    )
    .await);
    let values: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| l["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values, ["one", "two"]);

    // None answers: exit 3, every URL named.
    let o = run(&format!("{dead1},{dead2}"), &["ping"], "").await;
    assert_eq!(o.status.code(), Some(3), "no connection");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&dead1) && err.contains(&dead2), "{err}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_comes_from_pubsub_token_or_the_flag() {
    let gw = Gateway::start(
        "routes:\n  - uri: /k\n    upstream: { scheme: embedded }\n    plugins:\n      key-auth: { query: token, keys: [{ id: a, key: key-a }] }\n",
    )
    .await;
    let url = format!("ws://{}/k", gw.addr);
    // Refused at the upgrade: no connection.
    assert_eq!(run(&url, &["ping"], "").await.status.code(), Some(3));
    ok(&run(&url, &["--token", "key-a", "ping"], "").await);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("ping")
            .env("PUBSUB_URL", &url)
            .env("PUBSUB_TOKEN", "key-a")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    ok(&out);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_a_subscription_cleanly_and_a_group_resumes_at_what_commit_committed() {
    let gw = Gateway::start(EMBEDDED).await;
    let url = format!("ws://{}/embedded", gw.addr);
    ok(&run(&url, &["pub", "g", "-"], "m0\nm1\nm2\n").await);

    // --commit as it goes: the group's next member starts after what was printed.
    let out = ok(&run(
        &url,
        &[
            "sub", "g", "--group", "G", "--start", "earliest", "--count", "2", "--commit",
        ],
        "",
    )
    .await);
    assert_eq!(out.lines().count(), 2);

    let mut child = Command::new(BIN)
        .args(["sub", "g", "--group", "G", "--start", "earliest", "--json"])
        .env("PUBSUB_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pubsub");
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let first = tokio::time::timeout(Duration::from_secs(20), first)
        .await
        .expect("a message in time")
        .unwrap()
        .unwrap();
    assert_eq!(json_lines(&first)[0]["value"], "m2");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = tokio::task::spawn_blocking(move || wait_output(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_client_works_on_a_kafka_route() {
    // The shared harness falls back to its crate's scripts/: point it at the root's.
    if std::env::var_os("TANSU_BIN").is_none() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/install-test-broker.sh"
        );
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run install-test-broker.sh");
        assert!(
            out.status.success(),
            "{script} failed: this test needs Tansu"
        );
        std::env::set_var("TANSU_BIN", String::from_utf8_lossy(&out.stdout).trim());
    }
    let b = broker::shared();
    let topic = broker::topic("cli");
    b.create_topic(&topic, 2).await;
    // kafka_yaml's route allows every group (topic-acl.groups).
    let yaml = broker::kafka_yaml(&b.bootstrap(), "");
    let gw = Gateway::start(&yaml).await;
    let url = format!("ws://{}/kafka", gw.addr);

    let info = &json_lines(&ok(&run(&url, &["info", "--json"], "").await))[0];
    assert_eq!(info["scheme"], "kafka");
    let out = ok(&run(
        &url,
        &["pub", &topic, "--partition", "1", "-H", "h=v", "-"],
        "k0\nk1\nk2\n",
    )
    .await);
    assert_eq!(out.lines().last(), Some(format!("{topic} 1 2").as_str()));

    let out = ok(&run(&url, &["fetch", &topic, "1", "0", "--json"], "").await);
    let values: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| l["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values, ["k0", "k1", "k2"]);
    let out = ok(&run(&url, &["offsets", &topic, "1"], "").await);
    assert!(
        out.ends_with("        1            0            3\n"),
        "{out}"
    );
    ok(&run(&url, &["meta", &topic], "").await);

    let out = ok(&run(
        &url,
        &[
            "sub", &topic, "--group", "cli-g", "--start", "earliest", "--count", "2", "--commit",
            "--json",
        ],
        "",
    )
    .await);
    let lines = json_lines(&out);
    assert_eq!(lines[0]["headers"]["h"], "v");
    // The group committed 2: its next member gets k2.
    let out = ok(&run(
        &url,
        &[
            "sub", &topic, "--group", "cli-g", "--start", "earliest", "--count", "1", "--json",
        ],
        "",
    )
    .await);
    assert_eq!(json_lines(&out)[0]["value"], "k2");
    let o = run(&url, &["fetch", &topic, "1", "99"], "").await;
    assert_eq!(o.status.code(), Some(1));
    gw.stop().await;
}
