use std::time::Duration;

/// What went wrong with a request or a connection.
///
/// [`Error::Server`] is the gateway's own answer (an `ErrorResp`); the others mean no answer
/// came.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway answered an `ErrorResp`. `code` is HTTP-style: 400 bad request (also
    /// "unknown command" and capability errors), 401/403, 404 unknown topic, partition or
    /// subscription, 409, 416 offset out of range, 429 limits, 502/503/504 upstream trouble.
    #[error("{code}: {message}")]
    Server { code: i32, message: String },
    /// The URL cannot be used (scheme, host, token characters).
    #[error("invalid URL: {0}")]
    Url(String),
    /// A connection attempt failed (TCP, TLS, the WebSocket upgrade, or its timeout).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection was lost before the reply; the client may reconnect by itself.
    #[error("connection lost before the reply")]
    Disconnected,
    /// The client was closed (or gave up reconnecting): no more requests.
    #[error("client closed")]
    Closed,
    /// The gateway closed the connection for a reason a reconnect cannot fix (see
    /// [`crate::final_close`]): the client is closed and does not reconnect.
    #[error("closed by the gateway: {code} {reason}")]
    Ended { code: u16, reason: String },
    /// No reply within the request timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The reply was not the one the request asks for, or a frame did not decode.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The subscription is not active on the current connection (closed, or resubscribing).
    #[error("subscription is not active")]
    NotSubscribed,
    /// A local file (a CA bundle) could not be used.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// The gateway's ErrorResp code, when the gateway answered one.
    pub fn code(&self) -> Option<i32> {
        match self {
            Error::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when no connection could be had or it was lost (as opposed to an answer).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Connect(_)
                | Error::Disconnected
                | Error::Closed
                | Error::Ended { .. }
                | Error::Timeout(_)
        )
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
