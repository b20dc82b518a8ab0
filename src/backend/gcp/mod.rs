//! The Google Cloud Pub/Sub scheme (`gcp-pubsub`), over gcloud-pubsub's gRPC clients.
//!
//! - `auth`: where a route's credentials come from: a service-account key's self-signed tokens
//!   (`plugins.gcp-auth`, `GOOGLE_APPLICATION_CREDENTIALS`), else `metadata`: the metadata
//!   server's tokens;
//! - `client`: the connections, status → error mapping, timeouts;
//! - `live`: plain subscriptions, one Pub/Sub subscription per process and topic on the shared
//!   live fan-out;
//! - `groups`: group subscriptions, one durable Pub/Sub subscription per (route, group, topic):
//!   StreamingPull per member, per-message ack and nack, leases, seeks, dead letters.
//!
//! fetch, list_offset and metadata have no faithful meaning on Pub/Sub (no positions to read
//! from or list): capability errors.

mod acks;
mod auth;
mod client;
mod groups;
mod live;
mod metadata;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use gcloud_gax::create_request;
use gcloud_googleapis::pubsub::v1::{PublishRequest, PubsubMessage};

use super::{
    lock, Backend, Capabilities, Publish, Published, PushSink, SubscribeSpec, Subscription, Target,
    TopicUse, Wildcards,
};
use crate::config::{valid_resource_id, GcpOptions, Route};
use crate::error::{GatewayError, Result};
use crate::pb::StartPosition;

/// Pub/Sub's limits, which the emulator does not enforce: the gateway checks them itself.
const MAX_ATTRIBUTES: usize = 100;
const MAX_ATTRIBUTE_KEY: usize = 256;
const MAX_ATTRIBUTE_VALUE: usize = 1024;
const MAX_ORDERING_KEY: usize = 1024;
const MAX_MESSAGE: usize = 10_000_000;

fn capabilities(opts: &GcpOptions) -> Capabilities {
    Capabilities {
        description: std::borrow::Cow::Borrowed("Google Cloud Pub/Sub"),
        history: false,
        // TIMESTAMP and TIME_DELTA seek a group's subscription, which keeps acked messages
        // for `replay_window_secs`.
        starts: if opts.replay_window_secs > 0 {
            &[
                StartPosition::Latest,
                StartPosition::Timestamp,
                StartPosition::TimeDelta,
            ]
        } else {
            &[StartPosition::Latest]
        },
        fetch: false,
        time_lookup: false,
        offsets: false,
        groups: true,
        ack: true,
        nack: true,
        commit: false,
        wildcards: Wildcards::None,
        headers: true,
        keys: opts.message_ordering,
        partitions: false,
        string_positions: false,
        epochs: false,
    }
}

/// (topic, ordering key) → the lock of its Publish in flight.
type KeyLocks = HashMap<(String, String), Weak<tokio::sync::Mutex<()>>>;

pub struct GcpBackend {
    conn: Arc<client::Conn>,
    /// What the gateway's subscription ids start with.
    prefix: String,
    hub: live::Hub,
    caps: Capabilities,
    /// Per ordering key, the lock a Publish holds while in flight: Pub/Sub keeps a key's order
    /// only for Publish calls made one after another.
    keys: Mutex<KeyLocks>,
}

impl GcpBackend {
    pub fn new(route: &Route, opts: GcpOptions) -> std::result::Result<GcpBackend, String> {
        let caps = capabilities(&opts);
        let prefix = opts
            .subscription_prefix
            .clone()
            .unwrap_or_else(|| live::default_prefix(&route.uri));
        let conn = Arc::new(client::Conn::new(route, opts)?);
        let name = route.name.as_deref().unwrap_or(&route.uri);
        Ok(GcpBackend {
            hub: live::Hub::new(conn.clone(), &prefix, name),
            conn,
            prefix,
            caps,
            keys: Mutex::new(HashMap::new()),
        })
    }

    /// The lock of one (topic, ordering key).
    fn key_lock(&self, topic: &str, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut keys = lock(&self.keys);
        let k = (topic.to_string(), key.to_string());
        if let Some(l) = keys.get(&k).and_then(Weak::upgrade) {
            return l;
        }
        if keys.len() > 1024 {
            keys.retain(|_, w| w.strong_count() > 0);
        }
        let l = Arc::new(tokio::sync::Mutex::new(()));
        keys.insert(k, Arc::downgrade(&l));
        l
    }
}

/// Pub/Sub's topic id rule, 400 naming the topic.
pub(crate) fn validate_topic_id(topic: &str) -> Result<()> {
    if valid_resource_id(topic, 3, 255) {
        Ok(())
    } else {
        Err(GatewayError::BadRequest(format!(
            "invalid topic name `{topic}`: a Pub/Sub topic id is 3 to 255 of [A-Za-z0-9-_.~+%], a letter first, not starting with goog"
        )))
    }
}

/// The message Publish sends, after Pub/Sub's rules (400 naming what breaks them).
fn message(req: Publish) -> Result<PubsubMessage> {
    let bad = |m: String| Err(GatewayError::BadRequest(m));
    if req.value.is_empty() && req.headers.is_empty() {
        return bad("a Pub/Sub message needs a value or at least one header".into());
    }
    if req.headers.len() > MAX_ATTRIBUTES {
        return bad(format!(
            "{} headers: a Pub/Sub message holds at most {MAX_ATTRIBUTES} attributes",
            req.headers.len()
        ));
    }
    let mut attributes = HashMap::with_capacity(req.headers.len());
    let mut size = req.value.len() + req.key.len();
    for h in req.headers {
        if h.key.is_empty() || h.key.len() > MAX_ATTRIBUTE_KEY {
            return bad(format!(
                "header name `{}`: Pub/Sub attribute names are 1 to {MAX_ATTRIBUTE_KEY} bytes",
                h.key
            ));
        }
        if h.key
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("goog"))
        {
            return bad(format!(
                "header name `{}`: attribute names starting with goog are Google's",
                h.key
            ));
        }
        if h.value.len() > MAX_ATTRIBUTE_VALUE {
            return bad(format!(
                "header `{}`: Pub/Sub attribute values are at most {MAX_ATTRIBUTE_VALUE} bytes",
                h.key
            ));
        }
        let Ok(value) = String::from_utf8(h.value.to_vec()) else {
            return bad(format!(
                "header `{}`: Pub/Sub attribute values are UTF-8 text",
                h.key
            ));
        };
        size += h.key.len() + value.len();
        if attributes.insert(h.key.clone(), value).is_some() {
            return bad(format!(
                "header `{}` given twice: Pub/Sub attributes hold one value per name",
                h.key
            ));
        }
    }
    if size > MAX_MESSAGE {
        return bad(format!(
            "the message is {size} bytes: Pub/Sub takes at most {MAX_MESSAGE}"
        ));
    }
    let Ok(ordering_key) = String::from_utf8(req.key.to_vec()) else {
        return bad("a Pub/Sub ordering key (the message key) is UTF-8 text".into());
    };
    if ordering_key.len() > MAX_ORDERING_KEY {
        return bad(format!(
            "the key is {} bytes: a Pub/Sub ordering key is at most {MAX_ORDERING_KEY}",
            ordering_key.len()
        ));
    }
    Ok(PubsubMessage {
        data: req.value,
        attributes,
        ordering_key,
        ..Default::default()
    })
}

#[async_trait]
impl Backend for GcpBackend {
    fn scheme(&self) -> &'static str {
        "gcp-pubsub"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate_topic(&self, topic: &str, _usage: TopicUse) -> Result<()> {
        validate_topic_id(topic)
    }

    async fn produce(&self, req: Publish) -> Result<Published> {
        validate_topic_id(&req.topic)?;
        let topic = req.topic.clone();
        let msg = message(req)?;
        let fqtn = self.conn.topic_name(&topic);
        let clients = self.conn.clients().await?;
        // One Publish in flight per ordering key, in arrival order.
        let key_lock =
            (!msg.ordering_key.is_empty()).then(|| self.key_lock(&topic, &msg.ordering_key));
        let _held = match &key_lock {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let request = create_request(
            format!("topic={fqtn}"),
            PublishRequest {
                topic: fqtn,
                messages: vec![msg],
            },
        );
        let mut publisher = clients.publisher();
        let mut ids = self
            .conn
            .within("the publish", async {
                publisher
                    .publish(request)
                    .await
                    .map_err(|s| client::status_error(&s, &format!("topic `{topic}`")))
            })
            .await?
            .into_inner()
            .message_ids;
        let id = ids.pop().ok_or_else(|| {
            GatewayError::Upstream("Pub/Sub answered the publish without a message id".into())
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
            Target::Pattern(_) => {
                return Err(GatewayError::BadRequest(
                    "Pub/Sub subscriptions name one topic; topic_pattern is not supported".into(),
                ))
            }
        };
        if spec.group.is_some() {
            return groups::subscribe(self.conn.clone(), &self.prefix, topic, spec, sink).await;
        }
        let needs_group = |what: &str| {
            Err(GatewayError::BadRequest(format!(
                "plain Pub/Sub subscriptions are live (delivered at most once); {what} needs a group"
            )))
        };
        if !matches!(spec.start, crate::backend::Start::Latest) {
            return needs_group("a start time (a seek of the group's subscription)");
        }
        self.hub.subscribe(topic, spec, sink).await
    }

    async fn ready(&self) -> Result<()> {
        self.conn.clients().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Header;

    fn publish(headers: &[(&str, &str)], key: &str, value: &str) -> Publish {
        Publish {
            topic: "t1x".into(),
            partition: None,
            key: bytes::Bytes::copy_from_slice(key.as_bytes()),
            value: bytes::Bytes::copy_from_slice(value.as_bytes()),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: bytes::Bytes::copy_from_slice(v.as_bytes()),
                })
                .collect(),
            timestamp: 0,
            idempotency_key: String::new(),
        }
    }

    #[test]
    fn pubsub_rules_are_checked_before_any_call() {
        for (p, want) in [
            (publish(&[], "", ""), "needs a value"),
            (publish(&[("a", "1"), ("a", "2")], "", "v"), "given twice"),
            (publish(&[("googx", "1")], "", "v"), "Google's"),
            (publish(&[(&"k".repeat(257), "1")], "", "v"), "1 to 256"),
            (
                publish(&[("a", &"v".repeat(1025))], "", "v"),
                "at most 1024",
            ),
            (
                publish(&[], &"k".repeat(1025), "v"),
                "ordering key is at most",
            ),
        ] {
            let e = message(p).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let m = message(publish(&[("a", "1")], "k", "")).unwrap();
        assert_eq!(
            (m.attributes["a"].as_str(), m.ordering_key.as_str()),
            ("1", "k")
        );
        for bad in [
            "ab",
            "1abc",
            "goog-x",
            "a b",
            "a/b",
            "ü-topic",
            &"a".repeat(256),
        ] {
            assert!(validate_topic_id(bad).is_err(), "{bad}");
        }
        for good in ["abc", "A-b_c.d~e+f%g", &"a".repeat(255)] {
            assert!(validate_topic_id(good).is_ok(), "{good}");
        }
    }
}
