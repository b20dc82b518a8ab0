//! The Amazon SNS + SQS scheme's upstream section (`upstream.aws`) and credentials
//! (`plugins.aws-auth`).

use super::*;

/// What a route's topics name: SNS topics (queues behind them made by the gateway) or SQS
/// queues themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AwsTarget {
    #[default]
    Sns,
    Sqs,
}

/// `upstream.aws`. Checked while parsing, so errors name the key and its line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "AwsOptionsRaw")]
pub struct AwsOptions {
    /// The AWS region (also signs requests to a local endpoint such as moto).
    pub region: String,
    pub target: AwsTarget,
    /// What the names of the queues the gateway creates start with.
    pub queue_prefix: String,
    /// FIFO topics and queues (`.fifo` names): the key is the message group id.
    pub fifo: bool,
    /// The visibility timeout of the queues the gateway creates, and of each receive.
    pub visibility_timeout_secs: u32,
    /// How long the gateway keeps extending a delivered, unacknowledged message's visibility
    /// while its member holds it; past that it is left to time out and be redelivered.
    pub max_hold_secs: u32,
    /// Receives before SQS moves a message to `dead_letter_queue` (group queues' redrive policy).
    pub max_receive_count: u32,
    /// The queue group queues dead-letter to (created by the gateway if missing).
    pub dead_letter_queue: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AwsOptionsRaw {
    region: String,
    #[serde(default)]
    target: AwsTarget,
    #[serde(default = "default_queue_prefix")]
    queue_prefix: String,
    #[serde(default)]
    fifo: bool,
    #[serde(default = "default_visibility")]
    visibility_timeout_secs: u32,
    #[serde(default = "default_max_hold")]
    max_hold_secs: u32,
    #[serde(default)]
    max_receive_count: Option<u32>,
    #[serde(default)]
    dead_letter_queue: Option<String>,
}

fn default_queue_prefix() -> String {
    "gw-".into()
}
fn default_visibility() -> u32 {
    30
}
fn default_max_hold() -> u32 {
    3600
}

/// AWS region names: `eu-west-1`, `us-gov-west-1`, `cn-north-1`: lowercase words and digits
/// joined by `-`.
pub fn valid_region(r: &str) -> bool {
    (4..=32).contains(&r.len())
        && r.contains('-')
        && r.starts_with(|c: char| c.is_ascii_lowercase())
        && !r.ends_with('-')
        && !r.contains("--")
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// SQS's queue name rule: 1 to 80 of `[A-Za-z0-9_-]`, a FIFO queue's ending in `.fifo`
/// (counted in the 80).
pub fn valid_queue_name(name: &str, fifo: bool) -> bool {
    valid_name(name, fifo, 80)
}

/// SNS's topic name rule: 1 to 256 of `[A-Za-z0-9_-]`, a FIFO topic's ending in `.fifo`.
pub fn valid_topic_name(name: &str, fifo: bool) -> bool {
    valid_name(name, fifo, 256)
}

/// The rule SNS and SQS share, with their own maximum length (`.fifo` counted in it).
fn valid_name(name: &str, fifo: bool, max: usize) -> bool {
    let base = if fifo {
        match name.strip_suffix(".fifo") {
            Some(b) => b,
            None => return false,
        }
    } else {
        name
    };
    !base.is_empty()
        && name.len() <= max
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl TryFrom<AwsOptionsRaw> for AwsOptions {
    type Error = String;
    fn try_from(r: AwsOptionsRaw) -> Result<Self, String> {
        if !valid_region(&r.region) {
            return Err(format!(
                "aws.region `{}` is not an AWS region name (like eu-west-1)",
                r.region
            ));
        }
        // Room for what the gateway appends: `live-` or `g-`, ids, and `.fifo`.
        if r.queue_prefix.is_empty()
            || r.queue_prefix.len() > 20
            || !r
                .queue_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "aws.queue_prefix `{}`: 1 to 20 of [A-Za-z0-9_-] (SQS queue names, with room for what the gateway appends)",
                r.queue_prefix
            ));
        }
        if !(1..=43_200).contains(&r.visibility_timeout_secs) {
            return Err(
                "aws.visibility_timeout_secs must be between 1 and 43200 (SQS's 12 hours)".into(),
            );
        }
        if !(r.visibility_timeout_secs..=43_200).contains(&r.max_hold_secs) {
            return Err(
                "aws.max_hold_secs must be between visibility_timeout_secs and 43200 (SQS's 12 hours)"
                    .into(),
            );
        }
        if let Some(q) = &r.dead_letter_queue {
            if !valid_queue_name(q, r.fifo) {
                return Err(format!(
                    "aws.dead_letter_queue `{q}` is not an SQS queue name: 1 to 80 of [A-Za-z0-9_-]{}",
                    if r.fifo { ", ending in .fifo (fifo: true)" } else { "" }
                ));
            }
        }
        if r.max_receive_count.is_some() && r.dead_letter_queue.is_none() {
            return Err("aws.max_receive_count needs dead_letter_queue".into());
        }
        let max_receive_count = r.max_receive_count.unwrap_or(5);
        if !(1..=1000).contains(&max_receive_count) {
            return Err("aws.max_receive_count must be between 1 and 1000".into());
        }
        Ok(AwsOptions {
            region: r.region,
            target: r.target,
            queue_prefix: r.queue_prefix,
            fifo: r.fifo,
            visibility_timeout_secs: r.visibility_timeout_secs,
            max_hold_secs: r.max_hold_secs,
            max_receive_count,
            dead_letter_queue: r.dead_letter_queue,
        })
    }
}

/// `plugins.aws-auth`: the environment variables holding the access key the gateway signs with
/// (read when the route is built; never logged). Without it the SDK's own chain finds
/// credentials (environment, profile, web identity, container or instance role).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAuth {
    pub access_key_id_env: String,
    pub secret_access_key_env: String,
    #[serde(default)]
    pub session_token_env: Option<String>,
}

impl SchemeOptions for AwsOptions {
    fn rules(&self) -> SchemeRules {
        SchemeRules {
            // None: the region's AWS endpoints over TLS; one: host:port (443: HTTPS).
            nodes: NodeCount::AtMostOne,
            tls: false,
            unverified_tls: false,
            credentials: Some("aws-auth"),
        }
    }

    fn validate(&self, up: &Upstream) -> Result<(), (String, String)> {
        if let Some(node) = up.nodes.0.first() {
            let ok = node
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err((
                    "upstream.nodes".into(),
                    format!("`{node}` is not host:port"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws_route(opts: &str, rest: &str) -> String {
        format!(
            "routes:\n  - uri: /a\n    upstream:\n      scheme: aws\n      nodes: [\"127.0.0.1:5000\"]\n      aws:\n{opts}{rest}"
        )
    }

    #[test]
    fn aws_options_are_checked_naming_the_key_and_line() {
        let ok = aws_route(
            "        region: eu-west-1\n",
            "    plugins:\n      aws-auth: { access_key_id_env: K, secret_access_key_env: S }\n",
        );
        let c = Config::parse(&ok, "t").unwrap();
        let SchemeConfig::Aws(a) = &c.routes[0].upstream.scheme else {
            panic!("not aws")
        };
        assert_eq!(
            (
                a.target,
                a.queue_prefix.as_str(),
                a.visibility_timeout_secs,
                a.fifo
            ),
            (AwsTarget::Sns, "gw-", 30, false)
        );
        assert_eq!(
            c.routes[0]
                .plugins
                .aws_auth
                .as_ref()
                .unwrap()
                .access_key_id_env,
            "K"
        );
        let r = "        region: eu-west-1\n";
        for (opts, want) in [
            ("        region: EU-West-1\n".to_string(), "aws.region"),
            ("        region: eu\n".to_string(), "aws.region"),
            (format!("{r}        bogus: 1\n"), "bogus"),
            (format!("{r}        target: kinesis\n"), "kinesis"),
            (
                format!("{r}        queue_prefix: a.b\n"),
                "aws.queue_prefix",
            ),
            (
                format!("{r}        queue_prefix: {}\n", "p".repeat(21)),
                "aws.queue_prefix",
            ),
            (
                format!("{r}        visibility_timeout_secs: 0\n"),
                "visibility_timeout_secs",
            ),
            (
                format!("{r}        visibility_timeout_secs: 43201\n"),
                "visibility_timeout_secs",
            ),
            (
                format!("{r}        visibility_timeout_secs: 60\n        max_hold_secs: 30\n"),
                "max_hold_secs",
            ),
            (
                format!("{r}        max_receive_count: 5\n"),
                "needs dead_letter_queue",
            ),
            (
                format!("{r}        dead_letter_queue: dlq\n        max_receive_count: 0\n"),
                "between 1 and 1000",
            ),
            (
                format!("{r}        dead_letter_queue: a.b\n"),
                "aws.dead_letter_queue",
            ),
            (
                format!("{r}        fifo: true\n        dead_letter_queue: dlq\n"),
                ".fifo",
            ),
        ] {
            let err = Config::parse(&aws_route(&opts, ""), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want) && err.contains("line"), "{opts}: {err}");
        }
        let good = format!("{r}        target: sqs\n        fifo: true\n        dead_letter_queue: dlq.fifo\n        max_receive_count: 1000\n");
        assert!(Config::parse(&aws_route(&good, ""), "t").is_ok());
    }

    #[test]
    fn aws_routes_follow_the_schemes_rules() {
        for (text, want) in [
            (
                "routes:\n  - uri: /a\n    upstream: { scheme: aws, nodes: [\"h:1\"] }\n".to_string(),
                "needs `aws:`",
            ),
            (
                "routes:\n  - uri: /a\n    upstream: { scheme: aws, nodes: [\"a:1\", \"b:2\"], aws: { region: eu-west-1 } }\n".to_string(),
                "at most one",
            ),
            (
                "routes:\n  - uri: /a\n    upstream: { scheme: aws, nodes: [\"h\"], aws: { region: eu-west-1 } }\n".to_string(),
                "host:port",
            ),
            (
                "routes:\n  - uri: /a\n    upstream: { scheme: redis, nodes: [\"h:1\"], aws: { region: eu-west-1 } }\n".to_string(),
                "`aws` is an option of the aws scheme, not of redis",
            ),
            (
                "routes:\n  - uri: /a\n    upstream: { scheme: redis, nodes: [\"h:1\"] }\n    plugins:\n      aws-auth: { access_key_id_env: K, secret_access_key_env: S }\n".to_string(),
                "does not apply to the redis scheme",
            ),
            (
                aws_route("        region: eu-west-1\n", "    plugins:\n      aws-auth: { access_key_id: AKIA, secret_access_key_env: S }\n"),
                "access_key_id",
            ),
        ] {
            let err = Config::parse(&text, "t").unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        let aws =
            "routes:\n  - uri: /a\n    upstream: { scheme: aws, aws: { region: us-east-1 } }\n";
        assert!(Config::parse(aws, "t").is_ok(), "no nodes: AWS itself");
    }
}
