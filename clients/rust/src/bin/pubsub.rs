//! `pubsub`: a terminal client for pubsub-gateway.
//!
//! Exit codes (for scripts): 0 ok (also a subscription ended by Ctrl-C or `--count`), 1 the
//! gateway answered an error, 2 usage error, 3 no connection (connect failure, lost connection,
//! timeout), 4 local error (stdin, output, CA file), 130 interrupted by Ctrl-C (other commands).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use pubsub_client::{pb, Error, Event, FetchOptions, Message, Options, Publish, Start, Subscribe};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;

const EXIT_ERROR_REPLY: u8 = 1;
const EXIT_CONNECTION: u8 = 3;
const EXIT_LOCAL: u8 = 4;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "pubsub",
    version,
    about = "Terminal client for pubsub-gateway",
    after_help = "Exit codes: 0 ok, 1 error reply from the gateway, 2 usage, 3 connection failure \
                  or timeout, 4 local error (stdin, files), 130 interrupted."
)]
struct Cli {
    /// The route's URL. Several (repeated, or separated by commas): the same route on gateway
    /// replicas, tried in order; a lost connection moves on to the next.
    #[arg(
        long,
        short,
        env = "PUBSUB_URL",
        default_value = "ws://127.0.0.1:9080/embedded",
        value_delimiter = ',',
        global = true
    )]
    url: Vec<String>,
    /// Credential (JWT or key), sent as `?token=` and `bearer.` subprotocol.
    #[arg(long, env = "PUBSUB_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// PEM CA bundle to trust for wss:// (default: the webpki roots).
    #[arg(long, env = "PUBSUB_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// One JSON object per line instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    /// Print keys and values as hex.
    #[arg(long, global = true)]
    hex: bool,
    /// Seconds to wait for a connection and for each reply.
    #[arg(long, default_value_t = 10.0, global = true)]
    timeout: f64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Round trip to the gateway.
    Ping,
    /// Publish VALUE, or each line of stdin with `-` (the default).
    Pub(PubArgs),
    /// Subscribe and print messages until Ctrl-C (or --count).
    Sub(SubArgs),
    /// Messages of one partition from OFFSET up to the end (or --count).
    Fetch(FetchArgs),
    /// Earliest and end offsets of a topic's partitions (or the offset at a time).
    Offsets(OffsetsArgs),
    /// A topic's partitions and message counts.
    Meta { topic: String },
    /// The route's scheme and capabilities.
    Info,
}

#[derive(Args)]
struct PubArgs {
    topic: String,
    /// The value; `-` reads values from stdin, one per line.
    value: Option<String>,
    #[arg(long)]
    key: Option<String>,
    /// K=V, repeatable.
    #[arg(long = "header", short = 'H', value_parser = parse_header)]
    headers: Vec<(String, String)>,
    #[arg(long)]
    partition: Option<i32>,
}

#[derive(Args)]
struct SubArgs {
    /// The topic (or use --pattern).
    #[arg(required_unless_present = "pattern", conflicts_with = "pattern")]
    topic: Option<String>,
    /// Regular expression over whole topic names.
    #[arg(long)]
    pattern: Option<String>,
    /// latest, earliest, last, offset:N, timestamp:MS or delta:MS.
    #[arg(long, default_value = "latest", value_parser = parse_start)]
    start: Start,
    #[arg(long)]
    group: Option<String>,
    /// Only messages with header K=V (repeatable: all must match).
    #[arg(long = "header", short = 'H', value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Only these partitions (repeatable).
    #[arg(long = "partition")]
    partitions: Vec<i32>,
    /// Commit each message after printing it (cumulative commit: Kafka, embedded).
    #[arg(long)]
    commit: bool,
    /// Acknowledge each message after printing it (per-message ack schemes).
    #[arg(long)]
    ack: bool,
    /// Exit after N messages.
    #[arg(long)]
    count: Option<u64>,
    /// Pause while this many messages are not committed/acknowledged.
    #[arg(long, default_value_t = 0)]
    max_in_flight: i32,
}

#[derive(Args)]
struct FetchArgs {
    topic: String,
    partition: i32,
    offset: i64,
    /// At most N messages.
    #[arg(long)]
    count: Option<u64>,
}

#[derive(Args)]
struct OffsetsArgs {
    topic: String,
    partition: Option<i32>,
    /// The first offset at or after this time (ms since the epoch); needs PARTITION.
    #[arg(long, requires = "partition")]
    at: Option<i64>,
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s}: expected K=V"))
}

fn parse_start(s: &str) -> Result<Start, String> {
    let num = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("{s}: expected a number after ':'"))
    };
    match s.split_once(':') {
        None => match s {
            "latest" => Ok(Start::Latest),
            "earliest" => Ok(Start::Earliest),
            "last" => Ok(Start::Last),
            _ => Err(format!(
                "{s}: expected latest, earliest, last, offset:N, timestamp:MS or delta:MS"
            )),
        },
        Some(("offset", v)) => Ok(Start::Offset(num(v)?)),
        Some(("timestamp", v)) => Ok(Start::Timestamp(num(v)?)),
        Some(("delta", v)) => Ok(Start::TimeDelta(num(v)?)),
        Some(_) => Err(format!("{s}: expected offset:N, timestamp:MS or delta:MS")),
    }
}

/// Set once Ctrl-C (SIGINT) arrived. The handler is installed before anything else runs
/// (`tokio::signal::ctrl_c()` would install it only when first polled, and a SIGINT before that
/// would kill the process without closing its subscriptions).
type Stop = watch::Receiver<bool>;

fn install_interrupt() -> Result<Stop, Fail> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        let mut sig = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        tokio::spawn(async move {
            if sig.recv().await.is_some() {
                let _ = tx.send(true);
            }
            // Keep the sender: a stopped() that sees it gone would report a Ctrl-C.
            std::future::pending::<()>().await;
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        }
        std::future::pending::<()>().await;
    });
    Ok(rx)
}

/// Resolves once Ctrl-C arrived.
async fn stopped(stop: &mut Stop) {
    if stop.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A failure with its exit code and what to say.
struct Fail(u8, String);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Server { .. } => EXIT_ERROR_REPLY,
            Error::Config(_) => EXIT_LOCAL,
            Error::Url(_) => 2,
            _ => EXIT_CONNECTION,
        };
        Fail(code, e.to_string())
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail(EXIT_LOCAL, e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pubsub: {e}");
            return ExitCode::from(EXIT_LOCAL);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) => {
            // A closed pipe (`| head`) is not worth a message.
            if !msg.contains("Broken pipe") {
                eprintln!("pubsub: {msg}");
            }
            ExitCode::from(code)
        }
    }
}

struct Out {
    json: bool,
    hex: bool,
    stdout: std::io::Stdout,
}

impl Out {
    fn line(&self, s: &str) -> Result<(), Fail> {
        let mut o = self.stdout.lock();
        writeln!(o, "{s}")?;
        o.flush()?;
        Ok(())
    }

    fn json(&self, v: Value) -> Result<(), Fail> {
        self.line(&v.to_string())
    }

    fn bytes_text(&self, b: &[u8]) -> String {
        match std::str::from_utf8(b) {
            Ok(s) if !self.hex && !s.chars().any(|c| c.is_control() && c != '\t') => s.to_string(),
            _ => hex(b),
        }
    }

    fn message(&self, m: &Message) -> Result<(), Fail> {
        if self.json {
            return self.json(pubsub_proto::json::message(m, self.hex));
        }
        let mut line = format!(
            "{:<16} {:>3} {:>8}  {}  ",
            m.topic,
            m.partition,
            m.offset,
            format_ms(m.timestamp)
        );
        if !m.key.is_empty() {
            line.push_str(&format!("[{}] ", self.bytes_text(&m.key)));
        }
        line.push_str(&self.bytes_text(&m.value));
        for h in &m.headers {
            line.push_str(&format!("  {}={}", h.key, self.bytes_text(&h.value)));
        }
        // A group's redelivery says so; first deliveries read as before.
        if m.delivery_attempt > 1 {
            line.push_str(&format!("  (delivery {})", m.delivery_attempt));
        }
        self.line(&line)
    }
}

fn hex(b: &[u8]) -> String {
    pubsub_proto::json::hex(b)
}

/// ms since the epoch as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

async fn run(cli: Cli) -> Result<u8, Fail> {
    let timeout = Duration::from_secs_f64(cli.timeout.max(0.001));
    let mut options = Options::default()
        .connect_timeout(timeout)
        .request_timeout(timeout);
    options.token = cli.token.clone();
    options.ca_file = cli.ca_file.clone();
    // One-shot commands report a lost connection; a subscription rides it out.
    if !matches!(cli.cmd, Cmd::Sub(_)) {
        options.reconnect = None;
    }
    let out = Out {
        json: cli.json,
        hex: cli.hex,
        stdout: std::io::stdout(),
    };
    // `--url a,b` and `--url a --url b` alike; spaces and empty entries (a trailing comma) go.
    let urls: Vec<&str> = cli
        .url
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    let mut stop = install_interrupt()?;
    let client = tokio::select! {
        c = pubsub_client::connect_any(&urls, options) => c?,
        _ = stopped(&mut stop) => return Ok(EXIT_INTERRUPTED),
    };
    let work = async {
        let own = stop.clone();
        let mut stop = stop.clone();
        let quick = async {
            match cli.cmd {
                Cmd::Ping => ping(&client, &out).await,
                Cmd::Pub(a) => publish(&client, &out, a, own.clone()).await,
                Cmd::Sub(a) => subscribe(&client, &out, a, own.clone()).await,
                Cmd::Fetch(a) => fetch(&client, &out, a, own.clone()).await,
                Cmd::Offsets(a) => offsets(&client, &out, a).await,
                Cmd::Meta { topic } => meta(&client, &out, &topic).await,
                Cmd::Info => info(&client, &out).await,
            }
        };
        // pub, sub and fetch end by themselves on Ctrl-C (they clean up); this is for the rest,
        // and only after those had their chance.
        tokio::select! {
            biased;
            r = quick => r,
            _ = async {
                stopped(&mut stop).await;
                tokio::time::sleep(Duration::from_secs(3)).await;
            } => Ok(EXIT_INTERRUPTED),
        }
    };
    let r = work.await;
    client.close().await;
    r
}

async fn ping(client: &pubsub_client::Client, out: &Out) -> Result<u8, Fail> {
    let t = std::time::Instant::now();
    client.ping("pubsub-cli").await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if out.json {
        out.json(json!({"pong": true, "rtt_ms": ms}))?;
    } else {
        out.line(&format!("pong in {ms:.2} ms"))?;
    }
    Ok(0)
}

async fn publish(
    client: &pubsub_client::Client,
    out: &Out,
    a: PubArgs,
    mut stop: Stop,
) -> Result<u8, Fail> {
    let make = |value: String| {
        let mut p = Publish::new(a.topic.clone(), value);
        if let Some(k) = &a.key {
            p = p.key(k.clone());
        }
        for (k, v) in &a.headers {
            p = p.header(k.clone(), v.clone());
        }
        if let Some(part) = a.partition {
            p = p.partition(part);
        }
        p
    };
    let report = |topic: &str, at: pubsub_client::Produced| {
        if out.json {
            out.json(json!({"topic": topic, "partition": at.partition, "offset": at.offset}))
        } else {
            out.line(&format!("{topic} {} {}", at.partition, at.offset))
        }
    };
    match a.value.as_deref() {
        Some(v) if v != "-" => {
            let at = client.produce(make(v.to_string())).await?;
            report(&a.topic, at)?;
        }
        _ => {
            // One at a time: the gateway may run pipelined produces concurrently, and lines
            // must land in the log in input order.
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            let mut interrupted = false;
            loop {
                let line = tokio::select! {
                    l = lines.next_line() => l?,
                    _ = stopped(&mut stop) => { interrupted = true; None }
                };
                let Some(line) = line else { break };
                let at = client.produce(make(line)).await?;
                report(&a.topic, at)?;
            }
            if interrupted {
                return Ok(EXIT_INTERRUPTED);
            }
        }
    }
    Ok(0)
}

async fn subscribe(
    client: &pubsub_client::Client,
    out: &Out,
    a: SubArgs,
    mut stop: Stop,
) -> Result<u8, Fail> {
    let mut what = match (&a.topic, &a.pattern) {
        (Some(t), _) => Subscribe::topic(t.clone()),
        (None, Some(p)) => Subscribe::pattern(p.clone()),
        (None, None) => return Err(Fail(2, "a TOPIC or --pattern is needed".into())),
    };
    what = what.start(a.start).max_in_flight(a.max_in_flight);
    if let Some(g) = &a.group {
        what = what.group(g.clone());
    }
    if !a.partitions.is_empty() {
        what = what.partitions(a.partitions.clone());
    }
    for (k, v) in &a.headers {
        what = what.match_header(k.clone(), v.clone());
    }
    let mut sub = client.subscribe(what).await?;
    if !out.json && std::io::stderr().is_terminal() {
        eprintln!(
            "subscribed to {}; Ctrl-C to stop",
            a.topic.as_deref().or(a.pattern.as_deref()).unwrap_or("")
        );
    }
    let mut seen = 0u64;
    let result = loop {
        if a.count.is_some_and(|n| seen >= n) {
            break Ok(0);
        }
        let event = tokio::select! {
            e = sub.recv() => e,
            _ = stopped(&mut stop) => break Ok(0),
        };
        match event {
            None => break Err(Fail(EXIT_CONNECTION, "connection closed".into())),
            Some(Event::Message(m)) => {
                out.message(&m)?;
                seen += 1;
                if a.commit {
                    sub.commit_message(&m).await?;
                }
                if a.ack {
                    sub.ack(&[&m]).await?;
                }
            }
            Some(Event::Reset { topic, partitions }) => {
                if out.json {
                    out.json(json!({"reset": true, "topic": topic, "partitions": partitions}))?;
                } else {
                    eprintln!("pubsub: {topic} was recreated: starting over at its beginning");
                }
            }
            Some(Event::Error(e)) => eprintln!("pubsub: {e} (retrying)"),
            Some(Event::Gap { count }) => {
                if out.json {
                    out.json(json!({"gap": count}))?;
                } else {
                    eprintln!("pubsub: {count} messages lost before the next (read too slowly)");
                }
            }
            Some(Event::Ended { code, reason }) => {
                break Err(Fail(
                    EXIT_CONNECTION,
                    format!("closed by the gateway: {code} {reason}"),
                ))
            }
        }
    };
    let _ = sub.unsubscribe().await;
    result
}

async fn fetch(
    client: &pubsub_client::Client,
    out: &Out,
    a: FetchArgs,
    mut stop: Stop,
) -> Result<u8, Fail> {
    let end = client
        .list_offset(&a.topic, a.partition, pubsub_client::LATEST)
        .await?;
    let progress = std::io::stdout().is_terminal() && !out.json;
    let mut next = a.offset;
    let mut seen = 0u64;
    let mut interrupted = false;
    // The first fetch always goes out, so an offset outside the log answers the gateway's 416.
    loop {
        if a.count.is_some_and(|n| seen >= n) {
            break;
        }
        let batch = tokio::select! {
            b = client.fetch(&a.topic, a.partition, next, FetchOptions::default()) => b?,
            _ = stopped(&mut stop) => { interrupted = true; break }
        };
        if progress {
            // The progress line goes to stderr and is wiped before messages are printed.
            eprint!("\r\x1b[K");
        }
        for m in &batch {
            if a.count.is_some_and(|n| seen >= n) || m.offset >= end {
                break;
            }
            out.message(m)?;
            seen += 1;
        }
        next = batch.last().map_or(next, |m| m.offset + 1);
        if batch.is_empty() || next >= end {
            break;
        }
        if progress {
            eprint!("fetched {seen}, at offset {next} of {end}");
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    Ok(if interrupted { EXIT_INTERRUPTED } else { 0 })
}

async fn offsets(client: &pubsub_client::Client, out: &Out, a: OffsetsArgs) -> Result<u8, Fail> {
    if let (Some(p), Some(at)) = (a.partition, a.at) {
        let o = client.list_offset(&a.topic, p, at).await?;
        if out.json {
            out.json(json!({"topic": a.topic, "partition": p, "timestamp": at, "offset": o}))?;
        } else {
            out.line(&o.to_string())?;
        }
        return Ok(0);
    }
    let rows: Vec<(i32, i64, i64)> = match a.partition {
        Some(p) => {
            let first = client
                .list_offset(&a.topic, p, pubsub_client::EARLIEST)
                .await?;
            let end = client
                .list_offset(&a.topic, p, pubsub_client::LATEST)
                .await?;
            vec![(p, first, end)]
        }
        None => client
            .metadata(&a.topic)
            .await?
            .partitions
            .iter()
            .map(|p| (p.partition, p.earliest, p.latest))
            .collect(),
    };
    if out.json {
        for (p, first, end) in rows {
            out.json(json!({"topic": a.topic, "partition": p, "earliest": first, "end": end}))?;
        }
    } else {
        out.line(&format!(
            "{:>9} {:>12} {:>12}",
            "PARTITION", "EARLIEST", "END"
        ))?;
        for (p, first, end) in rows {
            out.line(&format!("{p:>9} {first:>12} {end:>12}"))?;
        }
    }
    Ok(0)
}

async fn meta(client: &pubsub_client::Client, out: &Out, topic: &str) -> Result<u8, Fail> {
    let m = client.metadata(topic).await?;
    if out.json {
        let parts: Vec<Value> = m
            .partitions
            .iter()
            .map(|p| json!({"partition": p.partition, "earliest": p.earliest, "end": p.latest, "messages": p.latest - p.earliest}))
            .collect();
        out.json(json!({"topic": m.topic, "partitions": parts}))?;
    } else {
        let total: i64 = m.partitions.iter().map(|p| p.latest - p.earliest).sum();
        out.line(&format!(
            "topic {}: {} partitions, {total} messages",
            m.topic,
            m.partitions.len()
        ))?;
        out.line(&format!(
            "{:>9} {:>12} {:>12} {:>12}",
            "PARTITION", "EARLIEST", "END", "MESSAGES"
        ))?;
        for p in &m.partitions {
            out.line(&format!(
                "{:>9} {:>12} {:>12} {:>12}",
                p.partition,
                p.earliest,
                p.latest,
                p.latest - p.earliest
            ))?;
        }
    }
    Ok(0)
}

fn start_name(n: i32) -> &'static str {
    pb::StartPosition::try_from(n).map_or("?", |s| s.as_str_name())
}

async fn info(client: &pubsub_client::Client, out: &Out) -> Result<u8, Fail> {
    let r = client.route_info().await?;
    let c = r.capabilities.unwrap_or_default();
    let starts: Vec<&str> = c.starts.iter().map(|s| start_name(*s)).collect();
    let flags = [
        ("history", c.history),
        ("fetch", c.fetch),
        ("time_lookup", c.time_lookup),
        ("offsets", c.offsets),
        ("groups", c.groups),
        ("ack", c.ack),
        ("nack", c.nack),
        ("commit", c.commit),
        ("headers", c.headers),
        ("keys", c.keys),
        ("partitions", c.partitions),
        ("string_positions", c.string_positions),
        ("epochs", c.epochs),
    ];
    if out.json {
        let mut caps = serde_json::Map::new();
        for (k, v) in flags {
            caps.insert(k.into(), json!(v));
        }
        caps.insert("starts".into(), json!(starts));
        caps.insert("wildcards".into(), json!(c.wildcards));
        out.json(json!({"route": r.route, "scheme": r.scheme, "capabilities": caps}))?;
    } else {
        out.line(&format!("{:<17} {}", "route", r.route))?;
        out.line(&format!("{:<17} {}", "scheme", r.scheme))?;
        out.line(&format!("{:<17} {}", "starts", starts.join(" ")))?;
        let wildcards = if c.wildcards.is_empty() {
            "none"
        } else {
            &c.wildcards
        };
        out.line(&format!("{:<17} {wildcards}", "wildcards"))?;
        for (k, v) in flags {
            out.line(&format!("{k:<17} {}", if v { "yes" } else { "no" }))?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_parse_from_their_names_and_values() {
        assert_eq!(parse_start("earliest"), Ok(Start::Earliest));
        assert_eq!(parse_start("offset:7"), Ok(Start::Offset(7)));
        assert_eq!(parse_start("delta:60000"), Ok(Start::TimeDelta(60000)));
        assert!(parse_start("offset:x").is_err());
        assert!(parse_start("soon").is_err());
    }

    #[test]
    fn timestamps_print_as_utc() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_709_251_200_123), "2024-03-01T00:00:00.123Z");
    }
}
