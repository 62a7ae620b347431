//! Big values are freed off the request path, as Redis's lazyfree does.
//!
//! Freeing a collection of millions of elements means millions of `free` calls: done where the
//! key is deleted (`DEL`, `FLUSHALL`, expiry, eviction, an overwrite), under the shard's lock, it
//! would stall every client waiting for that shard — and, on one worker thread, every client. So
//! the big collection types hand their contents to one background thread when they are dropped
//! ([`defer`]); small ones (at most [`THRESHOLD`] elements) are freed in place, which costs less
//! than the hand-over. The memory estimate (`used_memory`) drops at the deletion, as Redis's does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

/// Elements from which a collection is freed in the background (Redis frees in place up to 64;
/// below about a thousand, freeing costs less than waking a thread).
pub const THRESHOLD: usize = 1024;

/// Something to drop.
type Garbage = Box<dyn Send>;

/// Values handed to the thread and values it has freed since start: Redis's `INFO memory` fields
/// `lazyfree_pending_objects` (the difference) and `lazyfreed_objects`.
static HANDED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// Values waiting for the lazy-free thread (`lazyfree_pending_objects`).
pub fn pending() -> u64 {
    HANDED.load(Ordering::Relaxed).saturating_sub(FREED.load(Ordering::Relaxed))
}

/// Values the lazy-free thread has freed since start (`lazyfreed_objects`).
pub fn freed() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// Drops `value` on the background thread (started at the first use). If the thread cannot be
/// started, the value is dropped here: freeing late is an optimisation, never a requirement.
pub fn defer<T: Send + 'static>(value: T) {
    static FREER: OnceLock<Option<Mutex<Sender<Garbage>>>> = OnceLock::new();
    let freer = FREER.get_or_init(|| {
        let (sender, receiver) = channel::<Garbage>();
        let spawned = std::thread::Builder::new().name("tinykv-lazyfree".into()).spawn(move || {
            while let Ok(garbage) = receiver.recv() {
                let mut next = Some(garbage);
                while let Some(garbage) = next {
                    drop(garbage);
                    FREED.fetch_add(1, Ordering::Relaxed);
                    next = receiver.try_recv().ok();
                }
                // The queue is empty: the entries' cells this thread cached go back to their slabs
                // (it never allocates, so its cache would keep them, and their slabs, for ever).
                crate::arena::flush_local_cache();
            }
        });
        match spawned {
            Ok(_) => Some(Mutex::new(sender)),
            Err(err) => {
                tracing::warn!(%err, "could not start the lazy-free thread; big values are freed in place");
                None
            }
        }
    });
    let Some(sender) = freer else { return };
    HANDED.fetch_add(1, Ordering::Relaxed);
    // A poisoned lock (a panic while sending) or a gone thread (it never exits while the process
    // runs): the value is dropped here instead, and counted as freed.
    let sent = match sender.lock() {
        Ok(sender) => sender.send(Box::new(value)).is_ok(),
        Err(_) => false,
    };
    if !sent {
        FREED.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    struct Flag(Arc<AtomicBool>);

    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(std::thread::current().name() == Some("tinykv-lazyfree"), Ordering::SeqCst);
        }
    }

    #[test]
    fn deferred_values_are_dropped_on_the_background_thread() {
        let dropped_there = Arc::new(AtomicBool::new(false));
        defer(Flag(Arc::clone(&dropped_there)));
        for _ in 0..1000 {
            if dropped_there.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("the value was not dropped on the lazy-free thread");
    }
}
