//! Amazon SNS + SQS test support: one moto server per test binary (scripts/moto.sh, installed
//! into the project's own virtual environment, stopped when the binary's process is gone), or
//! private ones for tests that stop it or turn its authentication on; each test its own topic,
//! queue and prefix names; AWS's SDK as the oracle and peer.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

pub const REGION: &str = "eu-west-1";

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/moto.sh")
}

/// A moto server of a test's own: `port`, and its process group to stop.
pub struct Moto {
    pub port: u16,
    pgid: String,
}

impl Moto {
    /// Starts one (on `port`, or a free one), with these environment variables for moto; panics
    /// with the script's message when it cannot.
    pub fn start(port: Option<u16>, env: &[(&str, &str)]) -> Moto {
        let mut cmd = std::process::Command::new(script());
        cmd.arg("start");
        if let Some(p) = port {
            cmd.arg(p.to_string());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .env("MOTO_OWNER", std::process::id().to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script()));
        assert!(
            out.status.success(),
            "moto did not start ({} start): {}",
            script(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        let port = words.next().and_then(|p| p.parse().ok());
        let pgid = words.next().map(str::to_string);
        match (port, pgid) {
            (Some(port), Some(pgid)) => Moto { port, pgid },
            _ => panic!("{} start printed {text:?}", script()),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it (its state is gone).
    pub fn stop(&mut self) {
        if self.pgid.is_empty() {
            return;
        }
        let _ = std::process::Command::new(script())
            .args(["stop", &self.pgid])
            .output();
        self.pgid.clear();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `host:port` of the binary's shared moto, started at the first call.
pub fn moto() -> &'static str {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        let m = Moto::start(None, &[]);
        let addr = m.addr();
        // Lives as long as the test binary; its watchdog stops it after.
        std::mem::forget(m);
        addr
    })
}

/// A name no other test of this run uses: `{base}-{pid}-{n}` in hex.
pub fn name(base: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{base}-{:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// An aws route on `uri` to `addr` with these `aws` options (YAML flow map entries after
/// region), and these plugins lines (may be empty).
pub fn route_to(addr: &str, uri: &str, options: &str, plugins: &str) -> String {
    let sep = if options.is_empty() { "" } else { ", " };
    let plugins = if plugins.is_empty() {
        String::new()
    } else {
        format!("    plugins:\n      {plugins}\n")
    };
    format!(
        "routes:\n  - uri: {uri}\n    upstream:\n      scheme: aws\n      nodes: [\"{addr}\"]\n      timeout: {{ connect: 1, send: 5, read: 5 }}\n      aws: {{ region: {REGION}{sep}{options} }}\n{plugins}"
    )
}

/// An aws route to the shared moto, credentials from the test's environment-free aws-auth.
pub fn route(uri: &str, options: &str) -> String {
    route_to(moto(), uri, options, AUTH)
}

/// The credentials plugin the routes use: moto takes any key unless its auth is on. The
/// variables are set by .cargo/config.toml for the test binaries cargo runs.
pub const AUTH: &str =
    "aws-auth: { access_key_id_env: PUBSUB_GW_TEST_AWS_KEY, secret_access_key_env: PUBSUB_GW_TEST_AWS_SECRET }";

/// AWS's SDK on one moto.
pub struct Oracle {
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Oracle {
    pub fn new() -> Oracle {
        Oracle::at(moto(), "testing", "testing")
    }

    pub fn at(addr: &str, key: &str, secret: &str) -> Oracle {
        let creds = aws_credential_types::Credentials::new(key, secret, None, None, "test");
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let endpoint = format!("http://{addr}");
        let sns = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new(REGION))
            .credentials_provider(creds.clone())
            .http_client(http.clone())
            .endpoint_url(&endpoint)
            .build();
        let sqs = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .credentials_provider(creds)
            .http_client(http)
            .endpoint_url(&endpoint)
            .build();
        Oracle {
            sns: aws_sdk_sns::Client::from_conf(sns),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
        }
    }

    /// Creates an SNS topic (FIFO when its name ends in .fifo, content-based dedup on); its ARN.
    pub async fn create_topic(&self, name: &str) -> String {
        let mut c = self.sns.create_topic().name(name);
        if name.ends_with(".fifo") {
            c = c
                .attributes("FifoTopic", "true")
                .attributes("ContentBasedDeduplication", "true");
        }
        c.send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn")
    }

    /// Creates an SQS queue (FIFO when its name ends in .fifo); its URL.
    pub async fn create_queue(&self, name: &str, attrs: &[(QueueAttributeName, &str)]) -> String {
        let mut c = self.sqs.create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            c = c.attributes(QueueAttributeName::FifoQueue, "true");
        }
        for (k, v) in attrs {
            c = c.attributes(k.clone(), *v);
        }
        c.send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url")
    }

    pub async fn queue_arn(&self, url: &str) -> String {
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue arn")
    }

    /// Subscribes a queue to a topic with raw delivery.
    pub async fn subscribe_raw(&self, topic_arn: &str, queue_url: &str) {
        let arn = self.queue_arn(queue_url).await;
        self.sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe");
    }

    /// The queue URLs whose names start with `prefix`.
    pub async fn queues(&self, prefix: &str) -> Vec<String> {
        self.sqs
            .list_queues()
            .queue_name_prefix(prefix)
            .send()
            .await
            .expect("list queues")
            .queue_urls
            .unwrap_or_default()
    }

    /// The endpoints subscribed to a topic.
    pub async fn subscriptions(&self, topic_arn: &str) -> Vec<String> {
        self.sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .send()
            .await
            .expect("list subscriptions")
            .subscriptions
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.endpoint)
            .collect()
    }

    /// Receives up to `n` messages within `wait` (long polls), without deleting them.
    pub async fn receive(
        &self,
        url: &str,
        n: usize,
        wait: Duration,
    ) -> Vec<aws_sdk_sqs::types::Message> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = Vec::new();
        while got.len() < n && tokio::time::Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages((n - got.len()).min(10) as i32)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive");
            got.extend(out.messages.unwrap_or_default());
        }
        got
    }

    pub async fn delete(&self, url: &str, m: &aws_sdk_sqs::types::Message) {
        self.sqs
            .delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
            .send()
            .await
            .expect("delete");
    }

    /// Publishes to a topic with String attributes; the message id.
    pub async fn publish(&self, topic_arn: &str, body: &str, attrs: &[(&str, &str)]) -> String {
        let mut p = self.sns.publish().topic_arn(topic_arn).message(body);
        for (k, v) in attrs {
            p = p.message_attributes(
                *k,
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(*v)
                    .build()
                    .unwrap(),
            );
        }
        p.send()
            .await
            .expect("publish")
            .message_id
            .unwrap_or_default()
    }

    /// A queue's approximate message counts: (visible, in flight).
    pub async fn counts(&self, url: &str) -> (u64, u64) {
        let a: HashMap<QueueAttributeName, String> = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        let n = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

/// String attributes of a received message, sorted.
pub fn attributes(m: &aws_sdk_sqs::types::Message) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m
        .message_attributes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.string_value.unwrap_or_default()))
        .collect();
    v.sort();
    v
}

/// FNV-1a over `{hostname}\n{uri}`: the owner part of a route's live queue names.
pub fn live_owner(uri: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let s = format!("{}\n{uri}", host.trim_end());
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}
