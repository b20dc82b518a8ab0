//! Load generator for pubsub-gateway.
//!
//! Starts the real gateway binary (and, for the Kafka scheme, the Tansu test broker) with a
//! configuration it writes to a temporary directory, drives it over real loopback WebSockets from
//! several 127.0.0.x source addresses, prints a table per scenario and writes JSON (`--json`).
//! The same scenarios run against the floor (examples/floor.rs), the baseline every figure is
//! compared with: `--gateway` names it instead of the gateway, `--compare` runs both.
//!
//! ```text
//! cargo build --release --bin pubsub-gateway --example loadgen --example floor
//! target/release/examples/loadgen idle --connections 100000
//! target/release/examples/loadgen fanout --subscribers 1000 --rate 500 --size 100 --scheme embedded
//! target/release/examples/loadgen fetch --messages 1000000 --scheme kafka
//! target/release/examples/loadgen requests --connections 1000 --kind ping
//! target/release/examples/loadgen churn --rate 500 --seconds 30
//! target/release/examples/loadgen smoke            # tiny scale, exits non-zero on any failure
//! target/release/examples/loadgen requests --kind ping --gateway target/release/examples/floor
//! target/release/examples/loadgen requests --kind ping --compare target/release/examples/floor
//! ```
//!
//! Exit status: 0 when every scenario ran without failures (missing, duplicated or out-of-order
//! messages, error replies, dropped connections); 1 when a scenario reported failures; 2 when a
//! scenario could not run. Missed performance targets are reported, not failures.

mod args;
#[cfg(feature = "aws")]
mod aws;
mod churn;
mod client;
#[cfg(any(feature = "gcp-pubsub", feature = "aws"))]
mod cloud;
#[cfg(any(feature = "gcp-pubsub", feature = "aws"))]
mod cloudfan;
mod compare;
mod fanout;
mod fetch;
mod gateway;
#[cfg(feature = "gcp-pubsub")]
mod gcp;
#[cfg(any(feature = "gcp-pubsub", feature = "aws"))]
mod group;
mod httpb;
mod idle;
mod kafka;
mod process;
mod produce;
mod push;
mod report;
mod requests;
mod settle;
mod smoke;
mod values;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::churn::churn;
use crate::client::clock;
use crate::compare::ratios;
use crate::fanout::fanout;
use crate::fetch::fetch;
use crate::gateway::{Env, Server};
use crate::idle::idle;
use crate::process::{loadavg, raise_nofile};
use crate::report::{Report, J};
use crate::requests::requests;
use crate::smoke::smoke;

const USAGE: &str = "\
usage: loadgen SCENARIO [options]

scenarios (defaults in brackets):
  idle      --connections N [10000] --topics K [1] --concurrency C [100] --hold SECS [3]
            N idle subscribed connections: gateway RSS per connection, connect rate
  fanout    --subscribers S [1000] --rate R [500] --size B [100] --seconds T [10]
            --scheme embedded|kafka [embedded] --producer gateway|rdkafka [gateway]
            --producers P [1]
            S subscribers of one topic, R msgs/s produced: delivered msgs/s, latency
  fanout    --scheme gcp|aws --subscribers S [1000] --rate R [100] --size B [100]
            --seconds T [10] --inflight K [32]
            one Pub/Sub or SNS topic (the emulator, moto: started by scripts/), S
            subscribers through the gateway, R msgs/s published by a direct client (K
            calls in flight), and the direct client's own subscriber as the reference
  group     --scheme gcp|aws --messages N [2000] --size B [100] --rounds R [1]
            --max-in-flight M [0 = the route's]
            N preloaded messages consumed with per-message acks by one gateway group
            member, then by a direct client of the same emulator/moto: msgs/s, ratio
  fetch     --messages N [1000000] --size B [100] --scheme kafka|embedded [kafka]
            --rounds R [2] --fetch-max-messages M [0 = server default]
            a preloaded partition read through the gateway vs a direct rdkafka consumer
  requests  --connections C [1000] --kind ping|produce [ping] --inflight K [16]
            --seconds T [10] --size B [100] --scheme embedded|kafka [embedded]
            round trips/s over C pipelining connections
  churn     --rate R [200] --seconds T [20] --topics K [10] --max-pending P [2000]
            --rounds N [2] --settle SECS [3]
            connect, subscribe, receive one message, disconnect at R/s: RSS and fds after
  acks      --scheme embedded|kafka [embedded] --messages N [20000] --members LIST [1,4]
            --partitions P [4] --size B [100] --hold W [10000]
            group throughput, per-message acks vs cumulative commits, M members each;
            gateway RSS with a member holding W unacknowledged messages
  http      --connections C [100] --seconds T [5] --subscribers S [1000] --rate R [200]
            --fanout-seconds F [5] --size B [100]
            embedded: keep-alive HTTP POST publishes vs WebSocket produces (C connections,
            one request each at a time), then SSE fan-out to S streams vs WebSocket fan-out
  smoke     every scenario on the embedded scheme at tiny scale (a few seconds)

common options:
  --gateway PATH   server binary [target/release/pubsub-gateway]; the floor
                   (target/release/examples/floor) runs idle, fanout and requests on the
                   embedded scheme, without the gateway's config, limits and checks
  --server KIND    gateway|floor [by the binary's name: floor* is the floor]
  --compare FLOOR  run against --gateway, then against the floor binary FLOOR, and print
                   the ratios gateway / floor
  --json FILE      write the results as JSON
  --threads N      loadgen runtime worker threads [2]
  --addrs N        client source addresses 127.0.0.2.. [enough for the connections, >= 4]
  --tansu PATH     Tansu broker binary [$TANSU_BIN or scripts/install-test-broker.sh]
  --log-level L    gateway log filter [warn]";

const COMMON: &[&str] = &[
    "gateway",
    "server",
    "compare",
    "json",
    "threads",
    "addrs",
    "tansu",
    "log-level",
];
/// Bound on any single wait for the gateway (connect, reply, drain).
const WAIT: Duration = Duration::from_secs(30);

async fn run_one(env: &Env, a: &Args) -> Result<Report, String> {
    let t = Instant::now();
    let cloud_scheme = matches!(
        a.opts.get("scheme").map(String::as_str),
        Some("gcp" | "aws")
    );
    let mut r = match a.scenario.as_str() {
        "idle" => idle(env, a).await,
        "acks" => settle::acks(env, a).await,
        "http" => httpb::http(env, a).await,
        #[cfg(any(feature = "gcp-pubsub", feature = "aws"))]
        "fanout" if cloud_scheme => cloudfan::fanout(env, a, &a.str("scheme", "gcp")).await,
        #[cfg(any(feature = "gcp-pubsub", feature = "aws"))]
        "group" => group::group(env, a).await,
        #[cfg(not(any(feature = "gcp-pubsub", feature = "aws")))]
        "group" => Err("group needs the gcp-pubsub or aws feature".into()),
        "fanout" if cloud_scheme => Err(format!(
            "--scheme {} needs the gcp-pubsub or aws feature",
            a.str("scheme", "")
        )),
        "fanout" => fanout(env, a).await,
        "fetch" => fetch(env, a).await,
        "requests" => requests(env, a).await,
        "churn" => churn(env, a).await,
        other => Err(format!("unknown scenario {other}\n{USAGE}")),
    }?;
    r.metric("scenario_wall_secs", t.elapsed().as_secs_f64(), "s");
    Ok(r)
}

fn main() -> ExitCode {
    clock();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if matches!(args.scenario.as_str(), "help" | "--help" | "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let nofile = raise_nofile();
    // The aws route's credentials (moto takes any key), set while this process has one thread.
    #[cfg(feature = "aws")]
    for var in [aws::KEY_VAR, aws::SECRET_VAR] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, "testing");
        }
    }
    let threads: usize = match args.num("threads", 2) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let addrs = match args.opts.get("addrs").map(|v| v.parse::<usize>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            eprintln!("--addrs: not a number");
            return ExitCode::from(2);
        }
    };
    let work = std::env::temp_dir().join(format!("pubsub-loadgen-{}", std::process::id()));
    let gateway_bin = PathBuf::from(args.str("gateway", "target/release/pubsub-gateway"));
    let server = match Server::of(&gateway_bin, args.opts.get("server").map(String::as_str)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let env = Env {
        gateway_bin,
        server,
        tansu_bin: args.opts.get("tansu").cloned(),
        work: work.clone(),
        addrs,
        nofile,
        log_level: args.str("log-level", "warn"),
        runs: AtomicUsize::new(0),
    };
    // --compare: the same scenario against the floor, in its own work directory.
    let floor_env = args.opts.get("compare").map(|bin| Env {
        gateway_bin: PathBuf::from(bin),
        server: Server::Floor,
        tansu_bin: None,
        work: work.join("floor"),
        addrs,
        nofile,
        log_level: env.log_level.clone(),
        runs: AtomicUsize::new(0),
    });
    for e in std::iter::once(&env).chain(&floor_env) {
        if !e.gateway_bin.exists() {
            eprintln!(
                "{} binary {} not found (cargo build --release [--example floor], or --gateway PATH)",
                e.server.name(),
                e.gateway_bin.display()
            );
            return ExitCode::from(2);
        }
    }
    if floor_env.is_some() && args.scenario == "smoke" {
        eprintln!("--compare runs one scenario, not smoke");
        return ExitCode::from(2);
    }
    eprintln!(
        "loadgen {}: open-file limit {nofile}, load average {}",
        args.scenario,
        loadavg()
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Processes are spawned from this (the main) thread only: see spawn_tied.
    let result = runtime.block_on(async {
        if args.scenario == "smoke" {
            smoke(&env, &args).await
        } else {
            let mut rep = run_one(&env, &args).await?;
            rep.load_end = loadavg();
            rep.print();
            let Some(floor_env) = &floor_env else {
                return Ok(vec![rep]);
            };
            let mut floor = run_one(floor_env, &args).await?;
            floor.scenario = format!("{} [floor]", floor.scenario);
            floor.load_end = loadavg();
            floor.print();
            let mut cmp = ratios(&rep, &floor);
            cmp.load_end = loadavg();
            cmp.print();
            Ok(vec![rep, floor, cmp])
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    let reports = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen {}: {e}", args.scenario);
            if work.exists() {
                eprintln!("logs kept in {}", work.display());
            }
            return ExitCode::from(2);
        }
    };
    let failed = reports.iter().any(|r| !r.failures.is_empty());
    if let Some(path) = args.opts.get("json") {
        let doc = J::Obj(vec![
            ("tool".into(), "pubsub-gateway loadgen".into()),
            ("scenario".into(), args.scenario.clone().into()),
            (
                "gateway".into(),
                env.gateway_bin.display().to_string().into(),
            ),
            (
                "cpus".into(),
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(0)
                    .into(),
            ),
            ("loadgen_threads".into(), threads.into()),
            ("ok".into(), (!failed).into()),
            (
                "results".into(),
                J::Arr(reports.iter().map(Report::json).collect()),
            ),
        ]);
        let mut s = String::new();
        doc.write(&mut s, 0);
        s.push('\n');
        if let Err(e) = std::fs::write(path, s) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::from(2);
        }
    }
    if failed {
        eprintln!(
            "loadgen {}: FAILED (logs kept in {})",
            args.scenario,
            work.display()
        );
        ExitCode::from(1)
    } else {
        let _ = std::fs::remove_dir_all(&work);
        ExitCode::SUCCESS
    }
}
