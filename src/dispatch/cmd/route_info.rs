//! `cmd_route_info`: the route, its scheme and what the scheme can do.

use super::super::checks::Checks;
use super::super::{Command, Dispatcher, Reply};
use crate::backend::Capabilities;
use crate::error::Result;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdRouteInfo, RouteInfoResp};

impl Command for CmdRouteInfo {
    fn checks(&self, _caps: &Capabilities) -> Checks<'_> {
        Checks::none()
    }

    async fn run(self, d: &Dispatcher, _seq: i64) -> Result<Reply> {
        Ok(Reply::Resp(Resp::RouteInfoResp(RouteInfoResp {
            route: d.route.to_string(),
            scheme: d.backend.scheme().into(),
            capabilities: Some(d.caps().to_pb()),
        })))
    }
}
