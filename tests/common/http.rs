//! A real HTTP/1.1 client (hyper's) for the gateway's HTTP endpoints: one keep-alive connection
//! per `Http`, whole answers as JSON, and Server-Sent Events read event by event.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use tokio::net::TcpStream;

use super::harness::WAIT;

/// One keep-alive connection.
pub struct Http {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Http {
    pub async fn connect(addr: SocketAddr) -> Http {
        let tcp = TcpStream::connect(addr).await.expect("tcp connect");
        Http::over(tcp, &addr.to_string()).await
    }

    /// HTTP over `io` (a TLS stream, say), naming `host`.
    pub async fn over<T>(io: T, host: &str) -> Http
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .expect("http handshake");
        tokio::spawn(conn);
        Http {
            sender,
            host: host.to_string(),
        }
    }

    /// Whether the server has closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> hyper::Request<Full<Bytes>> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Full::new(body.into())).expect("request")
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let req = self.request(method, path, headers, body);
        tokio::time::timeout(WAIT, async {
            self.sender.ready().await.expect("connection ready");
            let resp = self.sender.send_request(req).await.expect("answer");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            Answer {
                status,
                headers,
                body,
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer in time"))
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, &[], Bytes::new()).await
    }

    pub async fn post(&mut self, path: &str, body: &str) -> Answer {
        self.send("POST", path, &[], Bytes::from(body.to_string()))
            .await
    }

    /// Opens an event stream (`Accept: text/event-stream`); Err(answer) when refused.
    pub async fn events(mut self, path: &str, headers: &[(&str, &str)]) -> Result<Events, Answer> {
        let mut all = vec![("accept", "text/event-stream")];
        all.extend_from_slice(headers);
        let req = self.request("GET", path, &all, Bytes::new());
        self.sender.ready().await.expect("connection ready");
        let resp = tokio::time::timeout(WAIT, self.sender.send_request(req))
            .await
            .expect("stream answer in time")
            .expect("stream answer");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if status != 200 {
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            return Err(Answer {
                status,
                headers,
                body,
            });
        }
        Ok(Events {
            body: resp.into_body(),
            buf: String::new(),
            heartbeats: 0,
            _conn: self,
        })
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub id: Option<String>,
    /// `message` when the event names none.
    pub event: String,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{self:?}: {e}"))
    }
}

/// An open event stream.
pub struct Events {
    body: hyper::body::Incoming,
    buf: String,
    /// Comment lines seen (the gateway's heartbeats).
    pub heartbeats: usize,
    _conn: Http,
}

impl Events {
    /// The next event within `wait`; None when none came or the stream ended.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut e = Event {
                    event: "message".into(),
                    ..Default::default()
                };
                let mut data = Vec::new();
                let mut fields = 0;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.heartbeats += 1;
                        continue;
                    }
                    let (k, v) = line.split_once(':').unwrap_or((line, ""));
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    fields += 1;
                    match k {
                        "id" => e.id = Some(v.to_string()),
                        "event" => e.event = v.to_string(),
                        "data" => data.push(v.to_string()),
                        _ => {}
                    }
                }
                if fields == 0 || (data.is_empty() && e.event == "message") {
                    continue;
                }
                e.data = data.join("\n");
                return Some(e);
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??
                .ok()?;
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// The next event, which must come.
    pub async fn next(&mut self) -> Event {
        self.next_within(WAIT).await.expect("an event in time")
    }

    /// The next `n` message events (others, such as `reset`, are returned too, in order).
    pub async fn messages(&mut self, n: usize) -> Vec<Event> {
        let mut out = Vec::new();
        while out.iter().filter(|e: &&Event| e.event == "message").count() < n {
            out.push(self.next().await);
        }
        out
    }

    /// Whether the stream ends (the server closed it) within `wait`.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(f))) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.push_str(&String::from_utf8_lossy(&data));
                    }
                }
            }
        }
    }
}
