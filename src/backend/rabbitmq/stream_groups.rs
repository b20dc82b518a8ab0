//! Groups on stream routes. AMQP 0-9-1 cannot store a consumer's offset on a stream (RabbitMQ
//! keeps offsets only for its stream protocol), so the gateway keeps each group's committed
//! offset itself, in memory: it lives as long as the route's backend (a gateway restart or a
//! route change forgets it, and the start position applies again). One member of a group reads
//! at a time (a single active consumer, as RabbitMQ's own stream groups do); the others wait and
//! take over from the committed offset when it leaves, so what it did not commit is read again
//! (at least once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::client::Conn;
use super::stream::{consume, run, Reader};
use crate::backend::{lock, CommitOffset, PushSink, Start, SubscribeSpec, Subscription};
use crate::error::{GatewayError, Result};

/// Groups one stream route remembers: past this a new group answers 429.
const MAX_GROUPS: usize = 10_000;

#[derive(Default)]
pub(super) struct StreamGroups {
    groups: Mutex<HashMap<(String, String), Arc<Group>>>,
}

struct Group {
    /// The next offset to read, as the active member last committed it.
    committed: Mutex<Option<i64>>,
    /// One permit: the active member holds it.
    active: Arc<Semaphore>,
}

impl StreamGroups {
    fn group(&self, group: &str, topic: &str) -> Result<Arc<Group>> {
        let mut groups = lock(&self.groups);
        let key = (group.to_string(), topic.to_string());
        if let Some(g) = groups.get(&key) {
            return Ok(g.clone());
        }
        if groups.len() >= MAX_GROUPS {
            return Err(GatewayError::Overloaded(format!(
                "this stream route keeps at most {MAX_GROUPS} groups"
            )));
        }
        let g = Arc::new(Group {
            committed: Mutex::new(None),
            active: Arc::new(Semaphore::new(1)),
        });
        groups.insert(key, g.clone());
        Ok(g)
    }

    pub async fn subscribe(
        &self,
        conn: Arc<Conn>,
        stream: String,
        topic: String,
        mut spec: SubscribeSpec,
        sink: PushSink,
    ) -> Result<Arc<dyn Subscription>> {
        let name = spec.group.clone().unwrap_or_default();
        let group = self.group(&name, &topic)?;
        let cancel = CancellationToken::new();
        let active = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let start_of = |g: &Group, asked: Start| match *lock(&g.committed) {
            Some(next) => Start::Offset(next),
            None => asked,
        };
        match group.active.clone().try_acquire_owned() {
            Ok(permit) => {
                // The group's only member now: in place at the broker before the reply.
                spec.start = start_of(&group, spec.start);
                let first = consume(&conn, &stream, spec.start).await?;
                active.store(true, std::sync::atomic::Ordering::Release);
                let reader = Reader {
                    conn,
                    stream,
                    topic,
                    spec,
                    sink,
                    cancel: cancel.clone(),
                    guard: Some(permit),
                };
                tokio::spawn(run(reader, Some(first)));
            }
            Err(_) => {
                // Waits for the active member to leave, then reads from the committed offset.
                let (g, cancel2, active2) = (group.clone(), cancel.clone(), active.clone());
                tokio::spawn(async move {
                    let permit = tokio::select! {
                        _ = cancel2.cancelled() => return,
                        p = g.active.clone().acquire_owned() => p,
                    };
                    let Ok(permit) = permit else { return };
                    spec.start = start_of(&g, spec.start);
                    active2.store(true, std::sync::atomic::Ordering::Release);
                    let reader = Reader {
                        conn,
                        stream,
                        topic,
                        spec,
                        sink,
                        cancel: cancel2,
                        guard: Some(permit),
                    };
                    run(reader, None).await;
                });
            }
        }
        Ok(Arc::new(GroupMember {
            group,
            cancel,
            active,
        }))
    }
}

struct GroupMember {
    group: Arc<Group>,
    cancel: CancellationToken,
    active: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait]
impl Subscription for GroupMember {
    /// `offset` is the next offset to read (Kafka's convention), stream-wide: the highest of the
    /// request's offsets becomes the group's (lower than before rewinds it, as on Kafka).
    async fn commit(&self, offsets: Vec<CommitOffset>) -> Result<()> {
        if !self.active.load(std::sync::atomic::Ordering::Acquire) {
            return Err(GatewayError::Conflict(
                "this member is waiting: only the group's active member commits".into(),
            ));
        }
        if let Some(o) = offsets.iter().find(|o| o.partition != 0 || o.offset < 0) {
            return Err(GatewayError::BadRequest(format!(
                "commit of partition {} offset {}: streams have partition 0 and offsets from 0",
                o.partition, o.offset
            )));
        }
        if let Some(max) = offsets.iter().map(|o| o.offset).max() {
            *lock(&self.group.committed) = Some(max);
        }
        Ok(())
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.close();
    }
}
