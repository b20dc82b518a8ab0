//! The Kafka side: the Tansu broker the test suite uses, and a direct rdkafka producer and
//! consumer to measure the gateway against.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::Message as _;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::client::{now_ns, sent_ns};
use crate::gateway::Env;
use crate::process::{free_port, spawn_tied, stop_child, wait_listening};
use crate::report::Hist;

pub struct Tansu {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Tansu {
    pub fn start(env: &Env) -> Result<Tansu, String> {
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

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<(), String> {
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

// rdkafka producer with delivery counting

#[derive(Default)]
pub struct Deliveries {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

pub struct CountingContext(Arc<Deliveries>);

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

pub fn rdkafka_producer(
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
pub fn rdkafka_send(
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
pub fn direct_tail(
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
