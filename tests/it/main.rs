//! Integration tests in one binary: the real gateway (in process on 127.0.0.1:0, or its binary
//! as a process of its own) against the machine's brokers, with each broker's own client as
//! oracle and peer. Support shared by every test lives in tests/common.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/kafka.rs"]
mod kafka;
#[path = "../common/mqtt.rs"]
mod mqtt;
#[path = "../common/nats.rs"]
mod nats;
#[path = "../common/proc.rs"]
mod proc;
#[path = "../common/rabbitmq.rs"]
mod rabbit;
#[path = "../common/redis.rs"]
mod redis_support;
#[path = "../common/schemes.rs"]
mod schemes;

mod client_resume;
mod ended;
mod failover;
#[cfg(feature = "gcp-pubsub")]
mod gcp;
mod handshakes;
mod live_memory;
mod reload;
mod replicas;
mod resets;
