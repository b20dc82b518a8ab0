//! `cmd_kafka_metadata`: a topic's partitions with their earliest and end offsets and epochs.

use super::super::checks::{Checks, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::Result;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::CmdKafkaMetadata;

impl Command for CmdKafkaMetadata {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        Checks::topics(Topics::Topic(&self.topic)).needs(true, caps.offsets, "metadata", "offsets")
    }

    fn context(&self) -> Option<String> {
        Some(format!("failed to get metadata, topic: {}", self.topic))
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        d.backend
            .metadata(&self.topic)
            .await
            .map(|m| Reply::Resp(Resp::KafkaMetadataResp(m.into())))
            .map_err(|e| ctx(e, self.context()))
    }
}
