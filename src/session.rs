//! One WebSocket connection: a reader loop that decodes requests and runs them concurrently
//! (pipelining, bounded by `max_inflight_requests`), and one writer task fed by a bounded queue
//! that carries replies and pushes alike.
//!
//! Close codes: 1000 normal, 1001 server shutdown or idle timeout, 1002 protocol error,
//! 1009 frame or message over `max_frame_bytes`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, SplitSink};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::codec;
use crate::config::Limits;
use crate::dispatch::Dispatcher;
use crate::error::GatewayError;
use crate::pb::PubSubReq;

/// What the writer task sends.
#[derive(Debug)]
pub enum Outbound {
    Frame(Bytes),
    Ping,
    Close(CloseCode, &'static str),
}

/// How long the writer gets to flush after the session ends, when not shutting down.
const WRITER_LINGER: Duration = Duration::from_secs(2);

type InFlight<'a> = FuturesUnordered<Pin<Box<dyn Future<Output = ()> + Send + 'a>>>;

pub async fn run<S>(
    ws: WebSocketStream<S>,
    backend: Arc<dyn Backend>,
    limits: Arc<Limits>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, mut stream) = ws.split();
    let (out_tx, out_rx) = mpsc::channel(limits.outbound_queue);
    let mut writer = tokio::spawn(write_loop(sink, out_rx));
    let dispatcher = Dispatcher::new(backend, limits.clone(), out_tx.clone());
    let mut inflight: InFlight<'_> = FuturesUnordered::new();
    let mut last_seen = Instant::now();
    let mut keepalive = tokio::time::interval(limits.ping_interval());
    keepalive.reset();
    let mut writer_done = false;

    let close: Option<(CloseCode, &'static str)> = loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Requests already read get their replies before the close frame.
                let _ = tokio::time::timeout(limits.shutdown_grace(), async {
                    while inflight.next().await.is_some() {}
                }).await;
                break Some((CloseCode::Away, "server shutting down"));
            }
            Some(()) = inflight.next(), if !inflight.is_empty() => {}
            _ = &mut writer => {
                writer_done = true;
                break None;
            }
            _ = keepalive.tick() => {
                if last_seen.elapsed() >= limits.idle_timeout() {
                    break Some((CloseCode::Away, "idle timeout"));
                }
                let _ = out_tx.try_send(Outbound::Ping);
            }
            msg = stream.next(), if inflight.len() < limits.max_inflight_requests => {
                let msg = match msg {
                    None => break None,
                    Some(Ok(m)) => m,
                    Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                        tracing::info!(size, max_size, "closing: frame too big");
                        break Some((CloseCode::Size, "message too big"));
                    }
                    Some(Err(WsError::Protocol(e))) => {
                        tracing::info!(error = %e, "closing: websocket protocol error");
                        break Some((CloseCode::Protocol, "protocol error"));
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "connection read failed");
                        break None;
                    }
                };
                last_seen = Instant::now();
                match msg {
                    Message::Binary(data) => {
                        let tx = out_tx.clone();
                        let dispatcher = &dispatcher;
                        inflight.push(Box::pin(async move {
                            let reply = match PubSubReq::decode(data) {
                                Ok(req) => dispatcher.handle(req).await,
                                Err(e) => {
                                    tracing::info!(error = %e, "undecodable request");
                                    Some(codec::error_frame(0, &GatewayError::WrongCommand))
                                }
                            };
                            if let Some(frame) = reply {
                                let _ = tx.send(Outbound::Frame(frame)).await;
                            }
                        }));
                    }
                    Message::Text(text) => {
                        tracing::info!(len = text.len(), "ignoring text frame: the protocol is binary protobuf");
                    }
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
        }
    };

    drop(inflight);
    dispatcher.close_all();
    drop(dispatcher);
    let linger = if shutdown.is_cancelled() {
        limits.shutdown_grace()
    } else {
        WRITER_LINGER
    };
    let finish = match close {
        Some((code, reason)) => Outbound::Close(code, reason),
        None => Outbound::Close(CloseCode::Normal, ""),
    };
    // The queue may be full of frames for a client that stopped reading: wait only so long.
    let _ = tokio::time::timeout(linger, out_tx.send(finish)).await;
    drop(out_tx);
    if !writer_done && tokio::time::timeout(linger, &mut writer).await.is_err() {
        writer.abort();
    }
}

async fn write_loop<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut rx: mpsc::Receiver<Outbound>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(out) = rx.recv().await {
        let msg = match out {
            Outbound::Frame(b) => Message::Binary(b),
            Outbound::Ping => Message::Ping(Bytes::new()),
            Outbound::Close(code, reason) => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
                break;
            }
        };
        if sink.feed(msg).await.is_err() {
            return;
        }
        // Batch what is queued into one flush.
        if rx.is_empty() && sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
