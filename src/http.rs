//! The few plain HTTP answers the gateway writes itself (refused upgrades, the admin listener).

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Writes a complete HTTP/1.1 answer and closes the write side.
pub(crate) async fn http_answer<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    extra: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        308 => "Permanent Redirect",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}
