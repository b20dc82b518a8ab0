//! The server under test: the gateway binary started with a configuration of the run's own, or
//! the floor (examples/floor.rs), which takes no configuration and has no limits to lift.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::client::Sources;
use crate::process::{
    free_port, proc_cpu_secs, proc_status_kib, spawn_tied, stop_child, wait_listening,
};
use crate::report::Report;

/// Which server `--gateway` names: the gateway, or the floor (examples/floor.rs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Server {
    Gateway,
    Floor,
}

impl Server {
    /// `--server gateway|floor`, or by the binary's name: a file named `floor*` is the floor.
    pub fn of(bin: &Path, asked: Option<&str>) -> Result<Server, String> {
        match asked {
            Some("gateway") => Ok(Server::Gateway),
            Some("floor") => Ok(Server::Floor),
            Some(other) => Err(format!("--server must be gateway or floor, not {other}")),
            None => Ok(
                if bin
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("floor"))
                {
                    Server::Floor
                } else {
                    Server::Gateway
                },
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Server::Gateway => "gateway",
            Server::Floor => "floor",
        }
    }
}

pub struct Env {
    pub gateway_bin: PathBuf,
    pub server: Server,
    pub tansu_bin: Option<String>,
    pub work: PathBuf,
    pub addrs: Option<usize>,
    pub nofile: u64,
    pub log_level: String,
    pub runs: AtomicUsize,
}

impl Env {
    /// Refuses what the floor cannot do, before anything starts.
    pub fn needs_gateway(&self, what: &str) -> Result<(), String> {
        match self.server {
            Server::Gateway => Ok(()),
            Server::Floor => Err(format!(
                "the floor (examples/floor.rs) cannot run {what}: it speaks ping, produce and \
                 subscribe from LATEST only"
            )),
        }
    }

    pub fn run_dir(&self, what: &str) -> Result<PathBuf, String> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let d = self.work.join(format!("{what}-{n}"));
        std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        Ok(d)
    }

    /// Fails early when the open-file limit cannot hold `connections` sockets in this process
    /// and in the gateway (each side needs one file descriptor per connection).
    pub fn check_fds(&self, connections: usize) -> Result<(), String> {
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
    pub fn sources(&self, connections: usize) -> Arc<Sources> {
        let n = self
            .addrs
            .unwrap_or_else(|| connections.div_ceil(20_000).max(4));
        Arc::new(Sources::new(n.clamp(1, 250)))
    }

    pub fn tansu(&self) -> Result<PathBuf, String> {
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

pub struct Gateway {
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub overrides: Vec<String>,
    pub server: Server,
}

/// Per-connection protections a load test must lift, or they would be what it measures: the
/// request rate limit, the connection caps (all clients come from a few loopback addresses) and
/// the in-flight cap (past it requests answer 429). Keys this gateway binary does not know are
/// left out.
pub const LOAD_TEST_LIMITS: &[(&str, &str)] = &[
    ("max_requests_per_sec", "1000000000"),
    ("max_connections", "10000000"),
    ("max_connections_per_ip", "10000000"),
    ("max_inflight_requests", "1024"),
];

impl Gateway {
    /// Starts the gateway binary with these `server.limits` entries (plus LOAD_TEST_LIMITS) and
    /// routes YAML.
    ///
    /// The floor gets neither: it takes no configuration and has no limits, so the gateway's
    /// `--check-config` pass, the configured limits and the route options are skipped, and the
    /// report says so (`server`, `skipped_for_floor`).
    pub fn start(env: &Env, limits: &str, routes: &str) -> Result<Gateway, String> {
        if env.server == Server::Floor {
            return Gateway::start_floor(env, limits, routes);
        }
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
                "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: \"off\"\n  log: {{ level: {} }}\n  limits: {{ {} }}\nroutes:\n{routes}",
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
            server: Server::Gateway,
        })
    }

    fn start_floor(env: &Env, limits: &str, routes: &str) -> Result<Gateway, String> {
        let dir = env.run_dir("floor")?;
        let port = free_port()?;
        let log = dir.join("floor.log");
        let logf = std::fs::File::create(&log).map_err(|e| format!("floor log: {e}"))?;
        let mut cmd = Command::new(&env.gateway_bin);
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(|e| e.to_string())?)
            .stderr(logf);
        let mut child = spawn_tied(cmd, env.nofile)
            .map_err(|e| format!("cannot start {}: {e}", env.gateway_bin.display()))?;
        if let Err(e) = wait_listening(port, &mut child, "the floor", &log) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        let mut skipped = vec![
            "--check-config".to_string(),
            "limits lifted (it has none)".into(),
        ];
        if !limits.is_empty() {
            skipped.push(format!("limits {limits}"));
        }
        skipped.push(format!(
            "routes ({} lines: any path serves one topic space)",
            routes.lines().count()
        ));
        let pid = child.id();
        Ok(Gateway {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            overrides: skipped,
            server: Server::Floor,
        })
    }

    /// Records the server and what was lifted (gateway) or skipped (floor) in the report.
    pub fn describe(&self, r: &mut Report) {
        r.param("server", self.server.name());
        match self.server {
            Server::Gateway => r.param("gateway_limits_lifted", self.overrides.join(" ")),
            Server::Floor => r.param("skipped_for_floor", self.overrides.join("; ")),
        }
    }

    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS").unwrap_or(0)
    }

    pub fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.pid)
    }

    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }

    pub fn threads(&self) -> u64 {
        proc_status_kib(self.pid, "Threads").unwrap_or(0)
    }

    /// Checks it is still running (a crash is a failure of any scenario).
    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(s)) => Err(format!(
                "the gateway exited ({s}); see {}",
                self.log.display()
            )),
            Err(e) => Err(format!("cannot check the gateway: {e}")),
        }
    }

    pub fn stop(mut self) {
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

pub fn embedded_route(options: &str) -> String {
    format!("  - uri: /embedded\n    upstream: {{ scheme: embedded, embedded: {{ {options} }} }}\n")
}

pub fn kafka_route(bootstrap: &str) -> String {
    format!(
        "  - uri: /kafka\n    upstream:\n      scheme: kafka\n      nodes:\n        \"{bootstrap}\": 1\n      timeout: {{ connect: 5, send: 10, read: 10 }}\n"
    )
}
