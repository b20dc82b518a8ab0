//! Separate binary: these tests call `std::env::set_var`, process-wide and unsound while other threads read the environment.
//!
//! Credentials the gateway reads from environment variables (`key_env`, `password_env`), set by
//! the tests: key-auth keys, and the MQTT, NATS and Redis routes' passwords. Setting a variable
//! races every `getenv` of another thread (librdkafka's, the resolver's), so these tests live
//! apart from tests/it. Support shared by every test lives in tests/common.

#[path = "../common/mod.rs"]
mod common;

mod key_auth;
mod mqtt;
mod nats;
mod redis;
