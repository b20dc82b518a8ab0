//! The NATS scheme's upstream section and credentials.

use super::*;

/// `upstream.nats`: a route with a `stream` (or `jetstream: true`) is served by JetStream,
/// otherwise by core NATS. Checked while parsing, so errors name the key and its line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "NatsOptionsRaw")]
pub struct NatsOptions {
    /// The JetStream stream holding the route's subjects.
    pub stream: Option<String>,
    /// Without `stream`: each subject's stream is looked up on the server.
    pub jetstream: bool,
    /// Creates `stream` with these settings when it does not exist (never otherwise).
    pub create_stream: Option<CreateStream>,
    /// Group consumers' max ack pending when the subscribe has no `max_in_flight`.
    pub max_ack_pending: i64,
    /// Seconds a delivered group message may stay unacknowledged before redelivery.
    pub ack_wait_secs: f64,
}

impl Default for NatsOptions {
    /// Core NATS.
    fn default() -> Self {
        NatsOptions {
            stream: None,
            jetstream: false,
            create_stream: None,
            max_ack_pending: default_max_ack_pending(),
            ack_wait_secs: default_ack_wait_secs(),
        }
    }
}

impl SchemeOptions for NatsOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            nodes: NodeCount::AtLeastOne,
            tls: true,
            unverified_tls: false,
            credentials: Some("nats-auth"),
        }
    }
}

impl NatsOptions {
    pub fn is_jetstream(&self) -> bool {
        self.jetstream || self.stream.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NatsOptionsRaw {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    jetstream: bool,
    #[serde(default)]
    create_stream: Option<CreateStream>,
    #[serde(default = "default_max_ack_pending")]
    max_ack_pending: i64,
    #[serde(default = "default_ack_wait_secs")]
    ack_wait_secs: f64,
}

pub(super) fn default_max_ack_pending() -> i64 {
    1000
}
pub(super) fn default_ack_wait_secs() -> f64 {
    30.0
}

impl TryFrom<NatsOptionsRaw> for NatsOptions {
    type Error = String;
    fn try_from(r: NatsOptionsRaw) -> Result<Self, String> {
        if let Some(s) = &r.stream {
            if s.is_empty()
                || s.len() > 255
                || s.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
                })
            {
                return Err(format!(
                    "nats.stream `{s}` is not a JetStream stream name (no spaces, `.`, `*`, `>`, `/`)"
                ));
            }
        }
        if let Some(c) = &r.create_stream {
            if r.stream.is_none() {
                return Err("nats.create_stream needs nats.stream (the name to create)".into());
            }
            if c.subjects.is_empty() {
                return Err("nats.create_stream.subjects needs at least one subject".into());
            }
            for subject in &c.subjects {
                if subject.is_empty()
                    || subject.split('.').any(str::is_empty)
                    || subject.chars().any(|ch| ch.is_whitespace() || ch == '\0')
                {
                    return Err(format!(
                        "nats.create_stream.subjects: `{subject}` is not a NATS subject"
                    ));
                }
            }
            if c.max_age_secs < 0.0 || !c.max_age_secs.is_finite() {
                return Err("nats.create_stream.max_age_secs must not be negative".into());
            }
        }
        if r.max_ack_pending < 1 {
            return Err("nats.max_ack_pending must be at least 1".into());
        }
        if !(r.ack_wait_secs >= 0.1 && r.ack_wait_secs <= 86_400.0) {
            return Err("nats.ack_wait_secs must be between 0.1 and 86400".into());
        }
        Ok(NatsOptions {
            stream: r.stream,
            jetstream: r.jetstream,
            create_stream: r.create_stream,
            max_ack_pending: r.max_ack_pending,
            ack_wait_secs: r.ack_wait_secs,
        })
    }
}

/// What `create_stream` makes: file storage, limits retention; 0 / -1 = unlimited.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateStream {
    pub subjects: Vec<String>,
    #[serde(default = "unlimited")]
    pub max_msgs: i64,
    #[serde(default = "unlimited")]
    pub max_bytes: i64,
    #[serde(default)]
    pub max_age_secs: f64,
}

pub(super) fn unlimited() -> i64 {
    -1
}

/// `plugins.nats-auth`: one way to authenticate to the NATS server. Secrets come from the file
/// or, better, from environment variables; `Debug` never shows them.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "NatsAuthRaw")]
pub struct NatsAuth {
    pub method: NatsAuthMethod,
}

#[derive(Clone, PartialEq)]
pub enum NatsAuthMethod {
    UserPassword { user: String, password: Secret },
    Token(Secret),
    NkeySeedFile(PathBuf),
    CredsFile(PathBuf),
}

/// A secret given inline or by the name of the environment variable holding it.
#[derive(Clone, PartialEq)]
pub enum Secret {
    Inline(String),
    Env(String),
}

impl Secret {
    /// The secret's value; reading the environment when the route is built, not when parsed.
    pub fn value(&self) -> Result<String, String> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::Env(var) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
            }
        }
    }
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match &self.method {
            NatsAuthMethod::UserPassword { user, .. } => {
                format!("user {user}, password <redacted>")
            }
            NatsAuthMethod::Token(_) => "token <redacted>".into(),
            NatsAuthMethod::NkeySeedFile(p) => format!("nkey_seed_file {}", p.display()),
            NatsAuthMethod::CredsFile(p) => format!("creds_file {}", p.display()),
        };
        f.debug_struct("NatsAuth").field("method", &method).finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NatsAuthRaw {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    nkey_seed_file: Option<PathBuf>,
    #[serde(default)]
    creds_file: Option<PathBuf>,
}

impl TryFrom<NatsAuthRaw> for NatsAuth {
    type Error = String;
    fn try_from(r: NatsAuthRaw) -> Result<Self, String> {
        let password = match (r.password, r.password_env) {
            (Some(p), None) => Some(Secret::Inline(p)),
            (None, Some(e)) => Some(Secret::Env(e)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err("nats-auth: password or password_env, not both".into())
            }
        };
        let token = match (r.token, r.token_env) {
            (Some(t), None) => Some(Secret::Inline(t)),
            (None, Some(e)) => Some(Secret::Env(e)),
            (None, None) => None,
            (Some(_), Some(_)) => return Err("nats-auth: token or token_env, not both".into()),
        };
        let mut methods = Vec::new();
        match (r.user, password) {
            (Some(user), Some(password)) => {
                methods.push(NatsAuthMethod::UserPassword { user, password })
            }
            (None, None) => {}
            _ => {
                return Err(
                    "nats-auth: user needs password or password_env (and they need user)".into(),
                )
            }
        }
        methods.extend(token.map(NatsAuthMethod::Token));
        methods.extend(r.nkey_seed_file.map(NatsAuthMethod::NkeySeedFile));
        methods.extend(r.creds_file.map(NatsAuthMethod::CredsFile));
        if methods.len() != 1 {
            return Err(
                "nats-auth: exactly one of user + password(_env), token(_env), nkey_seed_file, creds_file"
                    .into(),
            );
        }
        Ok(NatsAuth {
            method: methods.remove(0),
        })
    }
}
