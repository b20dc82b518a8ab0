//! Load generator for pubsub-gateway.
//!
//! Starts the real gateway binary (and, for the Kafka scheme, the Tansu test broker) with a
//! configuration it writes to a temporary directory, drives it over real loopback WebSockets from
//! several 127.0.0.x source addresses, prints a table per scenario and writes JSON (`--json`).
//!
//! ```text
//! cargo build --release && cargo build --release --example loadgen
//! target/release/examples/loadgen idle --connections 100000
//! target/release/examples/loadgen fanout --subscribers 1000 --rate 500 --size 100 --scheme embedded
//! target/release/examples/loadgen fetch --messages 1000000 --scheme kafka
//! target/release/examples/loadgen requests --connections 1000 --kind ping
//! target/release/examples/loadgen churn --rate 500 --seconds 30
//! target/release/examples/loadgen smoke            # tiny scale, exits non-zero on any failure
//! ```
//!
//! Exit status: 0 when every scenario ran without failures (missing, duplicated or out-of-order
//! messages, error replies, dropped connections); 1 when a scenario reported failures; 2 when a
//! scenario could not run. Missed performance targets are reported, not failures.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use prost::Message as _;
use pubsub_gateway::pb::{
    pub_sub_req::Req, pub_sub_resp::Resp, CmdKafkaFetch, CmdKafkaProduce, CmdKafkaSubscribe,
    CmdPing, PubSubReq, PubSubResp, StartPosition,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

const USAGE: &str = "\
usage: loadgen SCENARIO [options]

scenarios (defaults in brackets):
  idle      --connections N [10000] --topics K [1] --concurrency C [100] --hold SECS [3]
            N idle subscribed connections: gateway RSS per connection, connect rate
  fanout    --subscribers S [1000] --rate R [500] --size B [100] --seconds T [10]
            --scheme embedded|kafka [embedded] --producer gateway|rdkafka [gateway]
            --producers P [1]
            S subscribers of one topic, R msgs/s produced: delivered msgs/s, latency
  fetch     --messages N [1000000] --size B [100] --scheme kafka|embedded [kafka]
            --rounds R [2] --fetch-max-messages M [0 = server default]
            a preloaded partition read through the gateway vs a direct rdkafka consumer
  requests  --connections C [1000] --kind ping|produce [ping] --inflight K [16]
            --seconds T [10] --size B [100] --scheme embedded|kafka [embedded]
            round trips/s over C pipelining connections
  churn     --rate R [200] --seconds T [20] --topics K [10] --max-pending P [2000]
            --rounds N [2] --settle SECS [3]
            connect, subscribe, receive one message, disconnect at R/s: RSS and fds after
  smoke     every scenario on the embedded scheme at tiny scale (a few seconds)

common options:
  --gateway PATH   gateway binary [target/release/pubsub-gateway]
  --json FILE      write the results as JSON
  --threads N      loadgen runtime worker threads [2]
  --addrs N        client source addresses 127.0.0.2.. [enough for the connections, >= 4]
  --tansu PATH     Tansu broker binary [$TANSU_BIN or scripts/install-test-broker.sh]
  --log-level L    gateway log filter [warn]";

const COMMON: &[&str] = &["gateway", "json", "threads", "addrs", "tansu", "log-level"];
/// Bound on any single wait for the gateway (connect, reply, drain).
const WAIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------------------------
// Time: one clock for the whole process, so producers can put a send time into message values.
// ------------------------------------------------------------------------------------------------

fn clock() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    clock().elapsed().as_nanos() as u64
}

/// A message value of `size` bytes (at least 16): send time (ns on the process clock), sequence.
fn make_value(size: usize, seq: u64) -> Bytes {
    let mut v = vec![b'x'; size.max(16)];
    v[0..8].copy_from_slice(&now_ns().to_le_bytes());
    v[8..16].copy_from_slice(&seq.to_le_bytes());
    Bytes::from(v)
}

fn sent_ns(value: &[u8]) -> Option<u64> {
    value
        .get(0..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
}

// ------------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Args {
    scenario: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse(argv: &[String]) -> Result<Args, String> {
        let mut it = argv.iter();
        let scenario = it.next().cloned().unwrap_or_else(|| "help".into());
        let mut opts = HashMap::new();
        while let Some(a) = it.next() {
            let Some(key) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a}"));
            };
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => match it.next() {
                    Some(v) => (key.to_string(), v.clone()),
                    None => return Err(format!("--{key} needs a value")),
                },
            };
            opts.insert(key, value);
        }
        Ok(Args { scenario, opts })
    }

    /// Arguments for one scenario of the smoke run: the common options plus these.
    fn derive(&self, scenario: &str, pairs: &[(&str, &str)]) -> Args {
        let mut opts: HashMap<String, String> = self
            .opts
            .iter()
            .filter(|(k, _)| COMMON.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in pairs {
            opts.insert(k.to_string(), v.to_string());
        }
        Args {
            scenario: scenario.into(),
            opts,
        }
    }

    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        for k in self.opts.keys() {
            if !allowed.contains(&k.as_str()) && !COMMON.contains(&k.as_str()) {
                return Err(format!("unknown option --{k} for {}", self.scenario));
            }
        }
        Ok(())
    }

    fn str(&self, key: &str, default: &str) -> String {
        self.opts
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    fn num<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.opts.get(key) {
            None => Ok(default),
            Some(v) => v
                .replace('_', "")
                .parse()
                .map_err(|_| format!("--{key}: not a number: {v}")),
        }
    }

    fn choice(&self, key: &str, default: &str, allowed: &[&str]) -> Result<String, String> {
        let v = self.str(key, default);
        if allowed.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(format!("--{key} must be one of {allowed:?}, not {v}"))
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Results: a table on stdout and JSON
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl From<bool> for J {
    fn from(v: bool) -> J {
        J::Bool(v)
    }
}
impl From<u64> for J {
    fn from(v: u64) -> J {
        J::Int(v as i64)
    }
}
impl From<i32> for J {
    fn from(v: i32) -> J {
        J::Int(v.into())
    }
}
impl From<i64> for J {
    fn from(v: i64) -> J {
        J::Int(v)
    }
}
impl From<usize> for J {
    fn from(v: usize) -> J {
        J::Int(v as i64)
    }
}
impl From<f64> for J {
    fn from(v: f64) -> J {
        J::Num(v)
    }
}
impl From<&str> for J {
    fn from(v: &str) -> J {
        J::Str(v.into())
    }
}
impl From<String> for J {
    fn from(v: String) -> J {
        J::Str(v)
    }
}
impl<T: Into<J>> From<Option<T>> for J {
    fn from(v: Option<T>) -> J {
        v.map_or(J::Null, Into::into)
    }
}

impl J {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = "  ".repeat(indent + 1);
        let end = "  ".repeat(indent);
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => {
                let _ = write!(out, "{i}");
            }
            J::Num(f) if f.is_finite() => {
                let _ = write!(out, "{}", (f * 1000.0).round() / 1000.0);
            }
            J::Num(_) => out.push_str("null"),
            J::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::Arr(v) if v.is_empty() => out.push_str("[]"),
            J::Arr(v) => {
                out.push_str("[\n");
                for (i, x) in v.iter().enumerate() {
                    out.push_str(&pad);
                    x.write(out, indent + 1);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push(']');
            }
            J::Obj(v) if v.is_empty() => out.push_str("{}"),
            J::Obj(v) => {
                out.push_str("{\n");
                for (i, (k, x)) in v.iter().enumerate() {
                    out.push_str(&pad);
                    J::Str(k.clone()).write(out, indent + 1);
                    out.push_str(": ");
                    x.write(out, indent + 1);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push('}');
            }
        }
    }

    fn display(&self) -> String {
        match self {
            J::Num(f) if f.is_finite() && f.abs() >= 100.0 => format!("{f:.0}"),
            J::Num(f) if f.is_finite() => format!("{f:.3}"),
            J::Str(s) => s.clone(),
            other => {
                let mut s = String::new();
                other.write(&mut s, 0);
                s
            }
        }
    }
}

struct Target {
    name: String,
    met: bool,
    detail: String,
}

struct Report {
    scenario: String,
    params: Vec<(String, J)>,
    metrics: Vec<(String, J, &'static str)>,
    targets: Vec<Target>,
    failures: Vec<String>,
    notes: Vec<String>,
    load_start: String,
    load_end: String,
}

impl Report {
    fn new(scenario: &str) -> Report {
        Report {
            scenario: scenario.into(),
            params: Vec::new(),
            metrics: Vec::new(),
            targets: Vec::new(),
            failures: Vec::new(),
            notes: Vec::new(),
            load_start: loadavg(),
            load_end: String::new(),
        }
    }
    fn param(&mut self, k: &str, v: impl Into<J>) {
        self.params.push((k.into(), v.into()));
    }
    fn metric(&mut self, k: &str, v: impl Into<J>, unit: &'static str) {
        self.metrics.push((k.into(), v.into(), unit));
    }
    fn target(&mut self, name: &str, met: bool, detail: String) {
        self.targets.push(Target {
            name: name.into(),
            met,
            detail,
        });
    }
    fn fail(&mut self, msg: impl Into<String>) {
        self.failures.push(msg.into());
    }
    fn note(&mut self, msg: impl Into<String>) {
        self.notes.push(msg.into());
    }

    fn print(&self) {
        let mut s = String::new();
        let _ = writeln!(s, "\n== {} ==", self.scenario);
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", v.display()))
            .collect();
        let _ = writeln!(s, "params: {}", params.join(" "));
        let _ = writeln!(
            s,
            "load average: {} at start, {} at end",
            self.load_start, self.load_end
        );
        let width = self.metrics.iter().map(|m| m.0.len()).max().unwrap_or(0);
        let _ = writeln!(s, "{:-<1$}", "", width + 24);
        for (k, v, unit) in &self.metrics {
            let _ = writeln!(s, "{k:<width$}  {:>14} {unit}", v.display());
        }
        let _ = writeln!(s, "{:-<1$}", "", width + 24);
        for t in &self.targets {
            let _ = writeln!(
                s,
                "target {}: {} ({})",
                t.name,
                if t.met { "met" } else { "NOT MET" },
                t.detail
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if self.failures.is_empty() {
            let _ = writeln!(s, "failures: none");
        } else {
            for f in &self.failures {
                let _ = writeln!(s, "FAILURE: {f}");
            }
        }
        print!("{s}");
    }

    fn json(&self) -> J {
        J::Obj(vec![
            ("scenario".into(), self.scenario.clone().into()),
            ("params".into(), J::Obj(self.params.clone())),
            (
                "metrics".into(),
                J::Obj(
                    self.metrics
                        .iter()
                        .map(|(k, v, _)| (k.clone(), v.clone()))
                        .collect(),
                ),
            ),
            (
                "units".into(),
                J::Obj(
                    self.metrics
                        .iter()
                        .map(|(k, _, u)| (k.clone(), (*u).into()))
                        .collect(),
                ),
            ),
            (
                "targets".into(),
                J::Arr(
                    self.targets
                        .iter()
                        .map(|t| {
                            J::Obj(vec![
                                ("name".into(), t.name.clone().into()),
                                ("met".into(), t.met.into()),
                                ("detail".into(), t.detail.clone().into()),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "failures".into(),
                J::Arr(self.failures.iter().map(|f| f.clone().into()).collect()),
            ),
            (
                "notes".into(),
                J::Arr(self.notes.iter().map(|f| f.clone().into()).collect()),
            ),
            ("load_average_start".into(), self.load_start.clone().into()),
            ("load_average_end".into(), self.load_end.clone().into()),
        ])
    }
}

// ------------------------------------------------------------------------------------------------
// Latency histogram: exact below 128 us, then 64 buckets per power of two (< 1.6% error).
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

impl Hist {
    fn index(v: u64) -> usize {
        if v < 128 {
            return v as usize;
        }
        let bits = 63 - v.leading_zeros();
        let shift = bits - 6;
        let m = (v >> shift) as usize;
        128 + (shift as usize - 1) * 64 + (m - 64)
    }

    fn value(i: usize) -> u64 {
        if i < 128 {
            return i as u64;
        }
        let shift = ((i - 128) / 64 + 1) as u32;
        let m = ((i - 128) % 64 + 64) as u64;
        (m << shift) + (1u64 << shift) / 2
    }

    fn record_us(&mut self, us: u64) {
        let i = Self::index(us);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.n += 1;
        self.max = self.max.max(us);
    }

    fn merge(&mut self, o: &Hist) {
        if o.counts.len() > self.counts.len() {
            self.counts.resize(o.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.max = self.max.max(o.max);
    }

    /// The q-quantile in milliseconds.
    fn ms(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value(i).min(self.max) as f64 / 1000.0);
            }
        }
        Some(self.max as f64 / 1000.0)
    }

    fn add_to(&self, r: &mut Report, prefix: &str) {
        r.metric(&format!("{prefix}_p50_ms"), self.ms(0.50), "ms");
        r.metric(&format!("{prefix}_p99_ms"), self.ms(0.99), "ms");
        r.metric(&format!("{prefix}_p999_ms"), self.ms(0.999), "ms");
        r.metric(
            &format!("{prefix}_max_ms"),
            (self.n > 0).then(|| self.max as f64 / 1000.0),
            "ms",
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Processes: the gateway and the Tansu broker, tied to this process's life
// ------------------------------------------------------------------------------------------------

/// The open-file limit: raised as far as allowed (children inherit it).
fn raise_nofile() -> u64 {
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20);
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur);
    }
    let want = nr_open.min(1 << 20).max(cur.rlim_cur);
    let raised = libc::rlimit {
        rlim_cur: want as libc::rlim_t,
        rlim_max: want.max(cur.rlim_max) as libc::rlim_t,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return want;
    }
    // Not privileged: the hard limit is as far as we may go.
    let soft = libc::rlimit {
        rlim_cur: cur.rlim_max,
        rlim_max: cur.rlim_max,
    };
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
    }
    cur.rlim_max
}

/// Spawns with the raised open-file limit and a parent-death signal. Called from the main thread
/// only (the runtime's block_on thread), which lives as long as the process: the signal fires
/// when the spawning thread exits.
fn spawn_tied(mut cmd: Command, nofile: u64) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: nofile as libc::rlim_t,
                rlim_max: nofile as libc::rlim_t,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn wait_listening(port: u16, child: &mut Child, what: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited ({status}) before listening; see {}",
                log.display()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what} did not listen on {port}; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

struct Env {
    gateway_bin: PathBuf,
    tansu_bin: Option<String>,
    work: PathBuf,
    addrs: Option<usize>,
    nofile: u64,
    log_level: String,
    runs: AtomicUsize,
}

impl Env {
    fn run_dir(&self, what: &str) -> Result<PathBuf, String> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let d = self.work.join(format!("{what}-{n}"));
        std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        Ok(d)
    }

    /// Fails early when the open-file limit cannot hold `connections` sockets in this process
    /// and in the gateway (each side needs one file descriptor per connection).
    fn check_fds(&self, connections: usize) -> Result<(), String> {
        let need = connections as u64 + 256;
        if need > self.nofile {
            return Err(format!(
                "{connections} connections need {need} open files in this process and in the \
                 gateway, but the limit is {} and cannot be raised here (hard limit): at most {} \
                 connections",
                self.nofile,
                self.nofile.saturating_sub(256)
            ));
        }
        Ok(())
    }

    /// Source addresses: as asked, or enough for `connections` (~20,000 per address), >= 4.
    fn sources(&self, connections: usize) -> Arc<Sources> {
        let n = self
            .addrs
            .unwrap_or_else(|| connections.div_ceil(20_000).max(4));
        Arc::new(Sources::new(n.clamp(1, 250)))
    }

    fn tansu(&self) -> Result<PathBuf, String> {
        if let Some(p) = &self.tansu_bin {
            return Ok(PathBuf::from(p));
        }
        if let Ok(p) = std::env::var("TANSU_BIN") {
            return Ok(PathBuf::from(p));
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/install-test-broker.sh"
        );
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {script}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{script} failed: the kafka scheme needs Tansu"));
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    }
}

struct Gateway {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
    overrides: Vec<String>,
}

/// Per-connection protections a load test must lift, or they would be what it measures: the
/// request rate limit, the connection caps (all clients come from a few loopback addresses) and
/// the in-flight cap (past it requests answer 429). Keys this gateway binary does not know are
/// left out.
const LOAD_TEST_LIMITS: &[(&str, &str)] = &[
    ("max_requests_per_sec", "1000000000"),
    ("max_connections", "10000000"),
    ("max_connections_per_ip", "10000000"),
    ("max_inflight_requests", "1024"),
];

impl Gateway {
    /// Starts the gateway binary with these `server.limits` entries (plus LOAD_TEST_LIMITS) and
    /// routes YAML.
    fn start(env: &Env, limits: &str, routes: &str) -> Result<Gateway, String> {
        let dir = env.run_dir("gateway")?;
        let port = free_port()?;
        let config = dir.join("config.yaml");
        let mut overrides: Vec<(&str, &str)> = LOAD_TEST_LIMITS
            .iter()
            .filter(|(k, _)| !limits.contains(k))
            .copied()
            .collect();
        loop {
            let mut all: Vec<String> = overrides.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            if !limits.is_empty() {
                all.push(limits.to_string());
            }
            let yaml = format!(
                "server:\n  listen: \"127.0.0.1:{port}\"\n  log: {{ level: {} }}\n  limits: {{ {} }}\nroutes:\n{routes}",
                env.log_level,
                all.join(", ")
            );
            std::fs::write(&config, yaml).map_err(|e| format!("cannot write config: {e}"))?;
            let check = Command::new(&env.gateway_bin)
                .arg("--check-config")
                .arg("--config")
                .arg(&config)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", env.gateway_bin.display()))?;
            if check.status.success() {
                break;
            }
            let err = String::from_utf8_lossy(&check.stderr).into_owned();
            let before = overrides.len();
            overrides.retain(|(k, _)| !err.contains(&format!("unknown field `{k}`")));
            if overrides.len() == before {
                return Err(format!(
                    "the gateway refuses the configuration {}: {}",
                    config.display(),
                    err.trim()
                ));
            }
        }
        let log = dir.join("gateway.log");
        let logf = std::fs::File::create(&log).map_err(|e| format!("gateway log: {e}"))?;
        let mut cmd = Command::new(&env.gateway_bin);
        cmd.arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(|e| e.to_string())?)
            .stderr(logf);
        let mut child = spawn_tied(cmd, env.nofile)
            .map_err(|e| format!("cannot start {}: {e}", env.gateway_bin.display()))?;
        if let Err(e) = wait_listening(port, &mut child, "the gateway", &log) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        let pid = child.id();
        Ok(Gateway {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            overrides: overrides.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        })
    }

    /// Records the lifted limits in the report.
    fn describe(&self, r: &mut Report) {
        r.param("gateway_limits_lifted", self.overrides.join(" "));
    }

    fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS").unwrap_or(0)
    }

    fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.pid)
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }

    fn threads(&self) -> u64 {
        proc_status_kib(self.pid, "Threads").unwrap_or(0)
    }

    /// Checks it is still running (a crash is a failure of any scenario).
    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(s)) => Err(format!(
                "the gateway exited ({s}); see {}",
                self.log.display()
            )),
            Err(e) => Err(format!("cannot check the gateway: {e}")),
        }
    }

    fn stop(mut self) {
        stop_child(&mut self.child, Duration::from_secs(15));
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn embedded_route(options: &str) -> String {
    format!("  - uri: /embedded\n    upstream: {{ scheme: embedded, embedded: {{ {options} }} }}\n")
}

fn kafka_route(bootstrap: &str) -> String {
    format!(
        "  - uri: /kafka\n    upstream:\n      scheme: kafka\n      nodes:\n        \"{bootstrap}\": 1\n      timeout: {{ connect: 5, send: 10, read: 10 }}\n"
    )
}

struct Tansu {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Tansu {
    fn start(env: &Env) -> Result<Tansu, String> {
        let bin = env.tansu()?;
        let dir = env.run_dir("tansu")?;
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let log = dir.join("broker.log");
        let mut cmd = Command::new(&bin);
        cmd.current_dir(&dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| format!("broker log: {e}"))?);
        let mut child = spawn_tied(cmd, env.nofile)
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        if let Err(e) = wait_listening(port, &mut child, "tansu", &log) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(Tansu { child, port, dir })
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn create_topic(&self, name: &str, partitions: i32) -> Result<(), String> {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        use rdkafka::client::DefaultClientContext;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .map_err(|e| format!("admin client: {e}"))?;
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let res = admin
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &opts,
            )
            .await
            .map_err(|e| format!("create topic {name}: {e}"))?;
        for r in res {
            r.map_err(|(t, e)| format!("create topic {t}: {e}"))?;
        }
        Ok(())
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(3));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .and_then(|l| l[key.len() + 1..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn proc_cpu_secs(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}

fn self_cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn self_rss_kib() -> u64 {
    proc_status_kib(std::process::id(), "VmRSS").unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// CPU used by the gateway and by the loadgen over a span of wall time.
struct CpuMeter {
    wall: Instant,
    gw: f64,
    me: f64,
}

impl CpuMeter {
    fn start(gw: &Gateway) -> CpuMeter {
        CpuMeter {
            wall: Instant::now(),
            gw: gw.cpu_secs(),
            me: self_cpu_secs(),
        }
    }

    fn add_to(&self, gw: &Gateway, r: &mut Report) {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        r.metric(
            "gateway_cpu_pct",
            100.0 * (gw.cpu_secs() - self.gw) / wall,
            "% of one core",
        );
        r.metric(
            "loadgen_cpu_pct",
            100.0 * (self_cpu_secs() - self.me) / wall,
            "% of one core",
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Clients
// ------------------------------------------------------------------------------------------------

type Ws = WebSocketStream<TcpStream>;

/// Client source addresses 127.0.0.2, 127.0.0.3, ... used round robin.
struct Sources {
    ips: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Sources {
    fn new(n: usize) -> Sources {
        Sources {
            ips: (0..n)
                .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i as u8))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> Ipv4Addr {
        self.ips[self.next.fetch_add(1, Ordering::Relaxed) % self.ips.len()]
    }
}

/// Opens a WebSocket to the gateway from `src`. The source port is picked at connect time
/// (IP_BIND_ADDRESS_NO_PORT), so each address serves a full ephemeral range per destination.
async fn connect(gw: SocketAddr, path: &str, src: Ipv4Addr, read_buf: usize) -> Result<Ws, String> {
    use std::os::fd::AsRawFd;
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    let one: libc::c_int = 1;
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    sock.bind(SocketAddr::from((src, 0)))
        .map_err(|e| format!("bind {src}: {e}"))?;
    let tcp = sock
        .connect(gw)
        .await
        .map_err(|e| format!("connect {gw} from {src}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buf)
        .write_buffer_size(16 * 1024);
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(format!("ws://{gw}{path}"), tcp, Some(config))
            .await
            .map_err(|e| format!("upgrade from {src}: {e}"))?;
    Ok(ws)
}

fn frame(sequence: i64, req: Req) -> Message {
    Message::Binary(
        PubSubReq {
            sequence,
            req: Some(req),
        }
        .encode_to_vec()
        .into(),
    )
}

fn subscribe_req(topic: &str, start: StartPosition) -> Req {
    Req::CmdKafkaSubscribe(CmdKafkaSubscribe {
        topic: topic.into(),
        start: start as i32,
        ..Default::default()
    })
}

fn produce_req(topic: &str, value: Bytes) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        value,
        ..Default::default()
    })
}

/// The next binary frame; a close, an error or the end of the stream is an error.
async fn recv_binary(ws: &mut Ws) -> Result<Bytes, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Ok(b),
            Some(Ok(Message::Close(f))) => return Err(format!("closed by the gateway: {f:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("connection failed: {e}")),
            None => return Err("connection ended".into()),
        }
    }
}

async fn recv_resp(ws: &mut Ws) -> Result<PubSubResp, String> {
    let b = tokio::time::timeout(WAIT, recv_binary(ws))
        .await
        .map_err(|_| format!("no frame within {WAIT:?}"))??;
    PubSubResp::decode(b).map_err(|e| format!("undecodable frame: {e}"))
}

fn describe(resp: Option<Resp>) -> String {
    match resp {
        Some(Resp::ErrorResp(e)) => format!("error {}: {}", e.code, e.message),
        other => format!("unexpected reply {other:?}"),
    }
}

/// Subscribes with this sequence; returns the subscription id.
async fn subscribe(
    ws: &mut Ws,
    seq: i64,
    topic: &str,
    start: StartPosition,
) -> Result<i64, String> {
    ws.send(frame(seq, subscribe_req(topic, start)))
        .await
        .map_err(|e| format!("send subscribe: {e}"))?;
    // Pushes never precede the subscribe reply, so the first frame is it.
    let r = recv_resp(ws).await?;
    match r.resp {
        Some(Resp::KafkaSubscribeResp(s)) if r.sequence == seq => Ok(s.subscription_id),
        other => Err(format!("subscribe {topic}: {}", describe(other))),
    }
}

/// One request, one reply (no other traffic on the connection).
async fn request(ws: &mut Ws, seq: i64, req: Req) -> Result<Resp, String> {
    ws.send(frame(seq, req))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let r = recv_resp(ws).await?;
        if r.sequence == seq && !matches!(r.resp, Some(Resp::KafkaPush(_))) {
            return r.resp.ok_or_else(|| "reply without resp".to_string());
        }
    }
}

// Reading frames without allocating: a protobuf walk that picks out (offset, value) of every
// message of a push (PubSubResp field 37) or of a fetch reply (field 33).

fn varint(b: &mut &[u8]) -> Result<u64, String> {
    prost::encoding::decode_varint(b).map_err(|e| e.to_string())
}

fn key(b: &mut &[u8]) -> Result<(u64, u64), String> {
    let k = varint(b)?;
    Ok((k >> 3, k & 7))
}

fn delimited<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let n = varint(b)? as usize;
    if n > b.len() {
        return Err("truncated field".into());
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Ok(head)
}

fn skip(b: &mut &[u8], wire: u64) -> Result<(), String> {
    let n = match wire {
        0 => {
            varint(b)?;
            return Ok(());
        }
        1 => 8,
        2 => {
            delimited(b)?;
            return Ok(());
        }
        5 => 4,
        w => return Err(format!("unsupported wire type {w}")),
    };
    if n > b.len() {
        return Err("truncated field".into());
    }
    *b = &b[n..];
    Ok(())
}

const RESP_FETCH: u64 = 33;
const RESP_PUSH: u64 = 37;

/// Calls `on_msg(offset, value)` for each message when the frame's resp is `resp_field` (fetch:
/// messages are field 1; push: field 2) and returns how many; None for any other resp.
fn scan_messages(
    frame: &[u8],
    resp_field: u64,
    mut on_msg: impl FnMut(i64, &[u8]),
) -> Result<Option<usize>, String> {
    let msgs_field = if resp_field == RESP_PUSH { 2 } else { 1 };
    let mut b = frame;
    let mut found = None;
    while !b.is_empty() {
        let (f, w) = key(&mut b)?;
        if f != resp_field || w != 2 {
            skip(&mut b, w)?;
            continue;
        }
        let mut inner = delimited(&mut b)?;
        let mut n = 0;
        while !inner.is_empty() {
            let (f, w) = key(&mut inner)?;
            if f != msgs_field || w != 2 {
                skip(&mut inner, w)?;
                continue;
            }
            let mut m = delimited(&mut inner)?;
            let (mut offset, mut value): (i64, &[u8]) = (0, &[]);
            while !m.is_empty() {
                match key(&mut m)? {
                    (1, 0) => offset = varint(&mut m)? as i64,
                    (4, 2) => value = delimited(&mut m)?,
                    (_, w) => skip(&mut m, w)?,
                }
            }
            on_msg(offset, value);
            n += 1;
        }
        found = Some(n);
    }
    Ok(found)
}

/// What one subscriber saw.
#[derive(Default)]
struct SubStats {
    received: u64,
    frames: u64,
    gaps: u64,
    dups: u64,
    last_rx_ns: u64,
    hist: Hist,
    error: Option<String>,
}

/// Reads pushes until cancelled: counts messages, checks offsets are contiguous (one partition),
/// records latency from the send time in each value.
async fn read_pushes(mut ws: Ws, cancel: CancellationToken, delivered: Arc<AtomicU64>) -> SubStats {
    let mut st = SubStats::default();
    let mut next: Option<i64> = None;
    loop {
        let msg = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            m = ws.next() => m,
        };
        let b = match msg {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Close(f))) => {
                st.error = Some(format!("closed by the gateway: {f:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                st.error = Some(format!("connection failed: {e}"));
                break;
            }
            None => {
                st.error = Some("connection ended".into());
                break;
            }
        };
        let now = now_ns();
        let (mut received, mut gaps, mut dups) = (0u64, 0u64, 0u64);
        let hist = &mut st.hist;
        let scanned = scan_messages(&b, RESP_PUSH, |offset, value| {
            match next {
                Some(n) if offset < n => {
                    dups += 1;
                    return;
                }
                Some(n) if offset > n => gaps += (offset - n) as u64,
                _ => {}
            }
            next = Some(offset + 1);
            received += 1;
            if let Some(t) = sent_ns(value) {
                hist.record_us(now.saturating_sub(t) / 1000);
            }
        });
        match scanned {
            Ok(Some(_)) => {
                st.received += received;
                st.gaps += gaps;
                st.dups += dups;
                st.frames += 1;
                st.last_rx_ns = now;
                delivered.fetch_add(received, Ordering::Relaxed);
            }
            Ok(None) => {
                let r = PubSubResp::decode(b).map(|r| r.resp);
                st.error = Some(format!("unexpected frame: {r:?}"));
                break;
            }
            Err(e) => {
                st.error = Some(format!("bad frame: {e}"));
                break;
            }
        }
    }
    st
}

/// Opens `n` connections (at most `concurrency` connecting at once), each subscribed to the
/// topic `topic_of(i)` from LATEST; returns them with each one's connect-to-subscribed time.
async fn open_subscribed(
    gw: SocketAddr,
    path: &'static str,
    n: usize,
    concurrency: usize,
    sources: &Arc<Sources>,
    topic_of: impl Fn(usize) -> String,
    read_buf: usize,
) -> (Vec<Ws>, Hist, Vec<String>, f64) {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let src = sources.pick();
        let topic = topic_of(i);
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = tokio::time::timeout(WAIT, async {
                let mut ws = connect(gw, path, src, read_buf).await?;
                subscribe(&mut ws, 1, &topic, StartPosition::Latest).await?;
                Ok::<_, String>(ws)
            })
            .await
            .unwrap_or_else(|_| Err(format!("connect and subscribe took over {WAIT:?}")));
            drop(permit);
            r.map(|ws| (ws, t.elapsed()))
        }));
    }
    let mut conns = Vec::with_capacity(n);
    let mut hist = Hist::default();
    let mut errors = Vec::new();
    for h in handles {
        match h.await {
            Ok(Ok((ws, d))) => {
                hist.record_us(d.as_micros() as u64);
                conns.push(ws);
            }
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("task failed: {e}")),
        }
    }
    (conns, hist, errors, started.elapsed().as_secs_f64())
}

fn first_errors(errors: &[String]) -> String {
    let mut distinct: Vec<&String> = Vec::new();
    for e in errors {
        if distinct.len() < 3 && !distinct.contains(&e) {
            distinct.push(e);
        }
    }
    distinct
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Produces through the gateway at `rate` msgs/s for `secs` seconds on one connection
/// (pipelined: sending never waits for replies).
#[derive(Default, Debug)]
struct ProduceStats {
    sent: u64,
    acked: u64,
    errors: u64,
    first_error: Option<String>,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
}

async fn produce_paced(ws: Ws, topic: String, rate: f64, secs: f64, size: usize) -> ProduceStats {
    let (mut sink, mut stream) = ws.split();
    let total = (rate * secs).round() as u64;
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (sent, done) = (sent.clone(), done.clone());
        tokio::spawn(async move {
            let (mut acked, mut errors, mut first_error) = (0u64, 0u64, None);
            loop {
                let finished = done.load(Ordering::Acquire);
                if finished && acked + errors >= sent.load(Ordering::Acquire) {
                    break;
                }
                let wait = if finished {
                    WAIT
                } else {
                    Duration::from_millis(200)
                };
                let m = match tokio::time::timeout(wait, stream.next()).await {
                    Ok(m) => m,
                    Err(_) if finished => {
                        first_error.get_or_insert_with(|| "produce replies missing".to_string());
                        break;
                    }
                    Err(_) => continue,
                };
                match m {
                    Some(Ok(Message::Binary(b))) => match PubSubResp::decode(b).map(|r| r.resp) {
                        Ok(Some(Resp::KafkaProduceResp(_))) => acked += 1,
                        Ok(other) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| describe(other));
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("undecodable: {e}"));
                        }
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        first_error.get_or_insert_with(|| format!("producer connection: {e}"));
                        break;
                    }
                    None => {
                        first_error.get_or_insert_with(|| "producer connection ended".into());
                        break;
                    }
                }
            }
            (acked, errors, first_error)
        })
    };
    let mut st = ProduceStats::default();
    let start = Instant::now();
    let mut n = 0u64;
    while n < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        if st.first_send.is_none() {
            st.first_send = Some(Instant::now());
        }
        let mut failed = false;
        while n < due {
            if let Err(e) = sink
                .feed(frame(
                    n as i64 + 1,
                    produce_req(&topic, make_value(size, n)),
                ))
                .await
            {
                st.first_error = Some(format!("produce send: {e}"));
                failed = true;
                break;
            }
            n += 1;
            sent.store(n, Ordering::Release);
        }
        if failed || sink.flush().await.is_err() {
            break;
        }
        st.last_send = Some(Instant::now());
        let next_at = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(next_at.into()).await;
    }
    st.sent = n;
    done.store(true, Ordering::Release);
    match reader.await {
        Ok((acked, errors, first_error)) => {
            st.acked = acked;
            st.errors = errors;
            if st.first_error.is_none() {
                st.first_error = first_error;
            }
        }
        Err(e) => st.first_error = Some(format!("reader task: {e}")),
    }
    let _ = sink.close().await;
    st
}

/// Produces `n` messages on a connection, `window` in flight; fails on any error reply.
async fn produce_bulk(
    ws: &mut Ws,
    topic: &str,
    n: u64,
    size: usize,
    window: u64,
) -> Result<(), String> {
    let mut sent = 0u64;
    let mut acked = 0u64;
    while acked < n {
        while sent < n && sent - acked < window {
            ws.feed(frame(
                sent as i64 + 1,
                produce_req(topic, make_value(size, sent)),
            ))
            .await
            .map_err(|e| format!("send: {e}"))?;
            sent += 1;
        }
        ws.flush().await.map_err(|e| format!("flush: {e}"))?;
        let r = recv_resp(ws).await?;
        match r.resp {
            Some(Resp::KafkaProduceResp(_)) => acked += 1,
            other => return Err(format!("produce: {}", describe(other))),
        }
    }
    Ok(())
}

// rdkafka producer with delivery counting

#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

struct CountingContext(Arc<Deliveries>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.0.first_error.lock().unwrap();
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

fn rdkafka_producer(
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> Result<(ThreadedProducer<CountingContext>, Arc<Deliveries>), String> {
    let d = Arc::new(Deliveries::default());
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "60000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let p = cfg
        .create_with_context(CountingContext(d.clone()))
        .map_err(|e| format!("rdkafka producer: {e}"))?;
    Ok((p, d))
}

/// Sends one record, waiting while the local queue is full.
fn rdkafka_send(
    p: &ThreadedProducer<CountingContext>,
    topic: &str,
    value: &[u8],
) -> Result<(), String> {
    let mut record = BaseRecord::<(), [u8]>::to(topic)
        .partition(0)
        .payload(value);
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(format!("rdkafka send: {e}")),
        }
    }
}

/// A plain rdkafka consumer tailing partition 0 from its current end, recording the latency
/// from the send time in each value, until `stop`: the broker's own latency, for comparison.
fn direct_tail(
    bootstrap: &str,
    topic: &str,
    started: std::sync::mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
) -> Result<(u64, Hist), String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "loadgen-tail")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        // As the gateway's consumers.
        .set("fetch.wait.max.ms", "100")
        .create()
        .map_err(|e| format!("direct tail consumer: {e}"))?;
    let (_, high) = c
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .map_err(|e| format!("watermarks: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(high))
        .map_err(|e| e.to_string())?;
    c.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
    let _ = started.send(());
    let mut hist = Hist::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let now = now_ns();
                if let Some(t) = m.payload().and_then(sent_ns) {
                    hist.record_us(now.saturating_sub(t) / 1000);
                }
                n += 1;
            }
            Some(Err(e)) => return Err(format!("direct tail consumer: {e}")),
            None => {}
        }
    }
    Ok((n, hist))
}

// ------------------------------------------------------------------------------------------------
// Scenario: idle connections
// ------------------------------------------------------------------------------------------------

async fn idle(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&["connections", "topics", "concurrency", "hold"])?;
    let n: usize = a.num("connections", 10_000)?;
    let topics: usize = a.num("topics", 1)?;
    let concurrency: usize = a.num("concurrency", 100)?;
    let hold: f64 = a.num("hold", 3.0)?;
    let topics = topics.max(1);
    env.check_fds(n)?;
    let sources = env.sources(n);
    let mut r = Report::new("idle");
    r.param("connections", n);
    r.param("topics", topics);
    r.param("concurrency", concurrency);
    r.param("source_addresses", sources.ips.len());
    let mut gw = Gateway::start(
        env,
        "",
        &embedded_route(&format!("max_topics: {}", topics.max(1000))),
    )?;
    gw.describe(&mut r);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base_rss = gw.rss_kib();
    let base_fds = gw.fds();
    let my_base = self_rss_kib();
    let cpu = CpuMeter::start(&gw);

    let (conns, connect_hist, errors, connect_secs) = open_subscribed(
        gw.addr,
        "/embedded",
        n,
        concurrency,
        &sources,
        |i| format!("idle-{}", i % topics),
        4096,
    )
    .await;
    let opened = conns.len();
    cpu.add_to(&gw, &mut r);
    // Hold: every connection keeps reading (answering the gateway's pings) until cancelled.
    let cancel = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(read_pushes(ws, cancel.clone(), delivered.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    gw.alive()?;
    let rss = gw.rss_kib();
    let fds = gw.fds();
    let my_rss = self_rss_kib();

    // Liveness: one message per topic must reach every connection.
    let mut producer = connect(gw.addr, "/embedded", sources.pick(), 4096).await?;
    let t = Instant::now();
    for i in 0..topics {
        match request(
            &mut producer,
            i as i64 + 1,
            produce_req(&format!("idle-{i}"), make_value(16, i as u64)),
        )
        .await?
        {
            Resp::KafkaProduceResp(_) => {}
            other => r.fail(format!("liveness produce: {}", describe(Some(other)))),
        }
    }
    let deadline = Instant::now() + WAIT + Duration::from_secs((n / 5000) as u64);
    while delivered.load(Ordering::Relaxed) < opened as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fanout_ms = t.elapsed().as_secs_f64() * 1000.0;
    let got = delivered.load(Ordering::Relaxed);
    cancel.cancel();
    let mut dropped = Vec::new();
    for h in readers {
        if let Ok(st) = h.await {
            if let Some(e) = st.error {
                dropped.push(e);
            }
        }
    }
    drop(producer);
    gw.stop();

    let per_conn = (rss.saturating_sub(base_rss)) as f64 / opened.max(1) as f64;
    r.metric("connections_opened", opened, "");
    r.metric("connections_failed", errors.len(), "");
    r.metric("connect_secs", connect_secs, "s");
    r.metric("connect_rate", opened as f64 / connect_secs, "conn/s");
    connect_hist.add_to(&mut r, "connect_latency");
    r.metric("gateway_rss_baseline_mib", base_rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_after_mib", rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_per_conn_kib", per_conn, "KiB");
    r.metric("gateway_fds", fds.saturating_sub(base_fds), "opened");
    r.metric(
        "loadgen_rss_per_conn_kib",
        my_rss.saturating_sub(my_base) as f64 / opened.max(1) as f64,
        "KiB",
    );
    r.metric("liveness_delivered", got, "msgs");
    r.metric("liveness_expected", opened, "msgs");
    r.metric("liveness_fanout_ms", fanout_ms, "ms");
    r.target(
        "rss per idle connection <= 10 KiB",
        per_conn <= 10.0,
        format!("{per_conn:.2} KiB"),
    );
    if !errors.is_empty() {
        r.fail(format!(
            "{} of {n} connections failed: {}",
            errors.len(),
            first_errors(&errors)
        ));
    }
    if got != opened as u64 {
        r.fail(format!(
            "liveness: {got} of {opened} connections got the message"
        ));
    }
    if !dropped.is_empty() {
        r.fail(format!(
            "{} connections dropped while idle: {}",
            dropped.len(),
            first_errors(&dropped)
        ));
    }
    Ok(r)
}

// ------------------------------------------------------------------------------------------------
// Scenario: fan-out
// ------------------------------------------------------------------------------------------------

/// Samples a counter every `every` until cancelled: (seconds since start, value).
fn sampler(
    read: impl Fn() -> u64 + Send + 'static,
    every: Duration,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Vec<(f64, u64)>> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut out = vec![(0.0, read())];
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => out.push((start.elapsed().as_secs_f64(), read())),
            }
        }
        out
    })
}

/// Median of the per-interval rates between `from` and `to` seconds.
fn steady_rate(samples: &[(f64, u64)], from: f64, to: f64) -> Option<f64> {
    let mut rates: Vec<f64> = samples
        .windows(2)
        .filter(|w| w[0].0 >= from && w[1].0 <= to)
        .map(|w| (w[1].1 - w[0].1) as f64 / (w[1].0 - w[0].0))
        .collect();
    if rates.is_empty() {
        return None;
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    Some(rates[rates.len() / 2])
}

async fn fanout(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "subscribers",
        "rate",
        "size",
        "seconds",
        "scheme",
        "producer",
        "producers",
        "concurrency",
    ])?;
    let subs: usize = a.num("subscribers", 1000)?;
    let rate: f64 = a.num("rate", 500.0)?;
    let size: usize = a.num("size", 100)?;
    let secs: f64 = a.num("seconds", 10.0)?;
    let scheme = a.choice("scheme", "embedded", &["embedded", "kafka"])?;
    let producer_kind = a.choice("producer", "gateway", &["gateway", "rdkafka"])?;
    let producers: usize = a.num("producers", 1)?;
    let concurrency: usize = a.num("concurrency", 100)?;
    if producer_kind == "rdkafka" && scheme != "kafka" {
        return Err("--producer rdkafka needs --scheme kafka".into());
    }
    env.check_fds(subs + producers)?;
    let sources = env.sources(subs);
    let mut r = Report::new("fanout");
    r.param("subscribers", subs);
    r.param("rate", rate);
    r.param("size", size);
    r.param("seconds", secs);
    r.param("scheme", scheme.clone());
    r.param("producer", producer_kind.clone());
    r.param("producers", producers);

    let topic = format!("fanout-{}", std::process::id());
    let tansu = if scheme == "kafka" {
        let t = Tansu::start(env)?;
        t.create_topic(&topic, 1).await?;
        Some(t)
    } else {
        None
    };
    let mut routes = embedded_route("");
    if let Some(t) = &tansu {
        routes.push_str(&kafka_route(&t.bootstrap()));
    }
    let mut gw = Gateway::start(env, "", &routes)?;
    gw.describe(&mut r);
    let path: &'static str = if scheme == "kafka" {
        "/kafka"
    } else {
        "/embedded"
    };

    let (conns, connect_hist, errors, connect_secs) = open_subscribed(
        gw.addr,
        path,
        subs,
        concurrency,
        &sources,
        |_| topic.clone(),
        16 * 1024,
    )
    .await;
    r.metric("subscribed", conns.len(), "");
    r.metric("subscribe_secs", connect_secs, "s");
    r.metric("subscribe_p99_ms", connect_hist.ms(0.99), "ms");
    if !errors.is_empty() {
        r.fail(format!(
            "{} of {subs} subscribers failed: {}",
            errors.len(),
            first_errors(&errors)
        ));
    }
    let subscribed = conns.len() as u64;
    let cancel = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(read_pushes(ws, cancel.clone(), delivered.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Kafka: a direct consumer measures the broker's own produce-to-consume latency alongside.
    let tail_stop = Arc::new(AtomicBool::new(false));
    let tail = match &tansu {
        Some(t) => {
            let (b, tp, stop) = (t.bootstrap(), topic.clone(), tail_stop.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            let h = tokio::task::spawn_blocking(move || direct_tail(&b, &tp, tx, stop));
            let _ = tokio::task::spawn_blocking(move || rx.recv_timeout(WAIT)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some(h)
        }
        None => None,
    };
    let stop_sampling = CancellationToken::new();
    let counter = delivered.clone();
    let samples = sampler(
        move || counter.load(Ordering::Relaxed),
        Duration::from_millis(500),
        stop_sampling.clone(),
    );
    let cpu = CpuMeter::start(&gw);
    let t0 = Instant::now();
    let mut produced_ok = 0u64;
    let mut produce_errors = 0u64;
    let mut produce_secs = 0.0;
    if producer_kind == "gateway" {
        let mut tasks = Vec::new();
        for _ in 0..producers.max(1) {
            let ws = connect(gw.addr, path, sources.pick(), 16 * 1024).await?;
            tasks.push(tokio::spawn(produce_paced(
                ws,
                topic.clone(),
                rate / producers.max(1) as f64,
                secs,
                size,
            )));
        }
        for t in tasks {
            let st = t.await.map_err(|e| format!("producer task: {e}"))?;
            produced_ok += st.acked;
            produce_errors += st.errors + (st.sent - st.acked - st.errors);
            if let (Some(a), Some(b)) = (st.first_send, st.last_send) {
                produce_secs = f64::max(produce_secs, (b - a).as_secs_f64());
            }
            if let Some(e) = st.first_error {
                r.fail(format!("producer: {e}"));
            }
        }
    } else {
        let bootstrap = tansu.as_ref().unwrap().bootstrap();
        let topic = topic.clone();
        let (ok, failed, first, psecs) = tokio::task::spawn_blocking(move || {
            let (p, d) = rdkafka_producer(&bootstrap, &[("linger.ms", "1")])?;
            let total = (rate * secs).round() as u64;
            let start = Instant::now();
            let mut n = 0u64;
            while n < total {
                let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
                while n < due {
                    rdkafka_send(&p, &topic, &make_value(size, n))?;
                    n += 1;
                }
                let next_at = start + Duration::from_secs_f64(n as f64 / rate);
                if let Some(d) = next_at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            let psecs = start.elapsed().as_secs_f64();
            p.flush(Duration::from_secs(60))
                .map_err(|e| format!("rdkafka flush: {e}"))?;
            let first = d.first_error.lock().unwrap().clone();
            Ok::<_, String>((
                d.ok.load(Ordering::Relaxed),
                d.failed.load(Ordering::Relaxed),
                first,
                psecs,
            ))
        })
        .await
        .map_err(|e| format!("producer thread: {e}"))??;
        produced_ok = ok;
        produce_errors = failed;
        produce_secs = psecs;
        if let Some(e) = first {
            r.fail(format!("rdkafka producer: {e}"));
        }
    }
    let producing = t0.elapsed().as_secs_f64();
    // Drain: every subscriber must get every acknowledged message.
    let expected = produced_ok * subscribed;
    let mut last = delivered.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = delivered.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    // Anything more (duplicates) would come right away.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cpu.add_to(&gw, &mut r);
    stop_sampling.cancel();
    cancel.cancel();
    let samples = samples.await.unwrap_or_default();
    let mut hist = Hist::default();
    let (mut frames, mut gaps, mut dups, mut last_rx) = (0u64, 0u64, 0u64, 0u64);
    let mut sub_errors = Vec::new();
    let mut short = 0usize;
    for h in readers {
        let st = h.await.map_err(|e| format!("subscriber task: {e}"))?;
        hist.merge(&st.hist);
        frames += st.frames;
        gaps += st.gaps;
        dups += st.dups;
        last_rx = last_rx.max(st.last_rx_ns);
        if st.received < produced_ok {
            short += 1;
        }
        if let Some(e) = st.error {
            sub_errors.push(e);
        }
    }
    tail_stop.store(true, Ordering::Relaxed);
    let tail = match tail {
        Some(h) => Some(h.await.map_err(|e| format!("direct tail thread: {e}"))??),
        None => None,
    };
    gw.alive()?;
    gw.stop();
    drop(tansu);

    let got = delivered.load(Ordering::Relaxed);
    let t0_ns = (t0 - clock()).as_nanos() as u64;
    let span = (last_rx.saturating_sub(t0_ns)) as f64 / 1e9;
    let overall = got as f64 / span.max(1e-9);
    // Steady state: the production window without its first and last second.
    let steady = steady_rate(&samples, 1.0, (producing - 0.5).max(1.0));
    r.metric("produced", produced_ok, "msgs");
    r.metric("produce_errors", produce_errors, "");
    r.metric(
        "produce_rate",
        produced_ok as f64 / produce_secs.max(1e-9),
        "msg/s",
    );
    r.metric("delivered", got, "msgs");
    r.metric("expected", expected, "msgs");
    r.metric("delivered_per_sec", overall, "msg/s");
    r.metric("delivered_per_sec_steady", steady, "msg/s");
    r.metric("frames_per_sec", frames as f64 / span.max(1e-9), "frames/s");
    r.metric("msgs_per_frame", got as f64 / frames.max(1) as f64, "msgs");
    hist.add_to(&mut r, "latency");
    if let Some((n, h)) = &tail {
        r.metric("direct_consumer_received", *n, "msgs");
        r.metric("direct_consumer_latency_p50_ms", h.ms(0.5), "ms");
        r.metric("direct_consumer_latency_p99_ms", h.ms(0.99), "ms");
        r.note(
            "direct_consumer_*: a plain rdkafka consumer (fetch.wait.max.ms 100, as the gateway's) \
             tailing the same partition: the broker's own latency",
        );
    }
    let p99 = hist.ms(0.99).unwrap_or(f64::INFINITY);
    let (rate_for_target, which) = match steady {
        Some(v) => (v, "steady"),
        None => (overall, "overall"),
    };
    r.target(
        "delivered >= 500,000 msgs/s",
        rate_for_target >= 500_000.0,
        format!(
            "{rate_for_target:.0} msgs/s {which} ({:.0} offered)",
            rate * subscribed as f64
        ),
    );
    r.target("p99 < 50 ms", p99 < 50.0, format!("{p99:.2} ms"));
    if got < expected {
        r.fail(format!(
            "{} messages missing ({short} subscribers short)",
            expected - got
        ));
    }
    if gaps > 0 || dups > 0 {
        r.fail(format!("offset gaps {gaps}, duplicates {dups}"));
    }
    if !sub_errors.is_empty() {
        r.fail(format!(
            "{} subscribers failed: {}",
            sub_errors.len(),
            first_errors(&sub_errors)
        ));
    }
    Ok(r)
}

// ------------------------------------------------------------------------------------------------
// Scenario: fetch a whole partition, gateway vs direct consumer
// ------------------------------------------------------------------------------------------------

/// Fetches offsets [0, n) sequentially; returns (seconds, fetch requests, bytes of values).
async fn fetch_through_gateway(
    gw: SocketAddr,
    path: &'static str,
    topic: &str,
    n: u64,
    max_messages: i32,
    src: Ipv4Addr,
) -> Result<(f64, u64, u64), String> {
    let mut ws = connect(gw, path, src, 256 * 1024).await?;
    let start = Instant::now();
    let (mut offset, mut fetches, mut bytes, mut empty) = (0i64, 0u64, 0u64, 0u32);
    while (offset as u64) < n {
        fetches += 1;
        let seq = fetches as i64;
        ws.send(frame(
            seq,
            Req::CmdKafkaFetch(CmdKafkaFetch {
                topic: topic.into(),
                partition: 0,
                offset,
                max_messages,
                ..Default::default()
            }),
        ))
        .await
        .map_err(|e| format!("send fetch: {e}"))?;
        let b = tokio::time::timeout(WAIT, recv_binary(&mut ws))
            .await
            .map_err(|_| format!("fetch at {offset}: no reply within {WAIT:?}"))??;
        let mut bad = None;
        let mut next = offset;
        let scanned = scan_messages(&b, RESP_FETCH, |o, v| {
            if o != next && bad.is_none() {
                bad = Some(format!(
                    "fetch at {offset}: offset {o} where {next} was due"
                ));
            }
            next = o + 1;
            bytes += v.len() as u64;
        })?;
        match scanned {
            Some(0) => {
                empty += 1;
                if empty > 20 {
                    return Err(format!("fetch at {offset}: empty replies before the end"));
                }
            }
            Some(_) => empty = 0,
            None => {
                let resp = PubSubResp::decode(b).map_err(|e| e.to_string())?.resp;
                return Err(format!("fetch at {offset}: {}", describe(resp)));
            }
        }
        if let Some(e) = bad {
            return Err(e);
        }
        offset = next;
    }
    Ok((start.elapsed().as_secs_f64(), fetches, bytes))
}

/// Reads offsets [0, n) of partition 0 with a plain rdkafka consumer: (seconds, bytes).
fn fetch_direct(bootstrap: &str, topic: &str, n: u64) -> Result<(f64, u64), String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "loadgen-direct")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error")
        .create()
        .map_err(|e| format!("direct consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(0))
        .map_err(|e| e.to_string())?;
    c.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
    let start = Instant::now();
    let (mut next, mut bytes) = (0i64, 0u64);
    let mut idle_since = Instant::now();
    while (next as u64) < n {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                if m.offset() != next {
                    return Err(format!(
                        "direct: offset {} where {next} was due",
                        m.offset()
                    ));
                }
                next += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
                idle_since = Instant::now();
            }
            Some(Err(e)) => return Err(format!("direct consumer: {e}")),
            None if idle_since.elapsed() > WAIT => {
                return Err(format!("direct consumer stalled at offset {next}"))
            }
            None => {}
        }
    }
    Ok((start.elapsed().as_secs_f64(), bytes))
}

async fn fetch(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&["messages", "size", "scheme", "rounds", "fetch-max-messages"])?;
    let n: u64 = a.num("messages", 1_000_000)?;
    let size: usize = a.num("size", 100)?;
    let scheme = a.choice("scheme", "kafka", &["embedded", "kafka"])?;
    let rounds: usize = a.num("rounds", 2)?;
    let fmm: i32 = a.num("fetch-max-messages", 0)?;
    let mut r = Report::new("fetch");
    r.param("messages", n);
    r.param("size", size);
    r.param("scheme", scheme.clone());
    r.param("rounds", rounds);
    r.param("fetch_max_messages", fmm);
    let topic = format!("fetch-{}", std::process::id());
    let limits = if fmm > 0 {
        format!("fetch_max_messages: {fmm}")
    } else {
        String::new()
    };
    let sources = env.sources(1);

    if scheme == "embedded" {
        let retention = format!(
            "retention_messages: {}, retention_bytes: {}",
            n.max(100_000),
            (n * (size as u64 + 64)).max(64 << 20)
        );
        let mut gw = Gateway::start(env, &limits, &embedded_route(&retention))?;
        gw.describe(&mut r);
        let mut ws = connect(gw.addr, "/embedded", sources.pick(), 64 * 1024).await?;
        let t = Instant::now();
        produce_bulk(&mut ws, &topic, n, size, 64).await?;
        r.metric(
            "preload_rate",
            n as f64 / t.elapsed().as_secs_f64(),
            "msg/s",
        );
        drop(ws);
        let cpu = CpuMeter::start(&gw);
        let mut rates = Vec::new();
        for _ in 0..rounds.max(1) {
            let (s, fetches, bytes) =
                fetch_through_gateway(gw.addr, "/embedded", &topic, n, fmm, sources.pick()).await?;
            rates.push(n as f64 / s);
            r.metric("gateway_fetches", fetches, "requests");
            r.metric("gateway_mb_per_sec", bytes as f64 / s / 1e6, "MB/s");
        }
        cpu.add_to(&gw, &mut r);
        gw.alive()?;
        gw.stop();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        r.metric("gateway_msgs_per_sec", mean, "msg/s");
        r.note("embedded scheme: no direct consumer to compare with");
        return Ok(r);
    }

    let tansu = Tansu::start(env)?;
    tansu.create_topic(&topic, 1).await?;
    let bootstrap = tansu.bootstrap();
    // Preload with a batching producer.
    {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        let t = Instant::now();
        let (ok, failed, first) = tokio::task::spawn_blocking(move || {
            let (p, d) = rdkafka_producer(
                &bootstrap,
                &[
                    ("linger.ms", "20"),
                    ("batch.num.messages", "10000"),
                    ("batch.size", "1000000"),
                    ("queue.buffering.max.messages", "1000000"),
                ],
            )?;
            let mut last_log = Instant::now();
            for i in 0..n {
                rdkafka_send(&p, &topic, &make_value(size, i))?;
                if last_log.elapsed() > Duration::from_secs(10) {
                    eprintln!(
                        "preload: {i} of {n} queued, {} stored",
                        d.ok.load(Ordering::Relaxed)
                    );
                    last_log = Instant::now();
                }
            }
            p.flush(Duration::from_secs(300))
                .map_err(|e| format!("preload flush: {e}"))?;
            let first = d.first_error.lock().unwrap().clone();
            Ok::<_, String>((
                d.ok.load(Ordering::Relaxed),
                d.failed.load(Ordering::Relaxed),
                first,
            ))
        })
        .await
        .map_err(|e| format!("preload thread: {e}"))??;
        if ok != n || failed > 0 {
            return Err(format!(
                "preload: {ok} of {n} stored, {failed} failed: {first:?}"
            ));
        }
        r.metric(
            "preload_rate",
            n as f64 / t.elapsed().as_secs_f64(),
            "msg/s",
        );
    }
    let mut gw = Gateway::start(env, &limits, &kafka_route(&bootstrap))?;
    gw.describe(&mut r);
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    let mut gw_cpu = 0.0;
    let mut gw_secs = 0.0;
    let mut fetches = 0;
    // ABBA order: neither side always reads a warmer broker.
    for round in 0..rounds.max(1) {
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let (b, t) = (bootstrap.clone(), topic.clone());
                let (s, _) = tokio::task::spawn_blocking(move || fetch_direct(&b, &t, n))
                    .await
                    .map_err(|e| format!("direct thread: {e}"))??;
                eprintln!("fetch round {round}: direct {:.0} msg/s", n as f64 / s);
                direct.push(n as f64 / s);
            } else {
                let c0 = gw.cpu_secs();
                let (s, f, _) =
                    fetch_through_gateway(gw.addr, "/kafka", &topic, n, fmm, sources.pick())
                        .await?;
                gw_cpu += gw.cpu_secs() - c0;
                gw_secs += s;
                fetches = f;
                eprintln!("fetch round {round}: gateway {:.0} msg/s", n as f64 / s);
                through.push(n as f64 / s);
            }
        }
    }
    gw.alive()?;
    gw.stop();
    drop(tansu);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let ratio = mean(&through) / mean(&direct);
    for (i, v) in direct.iter().enumerate() {
        r.metric(&format!("direct_msgs_per_sec_run{i}"), *v, "msg/s");
    }
    for (i, v) in through.iter().enumerate() {
        r.metric(&format!("gateway_msgs_per_sec_run{i}"), *v, "msg/s");
    }
    r.metric("direct_msgs_per_sec", mean(&direct), "msg/s");
    r.metric("gateway_msgs_per_sec", mean(&through), "msg/s");
    r.metric("gateway_fetches_per_run", fetches, "requests");
    r.metric("msgs_per_fetch", n as f64 / fetches.max(1) as f64, "msgs");
    r.metric(
        "gateway_cpu_pct_while_fetching",
        100.0 * gw_cpu / gw_secs.max(1e-9),
        "% of one core",
    );
    r.metric("ratio_gateway_to_direct", ratio, "");
    r.target("gateway/direct >= 0.9", ratio >= 0.9, format!("{ratio:.3}"));
    Ok(r)
}

// ------------------------------------------------------------------------------------------------
// Scenario: request round trips over pipelining connections
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct ReqStats {
    replies: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Hist,
    failed: Option<String>,
}

/// What every pipelining client shares.
struct PipelineShared {
    kind: String,
    topic: String,
    size: usize,
    inflight: usize,
    go: tokio::sync::Notify,
    stop_at: OnceLock<Instant>,
    replies: AtomicU64,
}

async fn pipeline(mut ws: Ws, sh: Arc<PipelineShared>) -> ReqStats {
    const RING: usize = 4096;
    let (kind, topic, size, inflight) = (&sh.kind, &sh.topic, sh.size, sh.inflight);
    let mut st = ReqStats::default();
    let mut sent_at = vec![(0i64, 0u64); RING];
    let mut seq = 0i64;
    let mut outstanding = 0usize;
    sh.go.notified().await;
    let stop = *sh.stop_at.get().expect("stop time set before go");
    let make = |seq: i64| -> Message {
        if kind == "ping" {
            frame(
                seq,
                Req::CmdPing(CmdPing {
                    state: Bytes::copy_from_slice(&seq.to_le_bytes()),
                }),
            )
        } else {
            frame(seq, produce_req(topic, make_value(size, seq as u64)))
        }
    };
    let result: Result<(), String> = async {
        loop {
            if Instant::now() < stop {
                while outstanding < inflight {
                    seq += 1;
                    sent_at[seq as usize % RING] = (seq, now_ns());
                    ws.feed(make(seq)).await.map_err(|e| format!("send: {e}"))?;
                    outstanding += 1;
                }
                ws.flush().await.map_err(|e| format!("flush: {e}"))?;
            } else if outstanding == 0 {
                return Ok(());
            }
            let first = tokio::time::timeout(WAIT, ws.next())
                .await
                .map_err(|_| format!("no reply within {WAIT:?} ({outstanding} outstanding)"))?;
            let mut next = Some(first);
            while let Some(m) = next.take() {
                let b = match m {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
                    Some(Ok(_)) => {
                        next = ws.next().now_or_never();
                        continue;
                    }
                    Some(Err(e)) => return Err(format!("connection failed: {e}")),
                    None => return Err("connection ended".into()),
                };
                let now = now_ns();
                let r = PubSubResp::decode(b).map_err(|e| format!("undecodable: {e}"))?;
                outstanding = outstanding.saturating_sub(1);
                match r.resp {
                    Some(Resp::PongResp(_)) | Some(Resp::KafkaProduceResp(_)) => {
                        st.replies += 1;
                        sh.replies.fetch_add(1, Ordering::Relaxed);
                        let (s, t) = sent_at[r.sequence as usize % RING];
                        if s == r.sequence {
                            st.hist.record_us(now.saturating_sub(t) / 1000);
                        }
                    }
                    other => {
                        st.errors += 1;
                        st.first_error.get_or_insert_with(|| describe(other));
                    }
                }
                next = ws.next().now_or_never();
            }
        }
    }
    .await;
    if let Err(e) = result {
        st.failed = Some(e);
    }
    let _ = ws.close(None).await;
    st
}

async fn requests(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "connections",
        "kind",
        "inflight",
        "seconds",
        "size",
        "scheme",
        "concurrency",
    ])?;
    let conns_n: usize = a.num("connections", 1000)?;
    let kind = a.choice("kind", "ping", &["ping", "produce"])?;
    let inflight: usize = a.num("inflight", 16)?;
    let secs: f64 = a.num("seconds", 10.0)?;
    let size: usize = a.num("size", 100)?;
    let scheme = a.choice("scheme", "embedded", &["embedded", "kafka"])?;
    let concurrency: usize = a.num("concurrency", 100)?;
    env.check_fds(conns_n)?;
    let sources = env.sources(conns_n);
    let mut r = Report::new(&format!("requests ({kind})"));
    r.param("connections", conns_n);
    r.param("kind", kind.clone());
    r.param("inflight", inflight);
    r.param("seconds", secs);
    r.param("scheme", scheme.clone());
    if kind == "produce" {
        r.param("size", size);
    }
    let topic = format!("requests-{}", std::process::id());
    let tansu = if scheme == "kafka" {
        let t = Tansu::start(env)?;
        t.create_topic(&topic, 1).await?;
        Some(t)
    } else {
        None
    };
    let mut routes = embedded_route("");
    if let Some(t) = &tansu {
        routes.push_str(&kafka_route(&t.bootstrap()));
    }
    let mut gw = Gateway::start(env, "", &routes)?;
    gw.describe(&mut r);
    let path: &'static str = if scheme == "kafka" {
        "/kafka"
    } else {
        "/embedded"
    };

    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut handles = Vec::new();
    for _ in 0..conns_n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let src = sources.pick();
        let addr = gw.addr;
        handles.push(tokio::spawn(async move {
            let r = tokio::time::timeout(WAIT, connect(addr, path, src, 16 * 1024))
                .await
                .unwrap_or_else(|_| Err("connect timed out".into()));
            drop(permit);
            r
        }));
    }
    let mut conns = Vec::new();
    let mut errors = Vec::new();
    for h in handles {
        match h.await {
            Ok(Ok(ws)) => conns.push(ws),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        r.fail(format!(
            "{} of {conns_n} connections failed: {}",
            errors.len(),
            first_errors(&errors)
        ));
    }
    let sh = Arc::new(PipelineShared {
        kind: kind.clone(),
        topic: topic.clone(),
        size,
        inflight,
        go: tokio::sync::Notify::new(),
        stop_at: OnceLock::new(),
        replies: AtomicU64::new(0),
    });
    let opened = conns.len();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(pipeline(ws, sh.clone())))
        .collect();
    // Every task waits on `go`; give them a moment to get there.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop_sampling = CancellationToken::new();
    let counter = sh.clone();
    let samples = sampler(
        move || counter.replies.load(Ordering::Relaxed),
        Duration::from_millis(500),
        stop_sampling.clone(),
    );
    let cpu = CpuMeter::start(&gw);
    let start = Instant::now();
    let _ = sh.stop_at.set(start + Duration::from_secs_f64(secs));
    sh.go.notify_waiters();
    let mut hist = Hist::default();
    let (mut total, mut errs, mut failed) = (0u64, 0u64, Vec::new());
    let mut first_error = None;
    for t in tasks {
        let st = t.await.map_err(|e| format!("client task: {e}"))?;
        total += st.replies;
        errs += st.errors;
        hist.merge(&st.hist);
        if first_error.is_none() {
            first_error = st.first_error;
        }
        if let Some(e) = st.failed {
            failed.push(e);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    cpu.add_to(&gw, &mut r);
    stop_sampling.cancel();
    let samples = samples.await.unwrap_or_default();
    gw.alive()?;
    gw.stop();
    drop(tansu);
    let steady = steady_rate(&samples, 1.0, secs - 0.5);
    r.metric("connections_opened", opened, "");
    r.metric("round_trips", total, "");
    r.metric("round_trips_per_sec", total as f64 / elapsed, "req/s");
    r.metric("round_trips_per_sec_steady", steady, "req/s");
    r.metric("error_replies", errs, "");
    hist.add_to(&mut r, "latency");
    if kind == "ping" {
        let (v, which) = match steady {
            Some(v) => (v, "steady"),
            None => (total as f64 / elapsed, "overall"),
        };
        r.target(
            ">= 200,000 pings/s",
            v >= 200_000.0,
            format!("{v:.0} pings/s {which}"),
        );
    }
    if errs > 0 {
        r.fail(format!(
            "{errs} error replies: {}",
            first_error.unwrap_or_default()
        ));
    }
    if !failed.is_empty() {
        r.fail(format!(
            "{} connections failed: {}",
            failed.len(),
            first_errors(&failed)
        ));
    }
    Ok(r)
}

// ------------------------------------------------------------------------------------------------
// Scenario: connection churn
// ------------------------------------------------------------------------------------------------

async fn churn_cycle(gw: SocketAddr, src: Ipv4Addr, topic: String) -> Result<(), String> {
    let mut ws = connect(gw, "/embedded", src, 4096).await?;
    // LAST: the topic's last message comes right away.
    subscribe(&mut ws, 1, &topic, StartPosition::Last).await?;
    let b = tokio::time::timeout(WAIT, recv_binary(&mut ws))
        .await
        .map_err(|_| "no push within 30 s".to_string())??;
    match scan_messages(&b, RESP_PUSH, |_, _| {})? {
        Some(1) => {}
        Some(k) => return Err(format!("{k} messages pushed where 1 was due")),
        None => return Err(format!("unexpected frame: {:?}", PubSubResp::decode(b))),
    }
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    // Wait for the gateway's close and the end of the connection.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    Ok(())
}

async fn churn(env: &Env, a: &Args) -> Result<Report, String> {
    a.only(&[
        "rate",
        "seconds",
        "topics",
        "max-pending",
        "settle",
        "rounds",
    ])?;
    let rounds: usize = a.num("rounds", 2)?;
    let rate: f64 = a.num("rate", 200.0)?;
    let secs: f64 = a.num("seconds", 20.0)?;
    let topics: usize = a.num("topics", 10)?;
    let max_pending: usize = a.num("max-pending", 2000)?;
    let settle: f64 = a.num("settle", 3.0)?;
    let topics = topics.max(1);
    let total = (rate * secs).round() as u64;
    // TIME_WAIT keeps a 4-tuple for 60 s: spread over enough source addresses.
    let sources = env.sources((rate * 60.0) as usize);
    let mut r = Report::new("churn");
    r.param("rate", rate);
    r.param("seconds", secs);
    r.param("topics", topics);
    r.param("rounds", rounds);
    r.param("source_addresses", sources.ips.len());
    let mut gw = Gateway::start(env, "", &embedded_route(""))?;
    gw.describe(&mut r);
    {
        let mut ws = connect(gw.addr, "/embedded", sources.pick(), 4096).await?;
        for i in 0..topics {
            let resp = request(
                &mut ws,
                i as i64 + 1,
                produce_req(&format!("churn-{i}"), make_value(32, i as u64)),
            )
            .await?;
            if !matches!(resp, Resp::KafkaProduceResp(_)) {
                return Err(format!("churn preload: {}", describe(Some(resp))));
            }
        }
        let _ = ws.close(None).await;
    }
    // Warm up: a few cycles, so the baseline includes what the first connections allocate once.
    for i in 0..topics.min(20) {
        churn_cycle(gw.addr, sources.pick(), format!("churn-{}", i % topics)).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base_rss = gw.rss_kib();
    let base_fds = gw.fds();

    let pending = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(Hist::default()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let stop_sampling = CancellationToken::new();
    let peak = {
        let (pid, stop) = (gw.pid, stop_sampling.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = u64::max(peak, proc_status_kib(pid, "VmRSS").unwrap_or(0));
                tokio::select! {
                    _ = stop.cancelled() => return peak,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        })
    };
    let cpu = CpuMeter::start(&gw);
    let mut skipped = 0u64;
    let mut n = 0u64;
    let mut elapsed = 0.0;
    let mut after_rounds = Vec::new();
    for round in 0..rounds.max(1) {
        let start = Instant::now();
        let round_end = total * (round as u64 + 1);
        while n < round_end {
            let due = (round_end - total + (start.elapsed().as_secs_f64() * rate) as u64 + 1)
                .min(round_end);
            while n < due {
                n += 1;
                if pending.load(Ordering::Relaxed) >= max_pending {
                    skipped += 1;
                    continue;
                }
                pending.fetch_add(1, Ordering::Relaxed);
                let (pending, completed, hist, errors, failures) = (
                    pending.clone(),
                    completed.clone(),
                    hist.clone(),
                    errors.clone(),
                    failures.clone(),
                );
                let (addr, src, topic) = (
                    gw.addr,
                    sources.pick(),
                    format!("churn-{}", n as usize % topics),
                );
                tokio::spawn(async move {
                    let t = Instant::now();
                    let res = tokio::time::timeout(WAIT, churn_cycle(addr, src, topic))
                        .await
                        .unwrap_or_else(|_| Err("cycle took over 30 s".into()));
                    match res {
                        Ok(()) => {
                            hist.lock()
                                .unwrap()
                                .record_us(t.elapsed().as_micros() as u64);
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            let mut errs = errors.lock().unwrap();
                            if errs.len() < 100 {
                                errs.push(e);
                            }
                        }
                    }
                    pending.fetch_sub(1, Ordering::Relaxed);
                });
            }
            let next_at = start + Duration::from_secs_f64((n + total - round_end) as f64 / rate);
            tokio::time::sleep_until(next_at.into()).await;
        }
        let deadline = Instant::now() + WAIT + Duration::from_secs(5);
        while pending.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        elapsed += start.elapsed().as_secs_f64();
        if round + 1 < rounds {
            tokio::time::sleep(Duration::from_secs_f64(settle)).await;
            after_rounds.push(gw.rss_kib());
        }
    }
    cpu.add_to(&gw, &mut r);
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    stop_sampling.cancel();
    let peak = peak.await.unwrap_or(0);
    gw.alive()?;
    let rss = gw.rss_kib();
    let fds = gw.fds();
    let threads = gw.threads();
    gw.stop();
    after_rounds.push(rss);
    let total = total * rounds.max(1) as u64;

    let done = completed.load(Ordering::Relaxed);
    let failed = failures.load(Ordering::Relaxed);
    let growth = peak.saturating_sub(base_rss);
    let left = rss.saturating_sub(base_rss);
    // "Back to baseline": at most 1 MiB or a tenth of the growth at the peak remains.
    let returned = left <= 1024 || (left as f64) <= 0.1 * growth as f64;
    r.metric("cycles_attempted", n, "");
    r.metric("cycles_completed", done, "");
    r.metric("cycles_failed", failed, "");
    r.metric("cycles_skipped", skipped, "(max-pending reached)");
    r.metric("sustained_rate", done as f64 / elapsed, "cycles/s");
    hist.lock().unwrap().add_to(&mut r, "cycle");
    r.metric("gateway_rss_baseline_mib", base_rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_peak_mib", peak as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_after_mib", rss as f64 / 1024.0, "MiB");
    r.metric("gateway_rss_left_kib", left, "KiB above baseline");
    if after_rounds.len() > 1 {
        for (i, kib) in after_rounds.iter().enumerate() {
            r.metric(
                &format!("gateway_rss_after_round{i}_mib"),
                *kib as f64 / 1024.0,
                "MiB",
            );
        }
        let growth_after = rss as i64 - after_rounds[0] as i64;
        r.metric(
            "gateway_rss_growth_after_round0_kib",
            growth_after,
            "KiB (a leak keeps growing; allocator retention does not)",
        );
        r.target(
            "RSS stable across rounds (no leak)",
            growth_after <= 256,
            format!("{growth_after} KiB growth after the first round"),
        );
    }
    r.metric("gateway_fds_baseline", base_fds, "");
    r.metric("gateway_fds_after", fds, "");
    r.metric("gateway_threads_after", threads, "");
    r.target(
        "RSS returns to baseline",
        returned,
        format!("{left} KiB left of {growth} KiB peak growth, {settle} s after the last cycle"),
    );
    r.target(
        "sustained rate = offered rate",
        done as f64 >= 0.98 * total as f64,
        format!("{done} of {total} cycles"),
    );
    if fds > base_fds + 2 {
        r.fail(format!(
            "gateway file descriptors: {base_fds} before, {fds} after the churn"
        ));
    }
    if failed > 0 {
        r.fail(format!(
            "{failed} cycles failed: {}",
            first_errors(&errors.lock().unwrap())
        ));
    }
    Ok(r)
}

// ------------------------------------------------------------------------------------------------
// Smoke: everything at tiny scale
// ------------------------------------------------------------------------------------------------

async fn smoke(env: &Env, a: &Args) -> Result<Vec<Report>, String> {
    a.only(&[])?;
    let runs: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "idle",
            vec![("connections", "300"), ("topics", "3"), ("hold", "0.5")],
        ),
        (
            "fanout",
            vec![
                ("subscribers", "50"),
                ("rate", "200"),
                ("seconds", "1.5"),
                ("scheme", "embedded"),
            ],
        ),
        (
            "fetch",
            vec![
                ("messages", "3000"),
                ("scheme", "embedded"),
                ("rounds", "1"),
            ],
        ),
        (
            "requests",
            vec![
                ("connections", "50"),
                ("kind", "ping"),
                ("inflight", "8"),
                ("seconds", "1"),
            ],
        ),
        (
            "requests",
            vec![
                ("connections", "20"),
                ("kind", "produce"),
                ("inflight", "8"),
                ("seconds", "1"),
            ],
        ),
        (
            "churn",
            vec![
                ("rate", "100"),
                ("seconds", "1"),
                ("topics", "3"),
                ("settle", "0.5"),
                ("rounds", "2"),
            ],
        ),
    ];
    let mut reports = Vec::new();
    for (scenario, pairs) in runs {
        let args = a.derive(scenario, &pairs);
        let mut rep = match run_one(env, &args).await {
            Ok(rep) => rep,
            Err(e) => {
                let mut rep = Report::new(scenario);
                rep.fail(format!("could not run: {e}"));
                rep
            }
        };
        rep.scenario = format!("smoke {}", rep.scenario);
        // Performance targets mean nothing at this scale; only failures count.
        rep.targets.clear();
        rep.load_end = loadavg();
        rep.print();
        reports.push(rep);
    }
    Ok(reports)
}

async fn run_one(env: &Env, a: &Args) -> Result<Report, String> {
    let t = Instant::now();
    let mut r = match a.scenario.as_str() {
        "idle" => idle(env, a).await,
        "fanout" => fanout(env, a).await,
        "fetch" => fetch(env, a).await,
        "requests" => requests(env, a).await,
        "churn" => churn(env, a).await,
        other => Err(format!("unknown scenario {other}\n{USAGE}")),
    }?;
    r.metric("scenario_wall_secs", t.elapsed().as_secs_f64(), "s");
    Ok(r)
}

// ------------------------------------------------------------------------------------------------
// Main
// ------------------------------------------------------------------------------------------------

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
    let env = Env {
        gateway_bin: PathBuf::from(args.str("gateway", "target/release/pubsub-gateway")),
        tansu_bin: args.opts.get("tansu").cloned(),
        work: work.clone(),
        addrs,
        nofile,
        log_level: args.str("log-level", "warn"),
        runs: AtomicUsize::new(0),
    };
    if !env.gateway_bin.exists() {
        eprintln!(
            "gateway binary {} not found (cargo build --release, or --gateway PATH)",
            env.gateway_bin.display()
        );
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
            Ok(vec![rep])
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
