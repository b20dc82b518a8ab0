//! The cloud schemes (gcp-pubsub, aws): the emulator or moto, started with the project's own
//! scripts, and a direct client of it (publisher, reference subscriber, group consumer) to
//! measure the gateway against in the same run. Message values are text (SNS takes UTF-8
//! only): the send time and a sequence number in hex, padded to the size asked.

use std::process::Command;

use async_trait::async_trait;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::process::{proc_cpu_secs, proc_status_kib};
pub use crate::values::{text_value, Seen};

/// A direct client of the emulator or moto, and the route that points the gateway at it.
#[async_trait]
pub trait Cloud: Send + Sync {
    fn scheme(&self) -> &'static str;
    /// The routes YAML of `/cloud`, a route of this scheme to the server.
    fn route(&self) -> String;
    /// The emulator's or moto's process, for its CPU time.
    fn server(&self) -> &Script;
    async fn create_topic(&self, topic: &str) -> Result<(), String>;
    /// A plain subscription (gcp) or an SQS queue subscribed with raw delivery (aws) of the
    /// topic, named `id`, for the direct client to read.
    async fn create_direct(&self, topic: &str, id: &str) -> Result<(), String>;
    /// Publishes these values: one call each when `values` holds one, else batches (Publish
    /// takes 1,000 on Pub/Sub, PublishBatch 10 on SNS).
    async fn publish(&self, topic: &str, values: Vec<Bytes>) -> Result<(), String>;
    /// Reads `id` until `stop` or until `on` returns false, acknowledging (deleting) every
    /// batch as it comes, as the gateway's live reader does; `streaming`: StreamingPull on
    /// Pub/Sub (the gateway's live reader), else unary Pull (its group members); SQS always
    /// long-polls ReceiveMessage and deletes with DeleteMessageBatch.
    async fn receive(
        &self,
        id: &str,
        streaming: bool,
        stop: CancellationToken,
        on: &mut (dyn for<'v> FnMut(&'v [u8]) -> bool + Send),
    ) -> Result<(), String>;
}

/// Starts the server of `scheme` and a direct client of it.
pub async fn start(scheme: &str) -> Result<Box<dyn Cloud>, String> {
    match scheme {
        #[cfg(feature = "gcp-pubsub")]
        "gcp" => Ok(Box::new(crate::gcp::Gcp::start().await?)),
        #[cfg(feature = "aws")]
        "aws" => Ok(Box::new(crate::aws::Aws::start().await?)),
        #[cfg(not(feature = "gcp-pubsub"))]
        "gcp" => Err("this loadgen was built without the gcp-pubsub feature".into()),
        #[cfg(not(feature = "aws"))]
        "aws" => Err("this loadgen was built without the aws feature".into()),
        other => Err(format!("no cloud scheme {other}")),
    }
}

/// A server started by scripts/gcp-emulator.sh or scripts/moto.sh, in its own process group
/// (its leader is the JVM, or moto's Python), stopped when dropped; the script's watchdog stops
/// it too if this process dies first.
pub struct Script {
    script: String,
    pub port: u16,
    pub pgid: u32,
}

impl Script {
    /// `name` is the script's file name; `owner_var` the variable naming this process as owner.
    pub fn start(name: &str, owner_var: &str) -> Result<Script, String> {
        let script = format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(&script)
            .arg("start")
            .env(owner_var, std::process::id().to_string())
            .output()
            .map_err(|e| format!("cannot run {script}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{script} start failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        let port = words.next().and_then(|p| p.parse().ok());
        let pgid = words.next().and_then(|p| p.parse().ok());
        match (port, pgid) {
            (Some(port), Some(pgid)) => Ok(Script { script, port, pgid }),
            _ => Err(format!("{script} start printed {text:?}")),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// CPU seconds of the group's leader (every thread of the JVM, or moto's one process).
    pub fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.pgid)
    }

    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pgid, "VmRSS").unwrap_or(0)
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .args(["stop", &self.pgid.to_string()])
            .output();
    }
}

/// CPU seconds of the gateway, the emulator (or moto) and this process over a span of wall time.
pub struct Cpu3 {
    wall: std::time::Instant,
    gw: f64,
    server: f64,
    me: f64,
}

impl Cpu3 {
    pub fn start(gw: &crate::gateway::Gateway, server: &Script) -> Cpu3 {
        Cpu3 {
            wall: std::time::Instant::now(),
            gw: gw.cpu_secs(),
            server: server.cpu_secs(),
            me: crate::process::self_cpu_secs(),
        }
    }

    /// Adds `{prefix}gateway_cpu_pct`, `{prefix}{server}_cpu_pct`, `{prefix}loadgen_cpu_pct`
    /// (each in % of one core) and the wall time.
    pub fn add_to(
        &self,
        gw: &crate::gateway::Gateway,
        server: &Script,
        server_name: &str,
        r: &mut crate::report::Report,
        prefix: &str,
    ) {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        let pct = |d: f64| 100.0 * d / wall;
        r.metric(
            &format!("{prefix}gateway_cpu_pct"),
            pct(gw.cpu_secs() - self.gw),
            "% of one core",
        );
        r.metric(
            &format!("{prefix}{server_name}_cpu_pct"),
            pct(server.cpu_secs() - self.server),
            "% of one core",
        );
        r.metric(
            &format!("{prefix}loadgen_cpu_pct"),
            pct(crate::process::self_cpu_secs() - self.me),
            "% of one core",
        );
    }

    /// The same for a phase without the gateway (the direct client's).
    pub fn add_direct(
        &self,
        server: &Script,
        server_name: &str,
        r: &mut crate::report::Report,
        prefix: &str,
    ) {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        r.metric(
            &format!("{prefix}direct_phase_{server_name}_cpu_pct"),
            100.0 * (server.cpu_secs() - self.server) / wall,
            "% of one core",
        );
        r.metric(
            &format!("{prefix}direct_phase_loadgen_cpu_pct"),
            100.0 * (crate::process::self_cpu_secs() - self.me) / wall,
            "% of one core",
        );
    }
}
