//! The HTTP endpoints on each route's uri, next to its WebSocket: publish (`POST
//! {uri}/topics/{topic}`), fetch (`GET {uri}/topics/{topic}`, a long poll with `wait_ms`), a
//! Server-Sent Events stream of a subscription (the same GET with `Accept: text/event-stream`,
//! `sse`), and the route's capabilities (`GET {uri}/info`).
//!
//! Every call is a protocol command run by a `Dispatcher` of its own, exactly as a WebSocket
//! request is: the topic syntax, the identity's ACLs and the route's capabilities are checked
//! there, and its `ErrorResp` becomes the HTTP answer (status = code, same message). What is
//! checked here is only what HTTP adds: the method, the query's syntax, the body's size and
//! shape, credentials and Origin (as the upgrade checks them).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request};
use serde_json::{json, Value};

use super::call::{number, Commands, Route};
use super::sse;
use super::{groups, leases};
use crate::auth::{percent_decode, Credentials, Refusal};
use crate::config::Limits;
use crate::http::{error, json, Body};
use crate::metrics::{Rejection, METRICS};
use crate::pb::pub_sub_req::Req;
use crate::pb::pub_sub_resp::Resp;
use crate::pb::{
    CmdKafkaFetch, CmdKafkaProduce, CmdRouteInfo, KafkaHeader, RouteCapabilities, StartPosition,
};

type Response = hyper::Response<Body>;

/// The media type of a batch publish's body: `{"messages": [{"value": "..."}, ...]}`.
pub(super) const BATCH: &str = "application/vnd.pubsub.batch+json";

/// Which endpoint a path names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `{uri}/topics/{topic}` (the topic percent-decoded; it may hold `/`).
    Topic(String),
    /// `{uri}/info`.
    Info,
    /// `{uri}/ack` and `{uri}/nack`: settling what a group GET leased (`groups`).
    Ack,
    Nack,
}

/// The endpoint `path` names on the route `uri`, if any. A route `uri` ending in `*` (a prefix)
/// serves its endpoints under the prefix.
pub(super) fn parse(uri: &str, path: &str) -> Option<Endpoint> {
    let base = uri.strip_suffix('*').unwrap_or(uri).trim_end_matches('/');
    let rest = path.strip_prefix(base)?;
    match rest {
        "/info" => return Some(Endpoint::Info),
        "/ack" => return Some(Endpoint::Ack),
        "/nack" => return Some(Endpoint::Nack),
        _ => {}
    }
    let topic = rest.strip_prefix("/topics/")?;
    if topic.is_empty() {
        return None;
    }
    Some(Endpoint::Topic(percent_decode(topic)))
}

/// An answer that is not what `want` extracts: the error it carries, or a 500.
fn unexpected(r: Resp) -> Response {
    match r {
        Resp::ErrorResp(e) => error(e.code, &e.message),
        other => {
            tracing::warn!(?other, "unexpected reply to an HTTP call");
            error(500, "internal error: unexpected reply")
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Serves one call of an endpoint.
pub(super) async fn serve(
    req: Request<hyper::body::Incoming>,
    endpoint: Endpoint,
    query: &HashMap<String, String>,
    route: Route,
    groups: Arc<groups::Registry>,
    peer: SocketAddr,
) -> Response {
    let origin = header(req.headers(), "origin").map(str::to_string);
    if !route.auth.origin_allowed(origin.as_deref()) {
        METRICS.reject(Rejection::ForbiddenOrigin);
        return error(403, "origin not allowed");
    }
    let mut resp = if req.method() == Method::OPTIONS {
        preflight(req.headers())
    } else {
        call(req, endpoint, query, route, &groups, peer).await
    };
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = resp.headers_mut();
        h.insert("access-control-allow-origin", origin);
        h.insert("vary", HeaderValue::from_static("Origin"));
    }
    resp
}

/// A CORS preflight from an allowed origin (a refused one has had its 403).
fn preflight(headers: &HeaderMap) -> Response {
    let mut r = hyper::Response::new(crate::http::full(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let asked = headers
        .get("access-control-request-headers")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type, authorization, apikey"));
    h.insert("access-control-allow-headers", asked);
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    r
}

async fn call(
    req: Request<hyper::body::Incoming>,
    endpoint: Endpoint,
    query: &HashMap<String, String>,
    route: Route,
    groups: &Arc<groups::Registry>,
    peer: SocketAddr,
) -> Response {
    let headers = req.headers();
    let lookup = |name: &str| header(headers, name);
    let identity = match route.auth.authenticate(&Credentials {
        header: &lookup,
        query,
        protocols: &[],
    }) {
        Ok(id) => id,
        Err(Refusal::Unauthorized) => {
            METRICS.reject(Rejection::Unauthorized);
            return error(401, "invalid credentials");
        }
        Err(Refusal::Forbidden) => {
            METRICS.reject(Rejection::ForbiddenOrigin);
            return error(403, "forbidden");
        }
    };
    let method = req.method().clone();
    match (endpoint, method) {
        (Endpoint::Info, Method::GET) => {
            let c = Commands::new(&route, identity);
            match c.run(Req::CmdRouteInfo(CmdRouteInfo {})).await {
                Some(Resp::RouteInfoResp(r)) => json(
                    200,
                    &json!({
                        "route": r.route,
                        "scheme": r.scheme,
                        "capabilities": r.capabilities.as_ref().map(capabilities),
                    }),
                ),
                Some(other) => unexpected(other),
                None => error(500, "internal error: no reply"),
            }
        }
        (Endpoint::Topic(topic), Method::POST) => {
            let c = Commands::new(&route, identity);
            publish(req, topic, query, &c, &route.limits).await
        }
        (Endpoint::Topic(topic), Method::GET) => {
            let sse =
                header(req.headers(), "accept").is_some_and(|a| a.contains("text/event-stream"));
            if sse {
                let c = Commands::new(&route, identity);
                let last = header(req.headers(), "last-event-id").map(str::to_string);
                sse::stream(topic, query, last, c, &route, peer).await
            } else if query.contains_key("group") {
                match leases::query(topic, query, &route.limits) {
                    Ok(g) => leases::get(&route, groups, identity, g).await,
                    Err(r) => *r,
                }
            } else {
                let c = Commands::new(&route, identity);
                fetch(topic, query, &c).await
            }
        }
        (endpoint @ (Endpoint::Ack | Endpoint::Nack), Method::POST) => {
            let body = match read_body(req, &route.limits).await {
                Ok(b) => b,
                Err(r) => return *r,
            };
            leases::settle(groups, &identity, &body, endpoint == Endpoint::Nack).await
        }
        (Endpoint::Info, _) => method_not_allowed("GET, OPTIONS"),
        (Endpoint::Ack | Endpoint::Nack, _) => method_not_allowed("POST, OPTIONS"),
        (Endpoint::Topic(_), _) => method_not_allowed("GET, POST, OPTIONS"),
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    METRICS.reject(Rejection::BadRequest);
    let mut r = error(405, "method not allowed");
    r.headers_mut()
        .insert("allow", HeaderValue::from_static(allow));
    r
}

/// `POST {uri}/topics/{topic}`: a raw body is one message's value (key, partition, headers from
/// the query or request headers); a `BATCH` body is many, answered in order.
async fn publish(
    req: Request<hyper::body::Incoming>,
    topic: String,
    query: &HashMap<String, String>,
    c: &Commands,
    limits: &Limits,
) -> Response {
    let batch = header(req.headers(), "content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(BATCH))
    });
    let single = if batch {
        None
    } else {
        match single_message(&topic, query, req.headers()) {
            Ok(m) => Some(m),
            Err(r) => return *r,
        }
    };
    let body = match read_body(req, limits).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match single {
        Some(mut m) => {
            m.value = body;
            let (status, answer) = produce(c, m).await;
            json(status, &answer)
        }
        None => {
            let messages = match batch_messages(&topic, &body) {
                Ok(m) => m,
                Err(why) => {
                    METRICS.reject(Rejection::BadRequest);
                    return error(400, &why);
                }
            };
            let mut results = Vec::with_capacity(messages.len());
            for m in messages {
                results.push(produce(c, m).await.1);
            }
            json(200, &json!({ "results": results }))
        }
    }
}

/// A request's body, whole. One over the frame limit is refused without reading the rest of
/// it; one that trickles in gets the handshake's time bound, as a request head does.
async fn read_body(
    req: Request<hyper::body::Incoming>,
    limits: &Limits,
) -> Result<Bytes, Box<Response>> {
    let reading = http_body_util::Limited::new(req.into_body(), limits.max_frame_bytes).collect();
    match tokio::time::timeout(limits.handshake_timeout(), reading).await {
        Err(_) => {
            METRICS.reject(Rejection::HandshakeTimeout);
            Err(Box::new(plain_close_json(
                408,
                &format!(
                    "the body did not arrive within {} s",
                    limits.handshake_timeout().as_secs()
                ),
            )))
        }
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            METRICS.reject(Rejection::BadRequest);
            Err(Box::new(plain_close_json(
                413,
                &format!(
                    "body larger than the frame limit ({} bytes)",
                    limits.max_frame_bytes
                ),
            )))
        }
        Ok(Err(_)) => Err(Box::new(error(400, "the request body could not be read"))),
    }
}

/// A 413 or 408 that also closes the connection: the rest of the body was not read.
fn plain_close_json(code: u16, message: &str) -> Response {
    let mut r = error(i32::from(code), message);
    r.headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    r
}

/// One produce: the status and JSON of its result, `{topic, partition, offset, position}` or
/// `{code, message}`.
async fn produce(c: &Commands, m: CmdKafkaProduce) -> (u16, Value) {
    let topic = m.topic.clone();
    match c.run(Req::CmdKafkaProduce(m)).await {
        Some(Resp::KafkaProduceResp(r)) => (
            200,
            json!({"topic": topic, "partition": r.partition, "offset": r.offset, "position": r.position}),
        ),
        Some(Resp::ErrorResp(e)) => (
            u16::try_from(e.code)
                .ok()
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500),
            json!({"code": e.code, "message": e.message}),
        ),
        _ => (
            500,
            json!({"code": 500, "message": "internal error: unexpected reply"}),
        ),
    }
}

/// The message of a raw publish, but its value: `key` and `partition` from the query (or the
/// `Pubsub-Key` and `Pubsub-Partition` headers), headers from `header.NAME=value` query
/// parameters and `Pubsub-Header-NAME` request headers.
fn single_message(
    topic: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<CmdKafkaProduce, Box<Response>> {
    let key = query
        .get("key")
        .map(String::as_str)
        .or_else(|| header(headers, "pubsub-key"))
        .unwrap_or("");
    let partition = match query
        .get("partition")
        .map(String::as_str)
        .or_else(|| header(headers, "pubsub-partition"))
    {
        None => None,
        Some(p) => Some(p.parse::<i32>().map_err(|_| {
            METRICS.reject(Rejection::BadRequest);
            Box::new(error(
                400,
                &format!("partition: `{p}` is not a valid number"),
            ))
        })?),
    };
    let timestamp = number::<i64>(query, "timestamp")?.unwrap_or(0);
    let mut list: Vec<KafkaHeader> = query
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("header.").map(|name| KafkaHeader {
                key: name.to_string(),
                value: Bytes::from(v.clone()),
            })
        })
        .collect();
    for (name, value) in headers {
        if let Some(h) = name.as_str().strip_prefix("pubsub-header-") {
            list.push(KafkaHeader {
                key: h.to_string(),
                value: Bytes::copy_from_slice(value.as_bytes()),
            });
        }
    }
    list.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(CmdKafkaProduce {
        topic: topic.to_string(),
        partition,
        key: Bytes::from(key.to_string()),
        value: Bytes::new(),
        headers: list,
        timestamp,
        idempotency_key: String::new(),
    })
}

/// One message of a batch body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchMessage {
    value: Option<String>,
    value_hex: Option<String>,
    key: Option<String>,
    key_hex: Option<String>,
    partition: Option<i32>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    timestamp: i64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    messages: Vec<BatchMessage>,
}

fn unhex(s: &str, what: &str) -> Result<Bytes, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("{what}: odd number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("{what}: not hex"))
        })
        .collect::<Result<Vec<u8>, String>>()
        .map(Bytes::from)
}

fn text_or_hex(text: Option<String>, hex: Option<String>, what: &str) -> Result<Bytes, String> {
    match (text, hex) {
        (Some(_), Some(_)) => Err(format!("{what}: give {what} or {what}_hex, not both")),
        (Some(t), None) => Ok(Bytes::from(t)),
        (None, Some(h)) => unhex(&h, &format!("{what}_hex")),
        (None, None) => Ok(Bytes::new()),
    }
}

/// The messages of a batch body (the shape of `pubsub --json`'s messages: `value` or
/// `value_hex`, `key` or `key_hex`, `partition`, `headers` as text, `timestamp`).
fn batch_messages(topic: &str, body: &[u8]) -> Result<Vec<CmdKafkaProduce>, String> {
    let batch: Batch = serde_json::from_slice(body).map_err(|e| {
        format!("body is not a batch ({{\"messages\": [{{\"value\": ...}}]}}): {e}")
    })?;
    if batch.messages.is_empty() {
        return Err("a batch needs at least one message".into());
    }
    batch
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let at = |e: String| format!("messages[{i}]: {e}");
            Ok(CmdKafkaProduce {
                topic: topic.to_string(),
                partition: m.partition,
                key: text_or_hex(m.key, m.key_hex, "key").map_err(at)?,
                value: text_or_hex(m.value, m.value_hex, "value").map_err(at)?,
                headers: m
                    .headers
                    .into_iter()
                    .map(|(key, v)| KafkaHeader {
                        key,
                        value: Bytes::from(v),
                    })
                    .collect(),
                timestamp: m.timestamp,
                idempotency_key: String::new(),
            })
        })
        .collect()
}

/// `GET {uri}/topics/{topic}?partition=&offset=&max=&max_bytes=&wait_ms=`: a fetch, `{messages:
/// [...]}` in the shape of `pubsub --json`, plus `next_offset` to ask from next.
async fn fetch(topic: String, query: &HashMap<String, String>, c: &Commands) -> Response {
    let partition = match number::<i32>(query, "partition") {
        Ok(p) => p.unwrap_or(0),
        Err(r) => return *r,
    };
    let offset = match number::<i64>(query, "offset") {
        Ok(o) => o.unwrap_or(0),
        Err(r) => return *r,
    };
    let max = match number::<i32>(query, "max") {
        Ok(m) => m.unwrap_or(0),
        Err(r) => return *r,
    };
    let max_bytes = match number::<i32>(query, "max_bytes") {
        Ok(m) => m.unwrap_or(0),
        Err(r) => return *r,
    };
    let wait = match number::<i32>(query, "wait_ms") {
        Ok(m) => m.unwrap_or(0),
        Err(r) => return *r,
    };
    let cmd = CmdKafkaFetch {
        topic,
        partition,
        offset,
        max_messages: max,
        max_bytes,
        max_wait_ms: wait,
    };
    match c.run(Req::CmdKafkaFetch(cmd)).await {
        Some(Resp::KafkaFetchResp(r)) => {
            let next = r.messages.last().map(|m| m.offset + 1).unwrap_or(offset);
            let messages: Vec<Value> = r
                .messages
                .iter()
                .map(|m| pubsub_proto::json::message(m, false))
                .collect();
            json(200, &json!({"messages": messages, "next_offset": next}))
        }
        Some(other) => unexpected(other),
        None => error(500, "internal error: no reply"),
    }
}

/// The route's capabilities as JSON, with the names of the proto fields.
fn capabilities(c: &RouteCapabilities) -> Value {
    let starts: Vec<&str> = c
        .starts
        .iter()
        .filter_map(|s| StartPosition::try_from(*s).ok())
        .map(|s| s.as_str_name())
        .collect();
    json!({
        "history": c.history,
        "starts": starts,
        "fetch": c.fetch,
        "time_lookup": c.time_lookup,
        "offsets": c.offsets,
        "groups": c.groups,
        "ack": c.ack,
        "nack": c.nack,
        "commit": c.commit,
        "wildcards": c.wildcards,
        "headers": c.headers,
        "keys": c.keys,
        "partitions": c.partitions,
        "string_positions": c.string_positions,
        "epochs": c.epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_endpoints_under_the_route_only() {
        assert_eq!(parse("/e", "/e/info"), Some(Endpoint::Info));
        assert_eq!(
            parse("/e", "/e/topics/a%2Fb"),
            Some(Endpoint::Topic("a/b".into()))
        );
        assert_eq!(parse("/e", "/e/topics/"), None);
        assert_eq!(parse("/e", "/ex/info"), None);
        assert_eq!(parse("/e", "/e"), None);
        assert_eq!(parse("/ws/*", "/ws/info"), Some(Endpoint::Info));
        assert_eq!(parse("/e", "/e/ack"), Some(Endpoint::Ack));
        assert_eq!(parse("/e", "/e/nack"), Some(Endpoint::Nack));
        assert_eq!(
            parse("/e", "/e/topics/x/ack"),
            Some(Endpoint::Topic("x/ack".into()))
        );
    }
}
