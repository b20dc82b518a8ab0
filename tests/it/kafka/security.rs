//! TLS and SASL SCRAM from the gateway to Kafka, through a real WebSocket client against the
//! real gateway.
//!
//! Tansu speaks neither TLS nor SASL PLAIN (see ../shared/TEST-BROKER.md), so TLS goes through a
//! socat TLS terminator in front of a plaintext Tansu that advertises the terminator's port; the
//! test CA and server certificate are made at test time with the openssl CLI. SCRAM runs against
//! Tansu itself: users are created on a broker without `--authentication`, which is then
//! restarted with it on the same storage. socat and openssl are required: the tests fail, never
//! skip, without them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::pub_sub_resp::Resp;
use pubsub_gateway::pb::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::common::certs::{make_pki, Pki};
use crate::common::kafka as broker;
use crate::common::*;
use broker::{spawn_tied, tansu_bin, topic, Broker, BrokerOptions};

/// A failing command must answer within the route's `upstream.timeout.read` (5 s, see
/// `route_yaml`) plus the gateway's 1 s margin around blocking calls, plus slack for a loaded
/// 2-core machine.
const FAIL_WITHIN: Duration = Duration::from_secs(5 + 1 + 3);

// ---------------------------------------------------------------------------------------------
// Tools, certificates, the TLS terminator
// ---------------------------------------------------------------------------------------------

/// A program from PATH; panics (the test fails, never skips) when it is not installed.
fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed but tests/it/kafka/security.rs needs it \
                 (Debian/Ubuntu: apt-get install -y {name})"
            )
        })
}

/// socat terminating TLS on `port` and forwarding plaintext to a broker. Started in its own
/// process group with a parent-death signal; dropping it kills the group (socat and the
/// children it forked per connection).
struct Terminator {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Terminator {
    fn start(port: u16, upstream_port: u16, pki: &Pki) -> Terminator {
        let socat = require_tool("socat");
        let log = pki.dir.join(format!("socat-{port}.log"));
        let mut cmd = Command::new(socat);
        cmd.arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            pki.cert.display(),
            pki.key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{upstream_port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("socat log")));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = spawn_tied(cmd).unwrap_or_else(|e| panic!("cannot start socat: {e}"));
        let t = Terminator { port, child, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "socat did not listen on {port}: {}",
                t.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Tansu (plaintext) advertising the port of a socat TLS terminator in front of it.
/// Fields drop in order: terminator, broker, then the certificates.
struct TlsKafka {
    terminator: Terminator,
    _broker: Broker,
    pki: Pki,
}

impl TlsKafka {
    fn start() -> TlsKafka {
        require_tool("socat");
        require_tool("openssl");
        let pki = make_pki();
        let tls_port = free_port();
        let broker = Broker::start_advertising(BrokerOptions::default(), tls_port);
        let terminator = Terminator::start(tls_port, broker.port, &pki);
        TlsKafka {
            terminator,
            _broker: broker,
            pki,
        }
    }

    fn tls_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.terminator.port)
    }

    /// Creates a topic with a direct rdkafka client over TLS (trusting the test CA): the oracle
    /// that the terminator and the advertised address work without the gateway.
    async fn create_topic(&self, name: &str) {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.tls_bootstrap())
            .set("security.protocol", "ssl")
            .set("ssl.ca.location", self.pki.ca.display().to_string());
        create_topic_with(config, name).await;
    }
}

async fn create_topic_with(mut config: ClientConfig, name: &str) {
    let admin: AdminClient<DefaultClientContext> = config
        .set("socket.connection.setup.timeout.ms", "5000")
        .create()
        .expect("admin client");
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let res = admin
        .create_topics(&[NewTopic::new(name, 1, TopicReplication::Fixed(1))], &opts)
        .await
        .expect("create_topics answered");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// A direct librdkafka client: the oracle of why a connection failed
// ---------------------------------------------------------------------------------------------

/// Records what librdkafka reports through its error and log callbacks: that is where it says
/// why a broker connection failed (TLS handshake, SASL authentication). Blocking calls such as
/// a metadata request only ever see a generic transport failure or a timeout.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl rdkafka::ClientContext for Recorder {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("log {level:?} {fac}: {message}"));
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("error {:?}: {reason}", error.rdkafka_error_code()));
    }
}

impl rdkafka::consumer::ConsumerContext for Recorder {}

/// Connects a direct client with these settings and asks for metadata; returns what
/// librdkafka reported, once a report contains `what` or after a few seconds.
async fn direct_client_reports(settings: Vec<(&'static str, String)>, what: &str) -> Vec<String> {
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let mut config = ClientConfig::new();
        config.set("socket.connection.setup.timeout.ms", "3000");
        for (k, v) in &settings {
            config.set(*k, v);
        }
        let consumer: BaseConsumer<Recorder> = config
            .set_log_level(rdkafka::config::RDKafkaLogLevel::Info)
            .create_with_context(Recorder::default())
            .expect("direct client");
        let _ = consumer.fetch_metadata(None, Duration::from_secs(1));
        let seen = || {
            consumer
                .context()
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|r| r.contains(&what))
        };
        // Error events come through the main queue, which only polling serves.
        let deadline = Instant::now() + Duration::from_secs(8);
        while !seen() && Instant::now() < deadline {
            let _ = consumer.poll(Duration::from_millis(100));
        }
        let reports = consumer.context().0.lock().unwrap().clone();
        reports
    })
    .await
    .expect("direct client thread")
}

fn assert_reported(reports: &[String], what: &str) {
    assert!(
        reports.iter().any(|e| e.contains(what)),
        "librdkafka did not report {what:?}; it reported {reports:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Gateway configuration and client helpers
// ---------------------------------------------------------------------------------------------

/// One Kafka route: `uri` to `bootstrap`, with extra `upstream` keys (indented 6) and extra
/// route keys such as `plugins` (indented 4).
fn route_yaml(uri: &str, bootstrap: &str, upstream_extra: &str, route_extra: &str) -> String {
    format!(
        "  - uri: {uri}\n    upstream:\n      scheme: kafka\n      nodes:\n        \"{bootstrap}\": 1\n      timeout: {{ connect: 3, send: 5, read: 5 }}\n{upstream_extra}{route_extra}"
    )
}

fn gateway_yaml(routes: &[String]) -> String {
    format!("routes:\n{}", routes.concat())
}

fn tls_yaml(verify: bool, ca: Option<&Path>) -> String {
    match ca {
        Some(ca) => format!(
            "      tls: {{ verify: {verify}, ca_file: \"{}\" }}\n",
            ca.display()
        ),
        None => format!("      tls: {{ verify: {verify} }}\n"),
    }
}

fn sasl_yaml(username: &str, password: &str, mechanism: &str) -> String {
    format!(
        "    plugins:\n      kafka-proxy:\n        sasl: {{ username: \"{username}\", password: \"{password}\", mechanism: {mechanism} }}\n"
    )
}

/// Produces three messages to partition 0 and fetches them back from offset 0.
async fn produce_and_fetch(c: &mut Client, topic: &str) {
    for i in 0..3 {
        let r = match c
            .request(Req::CmdKafkaProduce(CmdKafkaProduce {
                topic: topic.into(),
                partition: Some(0),
                key: Bytes::from_static(b"k"),
                value: Bytes::from(format!("secure-{i}")),
                ..Default::default()
            }))
            .await
        {
            Resp::KafkaProduceResp(r) => r,
            other => panic!("produce {i} to {topic} failed: {other:?}"),
        };
        assert_eq!((r.partition, r.offset), (0, i), "produce {i}");
    }
    let got = c
        .fetch(CmdKafkaFetch {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            max_messages: 10,
            ..Default::default()
        })
        .await;
    let values: Vec<String> = got.iter().map(value_of).collect();
    assert_eq!(values, ["secure-0", "secure-1", "secure-2"]);
    assert_eq!(offsets_of(&got), [0, 1, 2]);
}

/// A ping answers a pong with the same state within `wait`.
async fn assert_ping(c: &mut Client, wait: Duration) {
    let state = Bytes::from_static(b"still-here");
    let seq = c
        .send(Req::CmdPing(CmdPing {
            state: state.clone(),
        }))
        .await;
    match tokio::time::timeout(wait, c.reply(seq)).await {
        Ok(Resp::PongResp(p)) => assert_eq!(p.state, state),
        Ok(other) => panic!("ping answered {other:?}"),
        Err(_) => panic!("no pong within {wait:?}"),
    }
}

/// The answers to a produce and a fetch that cannot reach Kafka.
struct Failures {
    produce: (i32, String),
    fetch: (i32, String),
}

impl Failures {
    fn both(&self) -> [&(i32, String); 2] {
        [&self.produce, &self.fetch]
    }
}

/// Pipelines a produce and a fetch that must fail, then a ping. The ping is answered at once
/// (a failing upstream does not hold the connection back); the produce and the fetch answer
/// 5xx ErrorResps in APISIX's wording within the configured timeout; a ping still works after.
async fn failing_commands(c: &mut Client, topic: &str) -> Failures {
    let started = Instant::now();
    let produce = c
        .send(Req::CmdKafkaProduce(CmdKafkaProduce {
            topic: topic.into(),
            partition: Some(0),
            value: Bytes::from_static(b"never stored"),
            ..Default::default()
        }))
        .await;
    let fetch = c.send(Req::CmdKafkaFetch(fetch_cmd(topic, 0, 0))).await;
    assert_ping(c, Duration::from_secs(2)).await;
    let mut answer = async |seq: i64| {
        let resp = tokio::time::timeout_at((started + FAIL_WITHIN).into(), c.reply(seq))
            .await
            .unwrap_or_else(|_| panic!("no answer within {FAIL_WITHIN:?}: the command hangs"));
        error_of(resp)
    };
    let produce = answer(produce).await;
    let fetch = answer(fetch).await;
    let elapsed = started.elapsed();
    eprintln!("{topic}: answered after {elapsed:?}: produce {produce:?}, fetch {fetch:?}");
    assert!(elapsed < FAIL_WITHIN, "answered after {elapsed:?}");
    let f = Failures { produce, fetch };
    assert!(
        f.produce
            .1
            .starts_with(&format!("failed to produce message, topic: {topic}, err: ")),
        "{:?}",
        f.produce
    );
    assert!(
        f.fetch.1.starts_with(&format!(
            "failed to fetch message, topic: {topic}, partition: 0, err: "
        )),
        "{:?}",
        f.fetch
    );
    for (code, message) in f.both() {
        assert!(
            (500..600).contains(code),
            "expected a 5xx: {code} {message}"
        );
    }
    assert_ping(c, Duration::from_secs(2)).await;
    f
}

/// The gateway names the cause librdkafka reported through its error callback, never a secret.
fn assert_named_failure(code: i32, message: &str, cause: &str) {
    assert_eq!(code, 502, "{message}");
    assert!(message.contains(cause), "expected `{cause}` in: {message}");
}

/// When librdkafka reports no TLS or authentication cause (TLS against a plaintext listener
/// just times out; a client without SASL is simply disconnected), the answer is a transport
/// failure or "all brokers down" (503), or a timeout (504).
fn assert_generic_connection_failure(code: i32, message: &str) {
    let unavailable = code == 503
        && [
            "err: kafka unavailable (Meta data fetch error: BrokerTransportFailure (Local: Broker transport failure))",
            "err: kafka unavailable (Meta data fetch error: AllBrokersDown (Local: All broker connections are down))",
        ]
        .iter()
        .any(|m| message.ends_with(m));
    let timeout = code == 504
        && [
            "err: kafka did not answer in time (Meta data fetch error: OperationTimedOut (Local: Timed out))",
            "err: kafka did not answer in time",
        ]
        .iter()
        .any(|m| message.ends_with(m));
    assert!(
        unavailable || timeout,
        "unexpected answer {code}: {message}"
    );
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// verify: true with ca_file = the test CA: the certificate (SAN IP 127.0.0.1) is trusted and
/// matches the broker address, so produce and fetch work over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_trusted_ca_produces_and_fetches() {
    tls_route_produces_and_fetches("tls-verified", true, true).await;
}

/// verify: true without the CA: the server certificate is not trusted. Commands answer a 5xx
/// within the configured timeout instead of hanging and the connection stays usable. The
/// cause is certificate verification: the terminator saw the client abort the handshake with
/// "unknown ca", and the gateway answers 502 naming "certificate verify failed", as a direct
/// librdkafka client reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_untrusted_certificate_fails_in_time_and_keeps_the_connection() {
    let k = TlsKafka::start();
    let t = topic("tls-untrusted");
    k.create_topic(&t).await;
    let gw = Gateway::start(&gateway_yaml(&[route_yaml(
        "/kafka",
        &k.tls_bootstrap(),
        &tls_yaml(true, None),
        "",
    )]))
    .await;
    let mut c = gw.connect("/kafka").await;
    let (failures, oracle) = tokio::join!(
        failing_commands(&mut c, &t),
        direct_client_reports(
            vec![
                ("bootstrap.servers", k.tls_bootstrap()),
                ("security.protocol", "ssl".into()),
            ],
            "certificate verify failed"
        )
    );
    for (code, message) in failures.both() {
        assert_named_failure(
            *code,
            message,
            "TLS handshake with the kafka brokers failed",
        );
        assert_named_failure(*code, message, "certificate verify failed");
    }
    assert_reported(&oracle, "certificate verify failed");
    let log = k.terminator.log_text();
    assert!(
        log.contains("alert unknown ca"),
        "socat's log does not show the client rejecting the certificate:\n{log}"
    );
    c.disconnect().await;
    gw.stop().await;
}

/// verify: false against the same untrusted certificate: works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_verification_accepts_the_untrusted_certificate() {
    tls_route_produces_and_fetches("tls-noverify", false, false).await;
}

/// A TLS route (`verify`, with the test CA as `ca_file` when `with_ca`) to the terminator in
/// front of Tansu produces and fetches.
async fn tls_route_produces_and_fetches(topic_prefix: &str, verify: bool, with_ca: bool) {
    let k = TlsKafka::start();
    let t = topic(topic_prefix);
    k.create_topic(&t).await;
    let ca = with_ca.then_some(k.pki.ca.as_path());
    let gw = Gateway::start(&gateway_yaml(&[route_yaml(
        "/kafka",
        &k.tls_bootstrap(),
        &tls_yaml(verify, ca),
        "",
    )]))
    .await;
    let mut c = gw.connect("/kafka").await;
    produce_and_fetch(&mut c, &t).await;
    c.disconnect().await;
    gw.stop().await;
}

/// A TLS route to Tansu's plaintext listener: the same broker works over plaintext, the TLS
/// route fails with a 5xx in time rather than hanging. A TLS handshake is attempted: Tansu
/// never answers the ClientHello, and librdkafka gives up on the connection after
/// `socket.connection.setup.timeout.ms` (the route's `timeout.connect`, 3 s) "in state
/// SSL_HANDSHAKE", then retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_plaintext_listener_fails_clearly() {
    require_tool("openssl");
    let pki = make_pki();
    let broker = Broker::start();
    let t = topic("tls-to-plain");
    broker.create_topic(&t, 1).await;
    let plain = broker.bootstrap();
    let gw = Gateway::start(&gateway_yaml(&[
        route_yaml("/tls", &plain, &tls_yaml(true, Some(&pki.ca)), ""),
        route_yaml("/plain", &plain, "", ""),
    ]))
    .await;
    let mut ok = gw.connect("/plain").await;
    produce_and_fetch(&mut ok, &t).await;
    let mut c = gw.connect("/tls").await;
    let (failures, oracle) = tokio::join!(
        failing_commands(&mut c, &t),
        direct_client_reports(
            vec![
                ("bootstrap.servers", plain.clone()),
                ("security.protocol", "ssl".into()),
                ("ssl.ca.location", pki.ca.display().to_string()),
            ],
            "timed out in state SSL_HANDSHAKE"
        )
    );
    for (code, message) in failures.both() {
        assert_generic_connection_failure(*code, message);
    }
    assert_reported(&oracle, "timed out in state SSL_HANDSHAKE");
    c.disconnect().await;
    ok.disconnect().await;
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// SASL SCRAM
// ---------------------------------------------------------------------------------------------

/// Tansu with `--authentication`, a SCRAM user and a topic created before authentication was
/// turned on (the admin client of common/kafka.rs does not authenticate).
fn scram_broker(mechanism: &str, user: &str, password: &str, topic: &str) -> Broker {
    let first = Broker::start();
    let tansu_mechanism = match mechanism {
        "SCRAM-SHA-256" => "scram256",
        "SCRAM-SHA-512" => "scram512",
        m => panic!("no tansu mechanism for {m}"),
    };
    let out = Command::new(tansu_bin())
        .args([
            "user",
            "create",
            "--broker",
            &format!("tcp://{}", first.bootstrap()),
            "--mechanism",
            tansu_mechanism,
            user,
            password,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run tansu user create");
    assert!(
        out.status.success(),
        "tansu user create failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(first.create_topic(topic, 1));
    let dir = first.stop_keep_dir();
    Broker::start_with(BrokerOptions {
        dir: Some(dir),
        authentication: true,
        ..Default::default()
    })
}

/// Correct credentials produce and fetch. A wrong password answers a 5xx in time, keeps the
/// connection, answers 502 "authentication with the kafka brokers failed", and neither
/// password appears in the answer. A route without SASL fails too (a generic transport
/// failure): the broker really requires authentication.
async fn scram_case(mechanism: &'static str) {
    let user = format!("gw-{}", mechanism.to_lowercase());
    let password = format!("right-{mechanism}-pw");
    let wrong = format!("Wr0ng-{mechanism}-pw");
    let t = topic("scram");
    let (u, p, tt) = (user.clone(), password.clone(), t.clone());
    let broker = tokio::task::spawn_blocking(move || scram_broker(mechanism, &u, &p, &tt))
        .await
        .expect("broker setup");
    let b = broker.bootstrap();
    let gw = Gateway::start(&gateway_yaml(&[
        route_yaml("/good", &b, "", &sasl_yaml(&user, &password, mechanism)),
        route_yaml("/bad", &b, "", &sasl_yaml(&user, &wrong, mechanism)),
        route_yaml("/none", &b, "", ""),
    ]))
    .await;

    let mut good = gw.connect("/good").await;
    produce_and_fetch(&mut good, &t).await;

    let mut bad = gw.connect("/bad").await;
    let mut none = gw.connect("/none").await;
    let (bad_failures, none_failures, oracle) = tokio::join!(
        failing_commands(&mut bad, &t),
        failing_commands(&mut none, &t),
        direct_client_reports(
            vec![
                ("bootstrap.servers", b.clone()),
                ("security.protocol", "sasl_plaintext".into()),
                ("sasl.mechanism", mechanism.into()),
                ("sasl.username", user.clone()),
                ("sasl.password", wrong.clone()),
            ],
            "SASL authentication error"
        )
    );
    for (code, message) in bad_failures.both() {
        assert!(
            !message.contains(&wrong) && !message.contains(&password),
            "a password leaked into the answer: {message}"
        );
        assert_named_failure(
            *code,
            message,
            "authentication with the kafka brokers failed",
        );
    }
    for (code, message) in none_failures.both() {
        assert_generic_connection_failure(*code, message);
    }
    assert_reported(&oracle, "SASL authentication error");

    // The good connection is unaffected by the failing routes.
    let got = good.fetch(fetch_cmd(&t, 0, 2)).await;
    assert_eq!(offsets_of(&got), [2]);

    for c in [good, bad, none] {
        c.disconnect().await;
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_sha_256() {
    scram_case("SCRAM-SHA-256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_sha_512() {
    scram_case("SCRAM-SHA-512").await;
}
