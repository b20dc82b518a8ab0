//! Google Cloud Pub/Sub test support: one emulator per test binary (scripts/gcp-emulator.sh,
//! stopped when the binary's process is gone), or the suite's named by
//! `PUBSUB_GW_GCP_EMULATOR=host:port`; each test its own project id; Google's protocol as the
//! oracle and peer (gcloud-pubsub's gRPC clients, as the gateway's, without the gateway's code).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use gcloud_gax::conn::{Channel, ConnectionOptions, Environment};
use gcloud_gax::create_request;
use gcloud_googleapis::pubsub::v1::publisher_client::PublisherClient;
use gcloud_googleapis::pubsub::v1::{
    AcknowledgeRequest, GetSubscriptionRequest, ListSubscriptionsRequest,
    ListTopicSubscriptionsRequest, PublishRequest, PubsubMessage, PullRequest, Subscription, Topic,
};
use gcloud_pubsub::apiv1::conn_pool::ConnectionManager;
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;

/// `host:port` of the binary's emulator, started at the first call; panics with the script's
/// message when the emulator is missing.
pub fn emulator() -> &'static str {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        if let Ok(a) = std::env::var("PUBSUB_GW_GCP_EMULATOR") {
            if !a.is_empty() {
                return a;
            }
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gcp-emulator.sh");
        let out = std::process::Command::new(script)
            .arg("start")
            .env("GCP_EMULATOR_OWNER", std::process::id().to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            out.status.success(),
            "the Pub/Sub emulator did not start ({script} start): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let port = text
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("{script} start printed {text:?}"));
        format!("127.0.0.1:{port}")
    })
}

/// A project id no other test of this run uses (Google's rule: 6-30 of [a-z0-9-]).
pub fn project() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "gwt-{:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A gcp-pubsub route on `uri` to the emulator for `project`, with more `gcp_pubsub` options
/// (YAML flow map entries, may be empty).
pub fn route(uri: &str, project: &str, options: &str) -> String {
    let sep = if options.is_empty() { "" } else { ", " };
    format!(
        "routes:\n  - uri: {uri}\n    upstream:\n      scheme: gcp-pubsub\n      nodes: [\"{}\"]\n      timeout: {{ connect: 2, send: 5, read: 5 }}\n      gcp_pubsub: {{ project: {project}, emulator: true{sep}{options} }}\n",
        emulator()
    )
}

/// Google's protocol on one project of the emulator.
pub struct Oracle {
    pub project: String,
    publisher: ConnectionManager,
    pub subscriber: SubscriberClient,
}

impl Oracle {
    pub async fn new(project: &str) -> Oracle {
        Oracle::at(emulator(), project).await
    }

    /// Google's protocol on one project of the emulator at `addr`.
    pub async fn at(addr: &str, project: &str) -> Oracle {
        let env = Environment::Emulator(addr.to_string());
        let co = ConnectionOptions {
            connect_timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let cm = || async {
            ConnectionManager::new(1, "", &env, &co)
                .await
                .unwrap_or_else(|e| panic!("the emulator at {addr} is unreachable: {e}"))
        };
        Oracle {
            project: project.to_string(),
            publisher: cm().await,
            subscriber: SubscriberClient::new(cm().await, cm().await),
        }
    }

    fn publisher(&self) -> PublisherClient<Channel> {
        PublisherClient::new(self.publisher.conn())
    }

    pub fn topic_name(&self, topic: &str) -> String {
        format!("projects/{}/topics/{topic}", self.project)
    }

    pub fn subscription_name(&self, id: &str) -> String {
        format!("projects/{}/subscriptions/{id}", self.project)
    }

    pub async fn create_topic(&self, topic: &str) {
        let name = self.topic_name(topic);
        self.publisher()
            .create_topic(create_request(
                format!("name={name}"),
                Topic {
                    name: name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("create topic {name}: {e}"));
    }

    /// A plain pull subscription of `topic`.
    pub async fn create_subscription(&self, topic: &str, id: &str, ordering: bool) {
        self.subscriber
            .create_subscription(
                Subscription {
                    name: self.subscription_name(id),
                    topic: self.topic_name(topic),
                    ack_deadline_seconds: 10,
                    enable_message_ordering: ordering,
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("create subscription {id}: {e}"));
    }

    /// Publishes one message; its id.
    pub async fn publish(
        &self,
        topic: &str,
        data: &str,
        attributes: &[(&str, &str)],
        ordering_key: &str,
    ) -> String {
        let name = self.topic_name(topic);
        let msg = PubsubMessage {
            data: data.as_bytes().to_vec().into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ordering_key: ordering_key.to_string(),
            ..Default::default()
        };
        self.publisher()
            .publish(create_request(
                format!("topic={name}"),
                PublishRequest {
                    topic: name.clone(),
                    messages: vec![msg],
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("publish to {name}: {e}"))
            .into_inner()
            .message_ids
            .remove(0)
    }

    /// Publishes `n` messages `{prefix}{i}`, a thousand per Publish call.
    pub async fn publish_many(&self, topic: &str, prefix: &str, n: usize) {
        let name = self.topic_name(topic);
        for start in (0..n).step_by(1000) {
            let messages = (start..n.min(start + 1000))
                .map(|i| PubsubMessage {
                    data: format!("{prefix}{i}").into_bytes().into(),
                    ..Default::default()
                })
                .collect();
            self.publisher()
                .publish(create_request(
                    format!("topic={name}"),
                    PublishRequest {
                        topic: name.clone(),
                        messages,
                    },
                ))
                .await
                .unwrap_or_else(|e| panic!("publish to {name}: {e}"));
        }
    }

    /// The subscriptions of a topic (full names).
    pub async fn topic_subscriptions(&self, topic: &str) -> Vec<String> {
        let name = self.topic_name(topic);
        self.publisher()
            .list_topic_subscriptions(create_request(
                format!("topic={name}"),
                ListTopicSubscriptionsRequest {
                    topic: name.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("list subscriptions of {name}: {e}"))
            .into_inner()
            .subscriptions
    }

    /// Every subscription of the project.
    pub async fn project_subscriptions(&self) -> Vec<Subscription> {
        self.subscriber
            .list_subscriptions(
                ListSubscriptionsRequest {
                    project: format!("projects/{}", self.project),
                    page_size: 1000,
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("list subscriptions of {}: {e}", self.project))
    }

    pub async fn subscription(&self, name: &str) -> Subscription {
        self.subscriber
            .get_subscription(
                GetSubscriptionRequest {
                    subscription: name.to_string(),
                },
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("get subscription {name}: {e}"))
            .into_inner()
    }

    /// Pulls (and acks) until `n` messages arrived; panics after 10 s.
    pub async fn pull(&self, id: &str, n: usize) -> Vec<PubsubMessage> {
        let subscription = self.subscription_name(id);
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while out.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{subscription}: {} of {n} messages after 10 s",
                out.len()
            );
            #[allow(deprecated)]
            let got = self
                .subscriber
                .pull(
                    PullRequest {
                        subscription: subscription.clone(),
                        max_messages: (n - out.len()) as i32,
                        return_immediately: true,
                    },
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("pull {subscription}: {e}"))
                .into_inner()
                .received_messages;
            if got.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let ack_ids = got.iter().map(|m| m.ack_id.clone()).collect();
            self.subscriber
                .acknowledge(
                    AcknowledgeRequest {
                        subscription: subscription.clone(),
                        ack_ids,
                    },
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("ack on {subscription}: {e}"));
            out.extend(got.into_iter().filter_map(|m| m.message));
        }
        out
    }
}

/// Attributes as a sorted map, for comparisons.
pub fn attributes(m: &PubsubMessage) -> Vec<(String, String)> {
    let mut v: Vec<_> = m
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<HashMap<_, _>>()
        .into_iter()
        .collect();
    v.sort();
    v
}

/// An emulator of one test's own (to stop and start again), stopped when dropped.
pub struct PrivateEmulator {
    pub port: u16,
    pgid: Option<String>,
}

impl PrivateEmulator {
    /// Starts one (on `port`, else a free one); panics with the script's message.
    pub fn start(port: Option<u16>) -> PrivateEmulator {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gcp-emulator.sh");
        let mut cmd = std::process::Command::new(script);
        cmd.arg("start");
        if let Some(p) = port {
            cmd.arg(p.to_string());
        }
        let out = cmd
            .env("GCP_EMULATOR_OWNER", std::process::id().to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            out.status.success(),
            "the Pub/Sub emulator did not start ({script} start): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        let port = words
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} start printed {text:?}"));
        PrivateEmulator {
            port,
            pgid: words.next().map(str::to_string),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it (its state is lost, as on every restart).
    pub fn stop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gcp-emulator.sh");
            let _ = std::process::Command::new(script)
                .args(["stop", &pgid])
                .output();
        }
    }
}

impl Drop for PrivateEmulator {
    fn drop(&mut self) {
        self.stop();
    }
}
