//! `pubsub-gateway [--config PATH] [--check-config]`

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use pubsub_gateway::{Config, Server, ServerHandle};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: a reply is allocated on one worker thread and freed by
/// the writer on another, and with glibc's arenas the ping rate stayed at 0.77 of the floor
/// where mimalloc gives 0.92 (BENCHMARKS.md, "Latest run").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: pubsub-gateway [--config PATH] [--check-config]
  --config PATH    configuration file (default: conf/config.yaml)
  --check-config   validate the configuration and exit (0 when valid)";

fn main() -> ExitCode {
    let mut config_path = PathBuf::from("conf/config.yaml");
    let mut check_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => match args.next() {
                Some(p) => config_path = PathBuf::from(p),
                None => return usage_error("--config needs a path"),
            },
            "--check-config" => check_only = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("pubsub-gateway {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown argument {other}")),
        }
    }
    let config = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        println!("{}: ok", config_path.display());
        return ExitCode::SUCCESS;
    }
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.server.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    if config.server.log.json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(addr = %server.local_addr(), "pubsub-gateway listening");
        let token = server.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: closing connections with 1001");
            token.cancel();
        });
        tokio::spawn(reload_on_change(config_path, server.handle()));
        server.run().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

/// Reloads the configuration on SIGHUP and when the file changes (checked every 2 seconds).
/// An invalid file is reported and the running configuration stays.
async fn reload_on_change(path: PathBuf, handle: ServerHandle) {
    let stamp = |p: &PathBuf| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut last = stamp(&path);
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match &mut hup {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let why = tokio::select! {
            _ = hangup => "SIGHUP",
            _ = poll.tick() => {
                let now = stamp(&path);
                if now == last {
                    continue;
                }
                last = now;
                "file changed"
            }
        };
        match Config::load(&path) {
            Ok(config) => match handle.reload(config) {
                Ok(()) => {
                    tracing::info!(reason = why, path = %path.display(), "configuration reloaded")
                }
                Err(e) => {
                    tracing::error!(reason = why, error = %e, "reload rejected; keeping the running configuration")
                }
            },
            Err(e) => {
                tracing::error!(reason = why, error = %e, "reload rejected; keeping the running configuration")
            }
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("{message}\n{USAGE}");
    ExitCode::from(2)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
