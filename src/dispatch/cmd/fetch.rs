//! `cmd_kafka_fetch`: messages of one partition from an offset, within the server's limits.

use super::super::checks::{Checks, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::Result;
use crate::pb::CmdKafkaFetch;

impl Command for CmdKafkaFetch {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        Checks::topics(Topics::Partition(&self.topic, self.partition))
            .needs(true, caps.fetch, "fetch", "history")
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
