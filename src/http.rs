//! The HTTP answers the gateway gives, built for hyper on both listeners (`full`, `plain_close`,
//! `json`, `error`, streamed bodies).

/// The body of every answer the listener gives: whole (`full`) or streamed (Server-Sent Events).
pub(crate) type Body =
    http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::convert::Infallible>;

/// A whole body.
pub(crate) fn full(body: impl Into<bytes::Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(body.into()).boxed_unsync()
}

/// A plain-text answer that closes the connection: what the listener says to requests it will
/// not serve (refused upgrades, unknown paths), as it did before it spoke HTTP/1.1 keep-alive.
pub(crate) fn plain_close(status: u16, body: &'static str) -> hyper::Response<Body> {
    let mut r = hyper::Response::new(full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

/// A JSON answer; the connection stays open for the next request.
pub(crate) fn json(status: u16, value: &serde_json::Value) -> hyper::Response<Body> {
    let mut r = hyper::Response::new(full(value.to_string()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// The JSON of an error, `{"code", "message"}` with the HTTP status equal to the code: the same
/// code and wording as the `ErrorResp` a WebSocket client gets.
pub(crate) fn error(code: i32, message: &str) -> hyper::Response<Body> {
    let status = u16::try_from(code)
        .ok()
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    json(
        status,
        &serde_json::json!({"code": code, "message": message}),
    )
}
