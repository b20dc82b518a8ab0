//! Why the gateway closes a WebSocket connection: one type with the close frame's code, its
//! reason text and whether a client should reconnect (centrifuge's disconnect codes, kept on
//! the standard WebSocket codes so that clients which only know those keep working).
//!
//! The reason text is part of the protocol: clients tell the closes that must not be retried
//! (route removed, credentials revoked, token expired) from those that share their code and
//! should be (server shutting down, slow consumer) by it. The README's "WebSocket close codes"
//! table lists them; the JS client's `finalClose` and the Rust client's `final_close` read
//! the same pairs.

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Every reason the gateway has to close a connection it accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed, or the connection ended without a close of the gateway's own.
    Normal,
    /// The gateway is shutting down (SIGTERM); another replica, or this one restarted, serves.
    ShuttingDown,
    /// No frame from the client (pongs count) for `idle_timeout_secs`.
    IdleTimeout,
    /// A reload removed the connection's route: reconnecting would be refused with 404.
    RouteRemoved,
    /// A reload rebuilt the route's backend (new upstream settings or credentials): reconnect
    /// and resume on the new one.
    UpstreamChanged,
    /// The client broke the WebSocket protocol: retrying the same code breaks it again.
    ProtocolError,
    /// A frame or message over `max_frame_bytes`.
    MessageTooBig,
    /// The slow-consumer policy `close`: a reconnect resumes from the last position seen.
    SlowConsumer,
    /// The JWT's `exp` (plus leeway) passed with no `cmd_refresh`: only a new token helps.
    TokenExpired,
    /// A reload removed the connection's key or changed its secret.
    CredentialsRevoked,
    /// `max_connections` or `max_connections_per_ip` reached: try again later.
    TooManyConnections,
}

impl CloseReason {
    /// The close frame's status code.
    pub fn code(self) -> CloseCode {
        use CloseReason::*;
        match self {
            Normal => CloseCode::Normal,
            ShuttingDown | IdleTimeout | RouteRemoved => CloseCode::Away,
            UpstreamChanged => CloseCode::Restart,
            ProtocolError => CloseCode::Protocol,
            MessageTooBig => CloseCode::Size,
            SlowConsumer | TokenExpired | CredentialsRevoked => CloseCode::Policy,
            TooManyConnections => CloseCode::Again,
        }
    }

    /// The close frame's reason text, which clients match on (see the module comment).
    pub fn reason(self) -> &'static str {
        use CloseReason::*;
        match self {
            Normal => "",
            ShuttingDown => "server shutting down",
            IdleTimeout => "idle timeout",
            RouteRemoved => "route removed",
            UpstreamChanged => "upstream changed",
            ProtocolError => "protocol error",
            MessageTooBig => "message too big",
            SlowConsumer => "slow consumer",
            TokenExpired => "token expired",
            CredentialsRevoked => "credentials revoked",
            TooManyConnections => "too many connections",
        }
    }

    /// Whether a client should reconnect after this close. A client holding a way to get a
    /// new token may still reconnect after `TokenExpired`; nothing else that says no helps
    /// on a retry.
    pub fn reconnect(self) -> bool {
        use CloseReason::*;
        match self {
            RouteRemoved | ProtocolError | TokenExpired | CredentialsRevoked => false,
            Normal | ShuttingDown | IdleTimeout | UpstreamChanged | MessageTooBig
            | SlowConsumer | TooManyConnections => true,
        }
    }

    /// Whether frames already queued go out before the close frame. A slow consumer's close
    /// does not wait behind the full queue that got it closed.
    pub fn flushes_queue(self) -> bool {
        self != CloseReason::SlowConsumer
    }

    /// Every reason, for the tests and the README table.
    pub const ALL: [CloseReason; 11] = [
        CloseReason::Normal,
        CloseReason::ShuttingDown,
        CloseReason::IdleTimeout,
        CloseReason::RouteRemoved,
        CloseReason::UpstreamChanged,
        CloseReason::ProtocolError,
        CloseReason::MessageTooBig,
        CloseReason::SlowConsumer,
        CloseReason::TokenExpired,
        CloseReason::CredentialsRevoked,
        CloseReason::TooManyConnections,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_that_share_a_code_differ_in_reason_so_clients_can_tell_final_from_retryable() {
        for a in CloseReason::ALL {
            for b in CloseReason::ALL {
                if a != b {
                    assert!(
                        a.code() != b.code() || a.reason() != b.reason(),
                        "{a:?} and {b:?} look the same on the wire"
                    );
                }
            }
        }
    }

    #[test]
    fn only_retries_that_cannot_succeed_say_do_not_reconnect() {
        let final_: Vec<_> = CloseReason::ALL
            .into_iter()
            .filter(|r| !r.reconnect())
            .collect();
        assert_eq!(
            final_,
            [
                CloseReason::RouteRemoved,
                CloseReason::ProtocolError,
                CloseReason::TokenExpired,
                CloseReason::CredentialsRevoked
            ]
        );
    }

    #[test]
    fn codes_and_reasons_are_the_documented_ones() {
        let wire: Vec<(u16, &str)> = CloseReason::ALL
            .into_iter()
            .map(|r| (u16::from(r.code()), r.reason()))
            .collect();
        assert_eq!(
            wire,
            [
                (1000, ""),
                (1001, "server shutting down"),
                (1001, "idle timeout"),
                (1001, "route removed"),
                (1012, "upstream changed"),
                (1002, "protocol error"),
                (1009, "message too big"),
                (1008, "slow consumer"),
                (1008, "token expired"),
                (1008, "credentials revoked"),
                (1013, "too many connections"),
            ]
        );
        assert!(!CloseReason::SlowConsumer.flushes_queue());
        assert!(CloseReason::ShuttingDown.flushes_queue());
    }
}
