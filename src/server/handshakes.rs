//! Handshakes in progress: sockets accepted and not yet upgraded or refused. They are counted in
//! all (`max_handshakes`) and per client address (`max_handshakes_per_ip`), and the ones that
//! have not sent a byte yet are kept in order of arrival: when the server is full, the oldest
//! silent one is closed to make room for the new socket, so sockets that never speak (one
//! address or many) cannot keep real clients out, while a client that has sent its request is
//! never cut off for a newcomer. Past the per-address bound, or when every handshake in progress
//! has spoken, the new socket is refused: with an HTTP 503 and `Retry-After` once its request
//! head arrives (`refuse`), never a bare reset.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::metrics::{Rejection, METRICS};

/// Refused sockets waiting for their request head, to answer 503, at most; past it a refused
/// socket is closed at once (a flood of refusals must not hold descriptors either).
const MAX_REFUSING: usize = 256;
/// How long a refused socket gets to send its request head.
const REFUSAL_WAIT: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(crate) struct Handshakes {
    state: Mutex<State>,
    refusing: AtomicUsize,
}

#[derive(Default)]
struct State {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Handshakes in order of arrival, for eviction; the ones that ended or spoke are skipped
    /// (and dropped from the front as they are met).
    arrivals: VecDeque<Weak<Entry>>,
}

struct Entry {
    ip: IpAddr,
    /// The socket's descriptor, to see whether bytes wait unread on it (a client that spoke
    /// before its connection task ran).
    fd: std::os::fd::RawFd,
    /// Its first bytes arrived: no longer a candidate for eviction.
    spoke: AtomicBool,
    /// Uncounted already (evicted, or its slot dropped): counted out exactly once.
    released: AtomicBool,
    evicted: CancellationToken,
}

/// Why a socket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its address has `max_handshakes_per_ip` in progress.
    PerIp,
    /// `max_handshakes` in progress, every one past its first bytes.
    Full,
}

impl Refused {
    fn rejection(self) -> Rejection {
        match self {
            Refused::PerIp => Rejection::HandshakeIpLimit,
            Refused::Full => Rejection::HandshakeLimit,
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn uncount(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Closes the oldest handshake that has not spoken; false when there is none.
    fn evict_oldest_silent(&mut self) -> bool {
        while let Some(w) = self.arrivals.pop_front() {
            let Some(e) = w.upgrade() else { continue };
            if e.spoke.load(Ordering::Acquire) || unread(e.fd) > 0 {
                e.spoke.store(true, Ordering::Release);
                continue;
            }
            if e.released.swap(true, Ordering::AcqRel) {
                continue;
            }
            self.uncount(e.ip);
            e.evicted.cancel();
            METRICS.reject(Rejection::HandshakeEvicted);
            return true;
        }
        false
    }
}

/// Bytes received and not read yet on a socket. (A descriptor closed meanwhile answers 0 or an
/// error: its slot is released first, see `HandshakeSlot`.)
fn unread(fd: std::os::fd::RawFd) -> libc::c_int {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points at `n`.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if r == 0 {
        n
    } else {
        0
    }
}

impl Handshakes {
    /// Counts a new socket from `ip` (descriptor `fd`), making room by evicting the oldest
    /// silent handshake when the server is full.
    pub fn begin(
        self: &Arc<Self>,
        ip: IpAddr,
        fd: std::os::fd::RawFd,
        limits: &Limits,
    ) -> Result<HandshakeSlot, Refused> {
        let mut st = lock(&self.state);
        if st.per_ip.get(&ip).copied().unwrap_or(0) >= limits.max_handshakes_per_ip {
            return Err(Refused::PerIp);
        }
        if st.total >= limits.max_handshakes && !st.evict_oldest_silent() {
            return Err(Refused::Full);
        }
        st.total += 1;
        *st.per_ip.entry(ip).or_insert(0) += 1;
        let entry = Arc::new(Entry {
            ip,
            fd,
            spoke: AtomicBool::new(false),
            released: AtomicBool::new(false),
            evicted: CancellationToken::new(),
        });
        // Spoken and ended handshakes leave the front as eviction meets them; the rest is
        // swept when the queue outgrows what can be in progress.
        if st.arrivals.len() >= 2 * limits.max_handshakes.max(16) {
            st.arrivals.retain(|w| {
                w.upgrade()
                    .is_some_and(|e| !e.spoke.load(Ordering::Acquire))
            });
        }
        st.arrivals.push_back(Arc::downgrade(&entry));
        Ok(HandshakeSlot {
            handshakes: self.clone(),
            entry,
        })
    }

    /// Refuses a socket: an HTTP 503 with `Retry-After` once its request head has arrived (it
    /// gets `REFUSAL_WAIT` for it), a plain close when it says nothing. Counted by reason.
    pub fn refuse(self: &Arc<Self>, mut tcp: TcpStream, why: Refused) {
        METRICS.reject(why.rejection());
        if self.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let handshakes = self.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut chunk = [0u8; 1024];
            let deadline = tokio::time::Instant::now() + REFUSAL_WAIT;
            while head.len() < 8 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tokio::time::timeout_at(deadline, tcp.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&chunk[..n]),
                    _ => break,
                }
            }
            if !head.is_empty() {
                let body = match why {
                    Refused::PerIp => "too many connections in progress from your address\n",
                    Refused::Full => "too many connections in progress\n",
                };
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tokio::time::timeout(REFUSAL_WAIT, async {
                    tcp.write_all(answer.as_bytes()).await?;
                    tcp.shutdown().await
                })
                .await;
            }
            handshakes.refusing.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// A handshake in progress; released when dropped, which must happen before its socket is
/// closed (eviction looks at the socket's descriptor).
pub(crate) struct HandshakeSlot {
    handshakes: Arc<Handshakes>,
    entry: Arc<Entry>,
}

impl HandshakeSlot {
    /// The socket sent its first bytes: it can no longer be evicted.
    pub fn spoke(&self) {
        self.entry.spoke.store(true, Ordering::Release);
    }

    /// Resolves if the handshake is closed to make room for a newer socket.
    pub async fn evicted(&self) {
        self.entry.evicted.cancelled().await
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        if !self.entry.released.swap(true, Ordering::AcqRel) {
            lock(&self.handshakes.state).uncount(self.entry.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Limits {
        Limits {
            max_handshakes: total,
            max_handshakes_per_ip: per_ip,
            ..Limits::default()
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn a_full_server_evicts_the_oldest_silent_handshake_and_never_one_that_spoke() {
        let hs = Arc::new(Handshakes::default());
        let l = limits(3, 10);
        let a = hs.begin(ip(2), -1, &l).unwrap();
        let b = hs.begin(ip(2), -1, &l).unwrap();
        let c = hs.begin(ip(3), -1, &l).unwrap();
        a.spoke();
        let d = hs.begin(ip(4), -1, &l).expect("room made");
        assert!(!a.entry.evicted.is_cancelled(), "spoke: kept");
        assert!(b.entry.evicted.is_cancelled(), "the oldest silent one went");
        assert!(!c.entry.evicted.is_cancelled());
        assert_eq!(lock(&hs.state).total, 3);
        drop(b);
        assert_eq!(
            lock(&hs.state).total,
            3,
            "an evicted slot is counted out once"
        );
        c.spoke();
        d.spoke();
        assert_eq!(hs.begin(ip(5), -1, &l).err(), Some(Refused::Full));
        drop((a, c, d));
        assert_eq!(lock(&hs.state).total, 0);
        assert!(lock(&hs.state).per_ip.is_empty());
    }

    #[test]
    fn one_address_is_held_to_its_own_bound() {
        let hs = Arc::new(Handshakes::default());
        let l = limits(100, 2);
        let _a = hs.begin(ip(2), -1, &l).unwrap();
        let b = hs.begin(ip(2), -1, &l).unwrap();
        assert_eq!(hs.begin(ip(2), -1, &l).err(), Some(Refused::PerIp));
        let _other = hs.begin(ip(3), -1, &l).expect("other addresses go on");
        drop(b);
        assert!(
            hs.begin(ip(2), -1, &l).is_ok(),
            "a slot given back is free again"
        );
    }
}
