//! `cmd_kafka_list_offset`: the end (-1), the earliest (-2) or the first offset at a time.

use super::super::checks::{Checks, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::{GatewayError, Result};
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdKafkaListOffset, KafkaListOffsetResp};

impl Command for CmdKafkaListOffset {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        let by_time = self.timestamp >= 0;
        Checks::topics(Topics::Partition(&self.topic, self.partition))
            .needs(
                by_time,
                caps.time_lookup,
                "list_offset by time",
                "time lookup",
            )
            .needs(!by_time, caps.offsets, "list_offset", "offsets")
    }

    fn context(&self) -> Option<String> {
        Some(format!(
            "failed to list offset, topic: {}, partition: {}",
            self.topic, self.partition
        ))
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        let listed = async {
            if self.timestamp < -2 {
                return Err(GatewayError::BadRequest(format!(
                    "invalid timestamp {}: -1 (end), -2 (earliest) or a time in ms",
                    self.timestamp
                )));
            }
            d.backend.list_offset(&self.clone().into()).await
        };
        listed
            .await
            .map(|offset| Reply::Resp(Resp::KafkaListOffsetResp(KafkaListOffsetResp { offset })))
            .map_err(|e| ctx(e, self.context()))
    }
}
