//! `cmd_kafka_commit`: cumulative commits of a subscription (its group's, where it has one).

use super::super::checks::{Checks, Names, Topics};
use super::super::{ctx, Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::Result;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdKafkaCommit, OkResp};

impl Command for CmdKafkaCommit {
    fn checks(&self, caps: &Capabilities) -> Checks<'_> {
        Checks::of(Names::subscription(
            self.subscription_id,
            Topics::Offsets(&self.offsets),
        ))
        .needs(true, caps.commit, "commit", "cumulative commit")
    }

    fn context(&self) -> Option<String> {
        Some(format!(
            "failed to commit, subscription: {}",
            self.subscription_id
        ))
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        let context = self.context();
        let open = d.open(self.subscription_id)?;
        let commit = async {
            // The group's ACL as it is now (a refresh or a reload may have narrowed it).
            if let Some(g) = &open.group {
                d.join_allowed(g)?;
            }
            open.sub
                .commit(self.offsets.into_iter().map(Into::into).collect())
                .await
        };
        commit
            .await
            .map(|()| Reply::Resp(Resp::OkResp(OkResp {})))
            .map_err(|e| ctx(e, context))
    }
}
