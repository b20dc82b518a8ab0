//! Group subscriptions: MQTT 5 shared subscriptions `$share/{group}/{filter}`, so gateway
//! members and plain MQTT clients of the share split its messages. Each member holds an MQTT
//! connection of its own, with manual acks: the PUBACK of a delivery is what the client's
//! `cmd_ack` sends, and a broker redelivers unacknowledged QoS 1 messages only to the session
//! they were sent to. So sessions are named per slot (`{prefix}-g-{group}-{filter hash}-{slot}`)
//! and outlive their member (`group_session_expiry_secs`): what a departed member left
//! unacknowledged goes to another member of the group in this gateway (`handover`), or else
//! to the member that next takes the slot and resumes the session.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{Conn, Endpoint};
use super::members::{
    fnv, share_filter, Delivered, Incoming, Member, MemberHandler, Release, Slots,
};
use crate::backend::{lock, Position, PushSink, SubscribeSpec, Subscription, TaskGauge};
use crate::error::{GatewayError, Result};

pub(super) async fn subscribe(
    ep: &Endpoint,
    slots: Arc<Slots>,
    filter: String,
    group: String,
    spec: SubscribeSpec,
    sink: PushSink,
) -> Result<Arc<dyn Subscription>> {
    super::topic::validate_group(&group)?;
    let o = &ep.options;
    let key = (group.clone(), filter.clone());
    let slot = slots.take(&key, o.max_group_members)?;
    let release = Release {
        slots: slots.clone(),
        key: key.clone(),
        slot,
    };
    let client_id = format!(
        "{}-g-{group}-{:08x}-{slot}",
        o.client_id_prefix,
        fnv(&filter)
    );
    let share = format!("$share/{group}/{filter}");
    let receive_max = if spec.max_in_flight > 0 {
        u16::try_from(spec.max_in_flight).unwrap_or(u16::MAX)
    } else {
        o.max_inflight
    };
    // Room for this session's and taken-over sessions' unacknowledged messages.
    let (tx, rx) = mpsc::channel(usize::from(receive_max) * 4 + 64);
    let cell = Arc::new(OnceLock::new());
    let handler = Arc::new(MemberHandler {
        tx: tx.clone(),
        connects: AtomicI64::new(0),
        share: share.clone(),
        subscribed: true,
        conn: cell.clone(),
    });
    let conn = Arc::new(Conn::start(
        ep,
        client_id.clone(),
        false,
        o.group_session_expiry_secs,
        true,
        receive_max,
        handler,
    ));
    let _ = cell.set(Arc::downgrade(&conn));
    conn.subscribe(share_filter(&share), None).await?;
    let member = Arc::new(Member {
        conn,
        pending: Mutex::new(HashMap::new()),
        delivery: ep.delivery.clone(),
        sink,
        tx,
        cancel: CancellationToken::new(),
        heirlooms: Mutex::new(Vec::new()),
        client_id,
        share,
        receive_max,
    });
    slots.join(&key, &member);
    tokio::spawn(deliver(rx, spec, member.clone()));
    Ok(Arc::new(GroupSubscription {
        member,
        ep: ep.clone(),
        release: Mutex::new(Some(release)),
    }))
}

/// Pushes the member's deliveries one by one, each with its own position (offset) so the client
/// can acknowledge it.
async fn deliver(mut rx: mpsc::Receiver<Incoming>, spec: SubscribeSpec, member: Arc<Member>) {
    let _task = TaskGauge::new();
    let mut next: i64 = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let got = tokio::select! {
            _ = member.cancel.cancelled() => return,
            _ = tick.tick() => {
                super::handover::prune(&member);
                continue;
            }
            r = rx.recv() => r,
        };
        let (p, from, attempt, first_ms) = match got {
            None => return,
            Some(Incoming::Reconnected(from)) => {
                lock(&member.pending)
                    .retain(|_, d| !std::ptr::eq(Arc::as_ptr(&d.conn), from.as_ptr()));
                continue;
            }
            // MQTT does not count deliveries: a first delivery is 1; a resent one (DUP, after
            // a session resumed) was delivered before, how often is unknown (0).
            Some(Incoming::Message(p, from)) => {
                let attempt = u32::from(!p.dup);
                (*p, from, attempt, crate::backend::now_ms())
            }
            Some(Incoming::Again(d)) => {
                let d = *d;
                let attempt = d.attempt.max(1).saturating_add(1);
                (d.publish, Arc::downgrade(&d.conn), attempt, d.first_ms)
            }
        };
        // The session is gone (its holder left): it resends the message to whoever resumes it.
        let Some(from) = from.upgrade() else { continue };
        let mut record = super::hub::record(&p, next);
        if attempt > 0 {
            record = Arc::new(record.with_attempt(attempt));
        }
        let excluded = super::reserved(&record.topic)
            || spec
                .allowed
                .as_ref()
                .is_some_and(|id| !id.can_read(&record.topic))
            || !record.matches_headers(&spec.match_headers);
        if excluded {
            // Acknowledged for the group: nobody else in it would be allowed to see it either.
            let _ = from.ack(&p).await;
            continue;
        }
        if p.qos != QoS::AtMostOnce {
            lock(&member.pending).insert(
                next,
                Delivered {
                    conn: from,
                    publish: p,
                    attempt,
                    first_ms,
                    nacked: false,
                },
            );
        }
        next += 1;
        let one = [record];
        let pushed = tokio::select! {
            _ = member.cancel.cancelled() => return,
            r = member.sink.push(&one) => r,
        };
        if pushed.is_err() {
            return;
        }
    }
}

struct GroupSubscription {
    member: Arc<Member>,
    ep: Endpoint,
    release: Mutex<Option<Release>>,
}

#[async_trait]
impl Subscription for GroupSubscription {
    async fn ack(&self, positions: Vec<Position>) -> Result<()> {
        let mut found = Vec::with_capacity(positions.len());
        {
            let mut pending = lock(&self.member.pending);
            for p in &positions {
                if pending.get(&p.offset).is_none_or(|d| d.nacked) {
                    return Err(GatewayError::BadRequest(format!(
                        "offset {} is not an unacknowledged delivery of this subscription (acknowledged already, QoS 0, or void after a reconnection: the broker resends those)",
                        p.offset
                    )));
                }
            }
            for p in &positions {
                if let Some(d) = pending.remove(&p.offset) {
                    found.push((p.topic.clone(), p.offset, d.conn, d.publish));
                }
            }
        }
        for (topic, offset, conn, m) in found {
            conn.ack(&m).await?;
            self.member.sink.flow.ack_one(&topic, 0, offset);
        }
        Ok(())
    }

    async fn nack(&self, positions: Vec<Position>, delay: std::time::Duration) -> Result<()> {
        super::retry::nack(&self.member, &positions, delay).await
    }

    fn close(&self) {
        if self.member.cancel.is_cancelled() {
            return;
        }
        self.member.cancel.cancel();
        let release = lock(&self.release).take();
        super::handover::leave(&self.ep, &self.member, release);
    }
}

impl Drop for GroupSubscription {
    fn drop(&mut self) {
        self.close();
    }
}
