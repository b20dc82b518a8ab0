//! A broker process of a test's own (a private `mosquitto`, `nats-server` or `redis-server`) on
//! a loopback port: started and waited for until its port accepts connections, killed
//! (SIGKILL, no shutdown) and reaped, and killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Default)]
pub struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    /// Starts `cmd` (its output dropped) and waits until `addr` accepts connections; panics
    /// when it cannot run or does not listen within 5 s.
    pub async fn start(&mut self, cmd: &mut Command, addr: &str) {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("private {program} on {addr} did not start");
    }

    /// SIGKILL and wait: what survives is what the process had on disk.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
