//! The calls of group consumption over plain HTTP (the memberships are `groups`'):
//! `GET {uri}/topics/{topic}?group=G` answers the group's next messages, each leased to the
//! caller under an opaque `ack_id`; `POST {uri}/ack` settles them, `POST {uri}/nack` gives them
//! back (README, "Consumer groups over plain HTTP").
//!
//! An `ack_id` is the membership's random nonce and the lease's random token (hex): an id that
//! another membership gave, or a forged one, is refused (400) before anything is settled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::call::{number, run_on, Route};
use super::groups::{
    position, random, Get, Key, Lease, Membership, Registry, DEFAULT_ACK_TIMEOUT_MS,
    DEFAULT_IDLE_MS, MAX_ACK_TIMEOUT_MS, MAX_IDLE_MS, MAX_LEASED, MIN_IDLE_MS,
};
use crate::auth::Identity;
use crate::config::Limits;
use crate::http::{error, json, Body};
use crate::metrics::{Rejection, METRICS};
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{CmdAck, KafkaMessage, MessagePosition, StartPosition};

type Response = hyper::Response<Body>;

/// The id a lease is settled by: unguessable (both halves random), and naming its membership.
fn ack_id(nonce: u64, token: u64) -> String {
    format!("{nonce:016x}{token:016x}")
}

/// An `ack_id`'s nonce and token; None when it is not one.
fn parse_ack_id(s: &str) -> Option<(u64, u64)> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let nonce = u64::from_str_radix(s.get(..16)?, 16).ok()?;
    let token = u64::from_str_radix(s.get(16..)?, 16).ok()?;
    Some((nonce, token))
}

/// A query parameter in milliseconds within `min..=max`, else `default`; Err(400) outside.
fn millis(
    query: &HashMap<String, String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<std::time::Duration, Box<Response>> {
    let ms = number::<u64>(query, name)?.unwrap_or(default);
    if !(min..=max).contains(&ms) {
        METRICS.reject(Rejection::BadRequest);
        return Err(Box::new(error(
            400,
            &format!("query parameter {name}: {min} to {max} ms"),
        )));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// What `GET {uri}/topics/{topic}?group=G&max=&wait_ms=&ack_timeout_ms=&idle_ms=&start=&start_value=`
/// asks for. `max` defaults to 1 (KrakenD's one message per GET) and is capped by the route's
/// fetch limit; `wait_ms` by its fetch wait.
pub(super) fn query(
    topic: String,
    query: &HashMap<String, String>,
    limits: &Limits,
) -> Result<Get, Box<Response>> {
    let group = query.get("group").cloned().unwrap_or_default();
    if group.is_empty() {
        METRICS.reject(Rejection::BadRequest);
        return Err(Box::new(error(400, "query parameter group: empty")));
    }
    let max = number::<usize>(query, "max")?
        .unwrap_or(1)
        .clamp(1, limits.fetch_max_messages.clamp(1, MAX_LEASED));
    let wait = millis(query, "wait_ms", 0, 0, u64::MAX)?
        .min(std::time::Duration::from_millis(limits.fetch_max_wait_ms));
    let ack_timeout = millis(
        query,
        "ack_timeout_ms",
        DEFAULT_ACK_TIMEOUT_MS,
        1,
        MAX_ACK_TIMEOUT_MS,
    )?;
    let idle = millis(query, "idle_ms", DEFAULT_IDLE_MS, MIN_IDLE_MS, MAX_IDLE_MS)?;
    let start = match query.get("start") {
        None => StartPosition::Latest,
        Some(s) => super::sse::start(s).ok_or_else(|| {
            METRICS.reject(Rejection::BadRequest);
            Box::new(error(
                400,
                &format!("query parameter start: `{s}` is not one of latest, earliest, last, offset, timestamp, time_delta"),
            ))
        })?,
    };
    Ok(Get {
        group,
        topic,
        max,
        wait,
        ack_timeout,
        idle,
        start: start as i32,
        start_value: number::<i64>(query, "start_value")?.unwrap_or(0),
    })
}

/// `GET {uri}/topics/{topic}?group=G`: up to `max` of the group's messages, each leased for
/// `ack_timeout`; waits up to `wait` for the first.
pub(super) async fn get(
    route: &Route,
    registry: &Arc<Registry>,
    identity: Identity,
    g: Get,
) -> Response {
    let m = match registry.membership(route, identity, &g).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let messages = {
        let _waiting = Waiting::new(&m, g.idle);
        take(&m, &g).await
    };
    let Some(messages) = messages else {
        return error(
            503,
            "the group membership was released (the route changed or its subscription ended): try again",
        );
    };
    let leased = m.state().leases.len();
    let messages: Vec<Value> = messages
        .iter()
        .map(|(msg, token)| {
            let mut v = pubsub_proto::json::message(msg, false);
            if let Some(o) = v.as_object_mut() {
                o.insert("ack_id".into(), json!(ack_id(m.nonce, *token)));
            }
            v
        })
        .collect();
    json(
        200,
        &json!({
            "messages": messages,
            "group": g.group,
            "ack_timeout_ms": g.ack_timeout.as_millis() as u64,
            "leased": leased,
            "max_leased": MAX_LEASED,
        }),
    )
}

/// A GET waiting on a membership (which is not idle meanwhile), until it ends or its client
/// goes (the future dropped).
struct Waiting<'a>(&'a Membership);

impl<'a> Waiting<'a> {
    fn new(m: &'a Membership, idle: Duration) -> Waiting<'a> {
        let mut s = m.state();
        s.idle = idle;
        s.waiting += 1;
        Waiting(m)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        {
            let mut s = self.0.state();
            s.waiting = s.waiting.saturating_sub(1);
            s.last_call = Instant::now();
        }
        self.0.changed.notify_one();
    }
}

/// Up to `g.max` ready messages, leased, waiting up to `g.wait` for the first; None once the
/// membership is released.
async fn take(m: &Membership, g: &Get) -> Option<Vec<(KafkaMessage, u64)>> {
    let deadline = Instant::now() + g.wait;
    loop {
        let arrived = m.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let taken = {
            let mut s = m.state();
            s.last_call = Instant::now();
            let n = g.max.min(s.ready.len());
            let lease_until = Instant::now() + g.ack_timeout;
            let mut out = Vec::with_capacity(n);
            for msg in s.ready.drain(..n).collect::<Vec<_>>() {
                let token = random();
                s.leases.insert(
                    token,
                    Lease {
                        position: position(&msg),
                        deadline: lease_until,
                    },
                );
                out.push((msg, token));
            }
            out
        };
        if !taken.is_empty() {
            m.changed.notify_one();
            return Some(taken);
        }
        if m.released.is_cancelled() {
            return None;
        }
        tokio::select! {
            _ = &mut arrived => {}
            _ = m.released.cancelled() => return None,
            _ = tokio::time::sleep_until(deadline) => return Some(Vec::new()),
        }
    }
}

/// The body of `POST {uri}/ack` and `POST {uri}/nack`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settle {
    group: String,
    topic: String,
    ack_ids: Vec<String>,
    /// nack only: the wait before redelivery.
    #[serde(default)]
    delay_ms: Option<i64>,
}

/// `POST {uri}/ack` (`nack` false) or `POST {uri}/nack`: settles leased messages. Every id must
/// be one this group's membership on this topic gave, else 400 and nothing is settled; an id
/// whose lease is over (lapsed, settled, its message given back) is listed in `expired`.
pub(super) async fn settle(
    registry: &Registry,
    identity: &Identity,
    body: &[u8],
    nack: bool,
) -> Response {
    let what = if nack { "nack" } else { "ack" };
    let s: Settle = match serde_json::from_slice(body) {
        Ok(s) => s,
        Err(e) => {
            crate::metrics::METRICS.reject(crate::metrics::Rejection::BadRequest);
            return error(
                400,
                &format!("body is not a {what} ({{\"group\": ..., \"topic\": ..., \"ack_ids\": [...]}}): {e}"),
            );
        }
    };
    if !nack && s.delay_ms.is_some() {
        return error(400, "delay_ms is for nack only");
    }
    let delay_ms = s.delay_ms.unwrap_or(0);
    if !(0..=MAX_ACK_TIMEOUT_MS as i64).contains(&delay_ms) {
        return error(
            400,
            &format!("delay_ms: 0 to {MAX_ACK_TIMEOUT_MS} (12 hours)"),
        );
    }
    if s.ack_ids.is_empty() || s.ack_ids.len() > MAX_LEASED {
        return error(400, &format!("ack_ids: 1 to {MAX_LEASED} ids"));
    }
    let key: Key = (s.group.clone(), s.topic.clone(), identity.id.clone());
    let membership = registry.find(&key);
    let mut tokens = Vec::with_capacity(s.ack_ids.len());
    for id in &s.ack_ids {
        match (parse_ack_id(id), &membership) {
            (Some((nonce, token)), Some(m)) if nonce == m.nonce => tokens.push((id, token)),
            _ => {
                crate::metrics::METRICS.reject(crate::metrics::Rejection::BadRequest);
                return error(
                    400,
                    &format!(
                        "ack_id {id:?} was not given by group {:?} on topic {:?} (another group or topic, a released membership, or not an ack_id): nothing settled",
                        s.group, s.topic
                    ),
                );
            }
        }
    }
    let Some(m) = membership else {
        return error(500, "internal error: no membership");
    };
    let mut expired = Vec::new();
    let mut taken: Vec<(u64, Lease)> = Vec::new();
    {
        let mut st = m.state();
        st.last_call = Instant::now();
        for (id, token) in tokens {
            match st.leases.remove(&token) {
                Some(l) => taken.push((token, l)),
                None => expired.push(id.clone()),
            }
        }
    }
    let positions: Vec<MessagePosition> = taken.iter().map(|(_, l)| l.position.clone()).collect();
    let n = positions.len();
    if n > 0 {
        let reply = if nack {
            m.nack(positions, delay_ms).await
        } else {
            run_on(
                &m.dispatcher,
                Req::CmdAck(CmdAck {
                    subscription_id: m.subscription,
                    positions,
                }),
            )
            .await
        };
        if let Some(Resp::ErrorResp(e)) = reply {
            // Not settled: the leases stand, and lapse as before.
            let mut st = m.state();
            st.leases.extend(taken);
            return error(e.code, &e.message);
        }
    }
    // Room for more: the task takes deliveries again if it had stopped at MAX_LEASED.
    m.changed.notify_one();
    let done = if nack { "nacked" } else { "acked" };
    json(200, &json!({ done: n, "expired": expired }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_ids_round_trip_and_anything_else_is_not_one() {
        let id = ack_id(0xdead_beef, u64::MAX);
        assert_eq!(parse_ack_id(&id), Some((0xdead_beef, u64::MAX)));
        assert_eq!(parse_ack_id("nonsense"), None);
        assert_eq!(parse_ack_id(&format!("{id}0")), None);
        assert_eq!(parse_ack_id(&"é".repeat(16)), None);
        assert_ne!(random(), random());
    }
}
