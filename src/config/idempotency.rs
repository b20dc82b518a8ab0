//! A route's idempotent-publish window (`idempotency:`, beside `upstream` and `delivery`): how
//! long, and for how many keys at most, the gateway remembers a produce's `idempotency_key` to
//! answer a repeat with the first one's position instead of storing it again (README,
//! "Idempotent publish").

use super::*;

/// The longest window: a day of keys is already more than a client's retries need.
pub const MAX_WINDOW_SECS: u64 = 24 * 60 * 60;
/// The most keys a route remembers: each costs its topic and key (up to ~200 bytes).
pub const MAX_KEYS: usize = 10_000_000;

/// A route's idempotency window, checked while parsing (errors name the key and its line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "IdempotencyRaw")]
pub struct Idempotency {
    /// How long a key is remembered after its first produce; 0 = keys are ignored.
    pub window_secs: u64,
    /// Keys remembered at most: past it the oldest key is forgotten early (a repeat of it is
    /// stored again), so memory stays bounded whatever clients send.
    pub max_keys: usize,
}

impl Default for Idempotency {
    fn default() -> Self {
        Idempotency {
            window_secs: 120,
            max_keys: 100_000,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdempotencyRaw {
    #[serde(default)]
    window_secs: Option<u64>,
    #[serde(default)]
    max_keys: Option<usize>,
}

impl TryFrom<IdempotencyRaw> for Idempotency {
    type Error = String;

    fn try_from(r: IdempotencyRaw) -> Result<Self, String> {
        let d = Idempotency::default();
        let window_secs = r.window_secs.unwrap_or(d.window_secs);
        let max_keys = r.max_keys.unwrap_or(d.max_keys);
        if window_secs > MAX_WINDOW_SECS {
            return Err(format!(
                "idempotency.window_secs: at most {MAX_WINDOW_SECS} (a day)"
            ));
        }
        if max_keys == 0 || max_keys > MAX_KEYS {
            return Err(format!("idempotency.max_keys: from 1 to {MAX_KEYS}"));
        }
        Ok(Idempotency {
            window_secs,
            max_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(extra: &str) -> std::result::Result<Config, ConfigError> {
        Config::parse(
            &format!("routes:\n  - uri: /a\n    upstream: {{scheme: embedded}}\n{extra}"),
            "test",
        )
    }

    #[test]
    fn idempotency_defaults_to_two_minutes_and_takes_its_keys() {
        let c = route("").expect("parses");
        assert_eq!(c.routes[0].idempotency, Idempotency::default());
        assert_eq!(c.routes[0].idempotency.window_secs, 120);
        let c = route("    idempotency: {window_secs: 5, max_keys: 10}\n").expect("parses");
        assert_eq!(
            c.routes[0].idempotency,
            Idempotency {
                window_secs: 5,
                max_keys: 10
            }
        );
    }

    #[test]
    fn idempotency_refuses_unknown_keys_and_out_of_range_values() {
        for bad in [
            "    idempotency: {window: 5}\n",
            "    idempotency: {window_secs: 100000}\n",
            "    idempotency: {max_keys: 0}\n",
        ] {
            assert!(route(bad).is_err(), "{bad} should be refused");
        }
    }
}
