//! Process-wide metrics, rendered in Prometheus' text format on the admin listener.
//!
//! Plain atomics in fixed arrays: the per-request cost is a few uncontended increments, with no
//! lock on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Commands by name, in the order of the arrays below.
pub const COMMANDS: [&str; 11] = [
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
    "invalid",
];
pub const CMD_INVALID: usize = 10;

/// Results: "ok" then the ErrorResp codes.
const RESULTS: [&str; 12] = [
    "ok", "400", "401", "403", "404", "409", "416", "429", "502", "503", "504", "other",
];

/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
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
}
const REJECTIONS: [&str; 8] = [
    "not_found",
    "bad_request",
    "unauthorized",
    "forbidden_origin",
    "connection_limit",
    "ip_connection_limit",
    "handshake_timeout",
    "tls_handshake",
];

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ROW: [AtomicU64; RESULTS.len()] = [ZERO; RESULTS.len()];
#[allow(clippy::declare_interior_mutable_const)]
const HIST: [AtomicU64; BUCKETS.len() + 1] = [ZERO; BUCKETS.len() + 1];

pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    rejections: [AtomicU64; REJECTIONS.len()],
    commands: [[AtomicU64; RESULTS.len()]; COMMANDS.len()],
    latency: [[AtomicU64; BUCKETS.len() + 1]; COMMANDS.len()],
    latency_sum_us: [AtomicU64; COMMANDS.len()],
    pub push_messages: AtomicU64,
    pub push_bytes: AtomicU64,
    /// Frames waiting in all connections' outbound queues.
    pub queued_frames: AtomicI64,
    pub slow_consumer_closes: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Error replies the reader dropped because the client's queue was full.
    pub replies_dropped: AtomicU64,
    pub frames_too_big: AtomicU64,
    pub kafka_client_errors: AtomicU64,
    pub subscriptions_open: AtomicI64,
    /// Backend tasks delivering to subscriptions: they must end with their subscription.
    pub subscription_tasks: AtomicI64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
}

pub static METRICS: Metrics = Metrics {
    connections_open: AtomicI64::new(0),
    connections_total: ZERO,
    rejections: [ZERO; REJECTIONS.len()],
    commands: [ROW; COMMANDS.len()],
    latency: [HIST; COMMANDS.len()],
    latency_sum_us: [ZERO; COMMANDS.len()],
    push_messages: ZERO,
    push_bytes: ZERO,
    queued_frames: AtomicI64::new(0),
    slow_consumer_closes: ZERO,
    rate_limited: ZERO,
    replies_dropped: ZERO,
    frames_too_big: ZERO,
    kafka_client_errors: ZERO,
    subscriptions_open: AtomicI64::new(0),
    subscription_tasks: AtomicI64::new(0),
    reloads_ok: ZERO,
    reloads_failed: ZERO,
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
    pub fn reject(&self, r: Rejection) {
        self.rejections[r as usize].fetch_add(1, Relaxed);
    }

    /// One command handled: its result (None = ok, else the ErrorResp code) and how long it took.
    pub fn command(&self, cmd: usize, code: Option<i32>, took: Duration) {
        let cmd = cmd.min(COMMANDS.len() - 1);
        self.commands[cmd][result_index(code)].fetch_add(1, Relaxed);
        let secs = took.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        self.latency[cmd][b].fetch_add(1, Relaxed);
        self.latency_sum_us[cmd].fetch_add(took.as_micros() as u64, Relaxed);
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
            "pubsub_subscription_tasks",
            "Backend tasks delivering to subscriptions (they end with their subscription).",
            self.subscription_tasks.load(Relaxed),
        );
        let counters: [(&str, &str, &AtomicU64); 10] = [
            (
                "pubsub_connections_total",
                "WebSocket connections accepted.",
                &self.connections_total,
            ),
            (
                "pubsub_push_messages_total",
                "Messages pushed to subscribers.",
                &self.push_messages,
            ),
            (
                "pubsub_push_bytes_total",
                "Bytes of push frames queued for subscribers.",
                &self.push_bytes,
            ),
            (
                "pubsub_slow_consumer_closes_total",
                "Connections closed by the slow-consumer policy.",
                &self.slow_consumer_closes,
            ),
            (
                "pubsub_rate_limited_total",
                "Requests refused by the per-connection rate limit.",
                &self.rate_limited,
            ),
            (
                "pubsub_replies_dropped_total",
                "Error replies dropped because the client's outbound queue was full.",
                &self.replies_dropped,
            ),
            (
                "pubsub_frames_too_big_total",
                "Connections closed for a frame over max_frame_bytes.",
                &self.frames_too_big,
            ),
            (
                "pubsub_kafka_client_errors_total",
                "Errors returned by Kafka clients.",
                &self.kafka_client_errors,
            ),
            (
                "pubsub_config_reloads_total",
                "Configuration reloads applied.",
                &self.reloads_ok,
            ),
            (
                "pubsub_config_reload_failures_total",
                "Configuration reloads rejected.",
                &self.reloads_failed,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
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
            "# HELP pubsub_commands_total Commands handled, by command and result.\n# TYPE pubsub_commands_total counter"
        );
        for (c, name) in COMMANDS.iter().enumerate() {
            for (r, result) in RESULTS.iter().enumerate() {
                let v = self.commands[c][r].load(Relaxed);
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
            let counts: Vec<u64> = self.latency[c].iter().map(|a| a.load(Relaxed)).collect();
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
                self.latency_sum_us[c].load(Relaxed) as f64 / 1e6
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
}
