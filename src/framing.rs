//! What a connection's frames hold: binary protobuf (the default, APISIX's wire format) or, for
//! a client that asked for the `pubsub.json` subprotocol, text frames holding the proto3 JSON
//! mapping of `PubSubReq` and `PubSubResp` (pbjson's serde impls, generated from the proto file).
//!
//! Replies and pushes are built as protobuf once (codec.rs, record.rs) whatever the session
//! speaks; a JSON session's writer decodes each finished frame into `PubSubResp` and writes it as
//! JSON. A binary session never comes here.

use serde::Deserialize as _;

use crate::error::GatewayError;
use crate::pb::{PubSubReq, PubSubResp};

/// The subprotocol a client asks for to speak JSON.
pub const JSON_PROTOCOL: &str = "pubsub.json";

/// What a session's frames hold, chosen at the upgrade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// Binary frames holding protobuf; text frames are ignored, as APISIX does.
    #[default]
    Binary,
    /// Text frames holding proto3 JSON; a binary frame is answered with an error.
    Json,
}

/// A JSON request that was refused: the sequence it carried when one could be read (0 when
/// not), so the client can match the error to its request, and why.
#[derive(Debug)]
pub struct Refused {
    pub sequence: i64,
    pub error: GatewayError,
}

/// Reads one JSON request. Unknown fields, wrong types and out-of-range numbers are refused
/// (a typo in a hand-written request is answered, not silently dropped); serde_json's recursion
/// limit (128 levels) keeps deep nesting from exhausting the stack (typed as it is, the request is refused
/// at the first bracket its shape has no room for).
pub fn request(text: &str) -> Result<PubSubReq, Refused> {
    let refuse = |message: String| Refused {
        sequence: sequence_of(text),
        error: GatewayError::BadRequest(message),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let req = PubSubReq::deserialize(&mut de)
        .and_then(|req| de.end().map(|()| req))
        .map_err(|e| refuse(format!("invalid JSON request: {e}")))?;
    Ok(req)
}

/// The `sequence` of a request that could not be read whole, when it is a JSON object whose
/// `sequence` is an integer (or a string holding one); 0 otherwise. Only refused requests pay
/// for this second parse.
fn sequence_of(text: &str) -> i64 {
    #[derive(serde::Deserialize)]
    struct Seq {
        sequence: serde_json::Value,
    }
    match serde_json::from_str::<Seq>(text).map(|s| s.sequence) {
        Ok(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
        Ok(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A finished reply or push frame (protobuf) as JSON text.
pub fn response(frame: &[u8]) -> String {
    use prost::Message as _;
    let json = PubSubResp::decode(frame)
        .map_err(|e| e.to_string())
        .and_then(|resp| serde_json::to_string(&resp).map_err(|e| e.to_string()));
    match json {
        Ok(json) => json,
        // The gateway's own frames always decode (codec's tests); should one not, the client
        // hears of it instead of waiting for a reply that never comes.
        Err(e) => {
            tracing::error!(error = %e, "a reply frame did not convert to JSON");
            let resp = PubSubResp {
                sequence: 0,
                resp: Some(crate::pb::pub_sub_resp::Resp::ErrorResp(
                    crate::pb::ErrorResp {
                        code: 500,
                        message: "internal error: a reply could not be written as JSON".into(),
                    },
                )),
            };
            serde_json::to_string(&resp).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::pub_sub_req::Req;

    #[test]
    fn a_request_reads_from_proto3_json_with_int64_as_strings_and_bytes_as_base64() {
        let req = request(r#"{"sequence":"7","cmdPing":{"state":"aGk="}}"#).unwrap();
        assert_eq!(req.sequence, 7);
        let Some(Req::CmdPing(p)) = req.req else {
            panic!("{req:?}")
        };
        assert_eq!(&p.state[..], b"hi");
        // Numbers as numbers and the proto field names are accepted too.
        let req = request(r#"{"sequence":8,"cmd_ping":{"state":""}}"#).unwrap();
        assert_eq!(req.sequence, 8);
    }

    #[test]
    fn a_refused_request_keeps_its_sequence_when_it_has_one() {
        let e = request(r#"{"sequence":"9","cmdPing":{"bogus":1}}"#).unwrap_err();
        assert_eq!(e.sequence, 9);
        assert!(e.error.to_string().contains("bogus"), "{}", e.error);
        // proto3 JSON readers take an int64 as a number too.
        let e = request(r#"{"sequence":11,"cmdPing":{"bogus":1}}"#).unwrap_err();
        assert_eq!(e.sequence, 11);
        assert_eq!(request("not json").unwrap_err().sequence, 0);
        assert_eq!(request(r#"{"sequence":12}{}"#).unwrap_err().sequence, 0);
    }

    #[test]
    fn a_reply_frame_is_written_as_its_proto3_json() {
        use prost::Message as _;
        let frame = PubSubResp {
            sequence: 5,
            resp: Some(crate::pb::pub_sub_resp::Resp::PongResp(
                crate::pb::PongResp {
                    state: bytes::Bytes::from_static(b"hi"),
                },
            )),
        }
        .encode_to_vec();
        let v: serde_json::Value = serde_json::from_str(&response(&frame)).unwrap();
        assert_eq!(v["sequence"], "5");
        assert_eq!(v["pongResp"]["state"], "aGk=");
        // A frame that is not a reply still answers, as an error the client can read.
        let v: serde_json::Value = serde_json::from_str(&response(&[0xff, 0xff])).unwrap();
        assert!(v["errorResp"]["message"].is_string(), "{v}");
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = request(&deep).unwrap_err();
        assert!(e.error.to_string().contains("invalid type"), "{}", e.error);
        let deep = format!(
            r#"{{"sequence":"3","cmdPing":{}}}"#,
            "{\"a\":".repeat(10_000)
        );
        assert_eq!(request(&deep).unwrap_err().sequence, 0);
    }
}
