//! `cmd_kafka_produce`: one message to the route's broker; the reply once it is stored. With an
//! `idempotency_key`, once per key and topic within the route's window
//! (`backend::idempotency`).

use super::super::checks::{Checks, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::{Capabilities, Published};
use crate::codec;
use crate::error::Result;
use crate::pb::CmdKafkaProduce;
use futures_util::future::Either;

/// The longest `idempotency_key`: a client's random id (128 bits in hex is 32) with room to
/// spare, not a place to store data in the gateway's memory.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

impl Command for CmdKafkaProduce {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        Checks::topics(Topics::Publish(&self.topic))
            .refuse(self.idempotency_key.len() > MAX_IDEMPOTENCY_KEY, || {
                format!(
                    "idempotency_key is {} bytes, at most {MAX_IDEMPOTENCY_KEY}",
                    self.idempotency_key.len()
                )
            })
            .needs(
                !self.headers.is_empty(),
                caps.headers,
                "publishing headers",
                "headers",
            )
            .needs(!self.key.is_empty(), caps.keys, "publishing a key", "keys")
            .needs(
                self.partition.is_some(),
                caps.partitions,
                "publishing to a partition",
                "partitions",
            )
    }

    fn context(&self) -> Option<String> {
        Some(format!("failed to produce message, topic: {}", self.topic))
    }

    /// Not an `async fn`: the request is handed to the backend before the future is made, so
    /// the future holds the backend's future and the topic (for the error), not the request
    /// twice (produces come by the hundred thousand per second; every byte of this future is
    /// copied with it).
    fn run(self, d: &Dispatcher, seq: i64) -> impl std::future::Future<Output = Result<Reply>> {
        let topic = self.topic.clone();
        let produced = match (&d.window, self.idempotency_key.is_empty()) {
            (Some(window), false) => {
                let (window, backend) = (window.clone(), d.backend.clone());
                let (t, key) = (topic.clone(), self.idempotency_key.clone());
                let store = move || async move { backend.produce(self.into()).await };
                Either::Left(Box::pin(async move { window.once(&t, &key, store).await }))
            }
            _ => Either::Right(d.backend.produce(self.into())),
        };
        async move {
            match produced.await {
                Ok(p) => Ok(reply(seq, p)),
                Err(e) => Err(ctx(
                    e,
                    Some(format!("failed to produce message, topic: {topic}")),
                )),
            }
        }
    }
}

fn reply(seq: i64, p: Published) -> Reply {
    if p.position.is_empty() {
        Reply::Frame(codec::produce_frame(seq, p.partition, p.offset))
    } else {
        // A scheme's own message id (Pub/Sub): the encoded reply with `position`.
        Reply::Resp(crate::pb::pub_sub_resp::Resp::KafkaProduceResp(p.into()))
    }
}
