//! The MQTT 5 scheme, over rumqttc: live messages with no history, retained messages for LAST,
//! shared subscriptions for groups.
//!
//! - `client`: one MQTT connection and its event loop: reconnection, and pairing publishes
//!   with their PUBACK and subscribes with their SUBACK;
//! - `endpoint`: the broker's address, credentials and TLS, read when the route is built;
//! - `topic`: topic and filter rules, and the `mqtt.*` headers for QoS, retain and properties;
//! - `hub`: plain subscriptions, one MQTT subscription per filter fanned out in the gateway;
//! - `groups`: shared subscriptions, a connection per member, acknowledged per message;
//! - `handover`: what a departing member left unacknowledged goes to another member;
//! - `retry`: nacks, the route's `delivery:` policy and dead letters, run by the gateway.
//!
//! A topic is an MQTT topic (`game/room/42`); there is one partition (0) and no offsets (-1),
//! except that group deliveries are numbered per subscription for `cmd_ack`.

mod client;
mod endpoint;
mod groups;
mod handover;
mod hub;
mod members;
mod retry;
mod topic;

use std::sync::Arc;

use async_trait::async_trait;
use rumqttc::v5::mqttbytes::v5::Publish as MqttPublish;

use super::{
    Backend, Capabilities, PushSink, Start, SubscribeSpec, Subscription, Target, TopicUse,
    Wildcards,
};
use super::{Publish, Published};
use crate::config::{MqttOptions, Route};
use crate::error::{GatewayError, Result};
use crate::pb::StartPosition;

const MQTT: Capabilities = Capabilities {
    description: std::borrow::Cow::Borrowed("MQTT"),
    history: false,
    starts: &[StartPosition::Latest, StartPosition::Last],
    fetch: false,
    time_lookup: false,
    offsets: false,
    groups: true,
    ack: true,
    nack: true,
    commit: false,
    wildcards: Wildcards::Mqtt,
    headers: true,
    keys: false,
    partitions: false,
    string_positions: false,
    epochs: false,
};

pub struct MqttBackend {
    ep: client::Endpoint,
    hub: Arc<hub::Hub>,
    slots: Arc<members::Slots>,
}

impl MqttBackend {
    pub fn new(route: &Route, opts: MqttOptions) -> std::result::Result<MqttBackend, String> {
        let ep = client::Endpoint::new(route, opts)?;
        Ok(MqttBackend {
            hub: hub::Hub::new(ep.clone(), &route.uri),
            ep,
            slots: Arc::default(),
        })
    }
}

/// Topics gateway clients never see, even through a `#` subscription.
fn reserved(topic: &str) -> bool {
    topic.starts_with('$')
}

#[async_trait]
impl Backend for MqttBackend {
    fn scheme(&self) -> &'static str {
        "mqtt"
    }

    fn capabilities(&self) -> &Capabilities {
        &MQTT
    }

    fn validate_topic(&self, t: &str, usage: TopicUse) -> Result<()> {
        topic::validate(t, usage)
    }

    async fn produce(&self, req: Publish) -> Result<Published> {
        let o = &self.ep.options;
        let out = topic::outgoing(&req.headers, o.qos, o.retain)?;
        let size = req.topic.len()
            + req.value.len()
            + out
                .properties
                .user_properties
                .iter()
                .map(|(k, v)| k.len() + v.len() + 5)
                .sum::<usize>()
            + out
                .properties
                .correlation_data
                .as_ref()
                .map_or(0, |c| c.len())
            + 64;
        if size > o.max_packet_bytes as usize {
            return Err(GatewayError::BadRequest(format!(
                "message of about {size} bytes is over mqtt.max_packet_bytes ({})",
                o.max_packet_bytes
            )));
        }
        let mut p = MqttPublish::new(&req.topic, out.qos, req.value, Some(out.properties));
        p.retain = out.retain;
        self.hub.conn().publish(p).await?;
        // MQTT keeps no log: there is no position to answer.
        Ok(Published {
            partition: 0,
            offset: -1,
            position: String::new(),
        })
    }

    async fn subscribe(
        &self,
        spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let Target::Topic(filter) = spec.target.clone() else {
            return Err(GatewayError::BadRequest(
                "MQTT routes take wildcard filters in topic (`+`, `#`), not topic_pattern".into(),
            ));
        };
        match spec.group.clone() {
            Some(_) if spec.start == Start::Last => Err(GatewayError::BadRequest(
                "start LAST with a group: MQTT brokers send no retained messages to shared subscriptions".into(),
            )),
            Some(group) => {
                groups::subscribe(&self.ep, self.slots.clone(), filter, group, spec, sink).await
            }
            None => self.hub.subscribe(filter, spec, sink).await,
        }
    }

    async fn ready(&self) -> Result<()> {
        self.hub.conn().ready().await
    }
}
