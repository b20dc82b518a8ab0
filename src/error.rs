//! The gateway's one error type, and the one place it becomes an `ErrorResp` code.

use thiserror::Error;

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// APISIX's wording for an undecodable frame.
    #[error("wrong command")]
    WrongCommand,
    /// APISIX's wording for a command with no handler on this route's scheme.
    #[error("unknown command")]
    UnknownCommand,
    #[error("{0}")]
    BadRequest(String),
    /// The route's scheme lacks a capability the request needs (see `RouteCapabilities`).
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Kafka's error name, so clients can match on it whatever the backend.
    #[error("UNKNOWN_TOPIC_OR_PARTITION")]
    UnknownTopicOrPartition,
    #[error("unknown subscription id {0}")]
    UnknownSubscription(i64),
    #[error("OFFSET_OUT_OF_RANGE (offset {offset} not in [{earliest}, {end}])")]
    OffsetOutOfRange {
        offset: i64,
        earliest: i64,
        end: i64,
    },
    /// The request conflicts with the state it acts on (a commit for a partition this group
    /// member does not own).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Overloaded(String),
    /// The upstream answered with an error.
    #[error("{0}")]
    Upstream(String),
    /// The upstream could not be reached.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Timeout(String),
    /// The embedded broker's disk is full: writes are refused, reads go on.
    #[error("{0}")]
    InsufficientStorage(String),
    /// Kafka's error name: a stored record no longer reads back (bit rot found at read time).
    /// Names where a client may resume, as a Kafka consumer seeks past a corrupt record.
    #[error("CORRUPT_MESSAGE (offset {offset} is unreadable: damaged record in segment {segment:020}.log; the next readable offset is {next})")]
    CorruptMessage {
        offset: i64,
        next: i64,
        segment: i64,
    },
    /// A failure with the operation it belongs to, worded like APISIX:
    /// "failed to fetch message, topic: T, partition: P, err: E".
    #[error("{context}, err: {source}")]
    Context {
        context: String,
        source: Box<GatewayError>,
    },
}

impl GatewayError {
    pub fn context(self, context: impl Into<String>) -> Self {
        GatewayError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The HTTP-style `ErrorResp.code` (see proto/pubsub.proto).
    pub fn code(&self) -> i32 {
        match self {
            GatewayError::WrongCommand
            | GatewayError::UnknownCommand
            | GatewayError::BadRequest(_)
            | GatewayError::Unsupported(_) => 400,
            GatewayError::Unauthorized(_) => 401,
            GatewayError::Forbidden(_) => 403,
            GatewayError::UnknownTopicOrPartition | GatewayError::UnknownSubscription(_) => 404,
            GatewayError::Conflict(_) => 409,
            GatewayError::OffsetOutOfRange { .. } => 416,
            GatewayError::Overloaded(_) => 429,
            GatewayError::Upstream(_) => 502,
            GatewayError::Unavailable(_) => 503,
            GatewayError::Timeout(_) => 504,
            GatewayError::InsufficientStorage(_) => 507,
            GatewayError::CorruptMessage { .. } => 500,
            GatewayError::Context { source, .. } => source.code(),
        }
    }

    pub fn to_error_resp(&self) -> crate::pb::ErrorResp {
        crate::pb::ErrorResp {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_apisix_wording_and_inner_code() {
        let e = GatewayError::OffsetOutOfRange {
            offset: 999,
            earliest: 0,
            end: 30,
        }
        .context("failed to fetch message, topic: t, partition: 0");
        assert_eq!(e.code(), 416);
        assert_eq!(
            e.to_string(),
            "failed to fetch message, topic: t, partition: 0, err: OFFSET_OUT_OF_RANGE (offset 999 not in [0, 30])"
        );
    }
}
