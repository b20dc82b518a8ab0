//! `cmd_kafka_produce`: one message to the route's broker; the reply once it is stored.

use super::super::checks::{need, Missing, Names, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::codec;
use crate::error::Result;
use crate::pb::CmdKafkaProduce;

impl Command for CmdKafkaProduce {
    fn names(&self) -> Names<'_> {
        Names::topics(Topics::Publish(&self.topic))
    }

    fn needs(&self, caps: &Capabilities) -> std::result::Result<(), Missing> {
        if !self.headers.is_empty() {
            need(caps.headers, "publishing headers", "headers")?;
        }
        if !self.key.is_empty() {
            need(caps.keys, "publishing a key", "keys")?;
        }
        if self.partition.is_some() {
            need(caps.partitions, "publishing to a partition", "partitions")?;
        }
        Ok(())
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
