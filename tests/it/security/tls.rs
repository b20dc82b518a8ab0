//! wss: the protocol over TLS, a certificate swapped by reload, idle TLS sockets closed.

use super::*;

#[tokio::test]
async fn wss_serves_the_protocol_with_a_test_certificate() {
    let dir = tmpdir("wss");
    let (ca, cert, key) = write_pki(&dir);
    let yaml = format!(
        "server:\n  tls: {{ cert: {}, key: {} }}\n{}",
        cert.display(),
        key.display(),
        EMBEDDED
    );
    let gw = Gateway::start(&yaml).await;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cc = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cc))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("TLS handshake with the gateway");
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/embedded", tls)
        .await
        .expect("upgrade over TLS");
    let (mut sink, mut stream) = ws.split();
    use futures_util::SinkExt;
    use prost::Message as _;
    let req = PubSubReq {
        sequence: 9,
        req: Some(Req::CmdPing(CmdPing {
            state: Bytes::from_static(b"tls"),
        })),
    };
    sink.send(Message::Binary(req.encode_to_vec().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Binary(b))) = stream.next().await else {
        panic!("no reply over wss")
    };
    let resp = PubSubResp::decode(b).unwrap();
    assert_eq!(resp.sequence, 9);
    assert_eq!(
        resp.resp,
        Some(Resp::PongResp(PongResp {
            state: Bytes::from_static(b"tls")
        }))
    );
    // Plain ws:// to a TLS listener does not get a WebSocket.
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /embedded HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("101"));
    gw.stop().await;
}

#[tokio::test]
async fn reload_swaps_the_tls_certificate_for_new_connections() {
    let (dir_a, dir_b) = (tmpdir("cert-a"), tmpdir("cert-b"));
    let (ca_a, cert_a, key_a) = write_pki(&dir_a);
    let (ca_b, cert_b, key_b) = write_pki(&dir_b);
    let yaml = |cert: &Path, key: &Path| {
        format!(
            "server:\n  tls: {{ cert: {}, key: {} }}\n{EMBEDDED}",
            cert.display(),
            key.display()
        )
    };
    let gw = Gateway::start(&yaml(&cert_a, &key_a)).await;
    wss_ping(gw.addr, &ca_a).await.expect("certificate A");
    assert!(wss_ping(gw.addr, &ca_b).await.is_err());
    let mut next = pubsub_gateway::Config::parse(&yaml(&cert_b, &key_b), "t").unwrap();
    next.server.listen = gw.addr;
    next.server.admin_listen = None;
    gw.handle.reload(next).expect("reload with certificate B");
    wss_ping(gw.addr, &ca_b)
        .await
        .expect("certificate B after reload");
    assert!(
        wss_ping(gw.addr, &ca_a).await.is_err(),
        "certificate A is no longer served"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_socket_on_a_tls_listener_is_closed_after_the_request_head_timeout() {
    let dir = tmpdir("tls-idle");
    let (_, cert, key) = write_pki(&dir);
    let yaml = format!(
        "server:\n  tls: {{ cert: {}, key: {} }}\n  limits: {{ request_head_timeout_ms: 300, handshake_timeout_secs: 30 }}\n{EMBEDDED}",
        cert.display(),
        key.display(),
    );
    let gw = Gateway::start(&yaml).await;
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5))
            .await
            .is_some(),
        "a socket that never starts its TLS handshake is closed long before the handshake timeout"
    );
    gw.stop().await;
}
