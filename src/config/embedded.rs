//! The embedded scheme's options (`upstream.embedded`).

use super::*;

/// In-process broker settings. Retention bounds memory per partition whatever clients do;
/// `max_topics` and `max_groups` bound how many of each clients can create.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedOptions {
    pub partitions: i32,
    pub retention_messages: usize,
    pub retention_bytes: usize,
    pub max_topics: usize,
    pub max_groups: usize,
    /// Seconds a group with no members and no committed offsets is kept before it is dropped.
    pub group_idle_secs: u64,
    /// Durable storage (absent = memory only); with it, the retention limits bound the disk.
    pub storage: Option<StorageOptions>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            partitions: 1,
            // The worst case, every topic full: max_topics x partitions x retention_bytes
            // = 1,000 x 1 x 1 MiB, about 1 GiB of memory, which a small machine survives.
            retention_messages: 10_000,
            retention_bytes: 1 << 20,
            max_topics: 1_000,
            max_groups: 1_000,
            group_idle_secs: 60,
            storage: None,
        }
    }
}

impl SchemeOptions for EmbeddedOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            nodes: NodeCount::None,
            tls: false,
            unverified_tls: false,
            credentials: None,
        }
    }

    fn validate(&self, _up: &Upstream) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if !(1..=1024).contains(&self.partitions) {
            return bad("upstream.embedded.partitions", "must be between 1 and 1024");
        }
        if self.retention_messages == 0 || self.retention_bytes == 0 || self.max_topics == 0 {
            return bad(
                "upstream.embedded",
                "retention_messages, retention_bytes and max_topics must be greater than 0",
            );
        }
        if let Some(Err((key, message))) = self.storage.as_ref().map(|s| s.validate()) {
            return Err((format!("upstream.embedded.storage.{key}"), message));
        }
        Ok(())
    }
}
