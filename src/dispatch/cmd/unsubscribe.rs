//! `cmd_unsubscribe`: no push of the subscription follows its reply.

use super::super::checks::Checks;
use super::super::{Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::{GatewayError, Result};
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdUnsubscribe, OkResp};

impl Command for CmdUnsubscribe {
    fn checks(&self, _caps: &Capabilities) -> Checks<'_> {
        Checks::none()
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        let open = d
            .subs()
            .remove(&self.subscription_id)
            .ok_or(GatewayError::UnknownSubscription(self.subscription_id))?;
        // A push already being queued goes before this reply, none after it.
        open.gate.shut().await;
        open.close_now();
        Ok(Reply::Resp(Resp::OkResp(OkResp {})))
    }
}
