//! Process-wide metrics, rendered in Prometheus' text format on the admin listener.
//!
//! Plain atomics in fixed arrays, with no lock on the hot path. What every request or frame
//! touches (command counts and latencies, queued frames, pushes) is sharded by thread: each
//! worker thread increments its own cache lines, so two cores answering requests do not pass
//! the same line back and forth on every request. Rendering sums the shards.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering, Ordering::Relaxed};
use std::time::Duration;

/// Shards of the hot counters. Threads beyond this share shards (still correct: increments
/// are atomic), which only brings back some of the contention sharding avoids.
const SHARDS: usize = 16;

/// One cache line pair per value: adjacent-line prefetch makes 64-byte padding too little.
#[repr(align(128))]
struct Padded<T>(T);

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// This thread's shard, picked round robin on its first use.
fn shard() -> usize {
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS;
        s.set(v);
        v
    })
}

/// A counter sharded by thread. It takes the same calls as the `AtomicU64` it replaced (the
/// ordering is ignored: every shard is `Relaxed`), so call sites read as before.
pub struct Counter([Padded<AtomicU64>; SHARDS]);

impl Counter {
    const fn new() -> Counter {
        Counter([const { Padded(AtomicU64::new(0)) }; SHARDS])
    }

    pub fn fetch_add(&self, v: u64, _: Ordering) {
        self.0[shard()].0.fetch_add(v, Relaxed);
    }

    pub fn load(&self, _: Ordering) -> u64 {
        self.0
            .iter()
            .map(|s| s.0.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// A gauge sharded by thread: a shard may go negative (one thread adds, another subtracts);
/// the sum is the value.
pub struct Gauge([Padded<AtomicI64>; SHARDS]);

impl Gauge {
    const fn new() -> Gauge {
        Gauge([const { Padded(AtomicI64::new(0)) }; SHARDS])
    }

    pub fn fetch_add(&self, v: i64, _: Ordering) {
        self.0[shard()].0.fetch_add(v, Relaxed);
    }

    pub fn fetch_sub(&self, v: i64, _: Ordering) {
        self.0[shard()].0.fetch_sub(v, Relaxed);
    }

    pub fn load(&self, _: Ordering) -> i64 {
        self.0
            .iter()
            .map(|s| s.0.load(Relaxed))
            .fold(0, i64::wrapping_add)
    }
}

/// Commands by name, in the order of the arrays below.
pub const COMMANDS: [&str; 14] = [
    "empty",
    "ping",
    "kafka_fetch",
    "kafka_list_offset",
    "kafka_produce",
    "kafka_subscribe",
    "unsubscribe",
    "kafka_commit",
    "kafka_metadata",
    "refresh",
    "route_info",
    "ack",
    "nack",
    "invalid",
];
pub const CMD_INVALID: usize = 13;

/// Results: "ok" then the ErrorResp codes.
const RESULTS: [&str; 12] = [
    "ok", "400", "401", "403", "404", "409", "416", "429", "502", "503", "504", "other",
];

/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];
/// The same bounds in microseconds, so a request's bucket is found without floating point.
const BUCKETS_US: [u64; 12] = [
    100, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000,
];

/// Why a connection was refused or closed by a limit.
#[derive(Debug, Clone, Copy)]
pub enum Rejection {
    NotFound = 0,
    BadRequest,
    Unauthorized,
    ForbiddenOrigin,
    ConnectionLimit,
    IpConnectionLimit,
    HandshakeTimeout,
    TlsHandshake,
    /// `max_handshakes` reached with every handshake in progress past its first bytes.
    HandshakeLimit,
    /// `max_handshakes_per_ip` reached.
    HandshakeIpLimit,
    /// A silent handshake closed to make room for a new socket.
    HandshakeEvicted,
}
const REJECTIONS: [&str; 11] = [
    "not_found",
    "bad_request",
    "unauthorized",
    "forbidden_origin",
    "connection_limit",
    "ip_connection_limit",
    "handshake_timeout",
    "tls_handshake",
    "handshake_limit",
    "handshake_ip_limit",
    "handshake_evicted",
];

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ROW: [AtomicU64; RESULTS.len()] = [ZERO; RESULTS.len()];
#[allow(clippy::declare_interior_mutable_const)]
const HIST: [AtomicU64; BUCKETS.len() + 1] = [ZERO; BUCKETS.len() + 1];

/// One thread's share of the command counts and latencies.
#[repr(align(128))]
struct CommandShard {
    commands: [[AtomicU64; RESULTS.len()]; COMMANDS.len()],
    latency: [[AtomicU64; BUCKETS.len() + 1]; COMMANDS.len()],
    latency_sum_us: [AtomicU64; COMMANDS.len()],
}

#[allow(clippy::declare_interior_mutable_const)]
const COMMAND_SHARD: CommandShard = CommandShard {
    commands: [ROW; COMMANDS.len()],
    latency: [HIST; COMMANDS.len()],
    latency_sum_us: [ZERO; COMMANDS.len()],
};

pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    rejections: [AtomicU64; REJECTIONS.len()],
    commands: [CommandShard; SHARDS],
    pub push_messages: Counter,
    pub push_bytes: Counter,
    /// Frames waiting in all connections' outbound queues.
    pub queued_frames: Gauge,
    pub slow_consumer_closes: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Calls of the HTTP endpoints (publish, fetch, info, event streams), past the rate limit.
    pub http_requests: AtomicU64,
    /// Server-Sent Events streams opened.
    pub http_streams: AtomicU64,
    /// Error replies the reader dropped because the client's queue was full.
    pub replies_dropped: AtomicU64,
    pub frames_too_big: AtomicU64,
    pub kafka_client_errors: AtomicU64,
    pub subscriptions_open: AtomicI64,
    /// Kafka group members (one librdkafka consumer each) running, all upstreams together.
    pub kafka_group_consumers: AtomicI64,
    /// Backend tasks delivering to subscriptions: they must end with their subscription.
    pub subscription_tasks: AtomicI64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Messages live subscriptions lost to the slow-consumer policy, per route.
    live_dropped: std::sync::Mutex<Vec<(String, std::sync::Arc<AtomicU64>)>>,
}

pub static METRICS: Metrics = Metrics {
    connections_open: AtomicI64::new(0),
    connections_total: ZERO,
    rejections: [ZERO; REJECTIONS.len()],
    commands: [COMMAND_SHARD; SHARDS],
    push_messages: Counter::new(),
    push_bytes: Counter::new(),
    queued_frames: Gauge::new(),
    slow_consumer_closes: ZERO,
    rate_limited: ZERO,
    http_requests: ZERO,
    http_streams: ZERO,
    replies_dropped: ZERO,
    frames_too_big: ZERO,
    kafka_client_errors: ZERO,
    subscriptions_open: AtomicI64::new(0),
    kafka_group_consumers: AtomicI64::new(0),
    subscription_tasks: AtomicI64::new(0),
    reloads_ok: ZERO,
    reloads_failed: ZERO,
    live_dropped: std::sync::Mutex::new(Vec::new()),
};

fn result_index(code: Option<i32>) -> usize {
    match code {
        None => 0,
        // Positions in RESULTS.
        Some(400) => 1,
        Some(401) => 2,
        Some(403) => 3,
        Some(404) => 4,
        Some(409) => 5,
        Some(416) => 6,
        Some(429) => 7,
        Some(502) => 8,
        Some(503) => 9,
        Some(504) => 10,
        Some(_) => RESULTS.len() - 1,
    }
}

impl Metrics {
    /// The counter of messages a route's live subscriptions lost to the slow-consumer policy
    /// (`pubsub_live_dropped_total{route}`); one per route uri, shared by its backends.
    pub fn live_dropped(&self, route: &str) -> std::sync::Arc<AtomicU64> {
        let mut all = self.live_dropped.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = all.iter().find(|(r, _)| r == route) {
            return c.clone();
        }
        let c = std::sync::Arc::new(AtomicU64::new(0));
        all.push((route.to_owned(), c.clone()));
        c
    }

    pub fn reject(&self, r: Rejection) {
        self.rejections[r as usize].fetch_add(1, Relaxed);
    }

    /// One command handled: its result (None = ok, else the ErrorResp code) and how long it took.
    pub fn command(&self, cmd: usize, code: Option<i32>, took: Duration) {
        let cmd = cmd.min(COMMANDS.len() - 1);
        let shard = &self.commands[shard()];
        shard.commands[cmd][result_index(code)].fetch_add(1, Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let b = BUCKETS_US
            .iter()
            .position(|le| us <= *le)
            .unwrap_or(BUCKETS.len());
        shard.latency[cmd][b].fetch_add(1, Relaxed);
        shard.latency_sum_us[cmd].fetch_add(us, Relaxed);
    }

    fn commands_sum(&self, cmd: usize, result: usize) -> u64 {
        self.commands
            .iter()
            .map(|s| s.commands[cmd][result].load(Relaxed))
            .sum()
    }

    fn latency_sum(&self, cmd: usize, bucket: usize) -> u64 {
        self.commands
            .iter()
            .map(|s| s.latency[cmd][bucket].load(Relaxed))
            .sum()
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let mut gauge = |name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "pubsub_connections_open",
            "Open WebSocket connections.",
            self.connections_open.load(Relaxed),
        );
        gauge(
            "pubsub_outbound_queued_frames",
            "Frames waiting in connections' outbound queues.",
            self.queued_frames.load(Relaxed),
        );
        gauge(
            "pubsub_subscriptions_open",
            "Open push subscriptions.",
            self.subscriptions_open.load(Relaxed),
        );
        gauge(
            "pubsub_kafka_group_consumers",
            "Kafka group members running (librdkafka consumers counted by max_group_consumers).",
            self.kafka_group_consumers.load(Relaxed),
        );
        gauge(
            "pubsub_subscription_tasks",
            "Backend tasks delivering to subscriptions (they end with their subscription).",
            self.subscription_tasks.load(Relaxed),
        );
        let counters: [(&str, &str, u64); 12] = [
            (
                "pubsub_connections_total",
                "WebSocket connections accepted.",
                self.connections_total.load(Relaxed),
            ),
            (
                "pubsub_push_messages_total",
                "Messages pushed to subscribers.",
                self.push_messages.load(Relaxed),
            ),
            (
                "pubsub_push_bytes_total",
                "Bytes of push frames queued for subscribers.",
                self.push_bytes.load(Relaxed),
            ),
            (
                "pubsub_slow_consumer_closes_total",
                "Connections closed by the slow-consumer policy.",
                self.slow_consumer_closes.load(Relaxed),
            ),
            (
                "pubsub_rate_limited_total",
                "Requests refused by the per-connection rate limit.",
                self.rate_limited.load(Relaxed),
            ),
            (
                "pubsub_http_requests_total",
                "Calls of the HTTP endpoints (the commands they run count in pubsub_commands_total too).",
                self.http_requests.load(Relaxed),
            ),
            (
                "pubsub_http_streams_total",
                "Server-Sent Events streams opened.",
                self.http_streams.load(Relaxed),
            ),
            (
                "pubsub_replies_dropped_total",
                "Error replies dropped because the client's outbound queue was full.",
                self.replies_dropped.load(Relaxed),
            ),
            (
                "pubsub_frames_too_big_total",
                "Connections closed for a frame over max_frame_bytes.",
                self.frames_too_big.load(Relaxed),
            ),
            (
                "pubsub_kafka_client_errors_total",
                "Errors returned by Kafka clients.",
                self.kafka_client_errors.load(Relaxed),
            ),
            (
                "pubsub_config_reloads_total",
                "Configuration reloads applied.",
                self.reloads_ok.load(Relaxed),
            ),
            (
                "pubsub_config_reload_failures_total",
                "Configuration reloads rejected.",
                self.reloads_failed.load(Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP pubsub_connections_rejected_total Connections refused or closed by a check or limit.\n# TYPE pubsub_connections_rejected_total counter"
        );
        for (i, r) in REJECTIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "pubsub_connections_rejected_total{{reason=\"{r}\"}} {}",
                self.rejections[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP pubsub_live_dropped_total Messages live subscriptions lost because their client read too slowly (slow_consumer: pause drops the oldest), by route.\n# TYPE pubsub_live_dropped_total counter"
        );
        for (route, c) in self
            .live_dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let route = route.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                out,
                "pubsub_live_dropped_total{{route=\"{route}\"}} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP pubsub_commands_total Commands handled, by command and result.\n# TYPE pubsub_commands_total counter"
        );
        for (c, name) in COMMANDS.iter().enumerate() {
            for (r, result) in RESULTS.iter().enumerate() {
                let v = self.commands_sum(c, r);
                if v > 0 {
                    let _ = writeln!(
                        out,
                        "pubsub_commands_total{{command=\"{name}\",result=\"{result}\"}} {v}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP pubsub_command_duration_seconds Time from a request's arrival to its reply.\n# TYPE pubsub_command_duration_seconds histogram"
        );
        for (c, name) in COMMANDS.iter().enumerate() {
            let counts: Vec<u64> = (0..=BUCKETS.len())
                .map(|b| self.latency_sum(c, b))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (b, le) in BUCKETS.iter().enumerate() {
                cumulative += counts[b];
                let _ = writeln!(
                    out,
                    "pubsub_command_duration_seconds_bucket{{command=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "pubsub_command_duration_seconds_bucket{{command=\"{name}\",le=\"+Inf\"}} {total}\npubsub_command_duration_seconds_sum{{command=\"{name}\"}} {}\npubsub_command_duration_seconds_count{{command=\"{name}\"}} {total}",
                self.commands
                    .iter()
                    .map(|s| s.latency_sum_us[c].load(Relaxed))
                    .sum::<u64>() as f64
                    / 1e6
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_commands_by_result_and_histograms() {
        METRICS.command(1, None, Duration::from_micros(50));
        METRICS.command(2, Some(416), Duration::from_millis(3));
        let text = METRICS.render();
        assert!(text.contains("pubsub_commands_total{command=\"ping\",result=\"ok\"}"));
        assert!(text.contains("pubsub_commands_total{command=\"kafka_fetch\",result=\"416\"}"));
        for (i, r) in RESULTS.iter().enumerate().skip(1).take(RESULTS.len() - 2) {
            assert_eq!(result_index(r.parse().ok()), i, "{r}");
        }
        assert_eq!(result_index(Some(418)), RESULTS.len() - 1);
        assert!(text.contains(
            "pubsub_command_duration_seconds_bucket{command=\"kafka_fetch\",le=\"0.005\"}"
        ));
    }

    #[test]
    fn sharded_counts_from_more_threads_than_shards_add_up() {
        let (counter, gauge) = (Counter::new(), Gauge::new());
        std::thread::scope(|s| {
            for i in 0..SHARDS + 4 {
                let (counter, gauge) = (&counter, &gauge);
                s.spawn(move || {
                    for _ in 0..1000 {
                        counter.fetch_add(2, Relaxed);
                        gauge.fetch_add(1, Relaxed);
                    }
                    if i % 2 == 0 {
                        gauge.fetch_sub(1000, Relaxed);
                    }
                });
            }
        });
        assert_eq!(counter.load(Relaxed), 2000 * (SHARDS as u64 + 4));
        assert_eq!(gauge.load(Relaxed), 1000 * (SHARDS as i64 + 4) / 2);
    }

    #[test]
    fn a_gauge_raised_on_one_thread_and_lowered_on_another_reads_zero() {
        let gauge = Gauge::new();
        std::thread::scope(|s| {
            s.spawn(|| gauge.fetch_add(5, Relaxed));
        });
        std::thread::scope(|s| {
            s.spawn(|| gauge.fetch_sub(5, Relaxed));
        });
        assert_eq!(gauge.load(Relaxed), 0);
    }
}
