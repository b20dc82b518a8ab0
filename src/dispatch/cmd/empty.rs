//! `cmd_empty` (APISIX's placeholder): answers "unknown command", as APISIX does.

use super::super::checks::Checks;
use super::super::{Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::{GatewayError, Result};
use crate::pb::CmdEmpty;

impl Command for CmdEmpty {
    fn checks(&self, _caps: &Capabilities) -> Checks<'_> {
        Checks::none()
    }

    async fn run(self, _d: &Dispatcher, _seq: i64) -> Result<Reply> {
        Err(GatewayError::UnknownCommand)
    }
}
