//! A real Kafka-protocol broker for tests: Tansu with SQLite storage (see ../shared/TEST-BROKER.md),
//! installed by scripts/install-test-broker.sh, started on a free loopback port in a fresh
//! directory. Tests that need it fail loudly when it cannot be had; they never skip.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::common::free_port;

/// The tansu binary: $TANSU_BIN, or what the project's install script reports (it builds
/// Tansu once and caches it).
pub fn tansu_bin() -> PathBuf {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        return PathBuf::from(p);
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/install-test-broker.sh"
    );
    let out = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} failed: the Kafka tests need the Tansu test broker"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A running broker. Its process is started from a thread that lives as long as the test
/// process, with a parent-death signal, so it never outlives the tests.
pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    pid: u32,
}

#[derive(Default)]
pub struct BrokerOptions {
    pub port: Option<u16>,
    pub dir: Option<PathBuf>,
    pub authentication: bool,
}

/// Spawns `cmd` from the long-lived spawner thread with a parent-death signal (SIGKILL), so the
/// process never outlives the tests, like the broker. Kill it yourself when done with it.
pub fn spawn_tied(mut cmd: Command) -> std::io::Result<Child> {
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    spawner().send((cmd, tx)).expect("spawner thread");
    rx.recv().expect("spawner reply")
}

fn spawner() -> &'static mpsc::Sender<(Command, mpsc::Sender<std::io::Result<Child>>)> {
    static SPAWNER: OnceLock<mpsc::Sender<(Command, mpsc::Sender<std::io::Result<Child>>)>> =
        OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Command, mpsc::Sender<std::io::Result<Child>>)>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
            // Park forever: the parent-death signal fires when this thread exits.
            loop {
                std::thread::park();
            }
        });
        tx
    })
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_with(BrokerOptions {
            port: None,
            dir: None,
            authentication: false,
        })
    }

    pub fn start_with(opts: BrokerOptions) -> Broker {
        Broker::launch(opts, None)
    }

    /// Like `start_with`, but metadata advertises `127.0.0.1:advertised_port` instead of the
    /// listening port (for a proxy or TLS terminator in front of the broker).
    pub fn start_advertising(opts: BrokerOptions, advertised_port: u16) -> Broker {
        Broker::launch(opts, Some(advertised_port))
    }

    fn launch(opts: BrokerOptions, advertised_port: Option<u16>) -> Broker {
        let bin = tansu_bin();
        let port = opts.port.unwrap_or_else(free_port);
        crate::common::sweep_stale_dirs("pubsub-gw-tansu-");
        let dir = opts.dir.unwrap_or_else(|| {
            let d =
                std::env::temp_dir().join(format!("pubsub-gw-tansu-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("broker directory");
            d
        });
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = format!("tcp://127.0.0.1:{}", advertised_port.unwrap_or(port));
        let mut cmd = Command::new(&bin);
        cmd.current_dir(&dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("broker.log")).expect("broker log"),
            ));
        if opts.authentication {
            cmd.arg("--authentication");
        }
        let child =
            spawn_tied(cmd).unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let pid = child.id();
        std::mem::forget(child);
        // Generous: on a machine busy with builds (disk and both cores taken) the first exec of
        // the 60 MB binary alone has taken over 20 s.
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {port}; see {}",
                dir.join("broker.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { port, dir, pid }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker and keeps its directory (to restart on the same storage), returning it.
    pub fn stop_keep_dir(self) -> PathBuf {
        self.stop();
        let dir = self.dir.clone();
        std::mem::forget(self);
        dir
    }

    /// Stops the broker (it sometimes ignores SIGTERM: SIGKILL follows).
    pub fn stop(&self) {
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && unsafe { libc::kill(self.pid as i32, 0) } == 0 {
            std::thread::sleep(Duration::from_millis(50));
            reap(self.pid);
        }
        unsafe {
            libc::kill(self.pid as i32, libc::SIGKILL);
        }
        reap(self.pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin client");
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let res = admin
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &opts,
            )
            .await
            .expect("create_topics answered");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }
}

fn reap(pid: u32) {
    unsafe {
        libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One broker shared by the tests of a process that do not stop or reconfigure it.
pub fn shared() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(Broker::start)
}

/// YAML for a gateway with one /kafka route to `bootstrap`, plus extra upstream lines. Any
/// consumer group may be joined (a Kafka route needs `topic-acl.groups` for that).
pub fn kafka_yaml(bootstrap: &str, extra_upstream: &str) -> String {
    format!(
        "routes:\n  - uri: /kafka\n    upstream:\n      scheme: kafka\n      nodes:\n        \"{bootstrap}\": 1\n      timeout: {{ connect: 3, send: 5, read: 5 }}\n      metadata_refresh_secs: 0.5\n{extra_upstream}    plugins:\n      topic-acl: {{ groups: [\".*\"] }}\n"
    )
}

/// A unique topic name per test.
pub fn topic(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
