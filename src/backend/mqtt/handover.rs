//! A group member that leaves with deliveries unacknowledged hands its session to another
//! member of the same share in this gateway: a connection with the departed member's client id
//! takes the session over (the broker closes the old connection and resends the session's
//! unacknowledged QoS 1 messages on the new one), drops its share subscription, and feeds the
//! resent messages to the heir, whose client acknowledges them like its own. MQTT brokers give
//! a session's unacknowledged messages to no other session, so this is how they reach the rest
//! of the group without waiting for a new member to take the slot.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::client::{Conn, Endpoint};
use super::members::{retire, Heirloom, Member, MemberHandler, Release, KEEP};
use crate::backend::lock;

/// The member is gone: no new messages for its session, and what it held goes to an heir if
/// the share has another member here, else stays in the session for the slot's next member.
pub(super) fn leave(ep: &Endpoint, member: &Arc<Member>, release: Option<Release>) {
    // Sessions this member had taken over keep what they hold for their slots' next members.
    lock(&member.heirlooms).clear();
    let queued = member.tx.max_capacity() - member.tx.capacity();
    let held = queued > 0
        || lock(&member.pending)
            .values()
            .any(|d| Arc::ptr_eq(&d.conn, &member.conn));
    // Taking a session over starts a connection task: only from inside the runtime.
    let in_runtime = tokio::runtime::Handle::try_current().is_ok();
    let heir = match (&release, held && in_runtime) {
        (Some(r), true) => r.heir(member),
        _ => None,
    };
    let Some(heir) = heir else {
        member.conn.unsubscribe(&member.share);
        retire(&member.conn, release);
        return;
    };
    member.conn.detach();
    member.conn.shutdown();
    let cell = Arc::new(OnceLock::new());
    let handler = Arc::new(MemberHandler {
        tx: heir.tx.clone(),
        connects: AtomicI64::new(0),
        share: member.share.clone(),
        subscribed: false,
        conn: cell.clone(),
    });
    let conn = Arc::new(Conn::start(
        ep,
        member.client_id.clone(),
        false,
        ep.options.group_session_expiry_secs,
        true,
        member.receive_max,
        handler,
    ));
    let _ = cell.set(Arc::downgrade(&conn));
    lock(&heir.heirlooms).push(Heirloom {
        conn,
        release,
        since: Instant::now(),
    });
}

/// Lets go of taken-over sessions whose resent messages are all acknowledged.
pub(super) fn prune(member: &Member) {
    let pending = lock(&member.pending);
    lock(&member.heirlooms).retain(|h| {
        h.since.elapsed() < KEEP || pending.values().any(|d| Arc::ptr_eq(&d.conn, &h.conn))
    });
}
