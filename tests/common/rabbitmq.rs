//! RabbitMQ test support: the machine's broker (127.0.0.1:5672, guest/guest) as oracle and peer
//! through a plain lapin client, unique exchange names per test, a socat TLS terminator, and a
//! private node to kill (outages go through common/proxy.rs: the shared broker is never
//! restarted).
#![allow(dead_code)]

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::free_port;

pub const AMQP: &str = "127.0.0.1:5672";

/// A plain lapin connection to the shared broker; fails loudly when it is not running.
pub async fn oracle() -> Connection {
    let uri = format!("amqp://guest:guest@{AMQP}/%2f");
    tokio::time::timeout(
        Duration::from_secs(5),
        Connection::connect(&uri, ConnectionProperties::default()),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("RabbitMQ at {AMQP} did not answer: start it with `rabbitmq-server -detached`")
    })
    .unwrap_or_else(|e| {
        panic!(
            "RabbitMQ at {AMQP} is not reachable ({e}): start it with `rabbitmq-server -detached`"
        )
    })
}

pub async fn channel(conn: &Connection) -> Channel {
    conn.create_channel().await.expect("oracle channel")
}

/// A name no other test (or run) uses: `prefix-<pid>-<n>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    super::unique_name(prefix, '-')
}

/// A RabbitMQ route on `uri` to `node` with exchange `exchange`; `extra` adds `rabbitmq:` keys
/// (", key: value" form). Send and read timeouts are generous: the shared machine is busy.
pub fn route(uri: &str, node: &str, exchange: &str, extra: &str) -> String {
    format!(
        "routes:\n  - uri: {uri}\n    upstream:\n      scheme: rabbitmq\n      nodes: [\"{node}\"]\n      timeout: {{ connect: 3, send: 10, read: 10 }}\n      rabbitmq: {{ exchange: \"{exchange}\", heartbeat_secs: 2{extra} }}\n"
    )
}

/// A queue of the oracle's own, bound to `exchange` with `key`; the exchange is declared as the
/// gateway declares it (durable topic).
pub async fn plain_queue(ch: &Channel, exchange: &str, key: &str) -> String {
    ch.exchange_declare(
        exchange.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare exchange");
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare queue");
    ch.queue_bind(
        q.name().clone(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind queue");
    q.name().as_str().to_string()
}

pub async fn consume(ch: &Channel, queue: &str, no_ack: bool) -> lapin::Consumer {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("consume")
}

pub async fn next_delivery(c: &mut lapin::Consumer) -> lapin::message::Delivery {
    tokio::time::timeout(Duration::from_secs(20), c.next())
        .await
        .expect("a delivery in time")
        .expect("consumer open")
        .expect("delivery")
}

/// Publishes with confirms through the oracle and waits for the broker's confirm.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let confirm = ch
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(confirm.is_ack(), "broker confirmed");
}

pub fn table(pairs: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(
            ShortString::from(*k),
            AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())),
        );
    }
    t
}

pub fn header_text(d: &lapin::message::Delivery, key: &str) -> Option<String> {
    match d.properties.headers().as_ref()?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        other => Some(format!("{other:?}")),
    }
}

/// Deletes what a test declared on the shared broker (exchanges and durable queues outlive it).
pub async fn cleanup(ch: &Channel, exchanges: &[&str], queues: &[&str]) {
    for q in queues {
        let _ = ch
            .queue_delete((*q).into(), QueueDeleteOptions::default())
            .await;
    }
    for e in exchanges {
        let _ = ch
            .exchange_delete((*e).into(), ExchangeDeleteOptions::default())
            .await;
    }
}

/// Consumers of a queue, as the broker counts them (a passive declare).
pub async fn consumer_count(ch: &Channel, queue: &str) -> u32 {
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("queue exists")
    .consumer_count()
}

/// Bindings of `exchange` with `key`, as `rabbitmqctl list_bindings` (read-only) reports them.
pub fn bindings_with_key(exchange: &str, key: &str) -> usize {
    let out = std::process::Command::new("rabbitmqctl")
        .args([
            "list_bindings",
            "-q",
            "source_name",
            "routing_key",
            "destination_kind",
        ])
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl list_bindings failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            cols.len() == 3 && cols[0] == exchange && cols[1] == key && cols[2] == "queue"
        })
        .count()
}

/// socat terminating TLS on a free port with `cert`/`key` and forwarding plaintext to the broker:
/// amqps:// without reconfiguring the shared broker. Its own process group; dropping it kills
/// the group (socat and the children it forks per connection).
pub struct TlsTerminator {
    pub port: u16,
    child: std::process::Child,
}

impl TlsTerminator {
    pub fn start(cert: &std::path::Path, key: &std::path::Path) -> TlsTerminator {
        let port = free_port();
        let mut cmd = std::process::Command::new("socat");
        cmd.arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            cert.display(),
            key.display()
        ))
        .arg(format!("TCP:{AMQP}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("socat is needed for the amqps test: {e}"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "socat did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsTerminator { port, child }
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        // SAFETY: signals the process group this struct started; no memory is touched.
        unsafe {
            libc::killpg(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Deletes a test's exchanges and queues when it ends, passed or panicked: durable queues and
/// exchanges would otherwise outlive a failed run on the shared broker.
pub struct Leftovers {
    pub exchanges: Vec<String>,
    pub queues: Vec<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let (exchanges, queues) = (self.exchanges.clone(), self.queues.clone());
        // Its own thread and runtime: the test's runtime is not polled while it unwinds.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let conn = oracle().await;
                let ch = channel(&conn).await;
                let e: Vec<&str> = exchanges.iter().map(String::as_str).collect();
                let q: Vec<&str> = queues.iter().map(String::as_str).collect();
                cleanup(&ch, &e, &q).await;
                let _ = conn.close(200, "cleanup".into()).await;
            });
        })
        .join();
    }
}

/// `rabbitmqctl` on the shared broker (as root); panics with its output when it fails.
pub fn ctl(args: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `x-queue-type` of a queue as the broker reports it (`rabbitmqctl list_queues`).
pub fn queue_type_of(vhost: &str, queue: &str) -> Option<String> {
    ctl(&["list_queues", "-q", "-p", vhost, "name", "type"])
        .lines()
        .find_map(|l| {
            let (name, kind) = l.split_once('\t')?;
            (name == queue).then(|| kind.trim().to_string())
        })
}

/// A virtual host of the test's own on the shared broker, deleted (with everything in it) when
/// dropped. `users` get full permissions on it.
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    pub fn create(prefix: &str, users: &[&str]) -> Vhost {
        let vh = Vhost {
            name: unique(prefix),
        };
        ctl(&["add_vhost", &vh.name]);
        for u in users {
            vh.permit(u);
        }
        vh
    }

    pub fn permit(&self, user: &str) {
        ctl(&["set_permissions", "-p", &self.name, user, ".*", ".*", ".*"]);
    }

    /// The vhost as it goes in an amqp:// URI.
    pub fn encoded(&self) -> String {
        self.name.replace('%', "%25").replace('/', "%2f")
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A user of the test's own on the shared broker, deleted when dropped.
pub struct User {
    pub name: String,
}

impl User {
    pub fn create(prefix: &str, password: &str) -> User {
        let u = User {
            name: unique(prefix),
        };
        ctl(&["add_user", &u.name, password]);
        u
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_user", &self.name])
            .output();
    }
}

/// A plain lapin connection to `vhost` as `user`.
pub async fn oracle_as(user: &str, password: &str, vhost: &Vhost) -> Connection {
    let uri = format!("amqp://{user}:{password}@{AMQP}/{}", vhost.encoded());
    tokio::time::timeout(
        Duration::from_secs(5),
        Connection::connect(&uri, ConnectionProperties::default()),
    )
    .await
    .expect("RabbitMQ answered in time")
    .unwrap_or_else(|e| panic!("oracle connects to vhost {} as {user}: {e}", vhost.name))
}

/// `x-death[0].reason` of a dead-lettered delivery (`rejected`, `expired`, `delivery_limit`).
pub fn death_reason(d: &lapin::message::Delivery) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = d.properties.headers().as_ref()?.inner().get("x-death")?
    else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    match first.inner().get("reason")? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// A RabbitMQ node of the test's own: `rabbitmq-server` with its node name, AMQP and
/// distribution ports, database, logs, config and (empty) plugin list in a temp dir, so it can
/// be killed and restarted without touching the machine's broker. Its own process group;
/// dropping it kills the group and removes the directory.
pub struct PrivateBroker {
    pub port: u16,
    dist_port: u16,
    node: String,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

const BROKER_DIRS: &str = "pubsub-gw-rmq-";

impl PrivateBroker {
    pub fn start() -> PrivateBroker {
        crate::common::sweep_stale_dirs(BROKER_DIRS);
        let id = unique("n");
        let dir = std::env::temp_dir().join(format!("{BROKER_DIRS}{}-{id}", std::process::id()));
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).expect("broker dirs");
        }
        let (port, dist_port) = (free_port(), free_port());
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .expect("broker config");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        std::fs::write(dir.join("env.conf"), "").expect("env file");
        let mut b = PrivateBroker {
            port,
            dist_port,
            // Node names take letters, digits, `_` and `-`.
            node: format!("gwt-{}@localhost", id.replace('-', "_")),
            dir,
            child: None,
        };
        b.spawn();
        b
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the node (again, with the same name and database) and waits until it listens.
    pub fn spawn(&mut self) {
        let d = &self.dir;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("server.out"))
            .expect("server log");
        let mut cmd = std::process::Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
        cmd.env("HOME", d.join("home"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("rabbitmq-server is needed for this test: {e}")),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the private broker did not listen on {} within 60 s: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9` of the whole node (its process group): no clean shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signals the process group this struct started; no memory is touched.
            unsafe {
                libc::killpg(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// A plain lapin connection to this node.
    pub async fn oracle(&self) -> Connection {
        let uri = format!("amqp://guest:guest@{}/%2f", self.addr());
        tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(&uri, ConnectionProperties::default()),
        )
        .await
        .expect("the private broker answered in time")
        .expect("oracle connects to the private broker")
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
