//! Who may connect to a route and what they may do there: key-auth and jwt-auth (checked before
//! the WebSocket upgrade), the Origin allow-list, and topic ACLs (checked per command).
//!
//! Refusals never say why a credential was wrong: every failure is "invalid credentials".

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use regex::Regex;
use serde::Deserialize;

use crate::config::{AclConfig, Route};

/// Whole-name regular expressions; `None` = no restriction at this layer.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    read: Option<Vec<Regex>>,
    write: Option<Vec<Regex>>,
    groups: Option<Vec<Regex>>,
}

fn compile_list(list: &Option<Vec<String>>) -> Result<Option<Vec<Regex>>, String> {
    list.as_ref()
        .map(|l| {
            l.iter()
                .map(|p| {
                    Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("pattern `{p}`: {e}"))
                })
                .collect()
        })
        .transpose()
}

fn allows(list: &Option<Vec<Regex>>, name: &str) -> bool {
    list.as_ref()
        .is_none_or(|l| l.iter().any(|r| r.is_match(name)))
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

/// An accepted connection's identity and the ACLs that apply to it; every ACL must allow.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub id: Option<String>,
    acls: Vec<Arc<Acl>>,
}

impl Identity {
    pub fn can_read(&self, topic: &str) -> bool {
        self.acls.iter().all(|a| allows(&a.read, topic))
    }
    pub fn can_write(&self, topic: &str) -> bool {
        self.acls.iter().all(|a| allows(&a.write, topic))
    }
    pub fn can_join(&self, group: &str) -> bool {
        self.acls.iter().all(|a| allows(&a.groups, group))
    }
    /// Whether any read restriction exists (pattern subscriptions are then filtered per topic).
    pub fn restricts_read(&self) -> bool {
        self.acls.iter().any(|a| a.read.is_some())
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

enum Mode {
    Open,
    Keys {
        /// key -> (identity, its ACL)
        keys: HashMap<String, (String, Option<Arc<Acl>>)>,
        header: String,
        query: String,
    },
    Jwt {
        key: DecodingKey,
        validation: Validation,
        query: String,
    },
}

/// A route's access rules, built once per config load (keys from the environment are read then).
pub struct RouteAuth {
    mode: Mode,
    route_acl: Option<Arc<Acl>>,
    origins: Vec<String>,
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

/// Claims the gateway reads from a JWT; exp/nbf are checked by the validator.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    acl: Option<AclConfig>,
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl RouteAuth {
    pub fn build(route: &Route) -> Result<RouteAuth, String> {
        let p = &route.plugins;
        let mode = if let Some(ka) = &p.key_auth {
            let mut keys = HashMap::new();
            for k in &ka.keys {
                let key = match (&k.key, &k.key_env) {
                    (Some(key), _) => key.clone(),
                    (None, Some(var)) => env_secret(var)?,
                    (None, None) => return Err(format!("key-auth key {} has no key", k.id)),
                };
                let acl = k.acl.as_ref().map(Acl::compile).transpose()?.map(Arc::new);
                keys.insert(key, (k.id.clone(), acl));
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
                validation,
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
        let mut acls: Vec<Arc<Acl>> = self.route_acl.iter().cloned().collect();
        let id = match &self.mode {
            Mode::Open => None,
            Mode::Keys {
                keys,
                header,
                query,
            } => {
                let given = (c.header)(header)
                    .or_else(|| c.query.get(query).map(String::as_str))
                    .ok_or(Refusal::Unauthorized)?;
                let (id, acl) = keys
                    .iter()
                    .find(|(k, _)| same(k.as_bytes(), given.as_bytes()))
                    .map(|(_, v)| v)
                    .ok_or(Refusal::Unauthorized)?;
                acls.extend(acl.iter().cloned());
                Some(id.clone())
            }
            Mode::Jwt {
                key,
                validation,
                query,
            } => {
                let token = (c.header)("authorization")
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .map(str::trim)
                    .or_else(|| c.query.get(query).map(String::as_str))
                    .or_else(|| c.protocols.iter().find_map(|p| p.strip_prefix("bearer.")))
                    .ok_or(Refusal::Unauthorized)?;
                let data = jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(|_| Refusal::Unauthorized)?;
                if let Some(acl) = &data.claims.acl {
                    acls.push(Arc::new(
                        Acl::compile(acl).map_err(|_| Refusal::Unauthorized)?,
                    ));
                }
                data.claims.sub
            }
        };
        Ok(Identity { id, acls })
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

fn percent_decode(s: &str) -> String {
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
            id: None,
            acls: vec![Arc::new(route), Arc::new(key)],
        };
        assert!(id.can_read("team-a1"));
        assert!(!id.can_read("public-x"));
        assert!(!id.can_write("team-a1"));
        assert!(id.can_join("anything"));
    }
}
