//! `cmd_ping`: answers its state back.

use super::super::checks::Checks;
use super::super::{Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::codec;
use crate::error::Result;
use crate::pb::CmdPing;

impl Command for CmdPing {
    fn checks(&self, _caps: &Capabilities) -> Checks<'_> {
        Checks::none()
    }

    async fn run(self, _d: &Dispatcher, seq: i64) -> Result<Reply> {
        Ok(Reply::Frame(codec::pong_frame(seq, self.state)))
    }
}
