//! `cmd_ping`: answers its state back.

use super::super::checks::{Missing, Names};
use super::super::{Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::codec;
use crate::error::Result;
use crate::pb::CmdPing;

impl Command for CmdPing {
    fn names(&self) -> Names<'_> {
        Names::none()
    }

    fn needs(&self, _caps: &Capabilities) -> std::result::Result<(), Missing> {
        Ok(())
    }

    fn context(&self) -> Option<String> {
        None
    }

    async fn run(self, _d: &Dispatcher, seq: i64) -> Result<Reply> {
        Ok(Reply::Frame(codec::pong_frame(seq, self.state)))
    }
}
