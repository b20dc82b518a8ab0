//! Support for tests/it/durable: the gateway binary over a storage directory, restarted at
//! will, and the client calls those tests repeat.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;

use super::proc::{wait_listening, Lines};
use super::{fetch_cmd, free_port, Client};

/// A test's directory: the config beside `data/`, the storage directory. Removed at the end.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("pubsub-durable-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    pub fn data(&self) -> PathBuf {
        self.0.join("data")
    }
    /// The segment files of one partition, oldest first.
    pub fn segments(&self, topic: &str, partition: i32) -> Vec<PathBuf> {
        let dir = self
            .data()
            .join("topics")
            .join(topic)
            .join(partition.to_string());
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config with one embedded route on /d storing in `data`, with these `embedded` options.
pub fn config(port: u16, data: &Path, embedded: &str, storage: &str) -> String {
    format!(
        "server:\n  listen: \"127.0.0.1:{port}\"\n  admin_listen: off\nroutes:\n  - uri: /d\n    upstream:\n      scheme: embedded\n      embedded: {{ {embedded} storage: {{ path: \"{}\", {storage} }} }}\n",
        data.display()
    )
}

/// The gateway binary, its output captured.
pub struct Gw {
    pub child: Child,
    pub addr: SocketAddr,
    pub lines: Lines,
}

/// Writes `body` as the directory's config and starts the binary on it (NO_COLOR: plain log
/// lines), its output captured.
pub fn spawn(dir: &Dir, body: &str) -> (Child, Lines) {
    let cfg = dir.0.join("config.yaml");
    std::fs::write(&cfg, body).unwrap();
    let lines = Lines::default();
    let child = super::proc::spawn(&cfg, &[("NO_COLOR".into(), "1".into())], &lines);
    (child, lines)
}

impl Gw {
    pub fn start(dir: &Dir, embedded: &str, storage: &str) -> Gw {
        let port = free_port();
        let (child, lines) = spawn(dir, &config(port, &dir.data(), embedded, storage));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_listening(addr, &lines, Duration::from_secs(20));
        Gw { child, addr, lines }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr, "/d").await
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn term(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a gateway that must refuse to start; its exit code and output.
pub fn start_refused(dir: &Dir, body: &str) -> (Option<i32>, String) {
    let (mut child, lines) = spawn(dir, body);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            return (status.code(), lines.lock().unwrap().join("\n"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gateway started anyway: {:?}", lines.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub async fn metadata(c: &mut Client, topic: &str) -> KafkaMetadataResp {
    match c
        .request(Req::CmdKafkaMetadata(CmdKafkaMetadata {
            topic: topic.into(),
        }))
        .await
    {
        Resp::KafkaMetadataResp(m) => m,
        other => panic!("expected metadata, got {other:?}"),
    }
}

pub async fn list_offset(c: &mut Client, topic: &str, partition: i32, timestamp: i64) -> i64 {
    match c
        .request(Req::CmdKafkaListOffset(CmdKafkaListOffset {
            topic: topic.into(),
            partition,
            timestamp,
        }))
        .await
    {
        Resp::KafkaListOffsetResp(r) => r.offset,
        other => panic!("expected an offset, got {other:?}"),
    }
}

/// Every message of a partition from `from`, fetched in batches.
pub async fn fetch_all(
    c: &mut Client,
    topic: &str,
    partition: i32,
    from: i64,
) -> Vec<KafkaMessage> {
    let mut out: Vec<KafkaMessage> = Vec::new();
    loop {
        let at = out.last().map_or(from, |m| m.offset + 1);
        let got = c.fetch(fetch_cmd(topic, partition, at)).await;
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}
