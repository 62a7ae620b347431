//! The accept loop: connection limits, one task per client, and a clean stop.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::connection;
use crate::db::Db;

/// Counters for `INFO stats`, updated without locks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted since start, rejected ones included.
    pub total_connections_received: AtomicU64,
    /// Commands executed since start.
    pub total_commands_processed: AtomicU64,
    /// Connections refused because `--max-clients` were connected.
    pub rejected_connections: AtomicU64,
    /// Clients connected now.
    pub connected_clients: AtomicUsize,
}

/// State every connection shares.
pub struct Shared {
    /// The keyspace.
    pub db: Db,
    /// What the server was started with.
    pub config: Config,
    /// Counters for `INFO`.
    pub stats: Stats,
    /// When the server started, for `INFO server`'s uptime.
    pub started: Instant,
    /// The port actually bound (differs from the config's when it asked for 0).
    pub port: u16,
    next_client_id: AtomicU64,
}

impl Shared {
    /// Shared state for a server bound to `port`.
    pub fn new(config: Config, port: u16) -> Shared {
        Shared {
            db: Db::new(Self::SHARDS),
            config,
            stats: Stats::default(),
            started: Instant::now(),
            port,
            next_client_id: AtomicU64::new(1),
        }
    }

    /// Shards in the keyspace: a power of two, several per core, so two clients rarely wait for
    /// the same lock and no single table grows large enough for a resize to stall anyone.
    pub const SHARDS: usize = 64;

    /// A fresh client id.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// How often the active expiry sweep runs.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Keys the sweep removes from one shard per lock hold.
const SWEEP_PER_LOCK: usize = 64;
/// Keys the sweep removes before yielding to other tasks.
const SWEEP_PER_TURN: usize = 4096;
/// How long to back off after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long connections get to finish and flush at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// Serves clients on `listener` until `shutdown` is cancelled, then waits (up to
/// [`SHUTDOWN_GRACE`]) for every connection to finish the requests it has read and flush.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) {
    let port = listener.local_addr().map(|addr| addr.port()).unwrap_or(config.port);
    let shared = Arc::new(Shared::new(config, port));
    let permits = Arc::new(Semaphore::new(shared.config.max_clients));
    let tracker = TaskTracker::new();

    tracker.spawn(sweep_expired(Arc::clone(&shared), shutdown.clone()));

    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment and go on; never fatal.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        shared.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "max clients reached");
            tracker.spawn(async move {
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let shared = Arc::clone(&shared);
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _client = ClientSlot::new(&shared, permit);
            connection::serve(stream, peer, &shared, shutdown).await;
        });
    }

    drop(listener);
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("some connections did not finish in time");
    }
}

/// A connected client's place: counted while it lives, and given back even if its task panics.
struct ClientSlot<'a> {
    shared: &'a Shared,
    _permit: OwnedSemaphorePermit,
}

impl<'a> ClientSlot<'a> {
    fn new(shared: &'a Shared, permit: OwnedSemaphorePermit) -> Self {
        shared.stats.connected_clients.fetch_add(1, Ordering::Relaxed);
        ClientSlot { shared, _permit: permit }
    }
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        self.shared.stats.connected_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The active half of expiry: removes keys whose time is up even if no client touches them.
async fn sweep_expired(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        // A bounded amount per turn, yielding in between, so a mass expiry never hogs a worker.
        while shared.db.sweep_expired(SWEEP_PER_LOCK, SWEEP_PER_TURN) == SWEEP_PER_TURN {
            tokio::task::yield_now().await;
        }
    }
}
