//! `cmd_kafka_produce`: one message to the route's broker; the reply once it is stored.

use super::super::checks::{Checks, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::codec;
use crate::error::Result;
use crate::pb::CmdKafkaProduce;

impl Command for CmdKafkaProduce {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        Checks::topics(Topics::Publish(&self.topic))
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
        let produced = d.backend.produce(self.into());
        async move {
            match produced.await {
                Ok(p) if p.position.is_empty() => Ok(Reply::Frame(codec::produce_frame(
                    seq,
                    p.partition,
                    p.offset,
                ))),
                // A scheme's own message id (Pub/Sub): the encoded reply with `position`.
                Ok(p) => Ok(Reply::Resp(
                    crate::pb::pub_sub_resp::Resp::KafkaProduceResp(p.into()),
                )),
                Err(e) => Err(ctx(
                    e,
                    Some(format!("failed to produce message, topic: {topic}")),
                )),
            }
        }
    }
}
