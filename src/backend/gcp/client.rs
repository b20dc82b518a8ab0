//! The route's connections to Pub/Sub (gRPC over gcloud-gax's pooled tonic channels, built at
//! the first call: a Pub/Sub that is down answers 503 then and the next call tries again), the
//! gRPC status → gateway error mapping, and the retry setting that keeps a known-down answer
//! fast.

use std::sync::Arc;
use std::time::Duration;

use gcloud_gax::conn::{Channel, ConnectionOptions, Environment};
use gcloud_gax::grpc::{Code, Status};
use gcloud_gax::retry::RetrySetting;
use gcloud_googleapis::pubsub::v1::publisher_client::PublisherClient;
use gcloud_pubsub::apiv1::conn_pool::{ConnectionManager, PUBSUB};
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;

use super::auth::{token_source, AdcEnv, Provider};
use crate::config::{GcpOptions, Route, UpstreamTimeout};
use crate::error::{GatewayError, Result};

/// Pub/Sub's message size limit, both ways.
const MAX_MESSAGE: usize = 10 << 20;

pub(super) type Publisher = PublisherClient<Channel>;

/// What the route's calls use once connected.
pub(super) struct Clients {
    publisher: ConnectionManager,
    pub subscriber: SubscriberClient,
}

impl Clients {
    pub fn publisher(&self) -> Publisher {
        PublisherClient::new(self.publisher.conn())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }
}

pub(super) struct Conn {
    pub opts: GcpOptions,
    pub timeouts: UpstreamTimeout,
    /// `host:port` of the emulator, or the Google endpoint's host.
    endpoint: Option<String>,
    credentials: Option<Arc<dyn token_source::TokenSource>>,
    clients: tokio::sync::OnceCell<Arc<Clients>>,
}

impl Conn {
    pub fn new(route: &Route, opts: GcpOptions) -> std::result::Result<Conn, String> {
        let credentials = token_source(
            route
                .plugins
                .gcp_auth
                .as_ref()
                .map(|a| a.credentials_file.as_path()),
            opts.emulator,
            &AdcEnv::from_process(),
            route.upstream.timeout.connect(),
        )?;
        let endpoint = route.upstream.nodes.0.first().map(|n| {
            if opts.emulator {
                n.clone()
            } else {
                n.trim_end_matches(":443").to_string()
            }
        });
        Ok(Conn {
            opts,
            timeouts: route.upstream.timeout.clone(),
            endpoint,
            credentials,
            clients: tokio::sync::OnceCell::new(),
        })
    }

    /// The project's topic name.
    pub fn topic_name(&self, topic: &str) -> String {
        format!("projects/{}/topics/{topic}", self.opts.project)
    }

    /// The project's subscription name.
    pub fn subscription_name(&self, id: &str) -> String {
        format!("projects/{}/subscriptions/{id}", self.opts.project)
    }

    /// The clients, connecting first if needed (503 when Pub/Sub cannot be reached within the
    /// connect timeout).
    pub async fn clients(&self) -> Result<Arc<Clients>> {
        let connect = self.timeouts.connect();
        let build = async {
            let env = match (&self.credentials, &self.endpoint) {
                (None, Some(node)) => Environment::Emulator(node.clone()),
                (None, None) => {
                    return Err(GatewayError::Unavailable(
                        "the Pub/Sub emulator has no node".into(),
                    ))
                }
                (Some(c), _) => Environment::GoogleCloud(Box::new(Provider(c.clone()))),
            };
            let domain = self.endpoint.as_deref().unwrap_or(PUBSUB);
            let co = ConnectionOptions {
                connect_timeout: Some(connect),
                ..Default::default()
            };
            let pool = 4;
            let down = |e: gcloud_gax::conn::Error| {
                GatewayError::Unavailable(format!("Pub/Sub at {domain} is unreachable: {e}"))
            };
            let publisher = ConnectionManager::new(pool, domain, &env, &co)
                .await
                .map_err(down)?;
            let sub = ConnectionManager::new(pool, domain, &env, &co)
                .await
                .map_err(down)?;
            let pull = ConnectionManager::new(pool, domain, &env, &co)
                .await
                .map_err(down)?;
            Ok(Arc::new(Clients {
                publisher,
                subscriber: SubscriberClient::new(sub, pull),
            }))
        };
        match tokio::time::timeout(connect, self.clients.get_or_try_init(|| build)).await {
            Ok(r) => r.cloned(),
            Err(_) => Err(GatewayError::Unavailable(
                "Pub/Sub did not answer within the connect timeout".into(),
            )),
        }
    }

    /// Bounds a call by the send timeout (504 past it).
    pub async fn within<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        crate::backend::within("Pub/Sub", self.timeouts.send(), what, call).await
    }
}

/// Two quick tries on transient codes: the crates' default (5 tries up to 1 s apart) would
/// hold a known-down answer for seconds.
pub(super) fn quick() -> Option<RetrySetting> {
    Some(RetrySetting {
        from_millis: 10,
        max_delay: Some(Duration::from_millis(200)),
        factor: 1,
        take: 2,
        codes: vec![Code::Unavailable, Code::Unknown, Code::Aborted],
    })
}

/// A gRPC status as the gateway's error; `what` names the topic or subscription.
pub(super) fn status_error(s: &Status, what: &str) -> GatewayError {
    let m = format!("Pub/Sub {what}: {}", s.message());
    match s.code() {
        Code::NotFound => GatewayError::UnknownTopicOrPartition.context(m),
        Code::PermissionDenied | Code::Unauthenticated => GatewayError::Forbidden(m),
        Code::ResourceExhausted => GatewayError::Overloaded(m),
        Code::Unavailable => GatewayError::Unavailable(m),
        Code::DeadlineExceeded => GatewayError::Timeout(m),
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            GatewayError::BadRequest(m)
        }
        Code::AlreadyExists | Code::Aborted => GatewayError::Conflict(m),
        Code::Unimplemented => {
            GatewayError::BadRequest(format!("this Pub/Sub does not implement it: {m}"))
        }
        _ => GatewayError::Upstream(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_http_statuses() {
        for (code, want) in [
            (Code::NotFound, 404),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::InvalidArgument, 400),
        ] {
            let e = status_error(&Status::new(code, "x"), "topic `t`");
            assert_eq!(e.code(), want, "{code:?}: {e}");
        }
        let e = status_error(&Status::new(Code::NotFound, "gone"), "topic `t`");
        assert!(e.to_string().contains("topic `t`"), "{e}");
    }
}
