//! Publish by POST, fetch by GET, the route's info.

use super::*;

#[tokio::test]
async fn a_post_stores_a_message_that_a_websocket_subscriber_and_a_get_receive() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("post");
    let mut ws = gw.connect("/embedded").await;
    let id = ws.subscribe(sub(&t)).await;
    let mut http = Http::connect(gw.addr).await;
    let a = http
        .send(
            "POST",
            &format!("/embedded/topics/{t}?key=k1&header.trace=abc"),
            &[("pubsub-header-kind", "greeting")],
            "hello",
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let v = a.json();
    assert_eq!(v["topic"], json!(t));
    assert_eq!(v["partition"], json!(0));
    assert_eq!(v["offset"], json!(0));
    let pushed = ws.pushed(id, 1).await;
    assert_eq!(value_of(&pushed[0]), "hello");
    assert_eq!(&pushed[0].key[..], b"k1");
    assert_eq!(
        headers_of(&pushed[0]),
        vec![
            ("kind".to_string(), "greeting".to_string()),
            ("trace".to_string(), "abc".to_string())
        ]
    );
    // The same keep-alive connection fetches it, in the shape of `pubsub --json`.
    let f = http.get(&format!("/embedded/topics/{t}?offset=0")).await;
    assert_eq!(f.status, 200);
    let v = f.json();
    assert_eq!(
        v["messages"][0],
        json!({"topic": t, "partition": 0, "offset": 0, "timestamp": pushed[0].timestamp,
               "key": "k1", "value": "hello", "headers": {"kind": "greeting", "trace": "abc"},
               "epoch": pushed[0].epoch})
    );
    assert_eq!(v["next_offset"], json!(1));
    gw.stop().await;
}

#[tokio::test]
async fn bytes_that_are_not_utf8_come_back_as_hex() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("bin");
    let mut http = Http::connect(gw.addr).await;
    let a = http
        .send(
            "POST",
            &format!("/embedded/topics/{t}"),
            &[],
            vec![0xffu8, 0x00, 0x10],
        )
        .await;
    assert_eq!(a.status, 200);
    let v = http.get(&format!("/embedded/topics/{t}")).await.json();
    assert_eq!(v["messages"][0]["value_hex"], json!("ff0010"));
    assert!(v["messages"][0].get("value").is_none(), "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn a_batch_is_answered_message_by_message_in_order() {
    let gw = Gateway::start(&embedded_with("partitions: 2")).await;
    let t = topic("batch");
    let mut http = Http::connect(gw.addr).await;
    let body = json!({"messages": [
        {"value": "one", "key": "a", "partition": 1, "headers": {"h": "v"}},
        {"value_hex": "00ff", "partition": 7},
        {"value": "three", "partition": 1},
    ]});
    let a = http
        .send(
            "POST",
            &format!("/embedded/topics/{t}"),
            &[("content-type", "application/vnd.pubsub.batch+json")],
            body.to_string(),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let r = a.json();
    let results = r["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["offset"], json!(0));
    assert_eq!(results[0]["partition"], json!(1));
    assert_eq!(results[1]["code"], json!(404), "{r}");
    assert_eq!(results[2]["offset"], json!(1));
    let v = http
        .get(&format!("/embedded/topics/{t}?partition=1"))
        .await
        .json();
    assert_eq!(fetched_values(&v), ["one", "three"]);
    assert_eq!(v["messages"][0]["headers"], json!({"h": "v"}));
    gw.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_a_batch_is_refused_whole_and_nothing_is_stored() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("badbatch");
    let mut http = Http::connect(gw.addr).await;
    let batch = [("content-type", "application/vnd.pubsub.batch+json")];
    for bad in [
        "not json",
        "{\"messages\": []}",
        "{\"messages\": [{\"value\": \"a\"}, {\"value\": \"b\", \"value_hex\": \"00\"}]}",
        "{\"messages\": [{\"value\": \"a\"}, {\"value_hex\": \"0\"}]}",
        "{\"messages\": [{\"value\": \"a\", \"colour\": \"red\"}]}",
        "[1, 2]",
    ] {
        let a = http
            .send("POST", &format!("/embedded/topics/{t}"), &batch, bad)
            .await;
        assert_eq!(a.status, 400, "{bad}: {:?}", a.body);
        assert_eq!(a.json()["code"], json!(400));
    }
    let v = http.get(&format!("/embedded/topics/{t}")).await;
    assert_eq!(v.status, 404, "nothing created the topic: {:?}", v.body);
    gw.stop().await;
}

#[tokio::test]
async fn a_fetch_with_wait_ms_answers_as_soon_as_a_message_arrives() {
    let gw = Gateway::start(EMBEDDED).await;
    let t = topic("poll");
    let mut http = Http::connect(gw.addr).await;
    assert_eq!(
        http.post(&format!("/embedded/topics/{t}"), "first")
            .await
            .status,
        200
    );
    let addr = gw.addr;
    let path = format!("/embedded/topics/{t}?offset=1&wait_ms=8000");
    let started = std::time::Instant::now();
    let poll = tokio::spawn(async move { Http::connect(addr).await.get(&path).await });
    // The poll waits for the produce below; no sleep decides it, the answer's content does.
    let mut ws = gw.connect("/embedded").await;
    ws.produce_value(&t, "second").await;
    let a = poll.await.unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(fetched_values(&a.json()), ["second"]);
    assert!(started.elapsed() < Duration::from_secs(8));
    gw.stop().await;
}

#[tokio::test]
async fn info_is_cmd_route_info_as_json() {
    let gw = Gateway::start(EMBEDDED).await;
    let mut ws = gw.connect("/embedded").await;
    let Resp::RouteInfoResp(info) = ws.request(Req::CmdRouteInfo(CmdRouteInfo {})).await else {
        panic!("route info")
    };
    let caps = info.capabilities.unwrap();
    let v = Http::connect(gw.addr)
        .await
        .get("/embedded/info")
        .await
        .json();
    assert_eq!(v["route"], json!("/embedded"));
    assert_eq!(v["scheme"], json!(info.scheme));
    assert_eq!(v["capabilities"]["history"], json!(caps.history));
    assert_eq!(v["capabilities"]["groups"], json!(caps.groups));
    assert_eq!(v["capabilities"]["wildcards"], json!(caps.wildcards));
    assert_eq!(
        v["capabilities"]["starts"].as_array().unwrap().len(),
        caps.starts.len()
    );
    gw.stop().await;
}

#[tokio::test]
async fn https_serves_the_endpoints_on_the_tls_listener() {
    use rustls::pki_types::pem::PemObject;
    use std::sync::Arc;
    let dir = TempDir::new("pubsub-gw-https-");
    let (ca, cert, key) = crate::common::certs::write_pki(&dir.0);
    let yaml = format!(
        "server:\n  tls: {{ cert: {}, key: {} }}\n{}",
        cert.display(),
        key.display(),
        EMBEDDED
    );
    let gw = Gateway::start(&yaml).await;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cc = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let tls = |cc: Arc<rustls::ClientConfig>| async move {
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        tokio_rustls::TlsConnector::from(cc)
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .expect("TLS handshake")
    };
    let t = topic("https");
    let mut http = Http::over(tls(cc.clone()).await, "localhost").await;
    let a = http
        .post(&format!("/embedded/topics/{t}"), "secret hello")
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let mut s = Http::over(tls(cc.clone()).await, "localhost")
        .await
        .events(&format!("/embedded/topics/{t}?start=earliest"), &[])
        .await
        .expect("stream over TLS");
    assert_eq!(s.next().await.json()["value"], json!("secret hello"));
    gw.stop().await;
}
