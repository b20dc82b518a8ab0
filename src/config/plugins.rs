//! A route's plugins: key-auth, jwt-auth, topic-acl and the brokers' credentials.

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugins {
    #[serde(default, rename = "kafka-proxy")]
    pub kafka_proxy: Option<KafkaProxy>,
    #[serde(default, rename = "key-auth")]
    pub key_auth: Option<KeyAuth>,
    #[serde(default, rename = "jwt-auth")]
    pub jwt_auth: Option<JwtAuth>,
    /// The route's topic ACL, for everyone on it; per-key ACLs and JWT claims narrow it.
    #[serde(default, rename = "topic-acl")]
    pub topic_acl: Option<AclConfig>,
    /// Credentials the gateway presents to the NATS server (never logged).
    #[serde(default, rename = "nats-auth")]
    pub nats_auth: Option<NatsAuth>,
    /// Credentials the gateway presents to RabbitMQ (never logged).
    #[serde(default, rename = "rabbitmq-auth")]
    pub rabbitmq_auth: Option<RabbitAuth>,
    /// Credentials the gateway presents to the Redis server (never logged).
    #[serde(default, rename = "redis-auth")]
    pub redis_auth: Option<RedisAuth>,
    /// Username and password the gateway presents to the MQTT broker (never logged).
    #[serde(default, rename = "mqtt-auth")]
    pub mqtt_auth: Option<MqttAuth>,
    /// The service-account key the gateway signs its Google Cloud tokens with (never logged).
    #[serde(default, rename = "gcp-auth")]
    pub gcp_auth: Option<GcpAuth>,
    /// The environment variables holding the AWS access key the gateway signs with (never logged).
    #[serde(default, rename = "aws-auth")]
    pub aws_auth: Option<AwsAuth>,
}

impl Plugins {
    /// The credential plugins present: what the gateway presents to a broker (each scheme
    /// takes at most its own). Written against every field, so a new plugin must be placed.
    pub fn upstream_credentials(&self) -> Vec<&'static str> {
        let Plugins {
            kafka_proxy,
            key_auth: _,
            jwt_auth: _,
            topic_acl: _,
            nats_auth,
            rabbitmq_auth,
            redis_auth,
            mqtt_auth,
            gcp_auth,
            aws_auth,
        } = self;
        [
            (kafka_proxy.is_some(), "kafka-proxy"),
            (nats_auth.is_some(), "nats-auth"),
            (rabbitmq_auth.is_some(), "rabbitmq-auth"),
            (redis_auth.is_some(), "redis-auth"),
            (mqtt_auth.is_some(), "mqtt-auth"),
            (gcp_auth.is_some(), "gcp-auth"),
            (aws_auth.is_some(), "aws-auth"),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect()
    }

    /// The same plugins without those that check clients (`key-auth`, `jwt-auth`,
    /// `topic-acl`): what a route's backend is built from.
    pub fn upstream_side(&self) -> Plugins {
        Plugins {
            key_auth: None,
            jwt_auth: None,
            topic_acl: None,
            ..self.clone()
        }
    }
}

/// APISIX-style key authentication: the key comes in the `apikey` header, or the `apikey`
/// query parameter for browsers (which cannot set headers on a WebSocket).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuth {
    pub keys: Vec<ApiKey>,
    #[serde(default = "default_key_header")]
    pub header: String,
    #[serde(default = "default_key_query")]
    pub query: String,
}

pub(super) fn default_key_header() -> String {
    "apikey".into()
}
pub(super) fn default_key_query() -> String {
    "apikey".into()
}

impl fmt::Debug for KeyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyAuth")
            .field("keys", &self.keys.len())
            .field("header", &self.header)
            .field("query", &self.query)
            .finish()
    }
}

/// One key: given in the file (`key`) or read from an environment variable (`key_env`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The identity this key authenticates, for logs and ACLs.
    pub id: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub acl: Option<AclConfig>,
}

/// JWT authentication. The token comes from `Authorization: Bearer`, the `token` query
/// parameter, or a `bearer.<token>` entry of `Sec-WebSocket-Protocol` (browsers).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuth {
    /// HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384.
    pub algorithm: String,
    /// The HMAC secret, in the file or from an environment variable.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    /// PEM public key for RS*/ES*.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    /// Allowed clock skew for exp/nbf, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    #[serde(default = "default_token_query")]
    pub query: String,
}

pub(super) fn default_leeway() -> u64 {
    30
}
pub(super) fn default_token_query() -> String {
    "token".into()
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_env", &self.secret_env)
            .field("public_key_file", &self.public_key_file)
            .finish()
    }
}

/// The JWT algorithms jwt-auth accepts.
pub const JWT_ALGORITHMS: [&str; 8] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
];

/// An ACL pattern: a regular expression that matches whole names.
pub fn acl_pattern(p: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("pattern `{p}`: {e}"))
}

impl AclConfig {
    /// Every pattern compiles.
    pub fn check(&self) -> Result<(), String> {
        for list in [&self.read, &self.write, &self.groups]
            .into_iter()
            .flatten()
        {
            for p in list {
                acl_pattern(p)?;
            }
        }
        Ok(())
    }
}

/// Topic ACL: regular expressions matching whole topic (or group) names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    /// fetch, list_offset, subscribe, metadata.
    #[serde(default)]
    pub read: Option<Vec<String>>,
    /// produce.
    #[serde(default)]
    pub write: Option<Vec<String>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaProxy {
    #[serde(default)]
    pub sasl: Option<Sasl>,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub mechanism: SaslMechanism,
}

/// Never prints the password.
impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasl")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[default]
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}
