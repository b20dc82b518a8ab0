//! The Redis scheme's upstream section (`upstream.redis`) and credentials (`plugins.redis-auth`).

use super::*;

/// What a Redis route serves: live channels (PUBLISH / SUBSCRIBE) or streams (XADD / XREAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// Channels: no history, LATEST only, glob patterns with PSUBSCRIBE.
    Pubsub,
    /// Streams: a topic is a stream key; history, groups, per-message ack.
    Streams,
}

/// `upstream.redis`. Checked while parsing, so errors name the key and its line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RedisOptionsRaw")]
pub struct RedisOptions {
    pub mode: RedisMode,
    /// The logical database (SELECT) every connection of the route uses.
    pub database: i64,
    /// XADD trims the stream to about this many entries (`MAXLEN`); None = no length limit.
    pub maxlen: Option<u64>,
    /// XADD trims entries older than this (`MINID` of now minus the age); None = no age limit.
    pub max_age_secs: Option<u64>,
    /// Trimming with `~` (whole macro nodes, much cheaper); false = exact (`=`).
    pub approximate: bool,
    /// A group entry left unacknowledged this long is claimed by another member (XAUTOCLAIM):
    /// what a vanished member held is redelivered after it.
    pub claim_idle_ms: u64,
    /// How long the shared stream reader blocks in one XREAD (it wakes at once on new entries).
    pub block_ms: u64,
    /// Entries read per XREAD / XRANGE / XREADGROUP.
    pub read_count: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            mode: RedisMode::Pubsub,
            database: 0,
            maxlen: None,
            max_age_secs: None,
            approximate: true,
            claim_idle_ms: 30_000,
            block_ms: 1_000,
            read_count: 256,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RedisOptionsRaw {
    #[serde(default = "default_redis_mode")]
    mode: RedisMode,
    #[serde(default)]
    database: i64,
    #[serde(default)]
    maxlen: Option<u64>,
    #[serde(default)]
    max_age_secs: Option<u64>,
    #[serde(default = "yes")]
    approximate: bool,
    #[serde(default = "default_claim_idle_ms")]
    claim_idle_ms: u64,
    #[serde(default = "default_block_ms")]
    block_ms: u64,
    #[serde(default = "default_read_count")]
    read_count: usize,
}

fn default_redis_mode() -> RedisMode {
    RedisMode::Pubsub
}
fn default_claim_idle_ms() -> u64 {
    30_000
}
fn default_block_ms() -> u64 {
    1_000
}
fn default_read_count() -> usize {
    256
}

impl TryFrom<RedisOptionsRaw> for RedisOptions {
    type Error = String;
    fn try_from(r: RedisOptionsRaw) -> Result<Self, String> {
        if !(0..=1_000_000).contains(&r.database) {
            return Err("redis.database must be between 0 and 1000000".into());
        }
        let streams_only = r.maxlen.is_some() || r.max_age_secs.is_some();
        if r.mode == RedisMode::Pubsub && streams_only {
            return Err("redis.maxlen and redis.max_age_secs need mode: streams".into());
        }
        if r.maxlen.is_some() && r.max_age_secs.is_some() {
            return Err("redis: one of maxlen and max_age_secs (XADD trims by one)".into());
        }
        if r.maxlen == Some(0) || r.max_age_secs == Some(0) {
            return Err("redis.maxlen and redis.max_age_secs must be greater than 0".into());
        }
        if !(100..=86_400_000).contains(&r.claim_idle_ms) {
            return Err("redis.claim_idle_ms must be between 100 and 86400000".into());
        }
        if !(10..=60_000).contains(&r.block_ms) {
            return Err("redis.block_ms must be between 10 and 60000".into());
        }
        if !(1..=10_000).contains(&r.read_count) {
            return Err("redis.read_count must be between 1 and 10000".into());
        }
        Ok(RedisOptions {
            mode: r.mode,
            database: r.database,
            maxlen: r.maxlen,
            max_age_secs: r.max_age_secs,
            approximate: r.approximate,
            claim_idle_ms: r.claim_idle_ms,
            block_ms: r.block_ms,
            read_count: r.read_count,
        })
    }
}

/// `plugins.redis-auth`: AUTH with an ACL user (or the default user when `username` is absent).
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RedisAuthRaw")]
pub struct RedisAuth {
    pub username: Option<String>,
    pub password: Secret,
}

impl fmt::Debug for RedisAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RedisAuthRaw {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
}

impl TryFrom<RedisAuthRaw> for RedisAuth {
    type Error = String;
    fn try_from(r: RedisAuthRaw) -> Result<Self, String> {
        let password = match (r.password, r.password_env) {
            (Some(p), None) => Secret::Inline(p),
            (None, Some(e)) => Secret::Env(e),
            _ => return Err("redis-auth: exactly one of password and password_env".into()),
        };
        if r.username.as_deref() == Some("") {
            return Err("redis-auth.username must not be empty".into());
        }
        Ok(RedisAuth {
            username: r.username,
            password,
        })
    }
}

/// What `Config::validate` refuses on a redis route: (the key, why).
impl SchemeOptions for RedisOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            nodes: NodeCount::One,
            tls: true,
            unverified_tls: false,
            credentials: Some("redis-auth"),
        }
    }
}
