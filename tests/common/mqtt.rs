//! MQTT test support: the machine's Mosquitto 2.0 (127.0.0.1:1883) with plain rumqttc v5
//! clients as oracle and interop peer, unique topics per run, and private `mosquitto`
//! processes on free ports for outages.
#![allow(dead_code)]

use std::time::Duration;

use pubsub_gateway::pb::pub_sub_req::Req;
use pubsub_gateway::pb::{CmdAck, CmdKafkaProduce, KafkaHeader, MessagePosition};
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::mpsc;

use super::free_port;

pub const MOSQUITTO: &str = "127.0.0.1:1883";
const PEER_WAIT: Duration = Duration::from_secs(10);

/// A name no other test (or run) uses: `prefix-<pid>-<n>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    super::unique_name(prefix, '-')
}

/// An MQTT route on `uri` to `broker`, with `extra` YAML lines under `upstream` (indented by 6).
pub fn route(uri: &str, broker: &str, extra: &str) -> String {
    format!(
        "routes:\n  - uri: {uri}\n    upstream:\n      scheme: mqtt\n      nodes: [\"{broker}\"]\n      timeout: {{ connect: 2, send: 3, read: 3 }}\n{extra}"
    )
}

/// A plain rumqttc v5 client: what it receives comes out of `next`.
pub struct Peer {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Publish>,
    subacks: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    /// Connects to the shared Mosquitto; fails loudly when it is not running.
    pub async fn connect() -> Peer {
        Peer::connect_to(MOSQUITTO, false).await
    }

    pub async fn connect_to(broker: &str, manual_acks: bool) -> Peer {
        Peer::connect_with(broker, &unique("peer"), true, 0, manual_acks).await
    }

    pub async fn connect_with(
        broker: &str,
        id: &str,
        clean: bool,
        expiry: u32,
        manual_acks: bool,
    ) -> Peer {
        let (host, port) = broker.rsplit_once(':').expect("host:port");
        let mut o = MqttOptions::new(id, host, port.parse().expect("port"));
        o.set_keep_alive(Duration::from_secs(10));
        o.set_clean_start(clean);
        o.set_session_expiry_interval(Some(expiry));
        o.set_manual_acks(manual_acks);
        // rumqttc refuses incoming packets over 10 KiB unless told otherwise.
        o.set_max_packet_size(Some(1 << 20));
        let (client, mut eventloop) = AsyncClient::new(o, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let (stx, subacks) = mpsc::unbounded_channel();
        let (ctx, mut connected) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = ctx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(p);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = stx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(PEER_WAIT, connected.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("Mosquitto at {broker} did not answer: start it (scripts/services.sh)")
            });
        Peer {
            client,
            rx,
            subacks,
            task,
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(&mut self, filter: &str) {
        self.subscribe_filter(Filter::new(filter, QoS::AtLeastOnce))
            .await
    }

    pub async fn subscribe_filter(&mut self, filter: Filter) {
        self.client
            .subscribe_many([filter])
            .await
            .expect("subscribe queued");
        tokio::time::timeout(PEER_WAIT, self.subacks.recv())
            .await
            .expect("SUBACK in time");
    }

    /// The next message received (panics after PEER_WAIT).
    pub async fn next(&mut self) -> Publish {
        tokio::time::timeout(PEER_WAIT, self.rx.recv())
            .await
            .expect("an MQTT message in time")
            .expect("peer running")
    }

    /// Messages that arrive within `wait`.
    pub async fn within(&mut self, wait: Duration) -> Vec<Publish> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(p)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            out.push(p);
        }
        out
    }

    /// Drops the TCP connection without DISCONNECT (a client that vanished).
    pub fn vanish(self) {
        self.task.abort();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A private `mosquitto` on a free port (loopback, anonymous, $SYS every second), for outages
/// and for counting subscriptions; never the machine's shared server.
pub struct PrivateBroker {
    pub port: u16,
    conf: std::path::PathBuf,
    daemon: super::daemon::Daemon,
}

impl PrivateBroker {
    pub async fn start() -> PrivateBroker {
        PrivateBroker::start_with("allow_anonymous true\n").await
    }

    /// A private broker with these extra `mosquitto.conf` lines (TLS files, password_file,
    /// allow_anonymous; lines that belong to the listener come right after it).
    pub async fn start_with(extra: &str) -> PrivateBroker {
        let port = free_port();
        let conf = std::env::temp_dir().join(format!("{}.conf", unique("gw-mosquitto")));
        std::fs::write(
            &conf,
            format!("sys_interval 1\npersistence false\nlistener {port} 127.0.0.1\n{extra}"),
        )
        .expect("mosquitto config");
        let mut b = PrivateBroker {
            port,
            conf,
            daemon: Default::default(),
        };
        b.restart().await;
        b
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let addr = self.addr();
        let mut cmd = std::process::Command::new("/usr/sbin/mosquitto");
        cmd.arg("-c").arg(&self.conf);
        self.daemon.start(&mut cmd, &addr).await;
    }

    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.conf);
    }
}

// Requests and checks the MQTT tests share.

pub fn produce(topic: &str, value: &str, headers: Vec<KafkaHeader>) -> Req {
    Req::CmdKafkaProduce(CmdKafkaProduce {
        topic: topic.into(),
        value: value.as_bytes().to_vec().into(),
        headers,
        ..Default::default()
    })
}

pub fn ack(subscription_id: i64, topic: &str, offsets: &[i64]) -> Req {
    Req::CmdAck(CmdAck {
        subscription_id,
        positions: offsets
            .iter()
            .map(|o| MessagePosition {
                topic: topic.into(),
                partition: 0,
                offset: *o,
                ..Default::default()
            })
            .collect(),
    })
}

pub async fn gateway(extra: &str) -> crate::common::Gateway {
    crate::common::Gateway::start(&route("/mqtt", MOSQUITTO, extra)).await
}

pub async fn peer_publish(
    peer: &Peer,
    topic: &str,
    value: &str,
    props: PublishProperties,
    retain: bool,
) {
    peer.client
        .publish_with_properties(topic, QoS::AtLeastOnce, retain, value.to_owned(), props)
        .await
        .expect("peer publish queued");
}
