//! Google Cloud Pub/Sub: the emulator (scripts/gcp-emulator.sh) and a direct client of it on
//! gcloud-pubsub's gRPC clients, the same library the gateway uses, without the gateway.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use gcloud_gax::conn::{Channel, ConnectionOptions, Environment};
use gcloud_gax::create_request;
use gcloud_googleapis::pubsub::v1::publisher_client::PublisherClient;
use gcloud_googleapis::pubsub::v1::{
    AcknowledgeRequest, PublishRequest, PubsubMessage, PullRequest, StreamingPullRequest,
    Subscription, Topic,
};
use gcloud_pubsub::apiv1::conn_pool::ConnectionManager;
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cloud::{Cloud, Script};

/// Acknowledge calls waiting at once (each carries one pull's or one stream response's ids).
const ACKS_IN_FLIGHT: usize = 8;

pub struct Gcp {
    server: Script,
    project: String,
    publisher: ConnectionManager,
    subscriber: SubscriberClient,
}

impl Gcp {
    pub async fn start() -> Result<Gcp, String> {
        let server = Script::start("gcp-emulator.sh", "GCP_EMULATOR_OWNER")?;
        let env = Environment::Emulator(server.addr());
        let co = ConnectionOptions {
            connect_timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let cm = || async {
            ConnectionManager::new(1, "", &env, &co)
                .await
                .map_err(|e| format!("the emulator at {} is unreachable: {e}", server.addr()))
        };
        let publisher = cm().await?;
        let subscriber = SubscriberClient::new(cm().await?, cm().await?);
        Ok(Gcp {
            project: format!("loadgen-{}", std::process::id()),
            server,
            publisher,
            subscriber,
        })
    }

    fn publisher(&self) -> PublisherClient<Channel> {
        PublisherClient::new(self.publisher.conn())
    }

    fn topic_name(&self, topic: &str) -> String {
        format!("projects/{}/topics/{topic}", self.project)
    }

    fn subscription_name(&self, id: &str) -> String {
        format!("projects/{}/subscriptions/{id}", self.project)
    }
}

/// Acknowledges in a background task, at most ACKS_IN_FLIGHT at once.
async fn ack_later(
    acks: &mut JoinSet<Result<(), String>>,
    sub: &SubscriberClient,
    subscription: &str,
    ack_ids: Vec<String>,
) -> Result<(), String> {
    while acks.len() >= ACKS_IN_FLIGHT {
        if let Some(r) = acks.join_next().await {
            r.map_err(|e| format!("ack task: {e}"))??;
        }
    }
    let (sub, subscription) = (sub.clone(), subscription.to_string());
    acks.spawn(async move {
        sub.acknowledge(
            AcknowledgeRequest {
                subscription: subscription.clone(),
                ack_ids,
            },
            None,
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("acknowledge on {subscription}: {e}"))
    });
    Ok(())
}

#[async_trait]
impl Cloud for Gcp {
    fn scheme(&self) -> &'static str {
        "gcp-pubsub"
    }

    fn route(&self) -> String {
        format!(
            "  - uri: /cloud\n    upstream:\n      scheme: gcp-pubsub\n      nodes: [\"{}\"]\n      timeout: {{ connect: 5, send: 10, read: 10 }}\n      gcp_pubsub: {{ project: {}, emulator: true, subscription_prefix: lg- }}\n",
            self.server.addr(),
            self.project
        )
    }

    fn server(&self) -> &Script {
        &self.server
    }

    async fn create_topic(&self, topic: &str) -> Result<(), String> {
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
            .map(|_| ())
            .map_err(|e| format!("create topic {name}: {e}"))
    }

    async fn create_direct(&self, topic: &str, id: &str) -> Result<(), String> {
        self.subscriber
            .create_subscription(
                Subscription {
                    name: self.subscription_name(id),
                    topic: self.topic_name(topic),
                    ack_deadline_seconds: 30,
                    ..Default::default()
                },
                None,
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("create subscription {id}: {e}"))
    }

    async fn publish(&self, topic: &str, values: Vec<Bytes>) -> Result<(), String> {
        let name = self.topic_name(topic);
        let mut values = values.into_iter().peekable();
        while values.peek().is_some() {
            let messages: Vec<PubsubMessage> = values
                .by_ref()
                .take(1000)
                .map(|v| PubsubMessage {
                    data: v,
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
                .map_err(|e| format!("publish to {name}: {e}"))?;
        }
        Ok(())
    }

    async fn receive(
        &self,
        id: &str,
        streaming: bool,
        stop: CancellationToken,
        on: &mut (dyn for<'v> FnMut(&'v [u8]) -> bool + Send),
    ) -> Result<(), String> {
        let subscription = self.subscription_name(id);
        let mut acks = JoinSet::new();
        if streaming {
            let req = StreamingPullRequest {
                subscription: subscription.clone(),
                stream_ack_deadline_seconds: 30,
                ..Default::default()
            };
            let mut stream = self
                .subscriber
                .streaming_pull(req, Duration::from_secs(30), None)
                .await
                .map_err(|e| format!("streaming pull {subscription}: {e}"))?
                .into_inner();
            loop {
                let msg = tokio::select! {
                    _ = stop.cancelled() => break,
                    m = stream.message() => m,
                };
                let r = match msg {
                    Ok(Some(r)) => r,
                    Ok(None) => return Err(format!("streaming pull {subscription} ended")),
                    Err(e) => return Err(format!("streaming pull {subscription}: {e}")),
                };
                let mut more = true;
                let mut ids = Vec::with_capacity(r.received_messages.len());
                for m in r.received_messages {
                    if let Some(msg) = &m.message {
                        more &= on(&msg.data);
                    }
                    ids.push(m.ack_id);
                }
                ack_later(&mut acks, &self.subscriber, &subscription, ids).await?;
                if !more {
                    break;
                }
            }
        } else {
            let mut idle = Duration::from_millis(5);
            loop {
                #[allow(deprecated)]
                let req = PullRequest {
                    subscription: subscription.clone(),
                    max_messages: 1000,
                    return_immediately: true,
                };
                let got = tokio::select! {
                    _ = stop.cancelled() => break,
                    r = self.subscriber.pull(req, None) => r,
                }
                .map_err(|e| format!("pull {subscription}: {e}"))?
                .into_inner()
                .received_messages;
                if got.is_empty() {
                    // As the gateway's group members poll while idle (it starts at 50 ms).
                    tokio::time::sleep(idle).await;
                    idle = (idle * 2).min(Duration::from_millis(200));
                    continue;
                }
                idle = Duration::from_millis(5);
                let mut more = true;
                let mut ids = Vec::with_capacity(got.len());
                for m in got {
                    if let Some(msg) = &m.message {
                        more &= on(&msg.data);
                    }
                    ids.push(m.ack_id);
                }
                ack_later(&mut acks, &self.subscriber, &subscription, ids).await?;
                if !more {
                    break;
                }
            }
        }
        while let Some(r) = acks.join_next().await {
            r.map_err(|e| format!("ack task: {e}"))??;
        }
        Ok(())
    }
}
