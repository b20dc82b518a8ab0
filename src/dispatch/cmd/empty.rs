//! `cmd_empty` (APISIX's placeholder): answers "unknown command", as APISIX does.

use super::super::checks::{Missing, Names};
use super::super::{Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::{GatewayError, Result};
use crate::pb::CmdEmpty;

impl Command for CmdEmpty {
    fn names(&self) -> Names<'_> {
        Names::none()
    }

    fn needs(&self, _caps: &Capabilities) -> std::result::Result<(), Missing> {
        Ok(())
    }

    fn context(&self) -> Option<String> {
        None
    }

    async fn run(self, _d: &Dispatcher, _seq: i64) -> Result<Reply> {
        Err(GatewayError::UnknownCommand)
    }
}
