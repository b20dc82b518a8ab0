//! A route's delivery policy (`delivery:`, beside `upstream` and `plugins`): how often a group
//! message is delivered at most, how long a nack waits, where a message goes when delivery gives
//! up. One shape for every scheme; each maps it onto its broker's own mechanism or runs it in the
//! gateway (README, "At-least-once delivery").

use super::*;

/// The longest a nack waits: a client cannot park messages in the gateway for days.
pub const MAX_BACKOFF_MS: u64 = 12 * 60 * 60 * 1000;

/// A route's delivery policy, checked while parsing (errors name the key and its line).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "DeliveryRaw")]
pub struct DeliveryPolicy {
    /// Deliveries of one message at most (0 = no limit); then it is dead-lettered, or dropped
    /// without `dead_letter`.
    pub max_deliveries: u32,
    pub backoff: Backoff,
    /// A topic of the same broker that receives the messages delivery gave up on.
    pub dead_letter: Option<String>,
    /// A nacked or unacknowledged message holds back later ones with the same key.
    pub ordered: bool,
}

/// The wait of a nack without `delay_ms`: `min_ms * 2^(attempt-1)`, at most `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub min_ms: u64,
    pub max_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryRaw {
    #[serde(default)]
    max_deliveries: u32,
    #[serde(default)]
    backoff: Option<Backoff>,
    #[serde(default)]
    dead_letter: Option<String>,
    #[serde(default)]
    ordered: bool,
}

impl TryFrom<DeliveryRaw> for DeliveryPolicy {
    type Error = String;

    fn try_from(r: DeliveryRaw) -> Result<Self, String> {
        if let Some(b) = &r.backoff {
            if b.min_ms > b.max_ms {
                return Err(format!(
                    "delivery.backoff: min_ms ({}) is above max_ms ({})",
                    b.min_ms, b.max_ms
                ));
            }
            if b.max_ms > MAX_BACKOFF_MS {
                return Err(format!(
                    "delivery.backoff.max_ms: at most {MAX_BACKOFF_MS} (12 hours)"
                ));
            }
        }
        if let Some(d) = &r.dead_letter {
            if d.is_empty() || d.len() > 249 {
                return Err("delivery.dead_letter: 1 to 249 bytes".into());
            }
            if r.max_deliveries == 0 {
                return Err(
                    "delivery.dead_letter needs delivery.max_deliveries: without a limit nothing is ever dead-lettered"
                        .into(),
                );
            }
        }
        Ok(DeliveryPolicy {
            max_deliveries: r.max_deliveries,
            backoff: r.backoff.unwrap_or_default(),
            dead_letter: r.dead_letter,
            ordered: r.ordered,
        })
    }
}

impl DeliveryPolicy {
    /// What the route's scheme runs of the policy in this version: a policy a scheme would
    /// silently ignore is refused, naming the key.
    pub fn validate(&self, scheme: &SchemeConfig) -> Result<(), (String, String)> {
        if *self == DeliveryPolicy::default() {
            return Ok(());
        }
        match scheme {
            SchemeConfig::Embedded(_) => Ok(()),
            // Kafka groups: all of it run in the gateway's group member.
            SchemeConfig::Kafka(_) => Ok(()),
            // JetStream: the group consumer's max_deliver (or the gateway's count with a dead
            // letter), and the backoff on nacks.
            SchemeConfig::Nats(n) if n.is_jetstream() => {
                if self.ordered {
                    return Err((
                        "delivery.ordered".into(),
                        "not implemented on JetStream in this version".into(),
                    ));
                }
                Ok(())
            }
            // Redis Streams: the pending list's delivery count, dead letters XADDed by the
            // gateway, and the backoff on nacks.
            SchemeConfig::Redis(r) if r.mode == RedisMode::Streams => {
                if self.ordered {
                    return Err((
                        "delivery.ordered".into(),
                        "not implemented on Redis Streams in this version".into(),
                    ));
                }
                Ok(())
            }
            SchemeConfig::Rabbitmq(o) => self.validate_rabbitmq(o),
            // MQTT shared subscriptions: retries, backoff and dead letters run by the gateway.
            SchemeConfig::Mqtt(_) => {
                if self.ordered {
                    return Err((
                        "delivery.ordered".into(),
                        "not implemented on MQTT in this version".into(),
                    ));
                }
                if let Some(d) = &self.dead_letter {
                    if d.contains(['+', '#']) || d.starts_with('$') || d.contains('\0') {
                        return Err((
                            "delivery.dead_letter".into(),
                            "an MQTT topic name: no `+` or `#` wildcards, not a `$` topic".into(),
                        ));
                    }
                }
                Ok(())
            }
            other => Err((
                "delivery".into(),
                format!(
                    "not implemented on the {} scheme in this version (embedded, Kafka, JetStream, Redis Streams, RabbitMQ and MQTT only)",
                    other.scheme()
                ),
            )),
        }
    }

    /// RabbitMQ group queues: the quorum queue's delivery count, dead letters published by the
    /// gateway to an exchange, the backoff on nacks. The route's own `rabbitmq.max_deliveries`
    /// and `dead_letter_exchange` (RabbitMQ dead-letters itself, with `x-death`) do the same
    /// job differently: one or the other.
    fn validate_rabbitmq(&self, o: &RabbitOptions) -> Result<(), (String, String)> {
        let refuse = |key: &str, why: &str| Err((key.to_owned(), why.to_owned()));
        if o.queue_type == QueueType::Stream {
            return refuse(
                "delivery",
                "not on RabbitMQ stream routes: a stream group commits offsets, nothing is delivered again",
            );
        }
        if self.ordered {
            return refuse(
                "delivery.ordered",
                "not implemented on RabbitMQ in this version",
            );
        }
        if self.max_deliveries > 0 && o.queue_type != QueueType::Quorum {
            return refuse(
                "delivery.max_deliveries",
                "needs rabbitmq.queue_type: quorum (classic queues do not count deliveries)",
            );
        }
        if self.max_deliveries > 0 && o.max_deliveries.is_some() {
            return refuse(
                "delivery.max_deliveries",
                "set either delivery.max_deliveries (the gateway dead-letters, x-dead-letter-* headers) or rabbitmq.max_deliveries (RabbitMQ does, x-death), not both",
            );
        }
        if let Some(d) = &self.dead_letter {
            if o.dead_letter_exchange.is_some() {
                return refuse(
                    "delivery.dead_letter",
                    "set either delivery.dead_letter or rabbitmq.dead_letter_exchange, not both",
                );
            }
            if d.len() > 255 || d.chars().any(char::is_control) {
                return refuse(
                    "delivery.dead_letter",
                    "an exchange name: at most 255 bytes, no control characters",
                );
            }
        }
        Ok(())
    }

    /// How long a nack without a delay of its own waits before the `attempt`th delivery's
    /// message goes out again.
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        let b = self.backoff;
        let shift = attempt.saturating_sub(1).min(40);
        let ms = b.min_ms.saturating_mul(1u64 << shift).min(b.max_ms);
        Duration::from_millis(ms)
    }

    /// How long a message nacked with `delay` after its `attempts`th delivery waits: the
    /// nack's own delay, or the backoff when it names none.
    pub fn nack_wait(&self, delay: Duration, attempts: u32) -> Duration {
        if delay.is_zero() {
            self.backoff_for(attempts)
        } else {
            delay
        }
    }

    /// Whether a message delivered `attempts` times may go out again.
    pub fn may_deliver_again(&self, attempts: u32) -> bool {
        self.max_deliveries == 0 || attempts < self.max_deliveries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(delivery: &str) -> String {
        format!(
            "routes:\n  - uri: /a\n    upstream: {{ scheme: embedded }}\n    delivery:\n{delivery}"
        )
    }

    #[test]
    fn a_delivery_policy_parses_with_every_key() {
        let c = Config::parse(
            &route("      max_deliveries: 5\n      backoff: { min_ms: 1000, max_ms: 60000 }\n      dead_letter: game-dlq\n      ordered: true\n"),
            "t",
        )
        .unwrap();
        let d = &c.routes[0].delivery;
        assert_eq!(d.max_deliveries, 5);
        assert_eq!(d.dead_letter.as_deref(), Some("game-dlq"));
        assert!(d.ordered);
        assert_eq!(d.backoff_for(1), Duration::from_secs(1));
        assert_eq!(d.backoff_for(3), Duration::from_secs(4));
        assert_eq!(d.backoff_for(100), Duration::from_secs(60));
        assert!(d.may_deliver_again(4) && !d.may_deliver_again(5));
    }

    #[test]
    fn delivery_policy_errors_name_the_key_and_line() {
        let err = Config::parse(&route("      max_deliverys: 5\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_deliverys") && err.contains("line 5"),
            "{err}"
        );
        let err = Config::parse(&route("      backoff: { min_ms: 10, max_ms: 5 }\n"), "t")
            .unwrap_err()
            .to_string();
        // Checks across keys name the route's line.
        assert!(
            err.contains("routes[0]: delivery.backoff") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse(&route("      dead_letter: dlq\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs delivery.max_deliveries"), "{err}");
        let err = Config::parse(
            &route("      backoff: { min_ms: 1, max_ms: 5, step: 2 }\n"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("step") && err.contains("line 5"), "{err}");
    }

    #[test]
    fn a_policy_is_refused_where_the_scheme_would_ignore_it() {
        // Core NATS has no acknowledgements: nothing to retry.
        let text = "routes:\n  - uri: /a\n    upstream: { scheme: nats, nodes: [\"h:1\"] }\n    delivery: { max_deliveries: 3 }\n";
        let err = Config::parse(text, "t").unwrap_err().to_string();
        assert!(
            err.contains("routes[0].delivery") && err.contains("nats"),
            "{err}"
        );
        // MQTT runs all but ordered in the gateway; a dead-letter topic is a topic name.
        let mqtt = "routes:\n  - uri: /a\n    upstream: { scheme: mqtt, nodes: [\"h:1\"] }\n    delivery: { max_deliveries: 3, dead_letter: game/dlq }\n";
        Config::parse(mqtt, "t").unwrap();
        for bad in ["game/+", "$SYS/dlq"] {
            let err = Config::parse(&mqtt.replace("game/dlq", &format!("\"{bad}\"")), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains("routes[0].delivery.dead_letter"), "{err}");
        }
        let err = Config::parse(&mqtt.replace("dlq }", "dlq, ordered: true }"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("routes[0].delivery.ordered"), "{err}");
        // Kafka runs all of it, ordered included.
        let kafka = "routes:\n  - uri: /a\n    upstream: { scheme: kafka, nodes: [\"h:1\"] }\n    delivery: { max_deliveries: 3, dead_letter: dlq }\n";
        Config::parse(kafka, "t").unwrap();
        Config::parse(&kafka.replace("dlq }", "dlq, ordered: true }"), "t").unwrap();
        // JetStream runs max_deliveries, backoff and dead letters, not yet ordered.
        let js = "routes:\n  - uri: /a\n    upstream: { scheme: nats, nodes: [\"h:4222\"], nats: { stream: S } }\n    delivery: { max_deliveries: 3, backoff: { min_ms: 10, max_ms: 20 }, dead_letter: dlq }\n";
        Config::parse(js, "t").unwrap();
        let err = Config::parse(&js.replace("dlq }", "dlq, ordered: true }"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("routes[0].delivery.ordered"), "{err}");
    }

    #[test]
    fn rabbitmq_takes_a_policy_on_quorum_queues_and_refuses_it_beside_its_own_keys() {
        let route = |rabbit: &str, delivery: &str| {
            format!("routes:\n  - uri: /a\n    upstream: {{ scheme: rabbitmq, nodes: [\"h:5672\"], rabbitmq: {{ exchange: x{rabbit} }} }}\n    delivery: {{ {delivery} }}\n")
        };
        let err = |rabbit: &str, delivery: &str| {
            Config::parse(&route(rabbit, delivery), "t")
                .unwrap_err()
                .to_string()
        };
        let quorum = ", queue_type: quorum";
        Config::parse(&route(quorum, "max_deliveries: 3, dead_letter: dlx"), "t").unwrap();
        // The backoff alone needs no count: classic queues take it.
        Config::parse(&route("", "backoff: { min_ms: 10, max_ms: 20 }"), "t").unwrap();
        let e = err("", "max_deliveries: 3");
        assert!(
            e.contains("delivery.max_deliveries") && e.contains("quorum"),
            "{e}"
        );
        let e = err(&format!("{quorum}, max_deliveries: 2"), "max_deliveries: 3");
        assert!(e.contains("not both"), "{e}");
        let e = err(
            &format!("{quorum}, dead_letter_exchange: d"),
            "max_deliveries: 3, dead_letter: dlx",
        );
        assert!(
            e.contains("delivery.dead_letter") && e.contains("not both"),
            "{e}"
        );
        let e = err(
            ", queue_type: stream",
            "backoff: { min_ms: 10, max_ms: 20 }",
        );
        assert!(e.contains("stream"), "{e}");
        let e = err(quorum, "ordered: true");
        assert!(e.contains("delivery.ordered"), "{e}");
    }

    #[test]
    fn a_route_without_a_policy_redelivers_at_once_without_limit() {
        let c = Config::parse(
            "routes:\n  - uri: /a\n    upstream: { scheme: embedded }\n",
            "t",
        )
        .unwrap();
        let d = &c.routes[0].delivery;
        assert_eq!(d.backoff_for(3), Duration::ZERO);
        assert!(d.may_deliver_again(u32::MAX - 1));
    }
}
