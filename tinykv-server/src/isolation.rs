//! What keeps a transaction's commands together: every command runs *shared*, `EXEC` runs
//! *exclusive*.
//!
//! A single reader-writer lock would make every command on every worker thread write the same
//! cache line, which stops scaling with cores. This is a "big reader" lock instead: one lock per
//! slot, each on its own cache line; a command takes only its thread's slot, and `EXEC` takes every
//! slot, in order (so two `EXEC`s cannot deadlock). Commands stay cheap and uncontended; the rare
//! `EXEC` pays.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Slots: enough that worker threads rarely share one.
const SLOTS: usize = 64;

/// One lock on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Slot(RwLock<()>);

/// The lock: shared per thread, exclusive across all.
pub struct Isolation {
    slots: Box<[Slot]>,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation { slots: (0..SLOTS).map(|_| Slot::default()).collect() }
    }
}

impl Isolation {
    /// Held while one ordinary command runs: excludes only an `EXEC`.
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.slots[thread_slot() % SLOTS].0.read()
    }

    /// [`Isolation::shared`] if no `EXEC` or script holds the lock now, without waiting: for
    /// background work that can skip a turn (the expiry sweep).
    pub fn try_shared(&self) -> Option<RwLockReadGuard<'_, ()>> {
        self.slots[thread_slot() % SLOTS].0.try_read()
    }

    /// Held while an `EXEC` runs its queue: excludes every other command.
    pub fn exclusive(&self) -> Vec<RwLockWriteGuard<'_, ()>> {
        self.slots.iter().map(|slot| slot.0.write()).collect()
    }

    /// [`Isolation::shared`], unless `give_up` says so while waiting (a script has run past the busy
    /// threshold): then `None`. The uncontended path is the same single atomic as `shared`;
    /// `on_wait` runs once if the caller has to wait (a command's clock restarts then).
    pub fn shared_unless(&self, give_up: impl Fn() -> bool, on_wait: impl FnOnce()) -> Option<RwLockReadGuard<'_, ()>> {
        let slot = &self.slots[thread_slot() % SLOTS].0;
        if let Some(guard) = slot.try_read() {
            return Some(guard);
        }
        on_wait();
        loop {
            if let Some(guard) = slot.try_read_for(WAIT_STEP) {
                return Some(guard);
            }
            if give_up() {
                return None;
            }
        }
    }

    /// [`Isolation::exclusive`], unless `give_up` says so while waiting: then `None`, holding nothing.
    pub fn exclusive_unless(&self, give_up: impl Fn() -> bool) -> Option<Vec<RwLockWriteGuard<'_, ()>>> {
        let mut guards = Vec::with_capacity(self.slots.len());
        for slot in self.slots.iter() {
            loop {
                if let Some(guard) = slot.0.try_write_for(WAIT_STEP) {
                    guards.push(guard);
                    break;
                }
                if give_up() {
                    return None;
                }
            }
        }
        Some(guards)
    }
}

/// How long a waiter sleeps on the lock before it looks again whether to give up.
const WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(10);

/// This thread's slot number, handed out once per thread (also what spreads the per-thread counters of [`crate::stats`]).
pub(crate) fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.with(|slot| *slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_waits_for_shared_and_shared_for_exclusive() {
        let isolation = Isolation::default();
        let shared = isolation.shared();
        assert!(isolation.slots.iter().any(|slot| slot.0.try_write().is_none()));
        drop(shared);
        let exclusive = isolation.exclusive();
        assert!(isolation.slots.iter().all(|slot| slot.0.try_read().is_none()));
        drop(exclusive);
        assert!(isolation.slots.iter().all(|slot| slot.0.try_read().is_some()));
    }
}
