//! Who may connect to a route and what they may do there: key-auth and jwt-auth (checked before
//! the WebSocket upgrade), the Origin allow-list, and topic ACLs (checked per command).
//!
//! Refusals never say why a credential was wrong: every failure is "invalid credentials".
//!
//! Kafka routes are closed by default where a client could hurt backend services: joining a
//! consumer group needs a `groups` allow-list, and Kafka's internal topics (`__consumer_offsets`
//! and the like) are only reachable through an ACL pattern that names them (starts with `__`).

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use regex::Regex;
use serde::Deserialize;

use crate::config::{AclConfig, Route, Scheme};

/// One whole-name pattern of an ACL list.
#[derive(Debug, Clone)]
struct Rule {
    re: Regex,
    /// The pattern as written starts with `__`: it names Kafka internal topics on purpose.
    internal: bool,
}

/// Whole-name regular expressions; `None` = no restriction at this layer.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    read: Option<Vec<Rule>>,
    write: Option<Vec<Rule>>,
    groups: Option<Vec<Rule>>,
}

fn compile_list(list: &Option<Vec<String>>) -> Result<Option<Vec<Rule>>, String> {
    list.as_ref()
        .map(|l| {
            l.iter()
                .map(|p| {
                    crate::config::acl_pattern(p).map(|re| Rule {
                        re,
                        internal: p.starts_with("__"),
                    })
                })
                .collect()
        })
        .transpose()
}

fn allows(list: &Option<Vec<Rule>>, name: &str) -> bool {
    list.as_ref()
        .is_none_or(|l| l.iter().any(|r| r.re.is_match(name)))
}

/// Whether the list has a pattern written for internal topics that matches `name`.
fn names_internal(list: &Option<Vec<Rule>>, name: &str) -> bool {
    list.as_ref()
        .is_some_and(|l| l.iter().any(|r| r.internal && r.re.is_match(name)))
}

/// Kafka's own topics (`__consumer_offsets`, `__transaction_state`, ...).
fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}

impl Acl {
    pub fn compile(c: &AclConfig) -> Result<Acl, String> {
        Ok(Acl {
            read: compile_list(&c.read)?,
            write: compile_list(&c.write)?,
            groups: compile_list(&c.groups)?,
        })
    }
}

/// What a connection authenticated with, kept so that a reload can check it again against the
/// route's new rules. Keys are kept as their digest only.
#[derive(Clone, Default)]
enum Credential {
    #[default]
    None,
    Key([u8; 32]),
    Jwt(Arc<str>),
}

/// An accepted connection's identity and the ACLs that apply to it; every ACL must allow.
#[derive(Clone, Default)]
pub struct Identity {
    pub id: Option<String>,
    acls: Vec<Arc<Acl>>,
    /// The route is a Kafka route: groups and internal topics need an explicit ACL.
    kafka: bool,
    /// When the credential stops being valid, in seconds since the Unix epoch: a JWT's `exp`
    /// plus the route's leeway. None = never (keys, open routes).
    pub expires_at: Option<u64>,
    credential: Credential,
}

/// Never shows the credential.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id)
            .field("acls", &self.acls.len())
            .field("kafka", &self.kafka)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Identity {
    pub fn can_read(&self, topic: &str) -> bool {
        self.internal_allowed(topic, |a| &a.read)
            && self.acls.iter().all(|a| allows(&a.read, topic))
    }
    pub fn can_write(&self, topic: &str) -> bool {
        self.internal_allowed(topic, |a| &a.write)
            && self.acls.iter().all(|a| allows(&a.write, topic))
    }
    pub fn can_join(&self, group: &str) -> bool {
        self.join_denied(group).is_none()
    }
    /// Why joining `group` is refused (the ErrorResp message), or None when it is allowed.
    pub fn join_denied(&self, group: &str) -> Option<String> {
        if self.kafka && !self.acls.iter().any(|a| a.groups.is_some()) {
            return Some(format!(
                "group {group} denied: consumer groups on a Kafka route need an allow-list \
                 (set plugins.topic-acl.groups, or groups in the key's or token's acl)"
            ));
        }
        (!self.acls.iter().all(|a| allows(&a.groups, group)))
            .then(|| format!("group {group} denied"))
    }
    /// Whether any read restriction exists (pattern subscriptions are then filtered per topic;
    /// on Kafka always, for the internal topics).
    pub fn restricts_read(&self) -> bool {
        self.kafka || self.acls.iter().any(|a| a.read.is_some())
    }
    /// Time left before the credential expires; None when it never does.
    pub fn expires_in(&self) -> Option<std::time::Duration> {
        let at = self.expires_at?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Some(std::time::Duration::from_secs(at).saturating_sub(now))
    }

    /// On Kafka, an internal topic needs a layer whose list names it with a `__` pattern.
    fn internal_allowed(&self, topic: &str, list: impl Fn(&Acl) -> &Option<Vec<Rule>>) -> bool {
        !self.kafka
            || !is_internal(topic)
            || self.acls.iter().any(|a| names_internal(list(a), topic))
    }
}

/// Why an upgrade is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no credentials, or wrong ones.
    Unauthorized,
    /// 403: the Origin is not allowed.
    Forbidden,
}

/// One configured key, kept as its SHA-256 digest.
struct KeyEntry {
    digest: [u8; 32],
    id: String,
    acl: Option<Arc<Acl>>,
}

enum Mode {
    Open,
    Keys {
        keys: Vec<KeyEntry>,
        header: String,
        query: String,
    },
    Jwt {
        key: DecodingKey,
        validation: Box<Validation>,
        query: String,
    },
}

/// A route's access rules, built once per config load (keys from the environment are read then).
pub struct RouteAuth {
    mode: Mode,
    route_acl: Option<Arc<Acl>>,
    origins: Vec<String>,
    kafka: bool,
}

pub fn jwt_algorithm(name: &str) -> Result<Algorithm, String> {
    Ok(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        other => return Err(format!("unsupported algorithm `{other}`")),
    })
}

fn env_secret(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
}

/// What the upgrade request offers for authentication.
pub struct Credentials<'a> {
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
    pub query: &'a HashMap<String, String>,
    pub protocols: &'a [&'a str],
}

/// Claims the gateway reads from a JWT; exp/nbf are checked by the validator (exp is required).
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    acl: Option<AclConfig>,
}

/// SHA-256 from the TLS stack's provider (ring), so no second hash implementation is linked in.
fn sha256(data: &[u8]) -> [u8; 32] {
    let rustls::SupportedCipherSuite::Tls13(suite) =
        rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
    else {
        unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite")
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(suite.common.hash_provider.hash(data).as_ref());
    out
}

/// Keys are compared as digests, without an early exit and against every key: timing reveals
/// neither the key's length, nor how much of it matched, nor which key it was.
fn find_key<'k>(keys: &'k [KeyEntry], given: &[u8; 32]) -> Option<&'k KeyEntry> {
    let mut found = None;
    for k in keys {
        let diff = k
            .digest
            .iter()
            .zip(given)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y));
        if std::hint::black_box(diff) == 0 {
            found = Some(k);
        }
    }
    found
}

impl RouteAuth {
    pub fn build(route: &Route) -> Result<RouteAuth, String> {
        let p = &route.plugins;
        let mode = if let Some(ka) = &p.key_auth {
            let mut keys = Vec::with_capacity(ka.keys.len());
            for k in &ka.keys {
                let key = match (&k.key, &k.key_env) {
                    (Some(key), _) => key.clone(),
                    (None, Some(var)) => env_secret(var)?,
                    (None, None) => return Err(format!("key-auth key {} has no key", k.id)),
                };
                let acl = k.acl.as_ref().map(Acl::compile).transpose()?.map(Arc::new);
                keys.push(KeyEntry {
                    digest: sha256(key.as_bytes()),
                    id: k.id.clone(),
                    acl,
                });
            }
            Mode::Keys {
                keys,
                header: ka.header.clone(),
                query: ka.query.clone(),
            }
        } else if let Some(j) = &p.jwt_auth {
            let alg = jwt_algorithm(&j.algorithm)?;
            let key = match alg {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                    let secret = match (&j.secret, &j.secret_env) {
                        (Some(s), _) => s.clone(),
                        (None, Some(var)) => env_secret(var)?,
                        (None, None) => return Err("jwt-auth needs a secret".into()),
                    };
                    DecodingKey::from_secret(secret.as_bytes())
                }
                _ => {
                    let path = j
                        .public_key_file
                        .as_ref()
                        .ok_or("jwt-auth needs public_key_file")?;
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    let key = if j.algorithm.starts_with("ES") {
                        DecodingKey::from_ec_pem(&pem)
                    } else {
                        DecodingKey::from_rsa_pem(&pem)
                    };
                    key.map_err(|e| format!("{}: {e}", path.display()))?
                }
            };
            let mut validation = Validation::new(alg);
            validation.leeway = j.leeway_secs;
            validation.validate_nbf = true;
            if let Some(iss) = &j.issuer {
                validation.set_issuer(&[iss]);
            }
            match &j.audience {
                Some(aud) => validation.set_audience(&[aud]),
                None => validation.validate_aud = false,
            }
            Mode::Jwt {
                key,
                validation: Box::new(validation),
                query: j.query.clone(),
            }
        } else {
            Mode::Open
        };
        let route_acl = p
            .topic_acl
            .as_ref()
            .map(Acl::compile)
            .transpose()?
            .map(Arc::new);
        Ok(RouteAuth {
            mode,
            route_acl,
            origins: route.allowed_origins.clone(),
            kafka: route.upstream.scheme() == Scheme::Kafka,
        })
    }

    /// Browsers always send Origin; non-browser clients may omit it and are let through (the
    /// allow-list protects browser users from cross-site WebSocket hijacking).
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            _ if self.origins.is_empty() => true,
            None => true,
            Some(o) => self
                .origins
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(o)),
        }
    }

    pub fn authenticate(&self, c: &Credentials<'_>) -> Result<Identity, Refusal> {
        match &self.mode {
            Mode::Open => Ok(self.identity(None, None, None, Credential::None)),
            Mode::Keys { header, query, .. } => {
                let given = (c.header)(header)
                    .or_else(|| c.query.get(query).map(String::as_str))
                    .ok_or(Refusal::Unauthorized)?;
                self.check(Credential::Key(sha256(given.as_bytes())))
            }
            Mode::Jwt { query, .. } => {
                let token = (c.header)("authorization")
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .map(str::trim)
                    .or_else(|| c.query.get(query).map(String::as_str))
                    .or_else(|| c.protocols.iter().find_map(|p| p.strip_prefix("bearer.")))
                    .ok_or(Refusal::Unauthorized)?;
                self.check(Credential::Jwt(token.into()))
            }
        }
    }

    /// `cmd_refresh`: the same checks as the upgrade, for a credential sent on an open
    /// connection (a JWT, or on key-auth routes a key). On a route without authentication
    /// there is nothing to check and the identity stays anonymous.
    pub fn refresh(&self, token: &str) -> Result<Identity, Refusal> {
        match &self.mode {
            Mode::Open => Ok(self.identity(None, None, None, Credential::None)),
            Mode::Keys { .. } => self.check(Credential::Key(sha256(token.as_bytes()))),
            Mode::Jwt { .. } => self.check(Credential::Jwt(token.into())),
        }
    }

    /// A reload: the connection's credential checked again against these (new) rules. Err
    /// when it no longer authenticates (key removed, secret changed, route now needs one).
    pub fn rederive(&self, current: &Identity) -> Result<Identity, Refusal> {
        match (&self.mode, &current.credential) {
            (Mode::Open, _) => Ok(self.identity(None, None, None, Credential::None)),
            (_, Credential::None) => Err(Refusal::Unauthorized),
            (_, c) => self.check(c.clone()),
        }
    }

    fn check(&self, credential: Credential) -> Result<Identity, Refusal> {
        match (&self.mode, &credential) {
            (Mode::Keys { keys, .. }, Credential::Key(digest)) => {
                let k = find_key(keys, digest).ok_or(Refusal::Unauthorized)?;
                Ok(self.identity(Some(k.id.clone()), k.acl.clone(), None, credential))
            }
            (
                Mode::Jwt {
                    key, validation, ..
                },
                Credential::Jwt(token),
            ) => {
                let data = jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(|_| Refusal::Unauthorized)?;
                let acl = match &data.claims.acl {
                    Some(acl) => Some(Arc::new(
                        Acl::compile(acl).map_err(|_| Refusal::Unauthorized)?,
                    )),
                    None => None,
                };
                let expires_at = data.claims.exp.map(|e| e.saturating_add(validation.leeway));
                Ok(self.identity(data.claims.sub, acl, expires_at, credential))
            }
            _ => Err(Refusal::Unauthorized),
        }
    }

    fn identity(
        &self,
        id: Option<String>,
        acl: Option<Arc<Acl>>,
        expires_at: Option<u64>,
        credential: Credential,
    ) -> Identity {
        Identity {
            id,
            acls: self.route_acl.iter().cloned().chain(acl).collect(),
            kafka: self.kafka,
            expires_at,
            credential,
        }
    }
}

/// Splits a query string into decoded key/value pairs (later duplicates win).
pub fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        let q = parse_query("apikey=a%2Bb%3D&token=x.y.z&flag");
        assert_eq!(q["apikey"], "a+b=");
        assert_eq!(q["token"], "x.y.z");
        assert_eq!(q["flag"], "");
        assert_eq!(parse_query("k=%4")["k"], "%4");
    }

    #[test]
    fn every_acl_layer_must_allow() {
        let route = Acl::compile(&AclConfig {
            read: Some(vec!["public-.*".into(), "team-.*".into()]),
            ..Default::default()
        })
        .unwrap();
        let key = Acl::compile(&AclConfig {
            read: Some(vec!["team-a.*".into()]),
            write: Some(vec![]),
            ..Default::default()
        })
        .unwrap();
        let id = Identity {
            acls: vec![Arc::new(route), Arc::new(key)],
            ..Default::default()
        };
        assert!(id.can_read("team-a1"));
        assert!(!id.can_read("public-x"));
        assert!(!id.can_write("team-a1"));
        assert!(id.can_join("anything"));
    }

    #[test]
    fn key_digests_are_sha256() {
        let d = sha256(b"abc");
        assert_eq!(
            d[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(abc) = ba7816bf..."
        );
        assert_eq!(d[28..], [0xf2, 0x00, 0x15, 0xad]);
    }

    #[test]
    fn kafka_identities_need_explicit_patterns_for_internal_topics_and_groups() {
        let acl = |read: &[&str]| {
            Arc::new(
                Acl::compile(&AclConfig {
                    read: Some(read.iter().map(|s| s.to_string()).collect()),
                    ..Default::default()
                })
                .unwrap(),
            )
        };
        let kafka = |acls| Identity {
            acls,
            kafka: true,
            ..Default::default()
        };
        let open = kafka(vec![]);
        assert!(open.can_read("orders") && open.can_write("orders"));
        assert!(!open.can_read("__consumer_offsets") && !open.can_write("__consumer_offsets"));
        assert!(open.join_denied("g").unwrap().contains("topic-acl.groups"));
        assert!(!kafka(vec![acl(&[".*"])]).can_read("__consumer_offsets"));
        assert!(kafka(vec![acl(&["__consumer_offsets"])]).can_read("__consumer_offsets"));
        assert!(kafka(vec![acl(&["__.*"])]).can_read("__transaction_state"));
        // Every layer must still allow it.
        assert!(!kafka(vec![acl(&["__.*"]), acl(&["orders"])]).can_read("__consumer_offsets"));
        let embedded = Identity::default();
        assert!(embedded.can_read("__x") && embedded.can_join("g"));
    }
}
