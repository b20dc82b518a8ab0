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

    async fn run(self, d: &Dispatcher, seq: i64) -> Result<Reply> {
        let topic = self.topic.clone();
        match d.backend.produce(self.into()).await {
            Ok(p) => Ok(Reply::Frame(codec::produce_frame(
                seq,
                p.partition,
                p.offset,
            ))),
            Err(e) => Err(ctx(
                e,
                Some(format!("failed to produce message, topic: {topic}")),
            )),
        }
    }
}
