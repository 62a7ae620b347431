//! Clients blocked in `BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH` and `BLMPOP`: who waits on which key,
//! in the order they came.
//!
//! ```text
//! registry   (db, key) -> FIFO of waiters; client id -> its waiter (for CLIENT UNBLOCK)
//! waiter     what it waits for (pop from an end, or move to a destination), and a state:
//!              Waiting --claim--> Claimed --finish(reply)--> Done
//!              Waiting --cancel (timeout, disconnect, unblock)--> Cancelled
//! ```
//!
//! A client registers while it holds the locks of every key it waits on (having found them all
//! empty), so no push can slip in between its look and its wait. A writer that leaves a list
//! non-empty serves the waiters on that key under the key's lock, before any other command can take
//! the element: it claims the first waiter still waiting, pops for it and hands the reply over; a
//! waiter that timed out or left meanwhile can no longer be claimed, so nothing is popped for it. The
//! waiting side sleeps on a `Notify` (no polling) and removes itself from the registry however its
//! wait ends.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tinykv_proto::Reply;
use tokio::sync::Notify;

use crate::collections::End;

/// What a blocked client wants done when an element arrives.
#[derive(Debug, Clone)]
pub enum BlockOp {
    /// `BLPOP`/`BRPOP` (`count: None`: the reply is `[key, element]`) and `BLMPOP` (`Some(count)`:
    /// `[key, [elements]]`).
    Pop {
        /// Which end to pop from.
        end: End,
        /// Up to how many elements (`BLMPOP`).
        count: Option<u64>,
    },
    /// `BLMOVE`/`BRPOPLPUSH`: the element goes to `destination`, and is the reply.
    Move {
        /// Where it goes.
        destination: Bytes,
        /// The end it is taken from.
        from: End,
        /// The end it is pushed to.
        to: End,
    },
    // --- sorted sets ---
    /// `BZPOPMIN`/`BZPOPMAX` (`count: None`: the reply is `[key, member, score]`) and `BZMPOP`
    /// (`Some(count)`: `[key, [[member, score], ...]]`).
    ZPop {
        /// From the highest scores.
        max: bool,
        /// Up to how many members (`BZMPOP`).
        count: Option<u64>,
    },
}

impl BlockOp {
    /// Whether the op takes from a sorted set (else from a list): a waiter is served only by a key
    /// of its type, as in Redis.
    pub fn wants_zset(&self) -> bool {
        matches!(self, BlockOp::ZPop { .. })
    }
}

#[derive(Debug)]
enum State {
    Waiting,
    /// A writer took it and is completing the move: it can no longer time out.
    Claimed,
    Done(Option<Reply>),
    Cancelled,
}

/// One blocked client.
#[derive(Debug)]
pub struct Waiter {
    /// The client's id (`CLIENT UNBLOCK`).
    pub client: u64,
    /// The database its keys are in.
    pub db: usize,
    /// The keys it waits on, in the order given.
    pub keys: Vec<Bytes>,
    /// What to do with an element.
    pub op: BlockOp,
    state: Mutex<State>,
    notify: Notify,
}

/// How a wait that the client gave up on ended.
#[derive(Debug)]
pub enum Cancelled {
    /// Nobody served it: it is out of the race.
    Nothing,
    /// It was served just before: here is the reply.
    Served(Reply),
    /// A writer is completing a move for it: wait for the reply.
    Pending,
}

impl Waiter {
    /// A new waiter, not yet registered.
    pub fn new(client: u64, db: usize, keys: Vec<Bytes>, op: BlockOp) -> Arc<Waiter> {
        Arc::new(Waiter { client, db, keys, op, state: Mutex::new(State::Waiting), notify: Notify::new() })
    }

    /// Takes the waiter for serving, if it still waits.
    pub fn claim(&self) -> bool {
        let mut state = self.state.lock();
        if matches!(*state, State::Waiting) {
            *state = State::Claimed;
            true
        } else {
            false
        }
    }

    /// Hands a claimed waiter its reply.
    pub fn finish(&self, reply: Reply) {
        *self.state.lock() = State::Done(Some(reply));
        self.notify.notify_one();
    }

    /// Ends the wait from outside (`CLIENT UNBLOCK`) with `reply`, if it still waits.
    pub fn interrupt(&self, reply: Reply) -> bool {
        if self.claim() {
            self.finish(reply);
            true
        } else {
            false
        }
    }

    /// Waits until something happens to the waiter (cancel-safe: a wake-up is kept until awaited).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// The reply, once served.
    pub fn take(&self) -> Option<Reply> {
        match &mut *self.state.lock() {
            State::Done(reply) => reply.take(),
            _ => None,
        }
    }

    /// Gives up waiting (timeout, disconnect, shutdown).
    pub fn cancel(&self) -> Cancelled {
        let mut state = self.state.lock();
        match &mut *state {
            State::Waiting => {
                *state = State::Cancelled;
                Cancelled::Nothing
            }
            State::Claimed => Cancelled::Pending,
            State::Done(reply) => reply.take().map_or(Cancelled::Nothing, Cancelled::Served),
            State::Cancelled => Cancelled::Nothing,
        }
    }

    fn waiting(&self) -> bool {
        matches!(*self.state.lock(), State::Waiting)
    }
}

#[derive(Debug, Default)]
struct Inner {
    queues: HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>,
    clients: HashMap<u64, Arc<Waiter>>,
}

/// Every blocked client, by key and by client id.
#[derive(Debug, Default)]
pub struct Blocking {
    inner: Mutex<Inner>,
    /// Registered waiters: one relaxed load tells a writer there is nobody to serve.
    count: AtomicUsize,
}

impl Blocking {
    /// Whether anyone waits at all.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Blocked clients, for `INFO`'s `blocked_clients`.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a waiter at the back of each of its keys' queues. Called with those keys locked.
    pub fn register(&self, waiter: &Arc<Waiter>) {
        let mut inner = self.inner.lock();
        for key in &waiter.keys {
            let queue = inner.queues.entry((waiter.db, key.clone())).or_default();
            // A key named twice waits once.
            if !queue.iter().any(|other| Arc::ptr_eq(other, waiter)) {
                queue.push_back(Arc::clone(waiter));
            }
        }
        if inner.clients.insert(waiter.client, Arc::clone(waiter)).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes a waiter out of every queue (it was served, or gave up).
    pub fn remove(&self, waiter: &Arc<Waiter>) {
        let mut inner = self.inner.lock();
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(queue) = inner.queues.get_mut(&slot) {
                queue.retain(|other| !Arc::ptr_eq(other, waiter));
                if queue.is_empty() {
                    inner.queues.remove(&slot);
                }
            }
        }
        if inner.clients.get(&waiter.client).is_some_and(|other| Arc::ptr_eq(other, waiter)) {
            inner.clients.remove(&waiter.client);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The first waiter on `key` of database `db` that still waits, if any.
    pub fn first(&self, db: usize, key: &[u8]) -> Option<Arc<Waiter>> {
        self.first_where(db, key, |_| true)
    }

    /// The first waiter on `key` of database `db` that still waits and whose op `wanted` accepts.
    pub fn first_where(&self, db: usize, key: &[u8], wanted: impl Fn(&BlockOp) -> bool) -> Option<Arc<Waiter>> {
        if !self.any() {
            return None;
        }
        let inner = self.inner.lock();
        let queue = inner.queues.get(&(db, Bytes::copy_from_slice(key)))?;
        queue.iter().find(|waiter| waiter.waiting() && wanted(&waiter.op)).cloned()
    }

    /// Every (database, key) someone waits on.
    pub fn waited_keys(&self) -> Vec<(usize, Bytes)> {
        self.inner.lock().queues.keys().cloned().collect()
    }

    /// `CLIENT UNBLOCK`: ends client `id`'s wait with `reply`; false if it is not blocked.
    pub fn unblock(&self, id: u64, reply: Reply) -> bool {
        let waiter = self.inner.lock().clients.get(&id).cloned();
        waiter.is_some_and(|waiter| waiter.interrupt(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(client: u64, keys: &[&str]) -> Arc<Waiter> {
        let keys = keys.iter().map(|key| Bytes::copy_from_slice(key.as_bytes())).collect();
        Waiter::new(client, 0, keys, BlockOp::Pop { end: End::Left, count: None })
    }

    #[test]
    fn first_come_first_served_and_nothing_left_behind() {
        let registry = Blocking::default();
        let (a, b) = (waiter(1, &["k", "j"]), waiter(2, &["k"]));
        registry.register(&a);
        registry.register(&b);
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.first(0, b"k").map(|w| w.client), Some(1));
        assert!(a.claim());
        assert_eq!(registry.first(0, b"k").map(|w| w.client), Some(2), "a claimed waiter is skipped");
        a.finish(Reply::Integer(1));
        assert!(matches!(a.cancel(), Cancelled::Served(Reply::Integer(1))));
        assert!(matches!(b.cancel(), Cancelled::Nothing));
        assert!(!b.claim(), "a cancelled waiter cannot be served");
        registry.remove(&a);
        registry.remove(&b);
        assert!(registry.is_empty() && registry.waited_keys().is_empty());
        assert!(!registry.unblock(2, Reply::Null));
    }
}
