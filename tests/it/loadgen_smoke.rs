//! The load generator (examples/loadgen/) in smoke mode: every scenario on the embedded scheme
//! at tiny scale, against the real gateway binary, over real loopback WebSockets. It exits
//! non-zero when anything fails (missing or duplicated messages, error replies, dropped
//! connections, leaked file descriptors).
//!
//! The same smoke run against the floor (examples/floor.rs) proves the floor speaks enough of
//! the protocol for the scenarios it is measured in (idle, fanout, requests).
//!
//! `cargo test` builds examples into target/<profile>/examples/, next to this test's deps/
//! directory. (`cargo test --test it loadgen_smoke` alone does not build examples: build them
//! with `cargo build --example loadgen --example floor` first.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/loadgen_smoke-<hash> -> target/<profile>/examples/NAME
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    profile_dir.join("examples").join(name)
}

/// The newest modification time of an example's sources (a file or a directory of them).
fn newest_source(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .flatten()
        .filter_map(|e| newest_source(&e.path()))
        .max()
}

/// The example's binary, refused when it is older than its sources: `cargo test --test
/// loadgen_smoke` alone would run an example built from older source.
fn fresh_example(name: &str, source: &str) -> PathBuf {
    let bin = example_bin(name);
    assert!(
        bin.exists(),
        "{} is missing: cargo test builds examples (or run cargo build --example {name})",
        bin.display()
    );
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    if let (Some(src), Some(built)) = (newest_source(&source), built) {
        assert!(
            built >= src,
            "{} is older than {}: rebuild it (cargo test, or cargo build --example {name})",
            bin.display(),
            source.display()
        );
    }
    bin
}

/// Runs `loadgen smoke --gateway SERVER`; returns stdout after checking the exit status, the
/// JSON report and the time taken.
fn smoke(server: &Path) -> String {
    let loadgen = fresh_example("loadgen", "examples/loadgen");
    let name = server
        .file_name()
        .map_or("server".into(), |n| n.to_string_lossy());
    let json =
        std::env::temp_dir().join(format!("loadgen-smoke-{name}-{}.json", std::process::id()));
    let started = Instant::now();
    let out = Command::new(&loadgen)
        .arg("smoke")
        .arg("--gateway")
        .arg(server)
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
    let report = std::fs::read_to_string(&json).expect("the JSON report");
    let _ = std::fs::remove_file(&json);
    assert!(report.contains("\"ok\": true"), "JSON report: {report}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "smoke run took {:?}",
        started.elapsed()
    );
    stdout.into_owned()
}

#[test]
fn loadgen_smoke_passes() {
    let stdout = smoke(Path::new(env!("CARGO_BIN_EXE_pubsub-gateway")));
    for scenario in [
        "smoke idle",
        "smoke fanout",
        "smoke fetch",
        "smoke requests (ping)",
        "smoke requests (produce)",
        "smoke churn",
        "smoke acks",
        "smoke http",
    ] {
        assert!(
            stdout.contains(&format!("== {scenario} ==")),
            "no {scenario} report in:\n{stdout}"
        );
    }
}

#[test]
fn loadgen_smoke_against_the_floor_passes() {
    let floor = fresh_example("floor", "examples/floor.rs");
    let stdout = smoke(&floor);
    for scenario in [
        "smoke idle",
        "smoke fanout",
        "smoke requests (ping)",
        "smoke requests (produce)",
    ] {
        assert!(
            stdout.contains(&format!("== {scenario} ==")),
            "no {scenario} report in:\n{stdout}"
        );
    }
    for skipped in ["fetch", "churn", "acks", "http"] {
        assert!(
            stdout.contains(&format!("== smoke {skipped} == skipped")),
            "the floor run should say it skipped {skipped}:\n{stdout}"
        );
    }
    assert!(stdout.contains("server=floor"), "{stdout}");
}

/// Runs one loadgen scenario at tiny scale against the gateway; its stdout, after checking the
/// exit status and the JSON report (every message delivered once, no error).
fn scenario(args: &[&str]) -> String {
    let loadgen = fresh_example("loadgen", "examples/loadgen");
    let json = std::env::temp_dir().join(format!(
        "loadgen-{}-{}.json",
        args.join("-").replace(['/', ' '], "_"),
        std::process::id()
    ));
    let out = Command::new(&loadgen)
        .args(args)
        .arg("--gateway")
        .arg(env!("CARGO_BIN_EXE_pubsub-gateway"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run the loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "loadgen {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let report = std::fs::read_to_string(&json).expect("the JSON report");
    let _ = std::fs::remove_file(&json);
    assert!(report.contains("\"ok\": true"), "JSON report: {report}");
    stdout
}

#[test]
fn loadgen_gcp_fanout_delivers_every_message_to_every_subscriber_and_the_direct_one() {
    let out = scenario(&[
        "fanout",
        "--scheme",
        "gcp",
        "--subscribers",
        "20",
        "--rate",
        "20",
        "--seconds",
        "1",
    ]);
    assert!(out.contains("direct_received"), "{out}");
}

#[test]
fn loadgen_gcp_group_consumes_every_message_with_acks_through_the_gateway_and_directly() {
    let out = scenario(&["group", "--scheme", "gcp", "--messages", "50"]);
    assert!(out.contains("ratio_gateway_direct"), "{out}");
}

#[test]
fn loadgen_aws_fanout_delivers_every_message_to_every_subscriber_and_the_direct_one() {
    let out = scenario(&[
        "fanout",
        "--scheme",
        "aws",
        "--subscribers",
        "20",
        "--rate",
        "10",
        "--seconds",
        "1",
    ]);
    assert!(out.contains("direct_received"), "{out}");
}

#[test]
fn loadgen_aws_group_consumes_every_message_with_acks_through_the_gateway_and_directly() {
    let out = scenario(&["group", "--scheme", "aws", "--messages", "30"]);
    assert!(out.contains("ratio_gateway_direct"), "{out}");
}
