//! The embedded broker's durable storage: where its logs live and when they reach the disk.

use super::*;

/// `upstream.embedded.storage`: keeps every partition's log, the topic list and the groups'
/// committed offsets in a directory, so a restart loses nothing. Absent = memory only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageOptions {
    /// The directory (created if missing). A non-empty directory the gateway did not make is
    /// refused, so a typo never writes into someone else's files.
    pub path: PathBuf,
    /// When a produce is acknowledged; see [`Fsync`].
    #[serde(default)]
    pub fsync: Fsync,
    /// A partition's log is split into files of about this size; retention removes whole files.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Age retention: segments whose newest message is older than this are removed (0 = none).
    #[serde(default)]
    pub retention_secs: u64,
    /// Newest messages per partition kept in memory for live subscribers; older ones are read
    /// from disk (through the OS page cache).
    #[serde(default = "default_cache_messages")]
    pub cache_messages: usize,
    /// Bytes of those newest messages kept in memory per partition.
    #[serde(default = "default_cache_bytes")]
    pub cache_bytes: usize,
}

fn default_segment_bytes() -> u64 {
    16 << 20
}
fn default_cache_messages() -> usize {
    1000
}
fn default_cache_bytes() -> usize {
    1 << 20
}

/// Durability policy. `always` (the default): a produce is answered once its message is on disk
/// (fsync); produces arriving during one fsync share the next, so load costs few fsyncs. A power
/// failure loses nothing acknowledged. `every_ms: N`: a produce is answered once written to the
/// OS, the files are fsynced every N ms; a crash of the process loses nothing, a power failure
/// loses up to the last N ms of acknowledged messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    #[default]
    Always,
    EveryMs(u64),
}

impl<'de> Deserialize<'de> for Fsync {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fsync;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`always` or `{ every_ms: N }`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Fsync, E> {
                match s {
                    "always" => Ok(Fsync::Always),
                    _ => Err(E::custom(format!(
                        "unknown fsync policy `{s}`: `always` or `{{ every_ms: N }}`"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fsync, A::Error> {
                let mut out = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "every_ms" || out.is_some() {
                        return Err(de::Error::custom(format!(
                            "unknown fsync key `{key}`: expected `every_ms`"
                        )));
                    }
                    out = Some(Fsync::EveryMs(map.next_value()?));
                }
                out.ok_or_else(|| de::Error::custom("expected `{ every_ms: N }`"))
            }
        }
        d.deserialize_any(V)
    }
}

impl StorageOptions {
    /// What one field alone cannot check; `Err((key, message))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.path.as_os_str().is_empty() {
            return Err(("path", "must not be empty".into()));
        }
        if !(4096..=1 << 30).contains(&self.segment_bytes) {
            return Err(("segment_bytes", "must be between 4096 and 1 GiB".into()));
        }
        if let Fsync::EveryMs(ms) = self.fsync {
            if !(1..=60_000).contains(&ms) {
                return Err(("fsync.every_ms", "must be between 1 and 60000".into()));
            }
        }
        if self.cache_messages == 0 || self.cache_bytes == 0 {
            return Err((
                "cache_messages",
                "cache_messages and cache_bytes must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}
