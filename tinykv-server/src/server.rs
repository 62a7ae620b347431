//! The accept loop: connection limits, one task per client (on one of the [`Workers`]' threads),
//! and a clean stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::connection::{self, SHUTDOWN_GRACE};
use crate::keyspace_events;
use crate::rdb;
use crate::shared::{ServerError, Shared};
use crate::workers::Workers;

/// How often the active expiry sweep runs.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Keys the sweep removes from one shard per lock hold.
const SWEEP_PER_LOCK: usize = 64;
/// Keys the sweep removes before yielding to other tasks.
const SWEEP_PER_TURN: usize = 4096;
/// How often idle clients are looked for (`--timeout`).
const IDLE_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// How long to back off after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At most one log line per this long about failing accepts: out of file descriptors, every try
/// fails, and a line per try fills the log (it once wrote 5,821 lines in 5 minutes).
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// How often the append-only file is fsynced under `everysec`, and a failed write retried.
const AOF_TICK: Duration = Duration::from_secs(1);
/// How often the append-only file's growth rule is checked (Redis checks it in its 100 ms cron).
const REWRITE_CHECK: Duration = Duration::from_millis(100);

/// Loads the append-only file (if any), logs `listening on <addr>`, and serves clients on
/// `listener` until `shutdown` is cancelled; then waits (up to [`SHUTDOWN_GRACE`]) for every
/// connection to finish the requests it has read and flush, and syncs the append-only file last.
/// Every client is served on the calling thread; [`run_on`] spreads them over more.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), ServerError> {
    run_on(listener, config, shutdown, Arc::new(Workers::single())).await
}

/// [`run`], serving clients on the calling thread and, when it is saturated, on `workers`' other
/// threads (`--threads N > 1`): the accept loop and the background tasks stay on the calling
/// thread, and the stop waits for the connections on every thread.
pub async fn run_on(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
    workers: Arc<Workers>,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().ok();
    let port = addr.map_or(config.port, |addr| addr.port());
    let shared = Arc::new(Shared::open(config, port)?);
    let _ = shared.owner.set(Arc::downgrade(&shared));
    if let Some(addr) = addr {
        tracing::info!("listening on {addr}");
    }
    let tracker = TaskTracker::new();

    tracker.spawn(sweep_expired(Arc::clone(&shared), shutdown.clone()));
    tracker.spawn(rdb::snapshot::saver(Arc::clone(&shared), |s: &Shared| (&s.rdb, &s.dbs[..]), shutdown.clone()));
    tracker.spawn(close_idle_clients(Arc::clone(&shared), shutdown.clone()));
    // --- replication ---
    tracker.spawn(crate::replication::primary::pinger(Arc::clone(&shared), shutdown.clone()));
    tracker.spawn(crate::replication::replica::run(Arc::clone(&shared), shutdown.clone()));
    if shared.aof.is_some() {
        tracker.spawn(aof_every_second(Arc::clone(&shared), shutdown.clone()));
        tracker.spawn(aof_rewriter(Arc::clone(&shared), shutdown.clone()));
    }
    workers.start_sampling(&tracker, &shutdown);
    let mut accept_errors = AcceptErrors::default();

    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            () = shared.rdb.shutdown_requested() => {
                tracing::info!("shutting down (SHUTDOWN)");
                shutdown.cancel();
                break;
            }
            accepted = listener.accept() => accepted,
        };
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment and go on; never fatal.
                accept_errors.note(&err);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        shared.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
        // `maxclients` is read live (`CONFIG SET maxclients`). Only this loop adds clients, so the
        // count cannot pass the limit between the check and the slot's creation.
        if shared.stats.connected_clients.load(Ordering::Relaxed) >= shared.settings.maxclients() {
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "max clients reached");
            tracker.spawn(async move {
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                let _ = stream.shutdown().await;
            });
            continue;
        }
        let slot = ClientSlot::new(Arc::clone(&shared));
        let serving = Serving {
            _slot: slot,
            shared: Arc::clone(&shared),
            shutdown: shutdown.clone(),
            workers: Arc::clone(&workers),
            tracker: tracker.clone(),
        };
        // Filled first: a client starts on this thread unless it is saturated (see `workers.rs`).
        let to = workers.place_new();
        let start = if to == 0 {
            Start::New(stream, peer)
        } else {
            // Out of this thread's epoll; it joins the other's where it is served.
            match stream.into_std() {
                Ok(stream) => {
                    tracing::debug!(%peer, to, "new connection placed on another thread");
                    Start::Elsewhere(stream, peer)
                }
                Err(err) => {
                    tracing::warn!(%peer, %err, "could not pass a new connection to another thread");
                    continue;
                }
            }
        };
        workers.spawn_to(to, &tracker, move || serve_client(serving, start));
    }

    drop(listener);
    // Connections watch this (cheap) alarm on their read path, not the token.
    shared.clients.shut_down();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("some connections did not finish in time");
    }
    if let Some(aof) = &shared.aof {
        if let Err(err) = aof.sync() {
            // Only writes that were never acknowledged can be pending here: their replies were MISCONF.
            tracing::error!(%err, unwritten_bytes = aof.pending_len(), "final sync of the append-only file failed");
        }
    }
    // Last, once no client can write any more: the snapshot of a stopping server (when asked for).
    let last = Arc::clone(&shared);
    match tokio::task::spawn_blocking(move || last.rdb.save_at_shutdown(&last.dbs)).await {
        Ok(saved) => saved?,
        Err(err) => tracing::error!(%err, "the final save did not finish"),
    }
    Ok(())
}

/// What a client's task needs besides its connection, to follow it from thread to thread.
struct Serving {
    /// The client's place, given back when its last task ends.
    _slot: ClientSlot,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    workers: Arc<Workers>,
    tracker: TaskTracker,
}

/// Where a client's task starts.
enum Start {
    /// Accepted on this thread.
    New(tokio::net::TcpStream, std::net::SocketAddr),
    /// Accepted on the first thread while it was saturated, to be served on this one.
    Elsewhere(std::net::TcpStream, std::net::SocketAddr),
    /// Handed over by another thread between two batches.
    Moved(Box<connection::Moving>),
}

/// Serves one client on the thread this runs on until it ends or moves on; a move spawns the rest
/// on the other thread (tracked, so the shutdown waits for it there), with the client's slot.
fn serve_client(serving: Serving, start: Start) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let (shared, shutdown) = (&serving.shared, serving.shutdown.clone());
        let moving = match start {
            Start::New(stream, peer) => connection::serve(stream, peer, shared, shutdown).await,
            Start::Elsewhere(stream, peer) => match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => {
                    tracing::debug!(%peer, thread = std::thread::current().name(), "new connection served here");
                    connection::serve(stream, peer, shared, shutdown).await
                }
                Err(err) => {
                    tracing::warn!(%peer, %err, "a thread could not take a new connection");
                    None
                }
            },
            Start::Moved(moving) => connection::resume(*moving, shared, shutdown).await,
        };
        if let Some(moving) = moving {
            let (workers, tracker) = (Arc::clone(&serving.workers), serving.tracker.clone());
            workers.spawn_to(moving.to, &tracker, move || serve_client(serving, Start::Moved(Box::new(moving))));
        }
    })
}

/// Failed accepts since the last log line about them.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// Logs the failure if none was logged for [`ACCEPT_LOG_INTERVAL`], with how many there were.
    fn note(&mut self, err: &std::io::Error) {
        if let Some(failures) = self.count(Instant::now()) {
            tracing::warn!(%err, failures, "accept failed; new clients wait in the backlog");
        }
    }

    /// Counts one failure at `now`; `Some(failures since the last line)` when it is time for a line.
    fn count(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        if self.last_logged.is_some_and(|at| now.duration_since(at) < ACCEPT_LOG_INTERVAL) {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// Once a second, off the async workers: fsync the append-only file under `everysec` (holding no
/// lock a writer needs, so no client waits for the disk), and retry a write that failed, which is
/// what lifts the `MISCONF` state once the disk has room again. Failures are logged by the file,
/// once per failure rather than once per second.
async fn aof_every_second(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(AOF_TICK);
    // An fsync slower than the interval must not be followed by a burst of catch-up fsyncs.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let ticker = Arc::clone(&shared);
        let ticked = tokio::task::spawn_blocking(move || ticker.aof.as_ref().map(|aof| aof.tick())).await;
        if let Ok(Some(Err(err))) = ticked {
            tracing::debug!(%err, "append-only file retry failed");
        }
    }
}

/// Runs the append-only file rewrites that `BGREWRITEAOF` and the growth rule ask for, one at a
/// time, on a blocking thread (the walk writes the whole keyspace; clients go on meanwhile). A
/// stopping server aborts a running rewrite between chunks; the files load as they are.
async fn aof_rewriter(shared: Arc<Shared>, shutdown: CancellationToken) {
    let Some(aof) = &shared.aof else { return };
    let mut growth_check = tokio::time::interval(REWRITE_CHECK);
    growth_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            () = aof.rewrite_wanted() => {}
            _ = growth_check.tick() => {
                // Redis's growth rule (auto-aof-rewrite-percentage, auto-aof-rewrite-min-size):
                // a few atomic loads, so as often as Redis's cron checks it.
                if aof.rewrite_due(crate::db::now_ms() / 1000) && aof.request_rewrite().is_ok() {
                    tracing::info!(bytes = aof.current_size(), "starting automatic rewriting of the append only file");
                }
                continue;
            }
        }
        let (rewriter, stop) = (Arc::clone(&shared), shutdown.clone());
        let rewrite = tokio::task::spawn_blocking(move || {
            let Some(aof) = &rewriter.aof else { return };
            // Failures are logged and shown by INFO; the files stay loadable whatever happened.
            if aof.rewrite(&rewriter.dbs, &|| stop.is_cancelled()).is_ok() {
                // --- scripting ---
                // The rewritten base holds keys only: the libraries follow it as records.
                for code in rewriter.scripting.library_codes() {
                    crate::aof::Effects::new(Some(aof), 0).record(&[b"FUNCTION", b"LOAD", b"REPLACE", &code]);
                }
            }
        });
        if let Err(err) = rewrite.await {
            tracing::error!(%err, "the append-only file rewrite did not finish");
        }
    }
}

/// A connected client's place: counted while it lives, and given back even if its task panics.
struct ClientSlot {
    shared: Arc<Shared>,
}

impl ClientSlot {
    fn new(shared: Arc<Shared>) -> Self {
        shared.stats.connected_clients.fetch_add(1, Ordering::Relaxed);
        ClientSlot { shared }
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.shared.stats.connected_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `--timeout`: closes clients idle for longer than the timeout (read live, so `CONFIG SET timeout`
/// applies to clients already connected), checking every [`IDLE_CHECK_INTERVAL`] as Redis's client cron.
async fn close_idle_clients(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(IDLE_CHECK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let timeout = shared.settings.timeout();
        if timeout > 0 {
            shared.clients.close_idle(Duration::from_secs(timeout));
        }
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
        // This thread's cached entry cells go back to their slabs ten times a second: cells freed
        // by deletions (`FLUSHALL`, `DEL`, expiry) of many sizes would otherwise keep up to 32
        // slabs a size class resident (`arena::flush_local_cache`).
        crate::arena::flush_local_cache();
        crate::clock::sample_wall_offset();
        // `DEBUG SET-ACTIVE-EXPIRE 0` turns the sweep off; a `CLIENT PAUSE` holds it, as in Redis.
        if !shared.active_expire.load(Ordering::Relaxed) || shared.clients.pause.current().is_some() {
            continue;
        }
        // A bounded amount per turn, yielding in between, so a mass expiry never hogs a worker.
        for db in shared.dbs.iter() {
            loop {
                let swept = {
                    // Not while a transaction or a script runs (a script runs on a blocking thread,
                    // beside this task): it judges its keys by the time it started, and a key the
                    // sweep deleted under it would vanish halfway through. Redis's active expiry
                    // never runs then either. This turn is skipped.
                    let Some(_isolation) = shared.isolation.try_shared() else { break };
                    let events = keyspace_events::Collector::start(shared.settings.notify_keyspace_events());
                    let swept = db.sweep_expired(SWEEP_PER_LOCK, SWEEP_PER_TURN);
                    events.publish(&shared, None, 0);
                    swept
                };
                if swept < SWEEP_PER_TURN {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_accepts_are_logged_at_most_once_a_second_with_a_count() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(errors.count(at(0)), Some(1));
        // Every 50 ms for a second: no line...
        for ms in (50..1000).step_by(50) {
            assert_eq!(errors.count(at(ms)), None);
        }
        // ...then one line counting them all.
        assert_eq!(errors.count(at(1000)), Some(20));
        assert_eq!(errors.count(at(1050)), None);
    }
}
