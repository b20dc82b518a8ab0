//! Child processes tied to this one's life (the gateway, the floor, Tansu), the open-file
//! limit, and CPU and memory readings from /proc.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::gateway::Gateway;
use crate::report::Report;

/// The open-file limit: raised as far as allowed (children inherit it).
pub fn raise_nofile() -> u64 {
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20);
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur);
    }
    let want = nr_open.min(1 << 20).max(cur.rlim_cur);
    let raised = libc::rlimit {
        rlim_cur: want as libc::rlim_t,
        rlim_max: want.max(cur.rlim_max) as libc::rlim_t,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return want;
    }
    // Not privileged: the hard limit is as far as we may go.
    let soft = libc::rlimit {
        rlim_cur: cur.rlim_max,
        rlim_max: cur.rlim_max,
    };
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
    }
    cur.rlim_max
}

/// Spawns with the raised open-file limit and a parent-death signal. Called from the main thread
/// only (the runtime's block_on thread), which lives as long as the process: the signal fires
/// when the spawning thread exits.
pub fn spawn_tied(mut cmd: Command, nofile: u64) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: nofile as libc::rlim_t,
                rlim_max: nofile as libc::rlim_t,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
}

pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

pub fn wait_listening(port: u16, child: &mut Child, what: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited ({status}) before listening; see {}",
                log.display()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what} did not listen on {port}; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .and_then(|l| l[key.len() + 1..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

pub fn proc_cpu_secs(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}

pub fn self_cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

pub fn self_rss_kib() -> u64 {
    proc_status_kib(std::process::id(), "VmRSS").unwrap_or(0)
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// CPU used by the gateway and by the loadgen over a span of wall time.
pub struct CpuMeter {
    pub wall: Instant,
    pub gw: f64,
    pub me: f64,
}

impl CpuMeter {
    pub fn start(gw: &Gateway) -> CpuMeter {
        CpuMeter {
            wall: Instant::now(),
            gw: gw.cpu_secs(),
            me: self_cpu_secs(),
        }
    }

    /// CPU seconds the server used since the start.
    pub fn server_secs(&self, gw: &Gateway) -> f64 {
        gw.cpu_secs() - self.gw
    }

    pub fn add_to(&self, gw: &Gateway, r: &mut Report) {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        r.metric(
            "gateway_cpu_pct",
            100.0 * (gw.cpu_secs() - self.gw) / wall,
            "% of one core",
        );
        r.metric(
            "loadgen_cpu_pct",
            100.0 * (self_cpu_secs() - self.me) / wall,
            "% of one core",
        );
    }
}
