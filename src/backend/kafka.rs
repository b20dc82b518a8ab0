//! Kafka scheme (being written).
use super::Backend;
use crate::config::Route;
pub struct KafkaBackend;
impl KafkaBackend {
    pub fn new(_route: &Route) -> Result<KafkaBackend, String> {
        Ok(KafkaBackend)
    }
}
impl Backend for KafkaBackend {}
