//! Thread per core for `--threads N`: N single-threaded runtimes, each on its own OS thread, and
//! every connection served from start to end by one of them.
//!
//! tokio's multi-threaded runtime cost 6–10 % more CPU per request than one thread at `-c 50 -P 1`
//! (`bench/results/PROFILE.md`): each readiness event woke a parked worker through a futex, and idle
//! workers stole tasks from busy ones. Here a connection's socket is registered with its own
//! thread's epoll, so its wake-ups never cross threads. The accept loop and the background tasks
//! stay on the thread that calls [`crate::server::run`], which serves its share of clients too; the
//! other threads only serve clients. Tasks that talk across threads (blocked clients, pub/sub,
//! `CLIENT KILL`, shutdown) do so through wakers, which wake a task on whichever runtime it lives.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

/// The threads that serve clients besides the caller's: none for `--threads 1`.
#[derive(Default)]
pub struct Workers {
    /// Clients served on the thread that runs the accept loop.
    here: Arc<AtomicUsize>,
    /// The other threads.
    threads: Vec<Worker>,
}

/// One extra thread with its single-threaded runtime.
struct Worker {
    /// Where its connections are spawned.
    handle: Handle,
    /// Clients it serves now, so the next goes to the least busy thread.
    clients: Arc<AtomicUsize>,
    /// Dropped to stop its runtime.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `extra` threads, each running a single-threaded runtime until this is dropped.
    pub fn start(extra: usize) -> std::io::Result<Workers> {
        let mut workers = Workers::default();
        for index in 1..=extra {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new().name(format!("tinykv-worker-{index}")).spawn(move || {
                // Either a send or the sender's drop ends it.
                let _ = runtime.block_on(stopped);
            })?;
            workers.threads.push(Worker { handle, clients: Arc::default(), stop: Some(stop), thread: Some(thread) });
        }
        Ok(workers)
    }

    /// Serves `stream` with `serve` on the thread with the fewest clients (the caller's on a tie),
    /// as a task of `tracker`, so waiting for the tracker waits for clients on every thread.
    ///
    /// A socket for another thread leaves this thread's epoll and joins that thread's there.
    pub fn spawn<F, Fut>(&self, tracker: &TaskTracker, stream: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut least = (self.here.load(Ordering::Relaxed), None);
        for worker in &self.threads {
            let clients = worker.clients.load(Ordering::Relaxed);
            if clients < least.0 {
                least = (clients, Some(worker));
            }
        }
        let Some(worker) = least.1 else {
            let counted = Counted::new(&self.here);
            tracker.spawn(async move {
                let _counted = counted;
                serve(stream).await;
            });
            return;
        };
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(%err, "could not hand a connection to a worker thread");
                return;
            }
        };
        let counted = Counted::new(&worker.clients);
        tracker.spawn_on(
            async move {
                let _counted = counted;
                // Runs on the worker: the socket registers with its runtime's epoll.
                match TcpStream::from_std(stream) {
                    Ok(stream) => serve(stream).await,
                    Err(err) => tracing::warn!(%err, "a worker thread could not take a connection"),
                }
            },
            &worker.handle,
        );
    }
}

impl Drop for Workers {
    /// Stops every thread's runtime (a connection still running is dropped, as the caller's
    /// runtime drops its own when it ends) and waits for the threads.
    fn drop(&mut self) {
        for worker in &mut self.threads {
            drop(worker.stop.take());
        }
        for worker in &mut self.threads {
            if let Some(thread) = worker.thread.take() {
                if thread.join().is_err() {
                    tracing::error!("a worker thread panicked");
                }
            }
        }
    }
}

/// One client counted on a thread while its task lives (even if it panics).
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(clients: &Arc<AtomicUsize>) -> Counted {
        clients.fetch_add(1, Ordering::Relaxed);
        Counted(Arc::clone(clients))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
