//! How to reach the broker, read once when the route is built: address, credentials (a
//! missing environment variable fails the build, not the first client), the rustls client
//! configuration, timeouts and the route's `upstream.mqtt` options.

use std::sync::Arc;

use crate::config::{MqttOptions, Route, UpstreamTimeout, UpstreamTls};

/// How to reach the broker, shared by the upstream's connections.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Read when the route is built: a missing environment variable fails the build.
    pub credentials: Option<(String, String)>,
    pub timeouts: UpstreamTimeout,
    pub options: MqttOptions,
    pub route: String,
    /// The route's delivery policy: group nacks and dead letters, run by the gateway.
    pub delivery: crate::config::DeliveryPolicy,
}

impl Endpoint {
    pub fn new(route: &Route, options: MqttOptions) -> std::result::Result<Endpoint, String> {
        let up = &route.upstream;
        let node = up.nodes.0.first().ok_or("upstream.nodes: no broker")?;
        let (host, port) = node
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("upstream.nodes: `{node}` is not host:port"))?;
        let credentials = match &route.plugins.mqtt_auth {
            None => None,
            Some(a) => Some((
                a.username.clone(),
                match &a.password {
                    Some(p) => p.value().map_err(|e| format!("plugins.mqtt-auth: {e}"))?,
                    None => String::new(),
                },
            )),
        };
        let tls = match &up.tls {
            None => None,
            Some(t) => Some(Arc::new(tls_config(t)?)),
        };
        Ok(Endpoint {
            host,
            port,
            tls,
            credentials,
            timeouts: up.timeout.clone(),
            options,
            route: route.uri.clone(),
            delivery: route.delivery.clone(),
        })
    }
}

/// rustls with ring, the system roots or `ca_file`, and an optional client certificate.
fn tls_config(t: &UpstreamTls) -> std::result::Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca_file {
        Some(ca) => {
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("upstream.tls.ca_file {}: {e}", ca.display()))?
            {
                let cert =
                    cert.map_err(|e| format!("upstream.tls.ca_file {}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("upstream.tls.ca_file {}: {e}", ca.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("upstream.tls: {e}"))?
        .with_root_certificates(roots);
    match (&t.client_cert, &t.client_key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| format!("upstream.tls.client_cert {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("upstream.tls.client_key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("upstream.tls: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
