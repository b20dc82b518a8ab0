//! Every shipped configuration parses and validates, and the binary's --check-config agrees.

use std::process::Command;

#[test]
fn every_file_in_conf_parses_and_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/conf");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("conf/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            pubsub_gateway::Config::load(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "expected conf/config.yaml and conf/docker.yaml"
    );
}

#[test]
fn shipped_config_has_the_documented_routes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/config.yaml");
    let c = pubsub_gateway::Config::load(path.as_ref()).expect("parses");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9080");
    let uris: Vec<_> = c.routes.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, ["/embedded", "/jobs", "/kafka"]);
    assert_eq!(
        c.routes[1].delivery.dead_letter.as_deref(),
        Some("jobs-dlq")
    );
    assert_eq!(c.routes[2].upstream.nodes.0, ["127.0.0.1:9092"]);
}

#[test]
fn check_config_exits_zero_when_valid_and_nonzero_naming_the_key_when_not() {
    let bin = env!("CARGO_BIN_EXE_pubsub-gateway");
    let ok = Command::new(bin)
        .args([
            "--check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/conf/config.yaml"),
        ])
        .output()
        .expect("runs");
    assert!(ok.status.success(), "{ok:?}");

    let bad = std::env::temp_dir().join(format!("pubsub-gw-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        "server:\n  listen: \"127.0.0.1:0\"\n  lissen: x\nroutes: []\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["--check-config", "--config"])
        .arg(&bad)
        .output()
        .expect("runs");
    let _ = std::fs::remove_file(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lissen") && err.contains("line 3"), "{err}");
}
