//! The Amazon SNS + SQS scheme (`aws`), over AWS's SDK.
//!
//! - `client`: the SNS and SQS clients, credentials, error mapping, ARN and URL lookups;
//! - `message`: SNS's and SQS's rules for names, bodies and attributes, checked before any call;
//! - `live`: plain subscriptions to SNS topics, one SQS queue per process and topic on the
//!   shared live fan-out;
//! - `groups`: group subscriptions, each member long-polling the group's queue, per-message
//!   ack (DeleteMessage) and nack (ChangeMessageVisibility).
//!
//! `target: sns`: a topic is an SNS topic; groups read a durable queue per (route, group,
//! topic) named `{queue_prefix}{group}-{topic}`, subscribed to the topic. `target: sqs`: a
//! topic is an SQS queue; every group on it shares the queue (a plain subscription is refused:
//! each receive takes a message from every other reader of the queue, so a queue cannot be
//! watched without consuming it).

mod client;
mod groups;
mod live;
mod message;

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Backend, Capabilities, Publish, Published, PushSink, SubscribeSpec, Subscription, Target,
    TopicUse, Wildcards,
};
use crate::config::{AwsOptions, AwsTarget, Route};
use crate::error::{GatewayError, Result};
use crate::pb::StartPosition;

fn capabilities(opts: &AwsOptions) -> Capabilities {
    let what = match (opts.target, opts.fifo) {
        (AwsTarget::Sns, false) => "Amazon SNS",
        (AwsTarget::Sns, true) => "Amazon SNS FIFO",
        (AwsTarget::Sqs, false) => "Amazon SQS",
        (AwsTarget::Sqs, true) => "Amazon SQS FIFO",
    };
    Capabilities {
        description: std::borrow::Cow::Borrowed(what),
        history: false,
        starts: &[StartPosition::Latest],
        fetch: false,
        time_lookup: false,
        offsets: false,
        groups: true,
        ack: true,
        nack: true,
        commit: false,
        wildcards: Wildcards::None,
        headers: true,
        keys: opts.fifo,
        partitions: false,
        string_positions: false,
        epochs: false,
    }
}

pub struct AwsBackend {
    conn: Arc<client::Conn>,
    hub: live::Hub,
    groups: groups::Groups,
    caps: Capabilities,
}

impl AwsBackend {
    pub fn new(route: &Route, opts: AwsOptions) -> std::result::Result<AwsBackend, String> {
        let caps = capabilities(&opts);
        let conn = Arc::new(client::Conn::new(route, opts)?);
        let name = route.name.as_deref().unwrap_or(&route.uri);
        Ok(AwsBackend {
            hub: live::Hub::new(conn.clone(), &route.uri, name),
            groups: groups::Groups::new(conn.clone()),
            conn,
            caps,
        })
    }
}

#[async_trait]
impl Backend for AwsBackend {
    fn scheme(&self) -> &'static str {
        "aws"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate_topic(&self, topic: &str, _usage: TopicUse) -> Result<()> {
        message::validate_name(&self.conn.opts, topic)
    }

    async fn produce(&self, req: Publish) -> Result<Published> {
        let o = &self.conn.opts;
        message::validate_name(o, &req.topic)?;
        let id = match o.target {
            AwsTarget::Sns => {
                let m = message::sns(o, req)?;
                let arn = self.conn.topic_arn(&m.topic).await?;
                let topic = m.topic.clone();
                let out = self
                    .conn
                    .within("the publish", async {
                        self.conn
                            .sns
                            .publish()
                            .topic_arn(arn)
                            .message(m.body)
                            .set_message_attributes(Some(m.attributes))
                            .set_message_group_id(m.group_id)
                            .set_message_deduplication_id(m.dedup_id)
                            .send()
                            .await
                            .map_err(|e| client::sdk_error(e, &format!("topic `{topic}`")))
                    })
                    .await?;
                out.message_id
            }
            AwsTarget::Sqs => {
                let m = message::sqs(o, req)?;
                let url = self.conn.queue_url(&m.topic).await?;
                let queue = m.topic.clone();
                let out = self
                    .conn
                    .within("the send", async {
                        self.conn
                            .sqs
                            .send_message()
                            .queue_url(url)
                            .message_body(m.body)
                            .set_message_attributes(Some(m.attributes))
                            .set_message_group_id(m.group_id)
                            .set_message_deduplication_id(m.dedup_id)
                            .send()
                            .await
                            .map_err(|e| client::sdk_error(e, &format!("queue `{queue}`")))
                    })
                    .await;
                if matches!(&out, Err(e) if e.code() == 404) {
                    self.conn.forget_url(&queue);
                }
                out?.message_id
            }
        };
        let id = id.ok_or_else(|| {
            GatewayError::Upstream("AWS answered the publish without a message id".into())
        })?;
        Ok(Published {
            partition: 0,
            offset: -1,
            position: id,
        })
    }

    async fn subscribe(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let topic = match &spec.target {
            Target::Topic(t) => t.clone(),
            Target::Pattern(_) => return Err(GatewayError::BadRequest(
                "SNS and SQS subscriptions name one topic or queue; topic_pattern is not supported"
                    .into(),
            )),
        };
        match (&spec.group, self.conn.opts.target) {
            (Some(g), _) => {
                message::validate_group(&self.conn.opts, g, &topic)?;
                let g = g.clone();
                self.groups.join(topic, g, spec, sink).await
            }
            (None, AwsTarget::Sns) if spec.max_in_flight > 0 => Err(GatewayError::BadRequest(
                "max_in_flight needs acknowledgements: plain SNS subscriptions are live (at most once, nothing to ack); subscribe with a group"
                    .into(),
            )),
            (None, AwsTarget::Sns) => self.hub.subscribe(topic, spec, sink).await,
            (None, AwsTarget::Sqs) => Err(GatewayError::BadRequest(format!(
                "an SQS queue cannot be watched without consuming it (each receive takes a message from every other reader): subscribe to queue `{topic}` with a group"
            ))),
        }
    }

    async fn ready(&self) -> Result<()> {
        self.conn
            .within("listing queues", async {
                self.conn
                    .sqs
                    .list_queues()
                    .max_results(1)
                    .queue_name_prefix(&self.conn.opts.queue_prefix)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| client::sdk_error(e, "listing queues"))
            })
            .await
    }
}
