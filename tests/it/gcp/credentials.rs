//! Credentials to Google, as far as they can be tested without Google: a gateway process given
//! a service-account key two ways (plugins.gcp-auth, GOOGLE_APPLICATION_CREDENTIALS) to an
//! endpoint that cannot be reached, with debug logs: neither the key, its id, nor a token ever
//! appears in a log line or a reply. (Signing, the credential order and the metadata server are
//! unit-tested in src/backend/gcp/{auth,metadata}.rs.)

use std::time::Duration;

use crate::common::proc::Proc;
use crate::common::{error_of, Client};

use super::produce;

/// A service-account key file made by the openssl CLI now; its PEM body's middle line.
fn key_file(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let pem = dir.join("key.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .output()
        .expect("the openssl CLI");
    assert!(out.status.success(), "openssl: {out:?}");
    let text = std::fs::read_to_string(&pem).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let body_line = lines[lines.len() / 2].to_string();
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "kid-SECRET-4444",
        "private_key": text,
        "client_email": "gw@my-project.iam.gserviceaccount.com",
    });
    let file = dir.join("key.json");
    std::fs::write(&file, json.to_string()).unwrap();
    (file, body_line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_no_credential_appears_in_any_log_line_or_reply() {
    let dir = std::env::temp_dir().join(format!("gcp-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, pem_line) = key_file(&dir);
    let file_s = file.to_str().unwrap().to_string();
    // Nothing listens on 127.0.0.1:443 here: connecting fails at once.
    let p = Proc::start_with_env(
        "gcp-creds",
        |port| {
            format!(
                r#"server:
  listen: "127.0.0.1:{port}"
  admin_listen: off
  log: {{ level: debug }}
routes:
  - uri: /plugin
    upstream: {{ scheme: gcp-pubsub, nodes: ["127.0.0.1:443"], timeout: {{ connect: 1, send: 1, read: 1 }}, gcp_pubsub: {{ project: my-project }} }}
    plugins:
      gcp-auth: {{ credentials_file: {file_s} }}
  - uri: /adc
    upstream: {{ scheme: gcp-pubsub, nodes: ["127.0.0.1:443"], timeout: {{ connect: 1, send: 1, read: 1 }}, gcp_pubsub: {{ project: my-project }} }}
"#
            )
        },
        &[("GOOGLE_APPLICATION_CREDENTIALS", &file_s)],
    );
    for path in ["/plugin", "/adc"] {
        let mut c = Client::connect(p.addr, path).await;
        let (code, msg) = error_of(c.request(produce("t1x", "", "v", &[])).await);
        assert_eq!(code, 503, "{path}: {msg}");
        for secret in ["SECRET", "eyJ", pem_line.as_str()] {
            assert!(!msg.contains(secret), "{path}: {secret} in the reply {msg}");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = p.log();
    assert!(!log.is_empty());
    for secret in ["kid-SECRET-4444", "PRIVATE KEY", "eyJ", pem_line.as_str()] {
        assert!(!log.contains(secret), "{secret} appears in the logs");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
