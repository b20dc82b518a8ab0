//! The MQTT scheme's upstream section (`upstream.mqtt`) and credentials (`plugins.mqtt-auth`).

use super::*;

/// `upstream.mqtt`: how the gateway's MQTT 5 sessions look to the broker and what a publish
/// does by default. Checked while parsing, so errors name the key and its line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "MqttOptionsRaw")]
pub struct MqttOptions {
    /// Client ids are `{prefix}-{random}` for the shared connection and
    /// `{prefix}-g-{group}-{filter hash}-{slot}` for group members (their sessions outlive a
    /// member; the hash is the filter's 32-bit FNV-1a, 8 hex digits).
    pub client_id_prefix: String,
    /// The shared connection starts a fresh session on every connect (MQTT 5 Clean Start).
    pub clean_start: bool,
    /// Seconds the broker keeps the shared connection's session after it drops (0 = none).
    pub session_expiry_secs: u32,
    /// MQTT keep alive of every connection, seconds.
    pub keep_alive_secs: u16,
    /// QoS of a publish that does not say (`mqtt.qos` header): 0 or 1.
    pub qos: u8,
    /// Retain flag of a publish that does not say (`mqtt.retain` header).
    pub retain: bool,
    /// QoS 1 publishes awaiting PUBACK per connection (the broker may ask for fewer), and the
    /// Receive Maximum of group members that set no `max_in_flight`.
    pub max_inflight: u16,
    /// Seconds a group member's session outlives the member (at least 1), so what it left
    /// unacknowledged can be taken over by another member or the slot's next one.
    pub group_session_expiry_secs: u32,
    /// Group members (one MQTT connection each) one upstream may hold at once.
    pub max_group_members: usize,
    /// Largest MQTT packet sent or accepted, bytes.
    pub max_packet_bytes: u32,
}

impl Default for MqttOptions {
    fn default() -> Self {
        MqttOptions {
            client_id_prefix: "pubsub-gateway".into(),
            clean_start: true,
            session_expiry_secs: 0,
            keep_alive_secs: 30,
            qos: 1,
            retain: false,
            max_inflight: 100,
            group_session_expiry_secs: 300,
            max_group_members: 256,
            max_packet_bytes: 1 << 20,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MqttOptionsRaw {
    #[serde(default)]
    client_id_prefix: Option<String>,
    #[serde(default)]
    clean_start: Option<bool>,
    #[serde(default)]
    session_expiry_secs: Option<u32>,
    #[serde(default)]
    keep_alive_secs: Option<u16>,
    #[serde(default)]
    qos: Option<u8>,
    #[serde(default)]
    retain: Option<bool>,
    #[serde(default)]
    max_inflight: Option<u16>,
    #[serde(default)]
    group_session_expiry_secs: Option<u32>,
    #[serde(default)]
    max_group_members: Option<usize>,
    #[serde(default)]
    max_packet_bytes: Option<u32>,
}

impl TryFrom<MqttOptionsRaw> for MqttOptions {
    type Error = String;
    fn try_from(r: MqttOptionsRaw) -> Result<Self, String> {
        let d = MqttOptions::default();
        let o = MqttOptions {
            client_id_prefix: r.client_id_prefix.unwrap_or(d.client_id_prefix),
            clean_start: r.clean_start.unwrap_or(d.clean_start),
            session_expiry_secs: r.session_expiry_secs.unwrap_or(d.session_expiry_secs),
            keep_alive_secs: r.keep_alive_secs.unwrap_or(d.keep_alive_secs),
            qos: r.qos.unwrap_or(d.qos),
            retain: r.retain.unwrap_or(d.retain),
            max_inflight: r.max_inflight.unwrap_or(d.max_inflight),
            group_session_expiry_secs: r
                .group_session_expiry_secs
                .unwrap_or(d.group_session_expiry_secs),
            max_group_members: r.max_group_members.unwrap_or(d.max_group_members),
            max_packet_bytes: r.max_packet_bytes.unwrap_or(d.max_packet_bytes),
        };
        let p = &o.client_id_prefix;
        if p.is_empty()
            || p.len() > 64
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "mqtt.client_id_prefix `{p}`: 1 to 64 of [a-zA-Z0-9_-]"
            ));
        }
        if o.qos > 1 {
            return Err("mqtt.qos must be 0 or 1 (QoS 2 is not offered)".into());
        }
        if o.keep_alive_secs < 5 {
            return Err("mqtt.keep_alive_secs must be at least 5".into());
        }
        if o.group_session_expiry_secs == 0 {
            return Err("mqtt.group_session_expiry_secs must be at least 1: a departed group member's session must outlive it for what it left unacknowledged to be redelivered".into());
        }
        if o.max_inflight == 0 {
            return Err("mqtt.max_inflight must be at least 1".into());
        }
        if !(1..=10_000).contains(&o.max_group_members) {
            return Err("mqtt.max_group_members must be between 1 and 10000".into());
        }
        if o.max_packet_bytes < 1024 {
            return Err("mqtt.max_packet_bytes must be at least 1024".into());
        }
        Ok(o)
    }
}

/// `plugins.mqtt-auth`: the username and password the gateway presents to the broker. The
/// password comes from the file or, better, an environment variable; `Debug` never shows it.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "MqttAuthRaw")]
pub struct MqttAuth {
    pub username: String,
    pub password: Option<Secret>,
}

impl fmt::Debug for MqttAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MqttAuthRaw {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
}

impl TryFrom<MqttAuthRaw> for MqttAuth {
    type Error = String;
    fn try_from(r: MqttAuthRaw) -> Result<Self, String> {
        let password = match (r.password, r.password_env) {
            (Some(p), None) => Some(Secret::Inline(p)),
            (None, Some(e)) => Some(Secret::Env(e)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err("mqtt-auth: password or password_env, not both".into())
            }
        };
        if r.username.is_empty() {
            return Err("mqtt-auth: username must not be empty".into());
        }
        Ok(MqttAuth {
            username: r.username,
            password,
        })
    }
}

/// The mqtt arm of `Config::validate`: what one field alone cannot check.
impl SchemeOptions for MqttOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            nodes: NodeCount::One,
            tls: true,
            unverified_tls: false,
            credentials: Some("mqtt-auth"),
        }
    }
}
