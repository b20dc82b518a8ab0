//! `cmd_ack` and `cmd_nack`: delivered messages acknowledged, or given back for redelivery
//! after a delay, one by one, where the scheme acknowledges that way.

use std::time::Duration;

use super::super::checks::{Checks, Names, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::Result;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdAck, CmdNack, OkResp};

impl Command for CmdAck {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        Checks::of(Names::subscription(
            self.subscription_id,
            Topics::Positions(&self.positions),
        ))
        .needs(true, caps.ack, "ack", "per-message ack")
    }

    fn context(&self) -> Option<String> {
        Some(format!(
            "failed to ack, subscription: {}",
            self.subscription_id
        ))
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        let context = self.context();
        let ack = async {
            let open = d.open(self.subscription_id)?;
            open.sub
                .ack(self.positions.into_iter().map(Into::into).collect())
                .await
        };
        ack.await
            .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
            .map_err(|e| ctx(e, context))
    }
}

impl Command for CmdNack {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        Checks::of(Names::subscription(
            self.subscription_id,
            Topics::Positions(&self.positions),
        ))
        .needs(true, caps.nack, "nack", "per-message nack")
    }

    fn context(&self) -> Option<String> {
        Some(format!(
            "failed to nack, subscription: {}",
            self.subscription_id
        ))
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        let context = self.context();
        let delay = Duration::from_millis(u64::try_from(self.delay_ms).unwrap_or(0));
        let nack = async {
            let open = d.open(self.subscription_id)?;
            open.sub
                .nack(self.positions.into_iter().map(Into::into).collect(), delay)
                .await
        };
        nack.await
            .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
            .map_err(|e| ctx(e, context))
    }
}
