//! The routing table a configuration makes (each route's backend, auth rules, idempotency
//! window and HTTP group memberships), built at start and on every reload, keeping what a
//! reload did not change; and the listener's TLS acceptor.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::StartError;
use crate::auth::RouteAuth;
use crate::backend::{self, Backend};
use crate::config::{Config, Limits, Route};
use crate::session::RouteEnd;

pub struct RouteEntry {
    pub route: Route,
    pub backend: Arc<dyn Backend>,
    pub(super) auth: Arc<RouteAuth>,
    /// Shared by every table that has this route: a reload sends the new rules to the
    /// connections already open on it.
    pub(super) auth_tx: Arc<watch::Sender<Arc<RouteAuth>>>,
    /// Ends the route's connections when a reload removes the route or rebuilds its backend,
    /// and (a child of the server's token) at shutdown.
    pub(super) end: RouteEnd,
    /// What `backend` was built from.
    pub(super) input: crate::config::BackendInput,
    /// The route's idempotent-publish window: kept by a reload that keeps its settings.
    pub(super) window: Arc<crate::backend::idempotency::Window>,
    /// The route's HTTP group memberships: kept with its backend.
    pub(super) groups: Arc<super::groups::Registry>,
}

/// Everything a configuration determines; replaced whole on reload.
pub(crate) struct Table {
    pub(crate) routes: Vec<Arc<RouteEntry>>,
    pub(crate) limits: Arc<Limits>,
    pub(super) ws_config: WebSocketConfig,
    pub(super) tls: Option<TlsAcceptor>,
    pub(crate) listen: SocketAddr,
}

impl Table {
    pub(crate) fn has_tls(&self) -> bool {
        self.tls.is_some()
    }
}

fn load_tls(config: &Config) -> Result<Option<TlsAcceptor>, StartError> {
    let Some(tls) = &config.server.tls else {
        return Ok(None);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StartError::Tls(format!("cert {}: {e}", tls.cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| StartError::Tls(format!("key {}: {e}", tls.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(e.to_string()))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(sc))))
}

/// `shutdown` is the parent of every route's removal token, so a session watches one token
/// for both (and tells them apart by asking `shutdown`).
pub(super) fn build_table(
    config: &Config,
    previous: Option<&Table>,
    shutdown: &CancellationToken,
) -> Result<Table, StartError> {
    let mut routes = Vec::with_capacity(config.routes.len());
    for route in &config.routes {
        let err = |message: String| StartError::Route {
            uri: route.uri.clone(),
            message,
        };
        let same_route = previous.and_then(|t| t.routes.iter().find(|e| e.route.uri == route.uri));
        // A new backend exactly when what it is built from changed (credentials and the files
        // they name included); otherwise the running one, and for the embedded scheme its
        // messages, carry on.
        let input = route.backend_input();
        let kept = same_route.filter(|e| e.input == input);
        let backend = match kept {
            Some(e) => e.backend.clone(),
            None => backend::build(route).map_err(err)?,
        };
        let auth = Arc::new(RouteAuth::build(route).map_err(err)?);
        let end = kept
            .map(|e| e.end.clone())
            .unwrap_or_else(|| RouteEnd::child_of(shutdown));
        // Sent only once the reload is committed (an error later leaves the old rules).
        let auth_tx = same_route
            .map(|e| e.auth_tx.clone())
            .unwrap_or_else(|| Arc::new(watch::Sender::new(auth.clone())));
        // Kept while its settings and its journal's place are; a new one reads the journal.
        let window = match same_route.filter(|e| {
            e.route.idempotency == route.idempotency
                && backend::idempotency::journal_dir(&e.route)
                    == backend::idempotency::journal_dir(route)
        }) {
            Some(e) => e.window.clone(),
            None => backend::idempotency::Window::for_route(route).map_err(err)?,
        };
        let groups = kept.map(|e| e.groups.clone()).unwrap_or_default();
        routes.push(Arc::new(RouteEntry {
            route: route.clone(),
            backend,
            auth,
            auth_tx,
            end,
            input,
            window,
            groups,
        }));
    }
    let limits = config.server.limits.clone();
    // Small buffers keep idle connections cheap; the writer flushes whenever its queue drains,
    // so a burst still leaves in few large writes. The read buffer is allocated with every
    // connection and kept for its life: 512 bytes hold a burst of 16 pipelined small requests
    // (pings) in one read, while larger requests take a read per 512 bytes.
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes))
        .read_buffer_size(512)
        .write_buffer_size(8 * 1024);
    Ok(Table {
        routes,
        limits: Arc::new(limits),
        ws_config,
        tls: load_tls(config)?,
        listen: config.server.listen,
    })
}
