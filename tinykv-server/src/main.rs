//! `tinykv-server`: parse the configuration, start logging, bind, and serve until SIGINT or SIGTERM.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use tinykv_server::Config;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    // One thread is Redis's model: no cross-thread wake-ups or work stealing, the least CPU per
    // request. More threads scale throughput with cores.
    let threads = match config.threads {
        0 => default_threads(),
        n => n,
    };
    raise_file_limit(config.max_clients);

    let mut runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    let runtime = runtime.enable_all().build().context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

/// Raises the open-file limit so `--max-clients` connections fit (the usual soft limit is 1,024), as
/// Redis does; says so in the log when the hard limit is lower.
fn raise_file_limit(max_clients: usize) {
    // Listening socket, log, append-only file and a margin.
    let wanted = max_clients as u64 + 32;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => {
            tracing::warn!(limit, max_clients, "open-file limit is below what --max-clients needs")
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "could not raise the open-file limit"),
    }
}

/// One worker per core but one: the kernel's network work and the clients on the same machine need
/// a core too. On two cores that is one thread, where Redis's single-threaded model measured best.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Handlers first: once `listening on` is logged, a SIGTERM must already mean a graceful stop.
    let signals = Signals::install()?;
    let listener = TcpListener::bind((config.bind.as_str(), config.port))
        .await
        .with_context(|| format!("binding {}:{}", config.bind, config.port))?;
    let shutdown = CancellationToken::new();
    let mut server = tokio::spawn(tinykv_server::run(listener, config, shutdown.clone()));
    tokio::select! {
        // The server ends on its own only when it cannot start (e.g. a corrupt append-only file).
        result = &mut server => return result.context("server task failed")?.context("cannot start"),
        () = signals.wait() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
    server.await.context("server task failed")?.context("shutting down")?;
    tracing::info!("bye");
    Ok(())
}

/// SIGINT and SIGTERM, caught from the moment this is built.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Resolves on the first SIGINT or SIGTERM.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
