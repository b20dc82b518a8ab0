//! NATS test support: the machine's server (127.0.0.1:4222, JetStream on) as oracle and peer,
//! unique subjects and streams per run, and private servers for outages.
#![allow(dead_code)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::free_port;

pub const NATS: &str = "127.0.0.1:4222";

/// A plain async-nats client on the shared server; fails loudly when it is not running.
pub async fn oracle() -> async_nats::Client {
    tokio::time::timeout(Duration::from_secs(5), async_nats::connect(NATS))
        .await
        .unwrap_or_else(|_| {
            panic!("NATS at {NATS} did not answer: start it with `nats-server -js`")
        })
        .unwrap_or_else(|e| {
            panic!("NATS at {NATS} is not reachable ({e}): start it with `nats-server -js`")
        })
}

/// A name no other test (or run) uses: `prefix_<pid>_<n>_<nanos>`.
pub fn unique(prefix: &str) -> String {
    super::unique_name(prefix, '_')
}

/// A core NATS route on `uri` to `server`.
pub fn core_route(uri: &str, server: &str) -> String {
    format!(
        "routes:\n  - uri: {uri}\n    upstream:\n      scheme: nats\n      nodes: [\"{server}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n"
    )
}

/// A JetStream route on `uri` whose stream `stream` (subjects `subject.>`) the gateway creates.
pub fn js_route(uri: &str, server: &str, stream: &str, subject: &str, extra: &str) -> String {
    format!(
        "routes:\n  - uri: {uri}\n    upstream:\n      scheme: nats\n      nodes: [\"{server}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n      nats: {{ stream: {stream}, create_stream: {{ subjects: [\"{subject}.>\"] }}{extra} }}\n"
    )
}

pub async fn delete_stream(nc: &async_nats::Client, stream: &str) {
    let js = async_nats::jetstream::new(nc.clone());
    let _ = js.delete_stream(stream).await;
}

/// A private `nats-server -js` on a free port with its own store, for outages.
pub struct PrivateServer {
    pub port: u16,
    dir: std::path::PathBuf,
    daemon: super::daemon::Daemon,
    /// Extra arguments, e.g. `--user u --pass p`.
    pub args: Vec<String>,
}

impl PrivateServer {
    pub async fn start() -> PrivateServer {
        PrivateServer::start_on(free_port()).await
    }

    pub async fn start_on(port: u16) -> PrivateServer {
        PrivateServer::start_on_with(port, &[]).await
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A private server that wants these arguments (credentials).
    pub async fn start_with(args: &[&str]) -> PrivateServer {
        PrivateServer::start_on_with(free_port(), args).await
    }

    async fn start_on_with(port: u16, args: &[&str]) -> PrivateServer {
        let dir = std::env::temp_dir().join(unique("gw-nats-store"));
        std::fs::create_dir_all(&dir).expect("store dir");
        let mut s = PrivateServer {
            port,
            dir,
            daemon: Default::default(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        s.restart().await;
        s
    }

    pub async fn restart(&mut self) {
        let addr = self.addr();
        let mut cmd = std::process::Command::new("/usr/sbin/nats-server");
        cmd.args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-sd",
        ])
        .arg(&self.dir)
        .args(&self.args);
        self.daemon.start(&mut cmd, &addr).await;
    }

    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Returns once the server has processed everything `nc` sent before: async-nats' `flush`
/// only writes the socket, so a subscription could otherwise miss a message sent right after.
pub async fn settle(nc: &async_nats::Client) {
    nc.flush().await.expect("flush");
    let _ = nc.request(nc.new_inbox(), bytes::Bytes::new()).await;
}

/// Deletes `GWT_<pid>_...` streams of test processes that are gone (a test that panicked
/// before its cleanup), once per test process.
pub async fn sweep_stale_streams(nc: &async_nats::Client) {
    use futures_util::StreamExt;
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    let js = async_nats::jetstream::new(nc.clone());
    let mut names = js.stream_names();
    let mut stale = Vec::new();
    while let Some(Ok(name)) = names.next().await {
        let pid = name
            .strip_prefix("GWT_")
            .and_then(|rest| rest.split('_').find_map(|t| t.parse::<u32>().ok()));
        if let Some(pid) = pid {
            if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                stale.push(name);
            }
        }
    }
    for name in stale {
        let _ = js.delete_stream(&name).await;
    }
}
