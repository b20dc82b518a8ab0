//! A group member's acks, batched as Google's clients batch them: while one Acknowledge call is
//! in flight, the acks arriving meanwhile wait and go together in the next (up to `BATCH` ids a
//! call). A client that acks each message with its own `cmd_ack` then costs Pub/Sub one call per
//! batch rather than one per message, and an ack arriving alone waits for nothing. Each
//! `cmd_ack` is still answered with its own ids' outcome (an exactly-once refusal names its
//! offsets, not another command's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gcloud_gax::grpc::Status;
use gcloud_googleapis::pubsub::v1::AcknowledgeRequest;
use prost::Message as _;
use tokio::sync::oneshot;

use super::client::{quick, status_error, Conn};
use crate::backend::lock;
use crate::error::{GatewayError, Result};

/// Ack ids per Acknowledge call (Google's clients' batch size).
pub(super) const BATCH: usize = 1000;

/// The acks waiting for the next Acknowledge call of one group member's subscription.
pub(super) struct Batcher {
    conn: Arc<Conn>,
    /// The subscription's full name.
    fqsn: String,
    topic: Arc<str>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    waiting: Vec<Waiter>,
    /// A task is sending: what arrives now goes in its next call.
    running: bool,
}

/// One `cmd_ack`'s (offset, ack id) pairs and where its answer goes.
struct Waiter {
    ids: Vec<(i64, String)>,
    done: oneshot::Sender<Result<()>>,
}

/// Why Pub/Sub did not take an ack id.
enum Failed {
    /// Exactly-once: the id is stale (its lease lapsed and the message went out again).
    Permanent,
    /// Exactly-once: not confirmed this time.
    Transient,
    /// The call failed as a whole.
    Call(GatewayError),
}

impl Batcher {
    pub(super) fn new(conn: Arc<Conn>, fqsn: String, topic: Arc<str>) -> Batcher {
        Batcher {
            conn,
            fqsn,
            topic,
            pending: Mutex::default(),
        }
    }

    /// Acknowledges `ids` (offset, ack id) in the next batch and answers their outcome.
    pub(super) async fn acknowledge(self: &Arc<Self>, ids: Vec<(i64, String)>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        let start = {
            let mut p = lock(&self.pending);
            p.waiting.push(Waiter { ids, done });
            !std::mem::replace(&mut p.running, true)
        };
        if start {
            // A task of its own, so a caller that goes away (its connection closed) does not
            // strand the acks of the others waiting behind it.
            tokio::spawn(drain(self.clone()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(GatewayError::Unavailable(
                "the ack was not sent to Pub/Sub: ack again".into(),
            ))
        })
    }
}

/// Sends batches until nobody waits.
async fn drain(m: Arc<Batcher>) {
    loop {
        let batch: Vec<Waiter> = {
            let mut p = lock(&m.pending);
            if p.waiting.is_empty() {
                p.running = false;
                return;
            }
            // Whole commands, up to BATCH ids (at least one command, however many it names).
            let mut ids = 0;
            let mut take = 0;
            for w in &p.waiting {
                if take > 0 && ids + w.ids.len() > BATCH {
                    break;
                }
                ids += w.ids.len();
                take += 1;
            }
            p.waiting.drain(..take).collect()
        };
        let failed = send(&m, &batch).await;
        for w in batch {
            let answer = outcome(&m, &w.ids, &failed);
            let _ = w.done.send(answer);
        }
    }
}

/// Acknowledges every id of `batch`, `BATCH` a call; what Pub/Sub did not take, by ack id.
async fn send(m: &Batcher, batch: &[Waiter]) -> HashMap<String, Failed> {
    let ids: Vec<&String> = batch
        .iter()
        .flat_map(|w| w.ids.iter().map(|(_, id)| id))
        .collect();
    let mut failed = HashMap::new();
    let clients = match m.conn.clients().await {
        Ok(c) => c,
        Err(e) => {
            for id in ids {
                failed.insert(id.clone(), Failed::Call(e.clone()));
            }
            return failed;
        }
    };
    for chunk in ids.chunks(BATCH) {
        let req = AcknowledgeRequest {
            subscription: m.fqsn.clone(),
            ack_ids: chunk.iter().map(|id| (*id).clone()).collect(),
        };
        let r = m
            .conn
            .within("the ack", async {
                Ok(clients.subscriber.acknowledge(req, quick()).await)
            })
            .await;
        let status = match r {
            Ok(Ok(_)) => continue,
            Ok(Err(s)) => s,
            Err(e) => {
                for id in chunk {
                    failed.insert((*id).clone(), Failed::Call(e.clone()));
                }
                continue;
            }
        };
        let refused = exactly_once_failures(&status);
        if refused.is_empty() {
            let e = status_error(&status, &format!("subscription `{}`", m.fqsn));
            for id in chunk {
                failed.insert((*id).clone(), Failed::Call(e.clone()));
            }
            continue;
        }
        for (id, kind) in refused {
            let f = if kind.starts_with("PERMANENT") {
                Failed::Permanent
            } else {
                Failed::Transient
            };
            failed.insert(id, f);
        }
    }
    failed
}

/// One command's answer: a stale id (409, naming its offsets) before a transient refusal (503)
/// before a failed call.
fn outcome(m: &Batcher, ids: &[(i64, String)], failed: &HashMap<String, Failed>) -> Result<()> {
    let mut stale = Vec::new();
    let mut transient = false;
    let mut call = None;
    for (offset, id) in ids {
        match failed.get(id) {
            None => {}
            Some(Failed::Permanent) => stale.push(offset.to_string()),
            Some(Failed::Transient) => transient = true,
            Some(Failed::Call(e)) => call = call.or(Some(e)),
        }
    }
    if !stale.is_empty() {
        return Err(GatewayError::Conflict(format!(
            "Pub/Sub refused the ack of offset {} of topic {}: its lease lapsed and Pub/Sub redelivered it (exactly-once delivery)",
            stale.join(", "),
            m.topic
        )));
    }
    if transient {
        return Err(GatewayError::Unavailable(format!(
            "Pub/Sub could not confirm the ack on topic {} (exactly-once delivery, transient): ack again",
            m.topic
        )));
    }
    match call {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

/// google.rpc.ErrorInfo (not in gcloud-googleapis): why Pub/Sub refused an exactly-once ack.
#[derive(Clone, PartialEq, prost::Message)]
struct ErrorInfo {
    #[prost(string, tag = "1")]
    reason: String,
    #[prost(string, tag = "2")]
    domain: String,
    #[prost(map = "string, string", tag = "3")]
    metadata: HashMap<String, String>,
}

/// The ack ids an exactly-once refusal names, with their failure kind.
fn exactly_once_failures(s: &Status) -> HashMap<String, String> {
    let Ok(st) = gcloud_googleapis::rpc::Status::decode(s.details()) else {
        return HashMap::new();
    };
    st.details
        .iter()
        .filter(|a| a.type_url.ends_with("/google.rpc.ErrorInfo"))
        .filter_map(|a| ErrorInfo::decode(a.value.as_slice()).ok())
        .filter(|e| e.reason == "EXACTLY_ONCE_ACKID_FAILURE")
        .flat_map(|e| e.metadata)
        .collect()
}
