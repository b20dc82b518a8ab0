//! Dead letters of stream groups. Redis keeps each pending entry's delivery count but has no
//! dead-letter mechanism of its own, so the gateway writes them: the entry XADDed to the
//! route's `delivery.dead_letter` stream with its key, value and headers plus the dead-letter
//! headers, and only then XACKed in the group (an entry whose dead letter could not be written
//! stays pending and is tried again, so nothing is lost; a failure between the XADD and the
//! XACK can write one dead letter twice).

use super::client::Conn;
use super::entry::Id;
use super::streams;
use crate::backend::dead_letter::{self, Origin, Reason};
use crate::backend::Record;
use crate::error::Result;

/// XADDs the dead letter of entry `id` of stream `key` (delivered `count` times) to `to`.
pub(super) async fn write(
    conn: &Conn,
    to: &str,
    (key, id): (&str, Id),
    record: &Record,
    count: u32,
    reason: Reason,
) -> Result<()> {
    let origin = Origin {
        topic: key,
        partition: 0,
        // The entry id, as Redis clients name the entry.
        position: id.to_string(),
        delivery_count: count,
        // Redis keeps the time since the last delivery only.
        first_delivery_ms: 0,
        reason,
    };
    let mut letter = dead_letter::publish(to, record, &origin)?;
    // A new id in the dead-letter stream: the original's (its time) may be older than the
    // stream's last entry, which XADD refuses.
    letter.timestamp = 0;
    streams::publish(conn, letter).await.map(|_| ())
}
