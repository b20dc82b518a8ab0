//! The Google Cloud Pub/Sub scheme's upstream section (`upstream.gcp_pubsub`) and credentials
//! (`plugins.gcp-auth`).

use super::*;

/// `upstream.gcp_pubsub`. Checked while parsing, so errors name the key and its line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "GcpOptionsRaw")]
pub struct GcpOptions {
    /// The Google Cloud project every topic and subscription of the route belongs to.
    pub project: String,
    /// Plaintext, no credentials, to the emulator named by the route's one node.
    pub emulator: bool,
    /// What the gateway's subscription names start with; None = `gw-{uri}-`.
    pub subscription_prefix: Option<String>,
    /// The ack deadline of the subscriptions the gateway creates.
    pub ack_deadline_secs: u32,
    /// The message key is the ordering key (subscriptions created with message ordering).
    pub message_ordering: bool,
    /// Group subscriptions created with exactly-once delivery: an ack after the message's
    /// lease lapsed (and Pub/Sub redelivered it) answers 409 instead of OK.
    pub exactly_once: bool,
    /// A topic id of the project that group subscriptions dead-letter to.
    pub dead_letter_topic: Option<String>,
    /// Deliveries before a message is dead-lettered (with `dead_letter_topic`).
    pub max_delivery_attempts: u32,
    /// The expiration policy of the per-process subscriptions of plain subscribers: Google
    /// deletes one this long idle (a crashed gateway's are collected).
    pub live_subscription_ttl_secs: u64,
    /// How long the gateway keeps extending the ack deadline of a message a group member holds
    /// unacknowledged (Google's clients' max lease duration); past it Pub/Sub redelivers.
    pub max_lease_secs: u32,
    /// Group subscriptions keep acknowledged messages this long, so a TIMESTAMP or TIME_DELTA
    /// start can seek back over them; 0 = not retained, groups start at LATEST only.
    pub replay_window_secs: u64,
}

impl Default for GcpOptions {
    fn default() -> Self {
        GcpOptions {
            project: String::new(),
            emulator: false,
            subscription_prefix: None,
            ack_deadline_secs: 30,
            message_ordering: false,
            exactly_once: false,
            dead_letter_topic: None,
            max_delivery_attempts: 5,
            live_subscription_ttl_secs: 86_400,
            max_lease_secs: 3600,
            replay_window_secs: 86_400,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GcpOptionsRaw {
    project: String,
    #[serde(default)]
    emulator: bool,
    #[serde(default)]
    subscription_prefix: Option<String>,
    #[serde(default = "default_ack_deadline_secs")]
    ack_deadline_secs: u32,
    #[serde(default)]
    message_ordering: bool,
    #[serde(default)]
    exactly_once: bool,
    #[serde(default)]
    dead_letter_topic: Option<String>,
    #[serde(default)]
    max_delivery_attempts: Option<u32>,
    #[serde(default = "default_live_ttl")]
    live_subscription_ttl_secs: u64,
    #[serde(default = "default_max_lease_secs")]
    max_lease_secs: u32,
    #[serde(default = "default_live_ttl")]
    replay_window_secs: u64,
}

fn default_ack_deadline_secs() -> u32 {
    30
}
fn default_live_ttl() -> u64 {
    86_400
}
fn default_max_lease_secs() -> u32 {
    3600
}

/// Google's project id rule: 6-30 of `[a-z0-9-]`, a letter first, no trailing `-`; or a
/// domain-scoped `domain.tld:id`.
pub fn valid_project_id(p: &str) -> bool {
    let id = match p.rsplit_once(':') {
        Some((domain, id)) if !domain.is_empty() && domain.contains('.') => id,
        Some(_) => return false,
        None => p,
    };
    (6..=30).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Pub/Sub's rule for topic and subscription ids: 3-255 of `[A-Za-z0-9-_.~+%]`, a letter
/// first, not starting with `goog`. `max` narrows the length (a prefix leaves room).
pub fn valid_resource_id(id: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && !id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("goog"))
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~+%".contains(&b))
}

impl TryFrom<GcpOptionsRaw> for GcpOptions {
    type Error = String;
    fn try_from(r: GcpOptionsRaw) -> Result<Self, String> {
        if !valid_project_id(&r.project) {
            return Err(format!(
                "gcp_pubsub.project `{}` is not a Google Cloud project id: 6 to 30 of [a-z0-9-], a letter first, not ending with -",
                r.project
            ));
        }
        if let Some(p) = &r.subscription_prefix {
            if !valid_resource_id(p, 1, 100) {
                return Err(format!(
                    "gcp_pubsub.subscription_prefix `{p}`: 1 to 100 of [A-Za-z0-9-_.~+%], a letter first, not starting with goog"
                ));
            }
        }
        if !(10..=600).contains(&r.ack_deadline_secs) {
            return Err("gcp_pubsub.ack_deadline_secs must be between 10 and 600".into());
        }
        if let Some(t) = &r.dead_letter_topic {
            if !valid_resource_id(t, 3, 255) {
                return Err(format!(
                    "gcp_pubsub.dead_letter_topic `{t}` is not a Pub/Sub topic id: 3 to 255 of [A-Za-z0-9-_.~+%], a letter first, not starting with goog"
                ));
            }
        }
        if r.max_delivery_attempts.is_some() && r.dead_letter_topic.is_none() {
            return Err("gcp_pubsub.max_delivery_attempts needs dead_letter_topic".into());
        }
        let max_delivery_attempts = r.max_delivery_attempts.unwrap_or(5);
        if !(5..=100).contains(&max_delivery_attempts) {
            return Err("gcp_pubsub.max_delivery_attempts must be between 5 and 100".into());
        }
        if !(86_400..=2_678_400).contains(&r.live_subscription_ttl_secs) {
            return Err(
                "gcp_pubsub.live_subscription_ttl_secs must be between 86400 (1 day) and 2678400 (31 days)"
                    .into(),
            );
        }
        if !(r.ack_deadline_secs..=86_400).contains(&r.max_lease_secs) {
            return Err(
                "gcp_pubsub.max_lease_secs must be between ack_deadline_secs and 86400 (1 day)"
                    .into(),
            );
        }
        if r.replay_window_secs != 0 && !(600..=604_800).contains(&r.replay_window_secs) {
            return Err(
                "gcp_pubsub.replay_window_secs must be 0 (no replay) or between 600 (10 minutes) and 604800 (7 days)"
                    .into(),
            );
        }
        Ok(GcpOptions {
            project: r.project,
            emulator: r.emulator,
            subscription_prefix: r.subscription_prefix,
            ack_deadline_secs: r.ack_deadline_secs,
            message_ordering: r.message_ordering,
            exactly_once: r.exactly_once,
            dead_letter_topic: r.dead_letter_topic,
            max_delivery_attempts,
            live_subscription_ttl_secs: r.live_subscription_ttl_secs,
            max_lease_secs: r.max_lease_secs,
            replay_window_secs: r.replay_window_secs,
        })
    }
}

/// `plugins.gcp-auth`: a service-account key file (JSON) the gateway signs its tokens with.
/// The file is read when the route is built; `Debug` shows the path only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpAuth {
    pub credentials_file: PathBuf,
}

impl SchemeOptions for GcpOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            nodes: NodeCount::AtMostOne,
            // Always TLS to Google, verified against the web PKI roots.
            tls: false,
            unverified_tls: false,
            credentials: Some("gcp-auth"),
        }
    }

    fn validate(&self, up: &Upstream) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if self.emulator && up.nodes.0.len() != 1 {
            return bad(
                "upstream.nodes",
                "gcp_pubsub.emulator needs exactly one node: the emulator's host:port",
            );
        }
        if !self.emulator {
            if let Some(node) = up.nodes.0.first() {
                if !node.ends_with(":443") {
                    return bad(
                        "upstream.nodes",
                        "a Google endpoint is reached on port 443 (host:443); other ports need emulator: true",
                    );
                }
            }
        }
        Ok(())
    }
}
