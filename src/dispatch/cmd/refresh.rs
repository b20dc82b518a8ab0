//! `cmd_refresh`: a fresh credential for the connection, checked as at the upgrade.

use super::super::checks::Checks;
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::Result;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdRefresh, OkResp};

impl Command for CmdRefresh {
    fn checks(&self, _caps: &Capabilities) -> Checks<'_> {
        Checks::none()
    }

    fn context(&self) -> Option<String> {
        Some("failed to refresh credentials".into())
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        d.refresh(&self.token)
            .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
            .map_err(|e| ctx(e, self.context()))
    }
}
