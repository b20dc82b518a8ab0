//! Every scheme with a broker, as tables of tests see it: a route to the machine's broker, a
//! topic name of its syntax no other test uses, and the broker's own client as publisher.
#![allow(dead_code)]

use std::time::Duration;

use super::{mqtt, nats, rabbitmq as rabbit, redis_support};

/// The live schemes: plain subscriptions with no history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    CoreNats,
    Rabbitmq,
    RedisPubsub,
    Mqtt,
}

pub const LIVE: [Live; 4] = [
    Live::CoreNats,
    Live::Rabbitmq,
    Live::RedisPubsub,
    Live::Mqtt,
];

impl Live {
    /// A route on `uri` to the machine's broker (`routes:` and below), with what the scheme's
    /// topics need (RabbitMQ: its own exchange, `exchange`).
    pub fn route(self, uri: &str, exchange: &str) -> String {
        match self {
            Live::CoreNats => nats::core_route(uri, nats::NATS),
            Live::Rabbitmq => rabbit::route(uri, rabbit::AMQP, exchange, ""),
            Live::RedisPubsub => redis_support::pubsub_route(uri, redis_support::REDIS),
            Live::Mqtt => mqtt::route(uri, mqtt::MOSQUITTO, ""),
        }
    }

    /// A topic name of the scheme's syntax that no other test or run uses.
    pub fn topic(self, prefix: &str) -> String {
        match self {
            Live::CoreNats => nats::unique(prefix),
            Live::Rabbitmq => rabbit::unique(prefix),
            Live::RedisPubsub => redis_support::unique(prefix),
            Live::Mqtt => mqtt::unique(prefix),
        }
    }

    /// The broker's own client, publishing to `exchange` where the scheme has one.
    pub async fn publisher(self, exchange: &str) -> Publisher {
        match self {
            Live::CoreNats => Publisher::Nats(nats::oracle().await),
            Live::Rabbitmq => {
                let conn = rabbit::oracle().await;
                let ch = rabbit::channel(&conn).await;
                // The exchange as the gateway declares it, so either may come first.
                let _ = rabbit::plain_queue(&ch, exchange, "unused").await;
                Publisher::Rabbit(conn, ch, exchange.to_owned())
            }
            Live::RedisPubsub => Publisher::Redis(redis_support::oracle().await),
            Live::Mqtt => Publisher::Mqtt(mqtt::Peer::connect().await),
        }
    }
}

#[allow(clippy::large_enum_variant)]
pub enum Publisher {
    Nats(async_nats::Client),
    Rabbit(lapin::Connection, lapin::Channel, String),
    Redis(::redis::aio::MultiplexedConnection),
    Mqtt(mqtt::Peer),
}

impl Publisher {
    /// Deletes what the publisher declared on the shared broker (a RabbitMQ exchange).
    pub async fn cleanup(&self) {
        if let Publisher::Rabbit(_, ch, exchange) = self {
            rabbit::cleanup(ch, &[exchange], &[]).await;
        }
    }

    /// Publishes `body` to `topic`; done once the broker has it.
    pub async fn publish(&mut self, topic: &str, body: Vec<u8>) {
        match self {
            Publisher::Nats(nc) => {
                nc.publish(topic.to_owned(), body.into())
                    .await
                    .expect("NATS publish");
                nc.flush().await.expect("NATS flush");
            }
            Publisher::Rabbit(_, ch, exchange) => {
                rabbit::publish(ch, exchange, topic, &body, Default::default()).await
            }
            Publisher::Redis(conn) => {
                let _: i64 = ::redis::cmd("PUBLISH")
                    .arg(topic)
                    .arg(body)
                    .query_async(conn)
                    .await
                    .expect("Redis PUBLISH");
            }
            Publisher::Mqtt(peer) => {
                tokio::time::timeout(
                    Duration::from_secs(10),
                    peer.client.publish(
                        topic,
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                        false,
                        body,
                    ),
                )
                .await
                .expect("MQTT publish in time")
                .expect("MQTT publish queued");
            }
        }
    }
}
