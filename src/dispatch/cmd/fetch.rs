//! `cmd_kafka_fetch`: messages of one partition from an offset, within the server's limits.

use super::super::checks::{need, Missing, Names, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::Result;
use crate::pb::CmdKafkaFetch;

impl Command for CmdKafkaFetch {
    fn names(&self) -> Names<'_> {
        Names::topics(Topics::Partition(&self.topic, self.partition))
    }

    fn needs(&self, caps: &Capabilities) -> std::result::Result<(), Missing> {
        need(caps.fetch, "fetch", "history")
    }

    fn context(&self) -> Option<String> {
        Some(format!(
            "failed to fetch message, topic: {}, partition: {}",
            self.topic, self.partition
        ))
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        d.backend
            .fetch(&(&self).into(), d.fetch_limits(&self))
            .await
            .map(Reply::Records)
            .map_err(|e| ctx(e, self.context()))
    }
}
