//! `tinykv-server`: parse the configuration, start logging, bind, and serve until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tinykv_server::config::{clients_within, RESERVED_FDS};
use tinykv_server::workers::Workers;
use tinykv_server::Config;
use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let mut config = Config::parse_checked();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    // One thread is Redis's model: no cross-thread wake-ups or work stealing, the least CPU per
    // request. More threads serve clients once the first is saturated: one single-threaded runtime
    // each, the first filled first (tinykv-server/src/workers.rs).
    let threads = match config.threads {
        0 => default_threads(),
        n => n,
    };
    config.max_clients = fit_file_limit(config.max_clients)?;

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let workers = {
        let _entered = runtime.enter();
        Arc::new(Workers::start(threads, config.debug_hand_over_every).context("starting the worker threads")?)
    };
    let served = runtime.block_on(serve(config, Arc::clone(&workers)));
    // This thread's connections go first; the other threads are stopped and joined once no client
    // task there holds the workers any more (see `Workers::drop`).
    drop(runtime);
    drop(workers);
    served
}

/// Raises the open-file limit so `--max-clients` connections fit (the usual soft limit is 1,024), as
/// Redis does; when the hard limit is lower, lowers `--max-clients` to fit and says so once. Clients
/// past it are then refused with an error, where otherwise `accept` would fail and they would hang.
fn fit_file_limit(max_clients: usize) -> anyhow::Result<usize> {
    let wanted = (max_clients as u64).saturating_add(RESERVED_FDS);
    let limit = match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(%err, "could not raise the open-file limit");
            match rlimit::Resource::NOFILE.get() {
                Ok((soft, _)) => soft,
                Err(_) => return Ok(max_clients),
            }
        }
    };
    let fitting = clients_within(limit, max_clients)?;
    if fitting < max_clients {
        tracing::warn!(
            limit,
            requested = max_clients,
            max_clients = fitting,
            "open-file limit too low for --max-clients; lowered max clients to fit (raise ulimit -n for more)"
        );
    }
    Ok(fitting)
}

/// One worker per core but one: the kernel's network work and the clients on the same machine need
/// a core too. On two cores that is one thread, where Redis's single-threaded model measured best.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

async fn serve(config: Config, workers: Arc<Workers>) -> anyhow::Result<()> {
    // Handlers first: once `listening on` is logged, a SIGTERM must already mean a graceful stop.
    let signals = Signals::install()?;
    let listener = bind(&config).await.with_context(|| format!("binding {}:{}", config.bind, config.port))?;
    let shutdown = CancellationToken::new();
    let mut server = tokio::spawn(tinykv_server::server::run_on(listener, config, shutdown.clone(), workers));
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

/// Listens on the first address `--bind` resolves to that can be bound, with `--tcp-backlog`.
async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    warn_if_backlog_capped(config.tcp_backlog);
    let mut failure = None;
    for addr in tokio::net::lookup_host((config.bind.as_str(), config.port)).await? {
        match listen(addr, config.tcp_backlog) {
            Ok(listener) => return Ok(listener),
            Err(err) => failure = Some(err),
        }
    }
    Err(failure.map_or_else(|| anyhow::anyhow!("the address resolved to nothing"), anyhow::Error::from))
}

fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restart may bind while the old process's connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // The default of 128 made 2,000 simultaneous connects take 1.09 s instead of 0.09 s.
    socket.listen(backlog)
}

/// The kernel silently caps the backlog at `net.core.somaxconn`; say so, as Redis does.
fn warn_if_backlog_capped(backlog: u32) {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") else { return };
    if let Ok(somaxconn) = text.trim().parse::<u32>() {
        if somaxconn < backlog {
            tracing::warn!(backlog, somaxconn, "--tcp-backlog is capped by net.core.somaxconn");
        }
    }
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
