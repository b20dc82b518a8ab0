//! Opening one WebSocket connection: TCP, optional TLS (rustls), the upgrade.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::WebSocketStream;

use crate::error::{Error, Result};

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type Ws = WebSocketStream<Box<dyn Io>>;

/// Where to connect: the URL normalized to ws:// or wss://, without the token.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub url: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

pub(crate) fn parse_url(url: &str) -> Result<Target> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::Url(format!("{url}: no scheme (ws://, wss://)")))?;
    let (tls, ws_scheme) = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => (false, "ws"),
        "wss" | "https" => (true, "wss"),
        other => return Err(Error::Url(format!("{url}: unsupported scheme {other}"))),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(Error::Url(format!("{url}: no host")));
    }
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| Error::Url(format!("{url}: unclosed [")))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| Error::Url(format!("{url}: bad port {p}")))?,
        None if tls => 443,
        None => 80,
    };
    Ok(Target {
        url: format!("{ws_scheme}://{rest}"),
        tls,
        host,
        port,
    })
}

/// The URL with `token=<token>` added to its query.
pub(crate) fn with_token(url: &str, token: Option<&str>) -> String {
    let Some(token) = token else {
        return url.to_string();
    };
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}token={}", percent_encode(token));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// HTTP token characters: a subprotocol entry must be made of them.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Subprotocols offered: `pubsub` first (the gateway echoes it, so the upgrade has one), then
/// `bearer.<token>` when the token can be one, then the application's own.
pub(crate) fn protocols(token: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if token.is_some() || !extra.is_empty() {
        out.push("pubsub".to_string());
        if let Some(t) = token {
            let bearer = format!("bearer.{t}");
            if is_token(&bearer) {
                out.push(bearer);
            }
        }
        out.extend(extra.iter().filter(|p| *p != "pubsub").cloned());
    }
    out
}

pub(crate) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(Error::Config(format!(
                    "CA file {}: no certificates",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Config(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One connection attempt (the caller bounds it with the connect timeout).
pub(crate) async fn dial(
    target: &Target,
    token: Option<&str>,
    extra_protocols: &[String],
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Ws> {
    let url = with_token(&target.url, token);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::Url(e.to_string()))?;
    let offered = protocols(token, extra_protocols);
    if !offered.is_empty() {
        let value = HeaderValue::from_str(&offered.join(", "))
            .map_err(|e| Error::Url(format!("subprotocols: {e}")))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", value);
    }
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| Error::Connect(format!("{}:{}: {e}", target.host, target.port)))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if target.tls {
        let config = match tls {
            Some(c) => c.clone(),
            None => tls_config(None)?,
        };
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| Error::Url(format!("{}: {e}", target.host)))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Connect(format!("TLS: {e}")))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, None)
        .await
        .map_err(|e| Error::Connect(format!("upgrade: {e}")))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_http_to_ws_and_take_default_ports() {
        let t = parse_url("http://h/chat").unwrap();
        assert_eq!((t.url.as_str(), t.port, t.tls), ("ws://h/chat", 80, false));
        let t = parse_url("wss://[::1]:9443/a?b=1").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("::1", 9443, true));
        assert!(parse_url("ftp://h/").is_err());
    }

    #[test]
    fn the_token_goes_into_the_query_encoded_and_into_a_bearer_subprotocol() {
        assert_eq!(
            with_token("ws://h/a?x=1", Some("a b")),
            "ws://h/a?x=1&token=a%20b"
        );
        assert_eq!(protocols(Some("abc"), &[]), ["pubsub", "bearer.abc"]);
        // Not a token character: only the query carries it.
        assert_eq!(protocols(Some("a b"), &[]), ["pubsub"]);
        assert!(protocols(None, &[]).is_empty());
    }
}
