//! The load generator (examples/loadgen.rs) in smoke mode: every scenario on the embedded scheme
//! at tiny scale, against the real gateway binary, over real loopback WebSockets. It exits
//! non-zero when anything fails (missing or duplicated messages, error replies, dropped
//! connections, leaked file descriptors).
//!
//! `cargo test` builds examples into target/<profile>/examples/, next to this test's deps/
//! directory. (`cargo test --test loadgen_smoke` alone does not build examples: build it with
//! `cargo build --example loadgen` first.)

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn loadgen_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/loadgen_smoke-<hash> -> target/<profile>/examples/loadgen
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    profile_dir.join("examples").join("loadgen")
}

#[test]
fn loadgen_smoke_passes() {
    let loadgen = loadgen_bin();
    assert!(
        loadgen.exists(),
        "{} is missing: cargo test builds examples (or run cargo build --example loadgen)",
        loadgen.display()
    );
    // `cargo test --test loadgen_smoke` alone would run an example built from older source.
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/loadgen.rs");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(src), Some(bin)) = (modified(source.as_ref()), modified(&loadgen)) {
        assert!(
            bin >= src,
            "{} is older than {source}: rebuild it (cargo test, or cargo build --example loadgen)",
            loadgen.display()
        );
    }
    let json = std::env::temp_dir().join(format!("loadgen-smoke-{}.json", std::process::id()));
    let started = Instant::now();
    let out = Command::new(&loadgen)
        .args(["smoke", "--gateway", env!("CARGO_BIN_EXE_pubsub-gateway")])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run the loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "loadgen smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for scenario in [
        "smoke idle",
        "smoke fanout",
        "smoke fetch",
        "smoke requests (ping)",
        "smoke requests (produce)",
        "smoke churn",
    ] {
        assert!(
            stdout.contains(&format!("== {scenario} ==")),
            "no {scenario} report in:\n{stdout}"
        );
    }
    let report = std::fs::read_to_string(&json).expect("the JSON report");
    let _ = std::fs::remove_file(&json);
    assert!(report.contains("\"ok\": true"), "JSON report: {report}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "smoke run took {:?}",
        started.elapsed()
    );
}
