//! Amazon SNS + SQS: moto (scripts/moto.sh) and a direct client of it on AWS's SDK, the same
//! crates the gateway uses, without the gateway.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use bytes::Bytes;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cloud::{Cloud, Script};

pub const REGION: &str = "eu-west-1";
/// The variables the gateway's aws-auth plugin reads (set by main before anything starts:
/// moto takes any key).
pub const KEY_VAR: &str = "PUBSUB_LOADGEN_AWS_KEY";
pub const SECRET_VAR: &str = "PUBSUB_LOADGEN_AWS_SECRET";
/// DeleteMessageBatch calls waiting at once.
const DELETES_IN_FLIGHT: usize = 8;

pub struct Aws {
    server: Script,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    /// Topic name -> ARN; queue id -> URL.
    arns: Mutex<HashMap<String, String>>,
    urls: Mutex<HashMap<String, String>>,
}

impl Aws {
    pub async fn start() -> Result<Aws, String> {
        let server = Script::start("moto.sh", "MOTO_OWNER")?;
        let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "lg");
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let endpoint = format!("http://{}", server.addr());
        let sns = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new(REGION))
            .credentials_provider(creds.clone())
            .http_client(http.clone())
            .endpoint_url(&endpoint)
            .build();
        let sqs = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .credentials_provider(creds)
            .http_client(http)
            .endpoint_url(&endpoint)
            .build();
        Ok(Aws {
            server,
            sns: aws_sdk_sns::Client::from_conf(sns),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            arns: Mutex::new(HashMap::new()),
            urls: Mutex::new(HashMap::new()),
        })
    }

    fn arn(&self, topic: &str) -> Result<String, String> {
        self.arns
            .lock()
            .map_err(|_| "poisoned".to_string())?
            .get(topic)
            .cloned()
            .ok_or_else(|| format!("topic {topic} was not created by this run"))
    }

    fn url(&self, id: &str) -> Result<String, String> {
        self.urls
            .lock()
            .map_err(|_| "poisoned".to_string())?
            .get(id)
            .cloned()
            .ok_or_else(|| format!("queue {id} was not created by this run"))
    }
}

async fn delete_later(
    deletes: &mut JoinSet<Result<(), String>>,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    receipts: Vec<String>,
) -> Result<(), String> {
    while deletes.len() >= DELETES_IN_FLIGHT {
        if let Some(r) = deletes.join_next().await {
            r.map_err(|e| format!("delete task: {e}"))??;
        }
    }
    let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(r)
                .build()
                .ok()
        })
        .collect();
    let (sqs, url) = (sqs.clone(), url.to_string());
    deletes.spawn(async move {
        let out = sqs
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| format!("delete on {url}: {e}"))?;
        match out.failed().first() {
            Some(f) => Err(format!("delete on {url} refused: {}", f.code())),
            None => Ok(()),
        }
    });
    Ok(())
}

#[async_trait]
impl Cloud for Aws {
    fn scheme(&self) -> &'static str {
        "aws"
    }

    fn route(&self) -> String {
        format!(
            "  - uri: /cloud\n    upstream:\n      scheme: aws\n      nodes: [\"{}\"]\n      timeout: {{ connect: 5, send: 10, read: 10 }}\n      aws: {{ region: {REGION}, target: sns, queue_prefix: lg- }}\n    plugins:\n      aws-auth: {{ access_key_id_env: {KEY_VAR}, secret_access_key_env: {SECRET_VAR} }}\n",
            self.server.addr()
        )
    }

    fn server(&self) -> &Script {
        &self.server
    }

    async fn create_topic(&self, topic: &str) -> Result<(), String> {
        let arn = self
            .sns
            .create_topic()
            .name(topic)
            .send()
            .await
            .map_err(|e| format!("create topic {topic}: {e}"))?
            .topic_arn
            .ok_or("create topic: no ARN")?;
        self.arns
            .lock()
            .map_err(|_| "poisoned".to_string())?
            .insert(topic.to_string(), arn);
        Ok(())
    }

    async fn create_direct(&self, topic: &str, id: &str) -> Result<(), String> {
        let url = self
            .sqs
            .create_queue()
            .queue_name(id)
            .attributes(QueueAttributeName::VisibilityTimeout, "30")
            .send()
            .await
            .map_err(|e| format!("create queue {id}: {e}"))?
            .queue_url
            .ok_or("create queue: no URL")?;
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| format!("queue attributes of {id}: {e}"))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or("queue attributes: no ARN")?;
        self.sns
            .subscribe()
            .topic_arn(self.arn(topic)?)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .map_err(|e| format!("subscribe {id} to {topic}: {e}"))?;
        self.urls
            .lock()
            .map_err(|_| "poisoned".to_string())?
            .insert(id.to_string(), url);
        Ok(())
    }

    async fn publish(&self, topic: &str, values: Vec<Bytes>) -> Result<(), String> {
        let arn = self.arn(topic)?;
        let text = |v: &Bytes| String::from_utf8_lossy(v).into_owned();
        if let [one] = values.as_slice() {
            self.sns
                .publish()
                .topic_arn(&arn)
                .message(text(one))
                .send()
                .await
                .map_err(|e| format!("publish to {topic}: {e}"))?;
            return Ok(());
        }
        use aws_sdk_sns::types::PublishBatchRequestEntry as E;
        for chunk in values.chunks(10) {
            let entries: Vec<E> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, v)| E::builder().id(i.to_string()).message(text(v)).build().ok())
                .collect();
            let out = self
                .sns
                .publish_batch()
                .topic_arn(&arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|e| format!("publish batch to {topic}: {e}"))?;
            if let Some(f) = out.failed.as_deref().and_then(|f| f.first()) {
                return Err(format!("publish batch to {topic} refused: {}", f.code()));
            }
        }
        Ok(())
    }

    async fn receive(
        &self,
        id: &str,
        _streaming: bool,
        stop: CancellationToken,
        on: &mut (dyn for<'v> FnMut(&'v [u8]) -> bool + Send),
    ) -> Result<(), String> {
        let url = self.url(id)?;
        let mut deletes = JoinSet::new();
        loop {
            let got = tokio::select! {
                _ = stop.cancelled() => break,
                r = self
                    .sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(20)
                    .send() => r,
            }
            .map_err(|e| format!("receive on {id}: {e}"))?
            .messages
            .unwrap_or_default();
            let mut more = true;
            let mut receipts = Vec::with_capacity(got.len());
            for m in got {
                more &= on(m.body.as_deref().unwrap_or("").as_bytes());
                if let Some(r) = m.receipt_handle {
                    receipts.push(r);
                }
            }
            if !receipts.is_empty() {
                delete_later(&mut deletes, &self.sqs, &url, receipts).await?;
            }
            if !more {
                break;
            }
        }
        while let Some(r) = deletes.join_next().await {
            r.map_err(|e| format!("delete task: {e}"))??;
        }
        Ok(())
    }
}
