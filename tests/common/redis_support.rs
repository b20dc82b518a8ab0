//! Redis test support: the machine's server (127.0.0.1:6379) as oracle and peer, unique keys
//! and channels per run, and private `redis-server` processes for outages.
#![allow(dead_code)]

use std::time::Duration;

use super::free_port;

pub const REDIS: &str = "127.0.0.1:6379";

/// A plain redis-rs connection to `addr`; fails loudly when the server is not running.
pub async fn oracle_at(addr: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{addr}")).expect("redis url");
    tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap_or_else(|_| panic!("Redis at {addr} did not answer: start it (scripts/services.sh)"))
    .unwrap_or_else(|e| {
        panic!("Redis at {addr} is not reachable ({e}): start it (scripts/services.sh)")
    })
}

pub async fn oracle() -> redis::aio::MultiplexedConnection {
    oracle_at(REDIS).await
}

/// A plain redis-rs pub/sub connection on the shared server.
pub async fn oracle_pubsub() -> redis::aio::PubSub {
    redis::Client::open(format!("redis://{REDIS}"))
        .expect("redis url")
        .get_async_pubsub()
        .await
        .unwrap_or_else(|e| panic!("Redis at {REDIS} is not reachable ({e})"))
}

/// A name no other test (or run) uses: `prefix:<pid>:<n>:<nanos>`.
pub fn unique(prefix: &str) -> String {
    super::unique_name(&format!("gwt:{prefix}"), ':')
}

/// A Redis route on `uri` to `server` with `upstream.redis` set to `options` (YAML flow map
/// body) and `plugins` (YAML flow map body, may be empty).
pub fn route(uri: &str, server: &str, options: &str, plugins: &str) -> String {
    format!(
        "routes:\n  - uri: {uri}\n    upstream:\n      scheme: redis\n      nodes: [\"{server}\"]\n      timeout: {{ connect: 1, send: 2, read: 2 }}\n      redis: {{ {options} }}\n    plugins: {{ {plugins} }}\n"
    )
}

pub fn pubsub_route(uri: &str, server: &str) -> String {
    route(uri, server, "mode: pubsub", "")
}

pub fn streams_route(uri: &str, server: &str, extra: &str) -> String {
    route(uri, server, &format!("mode: streams{extra}"), "")
}

pub async fn del(conn: &mut redis::aio::MultiplexedConnection, key: &str) {
    let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(key).query_async(conn).await;
}

/// A private `redis-server` on a free port, for outages: no persistence (a restart comes back
/// empty), or an append-only file fsynced on every write in a directory of its own (a restart
/// comes back with every acknowledged write).
pub struct PrivateRedis {
    pub port: u16,
    daemon: super::daemon::Daemon,
    /// Replaces `--port P` (e.g. `--port 0 --tls-port P ...`, `--requirepass ...`).
    args: Vec<String>,
    /// The persistence arguments.
    persistence: Vec<String>,
    /// The data directory of a persistent server, removed on drop.
    dir: Option<std::path::PathBuf>,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        PrivateRedis::start_with(|port| vec!["--port".into(), port.to_string()]).await
    }

    /// A server whose listening arguments `args(port)` gives.
    pub async fn start_with(args: impl Fn(u16) -> Vec<String>) -> PrivateRedis {
        let port = free_port();
        let mut s = PrivateRedis {
            port,
            daemon: Default::default(),
            args: args(port),
            persistence: ["--save", "", "--appendonly", "no"]
                .map(String::from)
                .to_vec(),
            dir: None,
        };
        s.restart().await;
        s
    }

    /// A server that keeps its data across restarts: `appendonly yes`, `appendfsync always`
    /// (every write on disk before its reply), in a fresh directory under the temp dir.
    pub async fn start_persistent() -> PrivateRedis {
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("gw-redis-aof").replace(':', "-"));
        std::fs::create_dir_all(&dir).expect("redis data dir");
        let mut s = PrivateRedis {
            port,
            daemon: Default::default(),
            args: vec!["--port".into(), port.to_string()],
            persistence: vec![
                "--dir".into(),
                dir.display().to_string(),
                "--save".into(),
                "".into(),
                "--appendonly".into(),
                "yes".into(),
                "--appendfsync".into(),
                "always".into(),
            ],
            dir: Some(dir),
        };
        s.restart().await;
        s
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port: empty, or with its data when persistent.
    pub async fn restart(&mut self) {
        let addr = self.addr();
        let mut cmd = std::process::Command::new("redis-server");
        cmd.args(&self.args)
            .args(["--bind", "127.0.0.1"])
            .args(&self.persistence);
        self.daemon.start(&mut cmd, &addr).await;
    }

    /// SIGKILL: no shutdown, no final save; what survives is what was on disk.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn xlen(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> usize {
    redis::cmd("XLEN")
        .arg(key)
        .query_async(conn)
        .await
        .expect("XLEN")
}

/// The `value` field of every entry of a stream, as a plain client reads them.
pub async fn xrange_values(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<String> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .expect("XRANGE");
    entries
        .into_iter()
        .map(|(_, fields)| {
            fields
                .into_iter()
                .find(|(f, _)| f == "value")
                .map(|(_, v)| v)
                .unwrap_or_default()
        })
        .collect()
}

/// Deletes keys of the shared server when the test ends, passed or failed (Drop cannot await:
/// a plain blocking client).
pub struct Keys {
    pub db: i64,
    pub keys: Vec<String>,
}

impl Drop for Keys {
    fn drop(&mut self) {
        if let Ok(mut c) = redis::Client::open(format!("redis://{REDIS}/{}", self.db))
            .and_then(|client| client.get_connection())
        {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(&self.keys).query(&mut c);
        }
    }
}

pub fn joined_routes(routes: &[String]) -> String {
    let mut yaml = String::from("routes:\n");
    for r in routes {
        yaml.push_str(r.strip_prefix("routes:\n").expect("a route"));
    }
    yaml
}

/// An ACL user on the shared server for one test, allowed the keys and channels under `prefix`,
/// deleted on drop.
pub struct AclUser {
    pub name: String,
}

impl AclUser {
    pub async fn create(
        rc: &mut redis::aio::MultiplexedConnection,
        password: &str,
        prefix: &str,
    ) -> AclUser {
        let name = unique("acl").replace(':', "-");
        let _: String = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&name)
            .arg("reset")
            .arg("on")
            .arg(format!(">{password}"))
            .arg(format!("~{prefix}*"))
            .arg(format!("&{prefix}*"))
            .arg("+@all")
            .query_async(rc)
            .await
            .expect("ACL SETUSER");
        AclUser { name }
    }
}

impl Drop for AclUser {
    fn drop(&mut self) {
        // A plain blocking client: Drop cannot await, and a panicking test must clean up too.
        if let Ok(mut c) = redis::Client::open(format!("redis://{REDIS}"))
            .and_then(|client| client.get_connection())
        {
            let _: redis::RedisResult<i64> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&self.name)
                .query(&mut c);
        }
    }
}

pub fn value(s: &str) -> bytes::Bytes {
    s.as_bytes().to_vec().into()
}
