//! The route's SNS and SQS clients (AWS's SDK over hyper 1 with rustls/ring), their
//! credentials, the SDK error → gateway error mapping, and the lookups every call needs (a
//! topic's ARN, a queue's URL), cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::backend::lock;
use crate::config::{AwsAuth, AwsOptions, Route, UpstreamTimeout};
use crate::error::{GatewayError, Result};

/// Names and URLs cached per route: a few hundred entries at most before the cache starts over.
const CACHE_ENTRIES: usize = 1024;

pub(super) struct Conn {
    pub opts: AwsOptions,
    pub timeouts: UpstreamTimeout,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// `arn:{partition}:sns:{region}:{account}:`, learnt from the first topic ARN seen.
    topic_arn_base: tokio::sync::OnceCell<String>,
    /// Queue name → URL.
    urls: Mutex<HashMap<String, String>>,
}

/// The credentials of `plugins.aws-auth`, read from the environment when the route is built;
/// `Debug` (the SDK's) never prints the secret.
fn static_credentials(a: &AwsAuth) -> std::result::Result<Credentials, String> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("aws-auth: the environment variable {name} is not set"))
    };
    let id = var(&a.access_key_id_env)?;
    let secret = var(&a.secret_access_key_env)?;
    let token = match &a.session_token_env {
        Some(t) => Some(var(t)?),
        None => None,
    };
    Ok(Credentials::new(id, secret, token, None, "aws-auth"))
}

/// The SDK's own credential chain (environment, profile, web identity, container and instance
/// roles), built at its first use: building it needs the runtime, a route is built before.
#[derive(Debug)]
struct LazyChain {
    http: aws_sdk_sqs::config::SharedHttpClient,
    region: String,
    chain:
        tokio::sync::OnceCell<aws_config::default_provider::credentials::DefaultCredentialsChain>,
}

impl ProvideCredentials for LazyChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let chain = self
                .chain
                .get_or_init(|| async {
                    let conf = aws_config::provider_config::ProviderConfig::default()
                        .with_http_client(self.http.clone())
                        .with_region(Some(aws_config::Region::new(self.region.clone())));
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .configure(conf)
                        .build()
                        .await
                })
                .await;
            chain.provide_credentials().await
        })
    }
}

impl Conn {
    pub fn new(route: &Route, opts: AwsOptions) -> std::result::Result<Conn, String> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let credentials = match &route.plugins.aws_auth {
            Some(a) => SharedCredentialsProvider::new(static_credentials(a)?),
            None => SharedCredentialsProvider::new(LazyChain {
                http: http.clone(),
                region: opts.region.clone(),
                chain: tokio::sync::OnceCell::new(),
            }),
        };
        let endpoint = route
            .upstream
            .nodes
            .0
            .first()
            .map(|n| match n.strip_suffix(":443") {
                Some(host) => format!("https://{host}"),
                None => format!("http://{n}"),
            });
        let timeouts = route.upstream.timeout.clone();
        let timeout = TimeoutConfig::builder()
            .connect_timeout(timeouts.connect())
            .build();
        // Two tries, 50 ms apart: the SDK's default (3 tries, seconds of backoff) would hold a
        // known-down answer for seconds.
        let retry = RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_millis(200));
        let region = aws_sdk_sns::config::Region::new(opts.region.clone());
        let mut sns = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .http_client(http.clone())
            .timeout_config(timeout.clone())
            .retry_config(retry.clone());
        let mut sqs = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .http_client(http)
            .timeout_config(timeout)
            .retry_config(retry);
        if let Some(e) = &endpoint {
            sns = sns.endpoint_url(e);
            sqs = sqs.endpoint_url(e);
        }
        Ok(Conn {
            opts,
            timeouts,
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            topic_arn_base: tokio::sync::OnceCell::new(),
            urls: Mutex::new(HashMap::new()),
        })
    }

    /// Bounds a call by the send timeout (504 past it).
    pub async fn within<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        crate::backend::within("AWS", self.timeouts.send(), what, call).await
    }

    /// A topic's ARN. SNS names topics by ARN, which holds the account id: it is learnt once
    /// from ListTopics (no topic at all: this one is missing too, 404).
    pub async fn topic_arn(&self, topic: &str) -> Result<String> {
        let base = self
            .topic_arn_base
            .get_or_try_init(|| async {
                let listed = self
                    .within("listing topics", async {
                        self.sns
                            .list_topics()
                            .send()
                            .await
                            .map_err(|e| sdk_error(e, "listing topics"))
                    })
                    .await?;
                let arn = listed
                    .topics()
                    .iter()
                    .find_map(|t| t.topic_arn())
                    .ok_or_else(|| {
                        GatewayError::UnknownTopicOrPartition
                            .context(format!("SNS topic `{topic}` does not exist"))
                    })?;
                // arn:partition:sns:region:account:name
                let mut parts = arn.splitn(6, ':');
                let fields: Vec<&str> = parts.by_ref().take(5).collect();
                if fields.len() != 5 || fields[2] != "sns" {
                    return Err(GatewayError::Upstream(format!(
                        "SNS listed a topic ARN of an unknown form: {arn}"
                    )));
                }
                Ok::<_, GatewayError>(format!(
                    "arn:{}:sns:{}:{}:",
                    fields[1], self.opts.region, fields[4]
                ))
            })
            .await?;
        Ok(format!("{base}{topic}"))
    }

    /// A topic's ARN, after checking that it exists (404 when it does not).
    pub async fn existing_topic(&self, topic: &str) -> Result<String> {
        let arn = self.topic_arn(topic).await?;
        self.within("looking a topic up", async {
            self.sns
                .get_topic_attributes()
                .topic_arn(&arn)
                .send()
                .await
                .map_err(|e| sdk_error(e, &format!("topic `{topic}`")))
        })
        .await?;
        Ok(arn)
    }

    /// A queue's URL (404 when it does not exist).
    pub async fn queue_url(&self, queue: &str) -> Result<String> {
        if let Some(u) = lock(&self.urls).get(queue) {
            return Ok(u.clone());
        }
        let url = self
            .within("looking a queue up", async {
                self.sqs
                    .get_queue_url()
                    .queue_name(queue)
                    .send()
                    .await
                    .map_err(|e| sdk_error(e, &format!("queue `{queue}`")))
            })
            .await?
            .queue_url
            .ok_or_else(|| GatewayError::Upstream("SQS answered without a queue URL".into()))?;
        self.remember_url(queue, &url);
        Ok(url)
    }

    pub fn remember_url(&self, queue: &str, url: &str) {
        let mut urls = lock(&self.urls);
        if urls.len() >= CACHE_ENTRIES {
            urls.clear();
        }
        urls.insert(queue.to_string(), url.to_string());
    }

    pub fn forget_url(&self, queue: &str) {
        lock(&self.urls).remove(queue);
    }
}

/// AWS's error codes that mean a missing topic or queue.
const NOT_FOUND: &[&str] = &[
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "KMSThrottlingException",
];
const DENIED: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "AuthFailure",
    "InvalidSecurity",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "IncompleteSignature",
];

/// An SDK error as the gateway's error; `what` names the topic or queue. Never carries
/// credentials: AWS's messages name the key id at most.
pub(super) fn sdk_error<E>(e: SdkError<E>, what: &str) -> GatewayError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::DispatchFailure(d) if d.is_timeout() || d.is_io() => {
            GatewayError::Unavailable(format!(
                "AWS is unreachable ({what}): {}",
                if d.is_timeout() {
                    "the connection timed out"
                } else {
                    "the connection failed"
                }
            ))
        }
        // No credentials found, a TLS failure, …: the whole chain of causes says which.
        SdkError::DispatchFailure(_) => GatewayError::Upstream(format!(
            "the AWS request failed ({what}): {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )),
        SdkError::TimeoutError(_) => {
            GatewayError::Timeout(format!("AWS did not answer in time ({what})"))
        }
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("");
            let msg = s.err().message().unwrap_or("");
            let status = s.raw().status().as_u16();
            let m = format!(
                "AWS {what}: {}{}{msg}",
                if code.is_empty() {
                    format!("HTTP {status}")
                } else {
                    code.to_string()
                },
                if msg.is_empty() { "" } else { ": " }
            );
            match code_error(code, m) {
                // A code the gateway does not know (or none): the HTTP status says.
                GatewayError::Upstream(m) => status_error(status, m),
                e => e,
            }
        }
        SdkError::ResponseError(_) => {
            GatewayError::Upstream(format!("AWS answered something unreadable ({what})"))
        }
        SdkError::ConstructionFailure(_) => GatewayError::Upstream(format!(
            "the AWS request could not be made ({what}): {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )),
        _ => GatewayError::Upstream(format!("AWS ({what}): {e}")),
    }
}

/// An AWS error code (its message `m`) as the gateway's error.
pub(super) fn code_error(code: &str, m: String) -> GatewayError {
    if NOT_FOUND.contains(&code) {
        GatewayError::UnknownTopicOrPartition.context(m)
    } else if THROTTLED.contains(&code) {
        GatewayError::Overloaded(m)
    } else if DENIED.contains(&code) {
        GatewayError::Forbidden(m)
    } else if code == "ServiceUnavailable" || code == "InternalFailure" || code == "InternalError" {
        GatewayError::Unavailable(m)
    } else if code.starts_with("Invalid")
        || code.ends_with("TooLong")
        || code == "ValidationError"
        || code == "MissingParameter"
        || code == "QueueAlreadyExists"
        || code.starts_with("AWS.SimpleQueueService.")
    {
        GatewayError::BadRequest(m)
    } else {
        GatewayError::Upstream(m)
    }
}

/// An HTTP status of AWS (its message `m`) as the gateway's error.
fn status_error(status: u16, m: String) -> GatewayError {
    match status {
        400 => GatewayError::BadRequest(m),
        401 | 403 => GatewayError::Forbidden(m),
        404 => GatewayError::UnknownTopicOrPartition.context(m),
        429 => GatewayError::Overloaded(m),
        503 => GatewayError::Unavailable(m),
        _ => GatewayError::Upstream(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_error_codes_map_to_http_statuses() {
        for (code, want) in [
            ("NotFound", 404),
            ("AWS.SimpleQueueService.NonExistentQueue", 404),
            ("Throttling", 429),
            ("InvalidClientTokenId", 403),
            ("SignatureDoesNotMatch", 403),
            ("InvalidParameter", 400),
            ("ServiceUnavailable", 503),
        ] {
            let e = code_error(code, format!("AWS topic `t`: {code}"));
            assert_eq!(e.code(), want, "{code}: {e}");
        }
    }
}
