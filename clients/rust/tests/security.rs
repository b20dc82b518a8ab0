//! wss:// with rustls (a given CA file, or the webpki roots) and the token (query and `bearer.`
//! subprotocol, refresh), against the real gateway started in-process.

#[path = "../../../tests/common/harness.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{sweep_stale_dirs, Gateway, EMBEDDED};
use pubsub_client::{connect, Error, Options};

fn tmpdir(name: &str) -> PathBuf {
    sweep_stale_dirs("pubsub-client-sec-");
    let d = std::env::temp_dir().join(format!("pubsub-client-sec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .output()
        .expect("the openssl CLI is needed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate it signed for localhost: (ca, cert, key).
fn ca_and_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(
        dir,
        &format!("req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=test-CA"),
    );
    openssl(
        dir,
        &format!("req {ec} -keyout key.pem -out server.csr -subj /CN=localhost"),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile ext.cnf",
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[tokio::test]
async fn wss_trusts_the_given_ca_file_and_refuses_an_unknown_issuer_with_the_webpki_roots() {
    let dir = tmpdir("wss");
    let (ca, cert, key) = ca_and_cert(&dir);
    let yaml = format!(
        "server:\n  tls: {{ cert: {}, key: {} }}\n{EMBEDDED}",
        cert.display(),
        key.display()
    );
    let gw = Gateway::start(&yaml).await;
    let url = format!("wss://localhost:{}/embedded", gw.addr.port());

    let client = connect(&url, Options::default().ca_file(&ca))
        .await
        .expect("wss with the test CA");
    assert_eq!(&client.ping("tls").await.unwrap()[..], b"tls");
    client.close().await;

    match connect(&url, Options::default()).await {
        Err(Error::Connect(msg)) => assert!(msg.contains("TLS"), "{msg}"),
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    let missing = dir.join("nope.pem");
    assert!(matches!(
        connect(&url, Options::default().ca_file(&missing)).await,
        Err(Error::Config(_))
    ));
    gw.stop().await;
}

fn hs256(secret: &str, sub: &str) -> String {
    let exp = pubsub_gateway::backend::now_ms() / 1000 + 600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "sub": sub, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn the_token_travels_as_query_and_as_bearer_subprotocol_and_refresh_replaces_it() {
    // key-auth reading `?token=`: the query carries it.
    let gw = Gateway::start(
        "routes:\n  - uri: /k\n    upstream: { scheme: embedded }\n    plugins:\n      key-auth: { query: token, keys: [{ id: a, key: key-a }] }\n  - uri: /j\n    upstream: { scheme: embedded }\n    plugins:\n      jwt-auth: { algorithm: HS256, secret: s1, query: not_token }\n",
    )
    .await;
    let k = connect(
        &format!("ws://{}/k", gw.addr),
        Options::default().token("key-a"),
    )
    .await
    .expect("key in the query");
    k.ping("").await.unwrap();
    assert!(matches!(
        connect(
            &format!("ws://{}/k", gw.addr),
            Options::default().token("wrong")
        )
        .await,
        Err(Error::Connect(_))
    ));

    // jwt-auth reading another query parameter: only the `bearer.` subprotocol carries it.
    let j = connect(
        &format!("ws://{}/j", gw.addr),
        Options::default().token(hs256("s1", "carol")),
    )
    .await
    .expect("JWT in the subprotocol");
    j.refresh(&hs256("s1", "carol")).await.expect("refresh");
    match j.refresh("not-a-jwt").await {
        Err(Error::Server { code: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    j.ping("still").await.expect("the connection lives");
    gw.stop().await;
}
