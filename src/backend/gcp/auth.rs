//! Credentials for Google Cloud, found the way Google's libraries find them: a service-account
//! key file (`plugins.gcp-auth`, else the file `GOOGLE_APPLICATION_CREDENTIALS` names) signs a
//! self-signed JWT (RS256, `kid` = the key's id, audience Pub/Sub), as Google's clients do when
//! given an audience: no token exchange, no network; without either, the metadata server's
//! token (`metadata`). Other credential kinds (`authorized_user`, `external_account`, …) are
//! refused naming them. Only the key's needed fields are read; neither the key nor a token is
//! ever logged (errors name the file and serde's line/column).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use token_source::{TokenSource, TokenSourceProvider};

use super::metadata::MetadataToken;
use crate::backend::lock;

const AUDIENCE: &str = "https://pubsub.googleapis.com/";

/// The fields of a service-account key file the gateway uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    private_key: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Signs and caches `Bearer` tokens for one service account.
pub(super) struct SelfSignedJwt {
    email: String,
    key_id: String,
    key: EncodingKey,
    cached: Mutex<Option<(String, u64)>>,
}

impl std::fmt::Debug for SelfSignedJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSignedJwt")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl SelfSignedJwt {
    /// Reads the key file; errors never carry its contents.
    pub fn from_file(path: &Path) -> Result<SelfSignedJwt, String> {
        let text = std::fs::read(path)
            .map_err(|e| format!("gcp-auth: cannot read {}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| format!("gcp-auth: {}: {e}", path.display()))
    }

    fn from_json(text: &[u8]) -> Result<SelfSignedJwt, String> {
        let k: KeyFile = serde_json::from_slice(text).map_err(|e| {
            format!(
                "not a service-account key file ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        if k.kind != "service_account" {
            return Err(format!(
                "credentials of type `{}` are not supported: give a service_account key file",
                k.kind
            ));
        }
        if k.client_email.is_empty() || k.private_key_id.is_empty() || k.private_key.is_empty() {
            return Err(
                "the key file needs client_email, private_key_id and private_key".to_string(),
            );
        }
        let key = EncodingKey::from_rsa_pem(k.private_key.as_bytes())
            .map_err(|_| "private_key is not an RSA private key in PEM".to_string())?;
        Ok(SelfSignedJwt {
            email: k.client_email,
            key_id: k.private_key_id,
            key,
            cached: Mutex::new(None),
        })
    }

    fn sign(&self, now: u64) -> Result<(String, u64), jsonwebtoken::errors::Error> {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(self.key_id.clone());
        let exp = now + 3600;
        let claims = Claims {
            iss: &self.email,
            sub: &self.email,
            aud: AUDIENCE,
            iat: now,
            exp,
        };
        let token = jsonwebtoken::encode(&h, &claims, &self.key)?;
        Ok((format!("Bearer {token}"), exp))
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[async_trait]
impl TokenSource for SelfSignedJwt {
    async fn token(&self) -> Result<String, Box<dyn Error + Send + Sync>> {
        let now = unix_secs();
        if let Some((t, exp)) = &*lock(&self.cached) {
            if *exp > now + 300 {
                return Ok(t.clone());
            }
        }
        let (bearer, exp) = self.sign(now)?;
        *lock(&self.cached) = Some((bearer.clone(), exp));
        Ok(bearer)
    }
}

/// What gcloud-gax asks for its token source.
#[derive(Debug)]
pub(super) struct Provider(pub Arc<dyn TokenSource>);

impl TokenSourceProvider for Provider {
    fn token_source(&self) -> Arc<dyn TokenSource> {
        self.0.clone()
    }
}

/// The process environment Google's libraries read for credentials.
pub(super) struct AdcEnv {
    /// `GOOGLE_APPLICATION_CREDENTIALS`: a credentials file.
    pub credentials: Option<PathBuf>,
    /// `GCE_METADATA_HOST`: the metadata server's `host[:port]`.
    pub metadata_host: Option<String>,
}

impl AdcEnv {
    pub fn from_process() -> AdcEnv {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        AdcEnv {
            credentials: var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
            metadata_host: var("GCE_METADATA_HOST").and_then(|v| v.into_string().ok()),
        }
    }
}

/// The route's token source: none for the emulator; `plugins.gcp-auth`'s key file; else the
/// file of `GOOGLE_APPLICATION_CREDENTIALS` (a service-account key); else the metadata server.
pub(super) fn token_source(
    gcp_auth: Option<&Path>,
    emulator: bool,
    env: &AdcEnv,
    timeout: Duration,
) -> Result<Option<Arc<dyn TokenSource>>, String> {
    if emulator {
        return Ok(None);
    }
    if let Some(file) = gcp_auth {
        return Ok(Some(Arc::new(SelfSignedJwt::from_file(file)?)));
    }
    if let Some(file) = &env.credentials {
        return SelfSignedJwt::from_file(file)
            .map(|s| Some(Arc::new(s) as Arc<dyn TokenSource>))
            .map_err(|e| e.replacen("gcp-auth:", "GOOGLE_APPLICATION_CREDENTIALS:", 1));
    }
    let host = env
        .metadata_host
        .clone()
        .unwrap_or_else(|| "metadata.google.internal".to_string());
    Ok(Some(Arc::new(MetadataToken::new(host, timeout))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RSA key made by the openssl CLI now, as a service-account key file; the public key.
    fn key_file(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let pem = dir.join("key.pem");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("the openssl CLI");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
            out.stdout
        };
        let pem_s = pem.to_str().unwrap();
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            pem_s,
        ]);
        let public = run(&["pkey", "-in", pem_s, "-pubout"]);
        let json = serde_json::json!({
            "type": "service_account",
            "project_id": "my-project",
            "private_key_id": "kid-123",
            "private_key": std::fs::read_to_string(&pem).unwrap(),
            "client_email": "gw@my-project.iam.gserviceaccount.com",
            "client_id": "1",
        });
        let file = dir.join("key.json");
        std::fs::write(&file, json.to_string()).unwrap();
        (file, public)
    }

    #[tokio::test]
    async fn a_service_account_key_file_signs_a_cached_token_that_verifies() {
        let dir = std::env::temp_dir().join(format!("gcp-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (file, public) = key_file(&dir);
        let source = SelfSignedJwt::from_file(&file).unwrap();
        assert!(
            !format!("{source:?}").contains("PRIVATE"),
            "Debug shows no key"
        );
        let bearer = source.token().await.unwrap();
        assert_eq!(source.token().await.unwrap(), bearer, "cached");
        let token = bearer.strip_prefix("Bearer ").expect("a bearer token");
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&["gw@my-project.iam.gserviceaccount.com"]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("kid-123"));
        let c = data.claims;
        assert_eq!(c["sub"], "gw@my-project.iam.gserviceaccount.com");
        assert_eq!(
            c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
            3600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_credential_kinds_and_broken_files_are_refused_without_their_contents() {
        let e = SelfSignedJwt::from_json(br#"{"type":"authorized_user","client_secret":"s3cr3t"}"#)
            .unwrap_err();
        assert!(
            e.contains("authorized_user") && !e.contains("s3cr3t"),
            "{e}"
        );
        let e = SelfSignedJwt::from_json(
            b"{\"type\": \"service_account\", \"private_key\": \"-----BEGIN",
        )
        .unwrap_err();
        assert!(e.contains("line 1") && !e.contains("BEGIN"), "{e}");
        let e = SelfSignedJwt::from_json(
            br#"{"type":"service_account","client_email":"a@b","private_key_id":"k","private_key":"nope"}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("not an RSA private key") && !e.contains("nope"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn credentials_come_from_gcp_auth_then_the_adc_file_then_the_metadata_server() {
        let dir = std::env::temp_dir().join(format!("gcp-adc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (file, _) = key_file(&dir);
        let t = Duration::from_secs(1);
        let none = AdcEnv {
            credentials: None,
            metadata_host: Some("127.0.0.1:9".into()),
        };
        assert!(
            token_source(Some(&file), true, &none, t).unwrap().is_none(),
            "emulator"
        );
        let s = token_source(Some(&file), false, &none, t).unwrap().unwrap();
        assert!(format!("{s:?}").contains("SelfSignedJwt"), "{s:?}");
        let adc = AdcEnv {
            credentials: Some(file.clone()),
            metadata_host: None,
        };
        let s = token_source(None, false, &adc, t).unwrap().unwrap();
        assert!(s.token().await.unwrap().starts_with("Bearer ey"));
        let s = token_source(None, false, &none, t).unwrap().unwrap();
        assert!(
            format!("{s:?}").contains("MetadataToken") && format!("{s:?}").contains("127.0.0.1:9")
        );
        for kind in [
            "authorized_user",
            "external_account",
            "impersonated_service_account",
        ] {
            let other = dir.join(format!("{kind}.json"));
            std::fs::write(
                &other,
                format!(r#"{{"type":"{kind}","refresh_token":"s3cr3t"}}"#),
            )
            .unwrap();
            let e = token_source(
                None,
                false,
                &AdcEnv {
                    credentials: Some(other),
                    metadata_host: None,
                },
                t,
            )
            .unwrap_err();
            assert!(
                e.contains(kind)
                    && e.contains("GOOGLE_APPLICATION_CREDENTIALS")
                    && !e.contains("s3cr3t"),
                "{e}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
