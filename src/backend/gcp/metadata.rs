//! Tokens from the Google Compute Engine metadata server (GCE, GKE, Cloud Run): the default
//! service account's access token, `GET /computeMetadata/v1/instance/service-accounts/default/token`
//! with `Metadata-Flavor: Google`, over plain HTTP to `metadata.google.internal` (or the host in
//! `GCE_METADATA_HOST`, the variable Google's libraries honour). Cached, and fetched again five
//! minutes before it expires. Neither the token nor the server's body is ever logged or put in
//! an error.

use std::error::Error;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use token_source::TokenSource;

use crate::backend::lock;

const PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The answer is a small JSON document: more is not the metadata server.
const MAX_RESPONSE: usize = 64 * 1024;
/// Refreshed this long before it expires.
const EARLY: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

pub(super) struct MetadataToken {
    /// `host[:port]`.
    host: String,
    timeout: Duration,
    /// `Bearer …` and when to fetch a new one.
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for MetadataToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataToken")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

type BoxError = Box<dyn Error + Send + Sync>;

impl MetadataToken {
    pub fn new(host: String, timeout: Duration) -> MetadataToken {
        MetadataToken {
            host,
            timeout,
            cached: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<TokenResponse, BoxError> {
        use http_body_util::BodyExt;
        let addr = if self.host.contains(':') {
            self.host.clone()
        } else {
            format!("{}:80", self.host)
        };
        let host = self.host.as_str();
        let stream = tokio::net::TcpStream::connect(&addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        // The connection is driven until the answer is read; it ends with this request.
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(PATH)
            .header(hyper::header::HOST, host)
            .header("Metadata-Flavor", "Google")
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        let answer = sender.send_request(request).await;
        let body = match answer {
            Ok(resp) if resp.status() == hyper::StatusCode::OK => {
                http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .map_err(|_| {
                        format!(
                    "the metadata server at {host} answered over {MAX_RESPONSE} bytes or broke off"
                )
                    })
            }
            Ok(resp) => Err(format!(
                "the metadata server at {host} answered HTTP {}",
                resp.status().as_u16()
            )),
            Err(e) => Err(format!("the metadata server at {host}: {e}")),
        };
        driver.abort();
        let body = body?;
        serde_json::from_slice::<TokenResponse>(&body).map_err(|e| {
            format!(
                "the metadata server at {host} answered no token ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
            .into()
        })
    }
}

#[async_trait]
impl TokenSource for MetadataToken {
    async fn token(&self) -> Result<String, BoxError> {
        if let Some((t, refresh)) = &*lock(&self.cached) {
            if Instant::now() < *refresh {
                return Ok(t.clone());
            }
        }
        let got = tokio::time::timeout(self.timeout, self.fetch())
            .await
            .map_err(|_| format!("the metadata server at {} did not answer", self.host))??;
        let lifetime = Duration::from_secs(got.expires_in);
        // A short-lived token is fetched again halfway.
        let refresh = Instant::now() + lifetime.saturating_sub(EARLY.min(lifetime / 2));
        let bearer = format!("Bearer {}", got.access_token);
        *lock(&self.cached) = Some((bearer.clone(), refresh));
        Ok(bearer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A real HTTP server on 127.0.0.1 answering the documented token JSON (chunked when
    /// asked), counting requests and keeping the last one.
    async fn fake_server(
        expires_in: u64,
        chunked: bool,
    ) -> (String, Arc<AtomicUsize>, Arc<Mutex<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(Mutex::new(String::new()));
        let (c, l) = (count.clone(), last.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let n = c.fetch_add(1, Ordering::SeqCst);
                let mut req = vec![0u8; 4096];
                let read = s.read(&mut req).await.unwrap_or(0);
                *l.lock().unwrap() = String::from_utf8_lossy(&req[..read]).into_owned();
                let body = format!(
                    r#"{{"access_token":"ya29.token-{n}","expires_in":{expires_in},"token_type":"Bearer"}}"#
                );
                let resp = if chunked {
                    let (a, b) = body.split_at(10);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        (addr, count, last)
    }

    #[tokio::test]
    async fn a_metadata_server_token_is_read_cached_and_refreshed_before_expiry() {
        let (addr, count, last) = fake_server(3600, false).await;
        let source = MetadataToken::new(addr.clone(), Duration::from_secs(2));
        assert_eq!(source.token().await.unwrap(), "Bearer ya29.token-0");
        assert_eq!(
            source.token().await.unwrap(),
            "Bearer ya29.token-0",
            "cached"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let req = last.lock().unwrap().clone();
        assert!(
            req.starts_with(&format!("GET {PATH} HTTP/1.1\r\n")),
            "{req}"
        );
        assert!(
            req.to_ascii_lowercase().contains("metadata-flavor: google"),
            "{req}"
        );
        assert!(
            !format!("{source:?}").contains("ya29"),
            "Debug shows no token"
        );
        // A token about to expire is fetched again (here: 1 s left, refreshed at once).
        let (addr, count, _) = fake_server(1, true).await;
        let source = MetadataToken::new(addr, Duration::from_secs(2));
        assert_eq!(source.token().await.unwrap(), "Bearer ya29.token-0");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(source.token().await.unwrap(), "Bearer ya29.token-1");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_missing_or_broken_metadata_server_is_an_error_without_the_body() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut req = vec![0u8; 4096];
                let _ = s.read(&mut req).await;
                let body = r#"{"secret":"s3cr3t"}"#;
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let e = MetadataToken::new(addr, Duration::from_secs(2))
            .token()
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no token") && !e.contains("s3cr3t"), "{e}");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let source = MetadataToken::new(format!("127.0.0.1:{port}"), Duration::from_secs(2));
        assert!(source.token().await.is_err());
    }

    #[tokio::test]
    async fn a_metadata_answer_over_the_bound_or_not_200_is_refused_without_its_body() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut s, _)) = listener.accept().await {
                let mut req = vec![0u8; 4096];
                let _ = s.read(&mut req).await;
                let answer = if n == 0 {
                    let body = format!(r#"{{"access_token":"{}"}}"#, "s3cr3t".repeat(20_000));
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 6\r\n\r\ns3cr3t".to_string()
                };
                n += 1;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        let source = MetadataToken::new(addr, Duration::from_secs(2));
        let e = source.token().await.unwrap_err().to_string();
        assert!(
            e.contains("over 65536 bytes") && !e.contains("s3cr3t"),
            "{e}"
        );
        let e = source.token().await.unwrap_err().to_string();
        assert!(e.contains("HTTP 404") && !e.contains("s3cr3t"), "{e}");
    }
}
