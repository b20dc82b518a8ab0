//! The gateway binary as a process of its own (as an operator runs it): a config file, its
//! output captured line by line, its memory, and its admin listener's metrics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::free_port;

/// The gateway binary the tests run: this build's, or `PUBSUB_GATEWAY_BIN` (to run a test against
/// another build, e.g. to see it fail on code from before a fix).
pub fn binary() -> PathBuf {
    std::env::var_os("PUBSUB_GATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pubsub-gateway")))
}

/// What a gateway process wrote to stdout and stderr, line by line.
pub type Lines = Arc<Mutex<Vec<String>>>;

/// The gateway binary with a config file, its output captured line by line.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub config: PathBuf,
    env: Vec<(String, String)>,
    lines: Lines,
}

impl Proc {
    pub fn start(name: &str, config_body: impl Fn(u16) -> String) -> Proc {
        Proc::start_with_env(name, config_body, &[])
    }

    /// A gateway process with these environment variables (credentials it reads from there).
    pub fn start_with_env(
        name: &str,
        config_body: impl Fn(u16) -> String,
        env: &[(&str, &str)],
    ) -> Proc {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("pubsub-gw-proc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.yaml");
        std::fs::write(&config, config_body(port)).unwrap();
        let lines = Lines::default();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn(&config, &env, &lines);
        wait_listening(addr, &lines, Duration::from_secs(10));
        Proc {
            child,
            addr,
            config,
            env,
            lines,
        }
    }

    /// Kills the process (SIGKILL) and starts it again with the same file on the same port:
    /// a memory-mode embedded broker comes back empty, in new epochs.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(20);
        // The port is free again once the old listener is gone.
        while std::net::TcpListener::bind(self.addr).is_err() {
            assert!(Instant::now() < deadline, "port {} stays taken", self.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = spawn(&self.config, &self.env, &self.lines);
        wait_listening(self.addr, &self.lines, Duration::from_secs(10));
    }
}

/// Starts the binary on `config` (RUST_LOG unset, `env` set), its stdout and stderr appended
/// to `lines`.
pub fn spawn(config: &std::path::Path, env: &[(String, String)], lines: &Lines) -> Child {
    let mut cmd = Command::new(binary());
    cmd.arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("gateway binary starts");
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
    }
    child
}

/// Waits until a gateway listens on `addr`; panics with what it logged after `within`.
pub fn wait_listening(addr: SocketAddr, lines: &Lines, within: Duration) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "gateway did not listen: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Proc {
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.config.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A gauge or counter from the admin listener's /metrics.
pub async fn metric(admin: u16, name: &str) -> i64 {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", admin))
        .await
        .expect("admin listener");
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut body))
        .await
        .expect("metrics in time")
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}
