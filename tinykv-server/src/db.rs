//! The keyspace: a fixed number of shards, each a mutex over a hash table of [`Entry`]s.
//!
//! A lock is held for one command on one shard (or, for the few multi-key commands, on each shard
//! they touch, taken in index order so two commands can never deadlock) and never across `.await`.
//! `parking_lot` mutexes do not poison, so a panic in one client's command leaves the data usable.
//!
//! Expiry is lazy and active: an expired key is removed when a command touches it, and
//! [`Db::sweep_expired`] removes the rest from a per-shard heap of deadlines, a bounded number
//! per lock hold, so memory is reclaimed without a client touching the keys and without stalls.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::hash_table::HashTable;
use hashbrown::{DefaultHashBuilder, HashMap};
use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use tinykv_proto::CommandError;

use crate::access::{self, Tracking};
use crate::collections::{scan_step, Collection, Kind, Typed};
use crate::entry::{allocation_size, Entry, Value};
use crate::keyspace_events;

/// The current time in Unix milliseconds (defined with the other clock, in [`crate::clock`]).
pub use crate::clock::now_ms;

/// A fast pseudo-random number (xorshift64*, one per thread, seeded from the OS's randomness via
/// std's `RandomState`): for `RANDOMKEY` and sampling, where speed matters and strength does not.
pub fn random_u64() -> u64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64) | 1);
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// How many cells a snapshot's walk splits a shard into at most (as a power of two).
const MAX_SCAN_CELL_BITS: u32 = 4;
/// Keys a multi-key command usually names (`ZPOPMIN key`, `LMOVE a b`, a short `MGET`): [`Db::with_keys`]
/// keeps their hashes and shard locks on the stack, three allocations fewer a call.
const FEW_KEYS: usize = 4;
/// Bytes of one deadline in a shard's heap (the key's own allocation aside).
const DEADLINE_SIZE: usize = std::mem::size_of::<Reverse<(u64, Box<[u8]>)>>();
/// Control bytes a hashbrown table keeps beyond one per bucket (one SIMD group).
const TABLE_GROUP_WIDTH: usize = 16;
/// Buckets an eviction sample may walk per key it wants, before it settles for fewer (as Redis's
/// `dictGetSomeKeys`); a table emptied by deletions keeps its buckets, so this bounds the walk.
const SAMPLE_STEPS_PER_KEY: usize = 10;
/// Random deadlines an eviction sample of volatile keys may draw per key it wants: some are stale.
const SAMPLE_DRAWS_PER_KEY: usize = 4;

/// One shard: a table of entries and the deadlines of those with a time to live.
#[derive(Default)]
struct Shard {
    table: HashTable<Entry>,
    /// Min-heap of (deadline, key). Entries go stale when a key is deleted or its TTL changes; a
    /// stale one is discarded when it comes due, and the heap is rebuilt when stale ones dominate.
    deadlines: BinaryHeap<Reverse<(u64, Box<[u8]>)>>,
    /// Keys in `table` that have a time to live.
    volatile: usize,
    /// Keys some client `WATCH`es, with a version every change bumps. Usually empty, and then a
    /// write pays one `is_empty` check for it.
    watched: HashMap<Box<[u8]>, Watched>,
    /// Allocator bytes of the keys held in `deadlines`.
    deadline_keys: usize,
    /// Bytes of the table's bucket array and of the deadline heap now counted in `used_memory`.
    overhead: usize,
    /// While a point-in-time walk (a snapshot) has yet to copy part of this shard: what it needs of
    /// the shard as it was when the walk began.
    frozen: Option<Box<Frozen>>,
}

/// A shard as it was at the instant a point-in-time walk began, kept only where it has changed
/// since: copy-on-write per key.
///
/// The walk copies the shard one *cell* (a fixed slice of the hash space) per lock hold. Before a
/// key of a cell not yet copied changes, its value then (or its absence) is kept in `pre_images`;
/// the walk takes a key's pre-image instead of its value now. So the walk sees every key as it was
/// at the start, whatever the writes in between, and holds extra memory only for the keys written
/// while it runs (collections are shared, not copied: see `entry.rs`).
#[derive(Debug)]
struct Frozen {
    /// The instant of the image (Unix ms): keys expired then are left out.
    at: u64,
    /// How many cells the shard is walked in (a power of two, fixed for the walk).
    cells: u64,
    /// The next cell the walk copies; cells before it are done and need nothing kept.
    next_cell: u64,
    /// Keys changed since the instant in cells not yet copied: their entry then, `None` if absent.
    pre_images: HashMap<Box<[u8]>, Option<Entry>>,
    /// The table a `FLUSHDB` emptied out of this shard during the walk: the cells not yet copied are
    /// read from it instead of the (new) live table.
    base: Option<HashTable<Entry>>,
}

impl Frozen {
    fn cell_of(&self, hash: u64) -> u64 {
        cell_of(hash, self.cells)
    }
}

/// The cell (of `cells`, a power of two) a key's hash falls in, for walks a shard at a time: from
/// hash bits that do not depend on the table's size.
fn cell_of(hash: u64, cells: u64) -> u64 {
    if cells <= 1 {
        0
    } else {
        (hash >> 40) & (cells - 1)
    }
}

/// How many clients watch a key, and how often it changed since the first of them did.
#[derive(Debug, Default)]
struct Watched {
    watchers: usize,
    version: u64,
}

impl Shard {
    /// Bytes the table's buckets and the deadline heap take now: what the entries' own allocations
    /// leave out of the memory estimate.
    fn overhead_now(&self) -> usize {
        let buckets = self.table.num_buckets();
        // A table that never allocated (or gave everything back) reports one bucket and has none.
        let table = if self.table.capacity() == 0 {
            0
        } else {
            allocation_size(buckets * std::mem::size_of::<Entry>() + buckets + TABLE_GROUP_WIDTH)
        };
        table + allocation_size(self.deadlines.capacity() * DEADLINE_SIZE) + self.deadline_keys
    }

    /// Brings the table's and the heap's share of `used_memory` up to date after they may have grown,
    /// shrunk or been rebuilt: a few loads when nothing changed.
    fn settle(&mut self, counters: &Counters) {
        let now = self.overhead_now();
        if now != self.overhead {
            counters.used_memory.fetch_add(now, Ordering::Relaxed);
            counters.used_memory.fetch_sub(self.overhead, Ordering::Relaxed);
            self.overhead = now;
        }
    }

    /// Gives memory back once the table or the heap is mostly empty (less than a tenth used, as
    /// Redis resizes its dicts), and all of it once they are empty if `to_zero`: deletions and
    /// evictions leave the buckets behind otherwise, and they count in `used_memory`. Small tables are
    /// left alone unless `to_zero`, so a key set and deleted over and over does not reallocate.
    fn shrink_if_sparse(&mut self, hasher: &DefaultHashBuilder, to_zero: bool) {
        const KEEP_BUCKETS: usize = 64;
        const MIN_FILL: usize = 10;
        let (len, buckets) = (self.table.len(), self.table.num_buckets());
        if (to_zero && len == 0 && self.table.capacity() > 0) || (buckets > KEEP_BUCKETS && len * MIN_FILL < buckets) {
            self.table.shrink_to(len, |e| hasher.hash_one(e.key()));
        }
        let (len, capacity) = (self.deadlines.len(), self.deadlines.capacity());
        if (to_zero && len == 0 && capacity > 0) || (capacity > KEEP_BUCKETS && len * MIN_FILL < capacity) {
            self.deadlines.shrink_to_fit();
        }
    }

    /// Adds a deadline for `key` to the heap.
    fn push_deadline(&mut self, at: u64, key: &[u8]) {
        self.deadline_keys += allocation_size(key.len());
        self.deadlines.push(Reverse((at, Box::from(key))));
    }

    /// Keeps what `key` holds now for a point-in-time walk that has yet to copy it, before it
    /// changes. One branch when no walk runs.
    fn preserve(&mut self, key: &[u8], hash: u64) {
        let Shard { frozen, table, .. } = self;
        let Some(frozen) = frozen.as_deref_mut() else { return };
        if frozen.cell_of(hash) < frozen.next_cell || frozen.pre_images.contains_key(key) {
            return;
        }
        let source = frozen.base.as_ref().unwrap_or(table);
        let then = source.find(hash, |e| e.key() == key).cloned();
        frozen.pre_images.insert(key.into(), then);
    }

    /// Marks `key` changed for whoever watches it.
    fn touch(&mut self, key: &[u8]) {
        if !self.watched.is_empty() {
            if let Some(watched) = self.watched.get_mut(key) {
                watched.version += 1;
            }
        }
    }
}

/// What every database of a server shares: one hasher (so `SWAPDB` can exchange tables, whose
/// entries stay where that hasher put them), counters (so totals are one load), and the eviction
/// settings that decide what a lookup records in a key's access data.
#[derive(Default)]
pub struct Counters {
    hasher: DefaultHashBuilder,
    used_memory: AtomicUsize,
    expired_keys: AtomicU64,
    evicted_keys: AtomicU64,
    /// The eviction policy and its parameters, as they are now.
    pub tracking: Tracking,
    /// `SWAPDB`s since start: a walk of the keyspace that is not a point-in-time image (an AOF
    /// rewrite) checks it did not see two databases' contents change places under it.
    swaps: AtomicU64,
    /// Set while the append-only file is replayed: keys do not expire then (see [`Db::set_loading`]).
    loading: AtomicBool,
    /// Held for the whole of a point-in-time walk (from [`Db::freeze_all_then`] to the last shard
    /// walked): the shards hold the state of one walk, so a second (a BGSAVE during an AOF rewrite)
    /// waits for the first.
    walk: Mutex<()>,
    // --- replication ---
    /// Told of every key expired or evicted in a numbered database (see [`Counters::on_delete`]).
    deleted: std::sync::OnceLock<DeleteHook>,
    /// Set on a replica: keys are never expired here, their primary's `DEL`s remove them (see
    /// [`applying_primary_stream`]).
    replica: AtomicBool,
}

/// What is told of a key expired or evicted: its database and the key.
pub type DeleteHook = Box<dyn Fn(usize, &[u8]) + Send + Sync>;

thread_local! {
    static FROM_PRIMARY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The key lookups of the read command running on this thread, hits and misses (see
    /// [`ReadLookups`]); `None` outside one.
    static READ_LOOKUPS: std::cell::Cell<Option<(u64, u64)>> = const { std::cell::Cell::new(None) };
}

/// A read command's count of its key lookups, for `keyspace_hits` and `keyspace_misses`, counted
/// as Redis's `lookupKeyRead` counts them (a key found, of any type, is a hit; a missing or expired
/// one a miss) wherever in the command they happen: from [`ReadLookups::start`] to
/// [`ReadLookups::finish`]. Nests (a read-only script's commands count their own).
#[must_use]
pub struct ReadLookups {
    /// The count this one interrupts, put back at the end.
    outer: Option<(u64, u64)>,
}

impl ReadLookups {
    /// Starts counting this thread's lookups.
    pub fn start() -> ReadLookups {
        ReadLookups { outer: READ_LOOKUPS.replace(Some((0, 0))) }
    }

    /// The hits and misses counted since [`ReadLookups::start`].
    pub fn finish(self) -> (u64, u64) {
        READ_LOOKUPS.get().unwrap_or_default()
        // `self` drops here: the outer count comes back.
    }
}

impl Drop for ReadLookups {
    /// Puts the outer count back, also when the command panics (a panic is contained to one client).
    fn drop(&mut self) {
        READ_LOOKUPS.set(self.outer);
    }
}

/// Counts one lookup, if a read command is counting them (a thread-local test otherwise).
fn note_lookup(found: bool) {
    READ_LOOKUPS.with(|lookups| {
        if let Some((hits, misses)) = lookups.get() {
            lookups.set(Some(if found { (hits + 1, misses) } else { (hits, misses + 1) }));
        }
    });
}

/// Runs `f` as the primary's replication stream: on a replica, expired keys stay visible to it
/// (they are the primary's to delete, and a write to one must apply to it as it did there), while
/// other clients see them as gone.
pub fn applying_primary_stream<R>(f: impl FnOnce() -> R) -> R {
    FROM_PRIMARY.with(|from| from.set(true));
    let result = f();
    FROM_PRIMARY.with(|from| from.set(false));
    result
}

impl Counters {
    /// Counters starting at zero, with the given eviction settings.
    pub fn new(tracking: Tracking) -> Counters {
        Counters { tracking, ..Counters::default() }
    }

    /// Keys removed to make room under `--maxmemory`, since start.
    pub fn evicted_keys(&self) -> u64 {
        self.evicted_keys.load(Ordering::Relaxed)
    }

    /// Estimated bytes held by keys and values (allocations and table slots) in every database.
    pub fn used_memory(&self) -> usize {
        self.used_memory.load(Ordering::Relaxed)
    }

    /// Keys removed because their time to live ran out, since start.
    pub fn expired_keys(&self) -> u64 {
        self.expired_keys.load(Ordering::Relaxed)
    }

    /// Sets what is told of every key expired or evicted (once; a primary's replication stream
    /// sends them as `DEL`). Called with the key's shard locked.
    pub fn on_delete(&self, hook: DeleteHook) {
        let _ = self.deleted.set(hook);
    }

    /// Makes the databases a replica's (`true`: keys do not expire here) or a primary's.
    pub fn set_replica(&self, replica: bool) {
        self.replica.store(replica, Ordering::Relaxed);
    }

    /// Whether keys are kept past their time for the primary to delete.
    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Relaxed)
    }
}

impl Db {
    /// `SWAPDB`s on this server since start (see [`Counters`]). Counted while the swap holds every
    /// shard lock, so a walk that read any shard after a swap sees the count moved.
    pub fn swaps(&self) -> u64 {
        self.counters.swaps.load(Ordering::Acquire)
    }

    /// The right to freeze and walk the keyspace of this server (every database sharing these
    /// counters): take it before [`Db::freeze_all_then`] and hold it until the walk ends. Another
    /// walk waits meanwhile, rather than re-freezing shards the first has yet to copy.
    pub fn exclusive_walk(&self) -> MutexGuard<'_, ()> {
        self.counters.walk.lock()
    }
}

/// One database (of `--databases`): a sharded keyspace.
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
    counters: Arc<Counters>,
    /// Its number (`SELECT`), for the keyspace events of its keys.
    index: usize,
    // --- replication ---
    /// Whether it is one of a server's databases (not a replica's load in progress, or a test's):
    /// only those tell the delete hook of keys they expire or evict.
    on_server: bool,
}

impl Db {
    /// A keyspace of `shards` shards (rounded up to a power of two) on its own counters.
    pub fn new(shards: usize) -> Db {
        Db::with_counters(shards, Arc::default())
    }

    /// A keyspace of `shards` shards (rounded up to a power of two) that adds to `counters`.
    pub fn with_counters(shards: usize, counters: Arc<Counters>) -> Db {
        let shards = shards.max(1).next_power_of_two();
        Db { shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(), counters, index: 0, on_server: false }
    }

    /// This database as number `index` of the server (0 unless said): the number its keyspace
    /// events name, and its expired and evicted keys' in the replication stream.
    pub fn numbered(self, index: usize) -> Db {
        Db { index, on_server: true, ..self }
    }

    /// Tells the delete hook (if any) that `key` was expired or evicted.
    fn deleted(&self, key: &[u8]) {
        if let (true, Some(hook)) = (self.on_server, self.counters.deleted.get()) {
            hook(self.index, key);
        }
    }

    /// While `loading`, commands see no key as expired, as Redis while it loads: replayed records
    /// describe what happened when each was written, so a key that expired since must still be
    /// there for the records after it (a field added to a hash then), and is reclaimed after the load.
    pub fn set_loading(&self, loading: bool) {
        self.counters.loading.store(loading, Ordering::Relaxed);
    }

    /// The time commands run at: the running command's (`clock::CommandTime`), or the beginning of
    /// time while loading (nothing has expired).
    fn now(&self) -> u64 {
        if self.counters.loading.load(Ordering::Relaxed) {
            0
        } else {
            crate::clock::command_now_ms()
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.counters.hasher.hash_one(key)
    }

    /// Bits 32.. pick the shard: the table uses the low bits for buckets and the top 7 for tags.
    fn shard_of(&self, hash: u64) -> usize {
        ((hash >> 32) as usize) & (self.shards.len() - 1)
    }

    /// Starts loading what a lookup of `key` will read (the table's control bytes and slot on the way,
    /// the entries whose tag matches) without reading the entries themselves: called for the keys of
    /// a pipelined batch before it runs, so their cache misses overlap. Skipped when the shard is
    /// busy: it is only a hint.
    pub fn prefetch(&self, key: &[u8]) {
        let hash = self.hash(key);
        if let Some(shard) = self.shards[self.shard_of(hash)].try_lock() {
            // `false`: every candidate of the probe sequence is visited (usually one) and none read.
            let _ = shard.table.find(hash, |entry| {
                entry.prefetch();
                false
            });
        }
    }

    /// Runs `f` on one key with its shard locked. An expired key is removed first, so `f` never sees
    /// it. The key counts as accessed (its LRU clock or LFU counter moves), as a Redis lookup does.
    pub fn with_key<R>(&self, key: &[u8], f: impl FnOnce(&mut Slot<'_>) -> R) -> R {
        let hash = self.hash(key);
        let mut shard = self.shards[self.shard_of(hash)].lock();
        let mut slot = Slot::new(&mut shard, self, key, hash, self.now(), true);
        note_lookup(slot.exists());
        f(&mut slot)
    }

    /// [`Db::with_key`] without counting an access: for the commands Redis looks keys up for with
    /// `LOOKUP_NOTOUCH` (`EXISTS`, `TYPE`, `TTL`, `OBJECT`, ...) and for reading back what a write left.
    pub fn with_key_untouched<R>(&self, key: &[u8], f: impl FnOnce(&mut Slot<'_>) -> R) -> R {
        self.peek(key, true, f)
    }

    /// [`Db::with_key_untouched`], counted as a read's lookup or not (`MEMORY USAGE`, which Redis
    /// answers from its dictionary without a lookup).
    fn peek<R>(&self, key: &[u8], counted: bool, f: impl FnOnce(&mut Slot<'_>) -> R) -> R {
        let hash = self.hash(key);
        let mut shard = self.shards[self.shard_of(hash)].lock();
        let mut slot = Slot::new(&mut shard, self, key, hash, self.now(), false);
        if counted {
            note_lookup(slot.exists());
        }
        f(&mut slot)
    }

    /// Bytes `key` holds (`MEMORY USAGE`): its allocation, its table slot with its control byte, and
    /// its place in the deadline heap if it has a time to live. `None` for a missing key. Not an access.
    pub fn memory_usage(&self, key: &[u8]) -> Option<usize> {
        const SLOT: usize = std::mem::size_of::<Entry>() + 1;
        self.peek(key, false, |slot| {
            let entry = slot.entry()?;
            let deadline = match entry.expires_at() {
                Some(_) => DEADLINE_SIZE + allocation_size(key.len()),
                None => 0,
            };
            Some(entry.footprint() + SLOT + deadline)
        })
    }

    /// The eviction settings every database of this server shares.
    pub fn tracking(&self) -> &Tracking {
        &self.counters.tracking
    }

    /// Visits up to `count` keys of one shard picked at random, for eviction sampling: only keys with
    /// a time to live when `volatile`. Tries up to `shards_to_try` shards (from a random one) until
    /// one has keys to visit; returns how many keys it visited. `visit` runs under the shard's lock.
    ///
    /// All keys: consecutive buckets from a random one, as Redis's `dictGetSomeKeys` walks; keys with
    /// a time to live: random deadlines from the shard's heap, skipping stale ones.
    pub fn sample(
        &self,
        random: &mut impl FnMut() -> u64,
        volatile: bool,
        count: usize,
        shards_to_try: usize,
        mut visit: impl FnMut(&Entry),
    ) -> usize {
        let first = random() as usize;
        for i in 0..shards_to_try.min(self.shards.len()) {
            let shard = self.shards[first.wrapping_add(i) & (self.shards.len() - 1)].lock();
            let visited = if volatile {
                self.sample_volatile(&shard, random, count, &mut visit)
            } else {
                sample_table(&shard.table, random, count, &mut visit)
            };
            if visited > 0 {
                return visited;
            }
        }
        0
    }

    /// Up to `count` keys with a time to live from `shard`, drawn from its deadline heap.
    fn sample_volatile(
        &self,
        shard: &Shard,
        random: &mut impl FnMut() -> u64,
        count: usize,
        visit: &mut impl FnMut(&Entry),
    ) -> usize {
        let deadlines = shard.deadlines.as_slice();
        if shard.volatile == 0 || deadlines.is_empty() {
            return 0;
        }
        let mut visited = 0;
        for _ in 0..count * SAMPLE_DRAWS_PER_KEY {
            let Reverse((_, key)) = &deadlines[random() as usize % deadlines.len()];
            // A stale deadline (key deleted or made persistent) is skipped; a re-timed key still counts.
            if let Some(entry) = shard.table.find(self.hash(key), |e| e.key() == &**key) {
                if entry.expires_at().is_some() {
                    visit(entry);
                    visited += 1;
                    if visited == count {
                        break;
                    }
                }
            }
        }
        if visited == 0 {
            // Stale deadlines crowd the heap: walk the table for the live ones instead.
            for entry in shard.table.iter().filter(|e| e.expires_at().is_some()).take(count) {
                visit(entry);
                visited += 1;
            }
        }
        visited
    }

    /// Evicts `key` to make room under `--maxmemory`: removes it (if it exists and, when `volatile`,
    /// still has a time to live), tells its watchers, and counts it in `evicted_keys`. Returns whether
    /// it was removed; the caller logs the deletion to the append-only file.
    ///
    /// A key found expired is removed as expired (counted in `expired_keys`), and that is true too:
    /// its memory is freed all the same.
    pub fn evict(&self, key: &[u8], volatile: bool) -> bool {
        let hash = self.hash(key);
        let mut shard = self.shards[self.shard_of(hash)].lock();
        let now = self.now();
        let expired = shard.table.find(hash, |e| e.key() == key).is_some_and(|e| e.is_expired(now));
        // Removes it first if expired.
        let mut slot = Slot::new(&mut shard, self, key, hash, now, false);
        if expired {
            return true;
        }
        if volatile && slot.expires_at().flatten().is_none() {
            return false;
        }
        let removed = keyspace_events::quietly(|| slot.remove()).is_some();
        if removed {
            keyspace_events::evicted(self.index, key);
            self.counters.evicted_keys.fetch_add(1, Ordering::Relaxed);
            self.deleted(key);
        }
        removed
    }

    /// The value of `key`, copied out, if it exists and is a string.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.with_key(key, |slot| slot.string().ok().flatten().map(Bytes::copy_from_slice))
    }

    /// Runs `f` with every shard that holds one of `keys` locked, in shard order; `f` reaches each
    /// key through [`Keys::slot`]. For commands that must change several keys atomically.
    pub fn with_keys<R>(&self, keys: &[&[u8]], f: impl FnOnce(&mut Keys<'_>) -> R) -> R {
        let hashes: SmallVec<[u64; FEW_KEYS]> = keys.iter().map(|key| self.hash(key)).collect();
        let mut indices: SmallVec<[usize; FEW_KEYS]> = hashes.iter().map(|&h| self.shard_of(h)).collect();
        indices.sort_unstable();
        indices.dedup();
        let guards = indices.into_iter().map(|i| (i, self.shards[i].lock())).collect();
        let looked_up = smallvec::smallvec![0; keys.len().div_ceil(64)];
        let mut locked = Keys { db: self, guards, hashes, keys, now: self.now(), looked_up };
        f(&mut locked)
    }

    /// Number of keys, counting expired ones not yet reclaimed (as Redis's `DBSIZE` does).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().table.len()).sum()
    }

    /// Whether the keyspace is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys with a time to live.
    pub fn volatile_len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().volatile).sum()
    }

    /// Registers one more watcher of `key` and returns the key's version, which [`Db::watched_version`]
    /// will still return at `EXEC` if nothing changed the key in between.
    ///
    /// A key already past its deadline is removed first (on a primary), so a watch counts it as
    /// absent: Redis flags such a watch and does not abort when the key is then deleted.
    pub fn watch(&self, key: &[u8]) -> u64 {
        self.with_key_untouched(key, |_| ());
        let mut shard = self.shards[self.shard_of(self.hash(key))].lock();
        let watched = shard.watched.entry(Box::from(key)).or_default();
        watched.watchers += 1;
        watched.version
    }

    /// The version of a watched key now.
    pub fn watched_version(&self, key: &[u8]) -> u64 {
        let shard = self.shards[self.shard_of(self.hash(key))].lock();
        shard.watched.get(key).map_or(u64::MAX, |watched| watched.version)
    }

    /// Drops one watcher of `key`; the key is forgotten with its last watcher.
    pub fn unwatch(&self, key: &[u8]) {
        let mut shard = self.shards[self.shard_of(self.hash(key))].lock();
        if let Some(watched) = shard.watched.get_mut(key) {
            watched.watchers -= 1;
            if watched.watchers == 0 {
                shard.watched.remove(key);
            }
        }
    }

    /// Removes every key.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let freed: usize = shard.table.iter().map(Entry::footprint).sum::<usize>() + shard.overhead;
            // As Redis's flush, only a watched key that was there counts as changed.
            let mut watched = std::mem::take(&mut shard.watched);
            for (key, watched) in watched.iter_mut() {
                if self.held(&shard.table, key).is_some() {
                    watched.version += 1;
                }
            }
            // A walk in progress keeps reading the shard as it was: the emptied table becomes its base.
            let mut frozen = shard.frozen.take();
            if let Some(frozen) = frozen.as_deref_mut() {
                if frozen.base.is_none() {
                    frozen.base = Some(std::mem::take(&mut shard.table));
                }
            }
            *shard = Shard { watched, frozen, ..Shard::default() };
            self.counters.used_memory.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Estimated bytes held by keys and values, in every database sharing this one's counters.
    pub fn used_memory(&self) -> usize {
        self.counters.used_memory()
    }

    /// Keys removed because their time to live ran out, in every database sharing the counters.
    pub fn expired_keys(&self) -> u64 {
        self.counters.expired_keys()
    }

    /// A live key picked at random (`RANDOMKEY`), or `None` when the database holds none. Probes
    /// random buckets of a random shard: tables are at least about 40% full, so a few probes find one.
    pub fn random_key(&self, random: &mut impl FnMut() -> u64) -> Option<Bytes> {
        const PROBES: usize = 64;
        if self.is_empty() {
            return None;
        }
        let now = self.now();
        for _ in 0..PROBES * self.shards.len() {
            let shard = self.shards[random() as usize & (self.shards.len() - 1)].lock();
            let buckets = shard.table.num_buckets();
            if shard.table.is_empty() || buckets == 0 {
                continue;
            }
            for _ in 0..PROBES {
                if let Some(entry) = shard.table.get_bucket(random() as usize % buckets) {
                    if !entry.is_expired(now) {
                        return Some(Bytes::copy_from_slice(entry.key()));
                    }
                }
            }
        }
        // Only expired keys were found: a full walk settles it.
        self.keys(|_| true).into_iter().next()
    }

    /// `SWAPDB`: exchanges the contents of two databases, atomically for every client. Locks every
    /// shard of `first` and then of `second`, so callers pass them in database order (as every
    /// multi-database lock taker does) and no two swaps can deadlock. Keys watched in either database
    /// count as changed.
    pub fn swap(first: &Db, second: &Db) {
        let mut a: Vec<_> = first.shards.iter().map(|shard| shard.lock()).collect();
        let mut b: Vec<_> = second.shards.iter().map(|shard| shard.lock()).collect();
        if a.len() != b.len() {
            return; // databases of one server always have the same shard count
        }
        first.counters.swaps.fetch_add(1, Ordering::AcqRel);
        for (a, b) in a.iter_mut().zip(b.iter_mut()) {
            std::mem::swap(&mut a.table, &mut b.table);
            std::mem::swap(&mut a.deadlines, &mut b.deadlines);
            std::mem::swap(&mut a.volatile, &mut b.volatile);
            // The memory counted moves with the table and heap; the total is shared, so unchanged.
            std::mem::swap(&mut a.deadline_keys, &mut b.deadline_keys);
            std::mem::swap(&mut a.overhead, &mut b.overhead);
            // As Redis's swap: a watched key changed if its database held it, or now holds it live
            // (a key that was absent and is now an expired one is no change). The tables are already
            // swapped: each side's old contents are in the other's table.
            let (a, b): (&mut Shard, &mut Shard) = (a, b);
            let now = first.now();
            for (watched, before, after) in [(&mut a.watched, &b.table, &a.table), (&mut b.watched, &a.table, &b.table)]
            {
                for (key, watched) in watched.iter_mut() {
                    let live = first.held(after, key).is_some_and(|entry| !entry.is_expired(now));
                    if first.held(before, key).is_some() || live {
                        watched.version += 1;
                    }
                }
            }
        }
    }

    /// `key`'s entry in `table`, a shard's of this server, expired or not.
    fn held<'t>(&self, table: &'t HashTable<Entry>, key: &[u8]) -> Option<&'t Entry> {
        table.find(self.hash(key), |entry| entry.key() == key)
    }

    /// Runs `f` on a key of `first` and a key of `second`, two different databases, with both
    /// shards locked in database order (`first_is_lower` says which that is): `MOVE` and `COPY ... DB`.
    /// `None` when both are the same database: within one, use [`Db::with_keys`].
    pub fn with_pair<R>(
        (first, first_key): (&Db, &[u8]),
        (second, second_key): (&Db, &[u8]),
        first_is_lower: bool,
        f: impl FnOnce(&mut Slot<'_>, &mut Slot<'_>) -> R,
    ) -> Option<R> {
        if std::ptr::eq(first, second) {
            return None;
        }
        let (first_hash, second_hash) = (first.hash(first_key), second.hash(second_key));
        let (mut a, mut b);
        if first_is_lower {
            a = first.shards[first.shard_of(first_hash)].lock();
            b = second.shards[second.shard_of(second_hash)].lock();
        } else {
            b = second.shards[second.shard_of(second_hash)].lock();
            a = first.shards[first.shard_of(first_hash)].lock();
        }
        let now = first.now();
        let mut a = Slot::new(&mut a, first, first_key, first_hash, now, true);
        let mut b = Slot::new(&mut b, second, second_key, second_hash, now, true);
        Some(f(&mut a, &mut b))
    }

    /// Every live key for which `keep` is true. Holds one shard's lock at a time.
    pub fn keys(&self, mut keep: impl FnMut(&[u8]) -> bool) -> Vec<Bytes> {
        let now = self.now();
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            out.extend(
                shard
                    .table
                    .iter()
                    .filter(|entry| !entry.is_expired(now) && keep(entry.key()))
                    .map(|entry| Bytes::copy_from_slice(entry.key())),
            );
        }
        out
    }

    /// One step of a SCAN: returns the next cursor (0 when done) and the live keys for which `keep`
    /// is true among the entries the step visited.
    ///
    /// The cursor's low bits name a shard and the rest a cursor in that shard's table, which
    /// [`scan_step`] walks as Redis walks its table: a key present for the whole scan is returned
    /// at least once however the tables grow or shrink, and a step visits about `count` entries (at
    /// most ten times `count` buckets a shard) whatever the keyspace's size. As in Redis, `count`
    /// counts entries visited, before `keep` filters them.
    pub fn scan(&self, cursor: u64, count: usize, mut keep: impl FnMut(&Entry) -> bool) -> (u64, Vec<Bytes>) {
        let count = count.max(1);
        let shard_bits = self.shards.len().trailing_zeros();
        let mut shard = (cursor & ((1 << shard_bits) - 1)) as usize;
        let mut within = cursor >> shard_bits;
        let now = self.now();
        let mut out = Vec::new();
        let mut visited = 0;
        while shard < self.shards.len() {
            within = scan_step(
                &self.shards[shard].lock().table,
                within,
                count - visited,
                |entry| self.hash(entry.key()),
                |entry| {
                    visited += 1;
                    if !entry.is_expired(now) && keep(entry) {
                        out.push(Bytes::copy_from_slice(entry.key()));
                    }
                },
            );
            if within != 0 {
                return ((within << shard_bits) | shard as u64, out);
            }
            shard += 1;
            if visited >= count {
                break;
            }
        }
        let next = if shard >= self.shards.len() { 0 } else { shard as u64 };
        (next, out)
    }

    /// Shards in this database, for walks that visit one at a time ([`Db::for_each_chunk`]).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Visits the live entries of shard `shard` in chunks of about `chunk` entries: each chunk is
    /// copied out under one short hold of the shard's lock and handed to `f` with no lock held, so a
    /// snapshot writing to disk never makes a client wait for the disk. Stops at `f`'s first error.
    ///
    /// The shard is split into cells by hash bits that do not depend on the table's size (at most 16 cells, each pass reading the whole shard), so an entry present for
    /// the whole walk is visited exactly once however the table grows, shrinks or rehashes.
    pub fn for_each_chunk<E>(
        &self,
        shard: usize,
        chunk: usize,
        mut f: impl FnMut(&[Entry]) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(lock) = self.shards.get(shard) else { return Ok(()) };
        let len = lock.lock().table.len();
        let cells = (len / chunk.max(1)).next_power_of_two().min(1 << MAX_SCAN_CELL_BITS) as u64;
        let mut copied = Vec::new();
        for cell in 0..cells {
            {
                let now = now_ms();
                let shard = lock.lock();
                let in_cell = |entry: &&Entry| cells == 1 || (self.hash(entry.key()) >> 40) & (cells - 1) == cell;
                copied.extend(shard.table.iter().filter(in_cell).filter(|entry| !entry.is_expired(now)).cloned());
            }
            f(&copied)?;
            copied.clear();
        }
        Ok(())
    }

    /// Freezes every shard of `dbs` at one instant (the caller holds [`Db::exclusive_walk`]), for a point-in-time walk with
    /// [`Db::for_each_frozen_chunk`]: all their locks are held together (in database and shard
    /// order, as every multi-shard lock taker takes them) while the walk's state is set, so no
    /// command is half applied in the image. Each shard is walked in cells of about `chunk` keys.
    /// Returns each database's keys and keys with a time to live at that instant.
    pub fn freeze_all(dbs: &[Db], chunk: usize) -> Vec<(usize, usize)> {
        Db::freeze_all_then(dbs, chunk, || ()).0
    }

    /// [`Db::freeze_all`], running `at_instant` while every shard lock is still held: whatever it
    /// does happens at the instant of the image. The append-only file's rewrite switches to a new
    /// increment there, so every change is either in the image or recorded in the increment, never
    /// both (changes are recorded while their key's lock is held).
    pub fn freeze_all_then<R>(dbs: &[Db], chunk: usize, at_instant: impl FnOnce() -> R) -> (Vec<(usize, usize)>, R) {
        let at = now_ms();
        let mut guards: Vec<MutexGuard<'_, Shard>> =
            dbs.iter().flat_map(|db| db.shards.iter().map(|shard| shard.lock())).collect();
        let mut counts = vec![(0, 0); dbs.len()];
        let per_db = dbs.first().map_or(1, |db| db.shards.len()).max(1);
        for (i, shard) in guards.iter_mut().enumerate() {
            let len = shard.table.len();
            let cells = (len / chunk.max(1)).next_power_of_two().min(1 << MAX_SCAN_CELL_BITS) as u64;
            shard.frozen = Some(Box::new(Frozen { at, cells, next_cell: 0, pre_images: HashMap::new(), base: None }));
            if let Some(count) = counts.get_mut(i / per_db) {
                count.0 += len;
                count.1 += shard.volatile;
            }
        }
        let result = at_instant();
        drop(guards);
        (counts, result)
    }

    /// Thaws every database of `dbs` ([`Db::thaw`]).
    pub fn thaw_all(dbs: &[Db]) {
        dbs.iter().for_each(Db::thaw);
    }

    /// Ends a point-in-time walk of this database early: what was kept for it is freed.
    pub fn thaw(&self) {
        for shard in self.shards.iter() {
            shard.lock().frozen = None;
        }
    }

    /// Calls `f` with copies of the entries of shard `shard` as they were when [`Db::freeze_all`]
    /// froze it, a cell at a time (each copied under one short lock hold, `f` called with no lock
    /// held). Entries expired at that instant are left out. The shard is thawed at the end; a shard
    /// not frozen (thawed, or a walk restarted) yields nothing. Stops at `f`'s first error.
    pub fn for_each_frozen_chunk<E>(
        &self,
        shard: usize,
        mut f: impl FnMut(&[Entry]) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(lock) = self.shards.get(shard) else { return Ok(()) };
        let mut copied = Vec::new();
        loop {
            {
                let mut guard = lock.lock();
                let Shard { frozen: slot, table, .. } = &mut *guard;
                let Some(frozen) = slot.as_deref_mut() else { return Ok(()) };
                if frozen.next_cell >= frozen.cells {
                    *slot = None;
                    return Ok(());
                }
                let (cell, at) = (frozen.next_cell, frozen.at);
                let source = frozen.base.as_ref().unwrap_or(table);
                let hash = |key: &[u8]| self.hash(key);
                copied.extend(
                    source
                        .iter()
                        .filter(|e| frozen.cell_of(hash(e.key())) == cell && !frozen.pre_images.contains_key(e.key()))
                        .filter(|e| !e.is_expired(at))
                        .cloned(),
                );
                let cells = frozen.cells;
                frozen.pre_images.retain(|key, then| {
                    if cell_of(hash(key), cells) != cell {
                        return true;
                    }
                    copied.extend(then.take().filter(|e| !e.is_expired(at)));
                    false
                });
                frozen.next_cell += 1;
            }
            f(&copied)?;
            copied.clear();
        }
    }

    /// Removes keys whose time to live has run out, taking at most `per_lock` from a shard per lock
    /// hold so no client waits long, and stopping once `max_total` are gone. Returns how many keys it
    /// removed: `max_total` means there may be more to do.
    pub fn sweep_expired(&self, per_lock: usize, max_total: usize) -> usize {
        let mut removed = 0;
        if self.counters.is_replica() {
            return 0;
        }
        for shard in self.shards.iter() {
            while removed < max_total {
                let now = now_ms();
                let mut shard = shard.lock();
                let (gone, more) = self.sweep_shard(&mut shard, now, per_lock.min(max_total - removed));
                removed += gone;
                if !more {
                    break;
                }
            }
        }
        removed
    }

    /// Pops due deadlines from one shard; returns (keys removed, whether due deadlines remain).
    fn sweep_shard(&self, shard: &mut Shard, now: u64, budget: usize) -> (usize, bool) {
        let mut removed = 0;
        for _ in 0..budget {
            // Nothing (more) due: stop here, and still tidy up below.
            let Some(Reverse((deadline, _))) = shard.deadlines.peek() else { break };
            if *deadline > now {
                break;
            }
            let Some(Reverse((_, key))) = shard.deadlines.pop() else { break };
            shard.deadline_keys -= allocation_size(key.len());
            let hash = self.hash(&key);
            if shard.table.find(hash, |e| e.key() == &*key).is_some_and(|e| e.is_expired(now)) {
                shard.preserve(&key, hash);
            }
            if let Ok(found) = shard.table.find_entry(hash, |e| e.key() == &*key) {
                if found.get().is_expired(now) {
                    let (entry, _) = found.remove();
                    keyspace_events::expired(self.index, &key);
                    shard.touch(&key);
                    shard.volatile -= 1;
                    self.counters.used_memory.fetch_sub(entry.footprint(), Ordering::Relaxed);
                    self.counters.expired_keys.fetch_add(1, Ordering::Relaxed);
                    self.deleted(&key);
                    removed += 1;
                }
            }
        }
        // Rebuild the heap when stale deadlines (keys deleted or re-timed) outnumber live ones.
        if shard.deadlines.len() > 2 * shard.volatile + 1024 {
            shard.deadlines =
                shard.table.iter().filter_map(|e| e.expires_at().map(|at| Reverse((at, Box::from(e.key()))))).collect();
            shard.deadline_keys = shard.deadlines.iter().map(|Reverse((_, key))| allocation_size(key.len())).sum();
        }
        shard.shrink_if_sparse(&self.counters.hasher, true);
        shard.settle(&self.counters);
        let more = shard.deadlines.peek().is_some_and(|Reverse((deadline, _))| *deadline <= now);
        (removed, more)
    }
}

/// Up to `count` keys of `table`: consecutive buckets from a random one, at most
/// [`SAMPLE_STEPS_PER_KEY`] buckets per key wanted, then (in a table emptied by deletions, which keeps
/// its buckets) the first live ones.
fn sample_table(
    table: &HashTable<Entry>,
    random: &mut impl FnMut() -> u64,
    count: usize,
    visit: &mut impl FnMut(&Entry),
) -> usize {
    let buckets = table.num_buckets();
    if table.is_empty() || buckets == 0 {
        return 0;
    }
    let start = random() as usize % buckets;
    let mut visited = 0;
    for step in 0..buckets.min(count * SAMPLE_STEPS_PER_KEY) {
        if let Some(entry) = table.get_bucket((start + step) % buckets) {
            visit(entry);
            visited += 1;
            if visited == count {
                return visited;
            }
        }
    }
    if visited == 0 {
        for entry in table.iter().take(count) {
            visit(entry);
            visited += 1;
        }
    }
    visited
}

/// One key inside its locked shard: what a command reads and changes.
///
/// The key is looked up once, when the slot is made; every later read or change goes straight to
/// its bucket, so a command that reads, checks and writes a key pays for one probe, not five.
pub struct Slot<'a> {
    shard: &'a mut Shard,
    db: &'a Db,
    key: &'a [u8],
    hash: u64,
    now: u64,
    /// The key's bucket in the shard's table, if the key exists.
    bucket: Option<usize>,
}

impl<'a> Slot<'a> {
    /// Finds `key` in `shard`, removing it first if its time is up. With `touch` (and outside
    /// [`access::untouched`]) the key's access data records this access.
    fn new(shard: &'a mut Shard, db: &'a Db, key: &'a [u8], hash: u64, now: u64, touch: bool) -> Slot<'a> {
        let bucket = shard.table.find_bucket_index(hash, |e| e.key() == key);
        let mut slot = Slot { shard, db, key, hash, now, bucket };
        if slot.find().is_some_and(|e| e.is_expired(now)) {
            if db.counters.is_replica() {
                // A replica's keys expire by its primary's `DEL`: kept, and hidden from clients.
                if !FROM_PRIMARY.with(std::cell::Cell::get) {
                    slot.bucket = None;
                }
                return slot;
            }
            keyspace_events::quietly(|| slot.remove());
            keyspace_events::expired(db.index, key);
            db.counters.expired_keys.fetch_add(1, Ordering::Relaxed);
            db.deleted(key);
        } else if touch && access::touching() {
            if let Some(entry) = slot.find_mut() {
                let touched = db.counters.tracking.touched(entry.access(), now);
                // An LRU clock moves once a second: most touches store nothing, and dirty no line.
                if touched != entry.access() {
                    entry.set_access(touched);
                }
            }
        }
        slot
    }

    fn find(&self) -> Option<&Entry> {
        self.shard.table.get_bucket(self.bucket?)
    }

    /// Before a change: keeps the key as it is for a point-in-time walk that still needs it.
    fn preserve(&mut self) {
        self.shard.preserve(self.key, self.hash);
    }

    fn find_mut(&mut self) -> Option<&mut Entry> {
        self.shard.table.get_bucket_mut(self.bucket?)
    }

    /// Keeps the volatile count and the memory estimate right when `before` becomes `after`.
    /// Every change passes here, so this is also where watchers learn of it.
    fn account(&mut self, before: Option<(usize, bool)>, after: Option<(usize, bool)>) {
        self.shard.touch(self.key);
        keyspace_events::written(self.db.index, self.key, before.is_some(), after.is_some());
        let (bytes_before, ttl_before) = before.unwrap_or((0, false));
        let (bytes_after, ttl_after) = after.unwrap_or((0, false));
        self.shard.volatile = self.shard.volatile + usize::from(ttl_after) - usize::from(ttl_before);
        // One atomic add of the difference (wrapping, as the counter does), none when an overwrite
        // kept the size.
        let change = bytes_after.wrapping_sub(bytes_before);
        if change != 0 {
            self.db.counters.used_memory.fetch_add(change, Ordering::Relaxed);
        }
        // The table may have grown for an insert, the heap for a deadline.
        self.shard.settle(&self.db.counters);
    }

    /// The time the command runs at, in Unix milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Whether a write giving the key deadline `at` deletes it at once instead: when `at` is
    /// already past, except on a replica applying its primary's stream, where the key is stored
    /// with its deadline and waits for the primary's `DEL`, as Redis's replicas keep it (a stream
    /// that arrives late must not lose keys the primary still has).
    pub fn deadline_passed(&self, at: u64) -> bool {
        at <= self.now && !(self.db.counters.is_replica() && FROM_PRIMARY.with(std::cell::Cell::get))
    }

    /// Whether the key exists.
    pub fn exists(&self) -> bool {
        self.bucket.is_some()
    }

    /// The key's entry, if it exists: for introspection (`OBJECT`), which reads its encoding and
    /// access data.
    pub fn entry(&self) -> Option<&Entry> {
        self.find()
    }

    /// Stores what `entry` (of another key) holds under this key: value of any type (a collection
    /// moved, not copied), expiry, access data and `raw`-ness. `RENAME` moves a value so, as Redis
    /// moves the object itself.
    pub fn put_from(&mut self, entry: Entry) {
        let (access, flags, expires_at) = (entry.access(), entry.encoding_flags(), entry.expires_at());
        let string = entry.string().is_some();
        self.put_value(entry.into_value(), expires_at);
        if let Some(moved) = self.find_mut() {
            moved.set_access(access);
            if string {
                moved.set_encoding_flags(flags);
            }
        }
    }

    /// Sets an existing key's access data (LRU clock or LFU counter), as a snapshot or `RESTORE`
    /// carried it.
    pub fn set_access(&mut self, access: u32) {
        if let Some(entry) = self.find_mut() {
            entry.set_access(access);
        }
    }

    /// Marks an existing key's value as a string object even if it reads as an integer, as Redis
    /// stores `INCRBYFLOAT`'s result (`OBJECT ENCODING` says `embstr`, not `int`).
    pub fn mark_not_int(&mut self) {
        if let Some(entry) = self.find_mut() {
            entry.mark_not_int();
        }
    }

    /// Counts one more access of an existing key. For the commands that Redis looks a key up for
    /// twice (`SET ... GET`, `GETSET`), so LFU counters grow exactly as in Redis.
    pub fn touch(&mut self) {
        let now = self.now;
        let tracking = &self.db.counters.tracking;
        if access::touching() {
            if let Some(entry) = self.find_mut() {
                entry.set_access(tracking.touched(entry.access(), now));
            }
        }
    }

    /// The value, if the key exists and holds a string; `WRONGTYPE` if it holds something else.
    pub fn string(&self) -> Result<Option<&[u8]>, CommandError> {
        match self.find() {
            None => Ok(None),
            Some(entry) => entry.string().map(Some).ok_or(CommandError::WrongType),
        }
    }

    /// The type of the value, if the key exists.
    pub fn kind(&self) -> Option<Kind> {
        self.find().map(Entry::kind)
    }

    /// The collection of type `T`, if the key exists and holds one; `WRONGTYPE` if it holds
    /// something else.
    pub fn read<T: Typed>(&self) -> Result<Option<&T>, CommandError> {
        match self.find() {
            None => Ok(None),
            Some(entry) => entry.collection().and_then(T::of).map(Some).ok_or(CommandError::WrongType),
        }
    }

    /// Changes the collection of type `T` in place with `change`, which returns its result and
    /// whether it changed anything (only then are watchers told and memory recounted). A missing key
    /// is created empty first when `create` says so, else `change` is not called and the answer is
    /// `Ok(None)`. A collection left empty is deleted with its key, as Redis does; a created one
    /// that stays empty is never stored. `WRONGTYPE` when the key holds something else.
    pub fn write<T: Typed, R>(
        &mut self,
        create: bool,
        change: impl FnOnce(&mut T) -> (R, bool),
    ) -> Result<Option<R>, CommandError> {
        self.preserve();
        let Some(entry) = self.find_mut() else {
            if !create {
                return Ok(None);
            }
            let mut fresh = T::empty();
            let (result, _) = change(&mut fresh);
            let collection = fresh.into_collection();
            if !collection.is_empty() {
                self.insert(Entry::with_collection(self.key, collection, None));
            }
            return Ok(Some(result));
        };
        if entry.collection().and_then(T::of).is_none() {
            return Err(CommandError::WrongType);
        }
        let ttl = entry.expires_at().is_some();
        // Only the collection changes, not the entry's own allocation or its deadline: those are
        // left out of both counts, whose difference is the same. Counted before `collection_mut`,
        // which copies a collection a snapshot shares: the estimate holds the original's size, and
        // a copy can be smaller (its vectors' capacity is their length).
        let before = entry.collection().map_or(0, Collection::footprint);
        let Some(collection) = entry.collection_mut() else { return Err(CommandError::WrongType) };
        let Some(typed) = T::of_mut(collection) else { return Err(CommandError::WrongType) };
        let (result, changed) = change(typed);
        let empty = collection.is_empty();
        if changed || empty {
            // Recounted before any removal, which subtracts what the entry holds now.
            let after = collection.footprint();
            self.account(Some((before, ttl)), Some((after, ttl)));
        }
        if empty {
            self.remove();
        }
        Ok(Some(result))
    }

    // --- sorted sets ---
    /// Changes how the collection of type `T` is stored without changing what it holds (`SORT`
    /// converts a zset to its big encoding, as Redis does): memory is recounted, but watchers are
    /// not told and no keyspace event is sent. `Ok(None)` for a missing key, `WRONGTYPE` when the
    /// key holds something else.
    pub fn reencode<T: Typed, R>(&mut self, change: impl FnOnce(&mut T) -> R) -> Result<Option<R>, CommandError> {
        let Some(entry) = self.find_mut() else { return Ok(None) };
        if entry.collection().and_then(T::of).is_none() {
            return Err(CommandError::WrongType);
        }
        let before = entry.footprint();
        let Some(typed) = entry.collection_mut().and_then(T::of_mut) else { return Err(CommandError::WrongType) };
        let result = change(typed);
        let after = entry.footprint();
        self.db.counters.used_memory.fetch_add(after, Ordering::Relaxed);
        self.db.counters.used_memory.fetch_sub(before, Ordering::Relaxed);
        Ok(Some(result))
    }

    /// Stores `value` (of any type) with the given expiry, replacing whatever the key held.
    pub fn put_value(&mut self, value: Value, expires_at: Option<u64>) {
        self.preserve();
        let mut entry = Entry::with_value(self.key, value, expires_at);
        if let Some(at) = expires_at {
            self.shard.push_deadline(at, self.key);
        }
        match self.find_mut() {
            Some(old) => {
                let before = (old.footprint(), old.expires_at().is_some());
                let after = (entry.footprint(), expires_at.is_some());
                // A new value keeps the key's access data, as `put` does.
                entry.set_access(old.access());
                *old = entry;
                self.account(Some(before), Some(after));
            }
            None => self.insert(entry),
        }
    }

    /// Adds `entry` (whose key is this slot's, and whose deadline is in the heap if it has one) to the table.
    fn insert(&mut self, mut entry: Entry) {
        entry.set_access(self.db.counters.tracking.initial(self.now));
        let after = (entry.footprint(), entry.expires_at().is_some());
        let hasher = &self.db.counters.hasher;
        let inserted = self.shard.table.insert_unique(self.hash, entry, |e| hasher.hash_one(e.key()));
        self.bucket = Some(inserted.bucket_index());
        self.account(None, Some(after));
    }

    /// The expiry in Unix milliseconds: `None` for a missing key, `Some(None)` for a key without one.
    pub fn expires_at(&self) -> Option<Option<u64>> {
        self.find().map(Entry::expires_at)
    }

    /// Stores `value` with the given expiry, replacing any old value (in place when it fits).
    pub fn put(&mut self, value: &[u8], expires_at: Option<u64>) {
        self.preserve();
        if let Some(at) = expires_at {
            self.shard.push_deadline(at, self.key);
        }
        let key = self.key;
        let (before, after) = match self.find_mut() {
            Some(entry) => {
                let before = (entry.footprint(), entry.expires_at().is_some());
                if !entry.overwrite(value, expires_at) {
                    // An overwrite keeps the key's access data, as Redis keeps an LFU counter.
                    let access = entry.access();
                    *entry = Entry::new(key, value, expires_at);
                    entry.set_access(access);
                }
                (Some(before), (entry.footprint(), expires_at.is_some()))
            }
            None => {
                let mut entry = Entry::new(key, value, expires_at);
                entry.set_access(self.db.counters.tracking.initial(self.now));
                let after = (entry.footprint(), expires_at.is_some());
                let hasher = &self.db.counters.hasher;
                let inserted = self.shard.table.insert_unique(self.hash, entry, |e| hasher.hash_one(e.key()));
                self.bucket = Some(inserted.bucket_index());
                (None, after)
            }
        };
        self.account(before, Some(after));
    }

    /// Changes the expiry of an existing key; returns false if the key does not exist.
    pub fn set_expires_at(&mut self, expires_at: Option<u64>) -> bool {
        self.preserve();
        let Some(entry) = self.find_mut() else { return false };
        let before = Some((entry.footprint(), entry.expires_at().is_some()));
        entry.set_expires_at(expires_at);
        let after = Some((entry.footprint(), expires_at.is_some()));
        if let Some(at) = expires_at {
            self.shard.push_deadline(at, self.key);
        }
        self.account(before, after);
        true
    }

    /// Appends to the string value of an existing key in place; returns false if the key does not
    /// exist or holds no string.
    pub fn append(&mut self, extra: &[u8]) -> bool {
        self.preserve();
        let Some(entry) = self.find_mut() else { return false };
        let ttl = entry.expires_at().is_some();
        let before = Some((entry.footprint(), ttl));
        if !entry.append(extra) {
            return false;
        }
        let after = Some((entry.footprint(), ttl));
        self.account(before, after);
        true
    }

    /// Changes the value in place (`SETRANGE`, `SETBIT`, `BITFIELD`), after zero-padding it to at least
    /// `len` bytes, or creating it (with no time to live) as `len` zero bytes if the key is missing; a time
    /// to live is kept. `change` returns its result and whether it changed any byte: watchers hear of the
    /// write only then, or when the value was created or grew, as Redis signals a modified key.
    ///
    /// `WRONGTYPE` (and nothing changed) when the key holds a collection.
    pub fn modify<R>(&mut self, len: usize, change: impl FnOnce(&mut [u8]) -> (R, bool)) -> Result<R, CommandError> {
        if self.find().is_some_and(|entry| entry.string().is_none()) {
            return Err(CommandError::WrongType);
        }
        self.preserve();
        let key = self.key;
        let hasher = &self.db.counters.hasher;
        let table = &mut self.shard.table;
        let found = match self.bucket {
            Some(bucket) => table.get_bucket_entry(bucket).map_err(|absent| absent.into_table()),
            None => Err(table),
        };
        let (mut occupied, before) = match found {
            Ok(occupied) => {
                let entry = occupied.get();
                let before = (entry.footprint(), entry.expires_at().is_some());
                (occupied, Some(before))
            }
            Err(table) => {
                let mut entry = Entry::zeroed(key, len);
                entry.set_access(self.db.counters.tracking.initial(self.now));
                (table.insert_unique(self.hash, entry, |e| hasher.hash_one(e.key())), None)
            }
        };
        self.bucket = Some(occupied.bucket_index());
        let entry = occupied.get_mut();
        let grew = entry.grow_zeroed(len) || before.is_none();
        let Some(bytes) = entry.value_mut() else { return Err(CommandError::WrongType) };
        let (result, changed) = change(bytes);
        // Written in place: `raw` from now on, as Redis unshares a string to write it.
        entry.mark_raw();
        let after = (entry.footprint(), entry.expires_at().is_some());
        if grew || changed {
            self.account(before, Some(after));
        }
        Ok(result)
    }

    /// Removes the key; returns its entry if it existed.
    pub fn remove(&mut self) -> Option<Entry> {
        self.preserve();
        let bucket = self.bucket.take()?;
        let (entry, _) = self.shard.table.get_bucket_entry(bucket).ok()?.remove();
        self.shard.shrink_if_sparse(&self.db.counters.hasher, false);
        self.account(Some((entry.footprint(), entry.expires_at().is_some())), None);
        Some(entry)
    }
}

/// Several keys with all their shards locked, for atomic multi-key commands.
pub struct Keys<'a> {
    db: &'a Db,
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); FEW_KEYS]>,
    hashes: SmallVec<[u64; FEW_KEYS]>,
    keys: &'a [&'a [u8]],
    now: u64,
    /// Which keys were looked up already (bit `i % 64` of word `i / 64`; one word, inline, up to 64
    /// keys): a command that reaches a key twice (its type, then its value) counts one lookup, as
    /// Redis's commands look each key up once.
    looked_up: SmallVec<[u64; 1]>,
}

impl Keys<'_> {
    /// The `i`-th key given to [`Db::with_keys`], as a [`Slot`].
    pub fn slot(&mut self, i: usize) -> Slot<'_> {
        let hash = self.hashes[i];
        let index = self.db.shard_of(hash);
        let position = self.guards.iter().position(|(shard, _)| *shard == index).unwrap_or_default();
        let shard: &mut Shard = &mut self.guards[position].1;
        let slot = Slot::new(shard, self.db, self.keys[i], hash, self.now, true);
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.looked_up[word] & bit == 0 {
            self.looked_up[word] |= bit;
            note_lookup(slot.exists());
        }
        slot
    }

    /// How many keys were given.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    // --- lists ---
    /// The `i`-th key given to [`Db::with_keys`].
    pub fn key(&self, i: usize) -> &[u8] {
        self.keys[i]
    }

    /// Whether no keys were given.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::entry_allocation_size;

    fn put(db: &Db, key: &str, value: &str, expires_at: Option<u64>) {
        db.with_key(key.as_bytes(), |slot| slot.put(value.as_bytes(), expires_at));
    }

    #[test]
    fn put_get_remove_and_memory_accounting() {
        let db = Db::new(4);
        put(&db, "a", "1", None);
        put(&db, "a", "22", None);
        assert_eq!(db.get(b"a").as_deref(), Some(&b"22"[..]));
        assert_eq!(db.len(), 1);
        assert!(db.used_memory() > 0);
        let with_key = db.used_memory();
        let entry = db.with_key(b"a", |slot| slot.remove()).expect("the key exists");
        assert_eq!(db.get(b"a"), None);
        // The entry's allocation is given back; the table keeps its buckets until cleared.
        assert_eq!(db.used_memory(), with_key - entry.footprint());
        db.clear();
        assert_eq!(db.used_memory(), 0);
    }

    #[test]
    fn memory_estimate_counts_allocator_chunks_table_buckets_and_deadlines() {
        let db = Db::new(1);
        put(&db, "k", "v", None);
        let buckets = db.shards[0].lock().table.num_buckets();
        // An 8-byte slot and a control byte per bucket; the entry's allocation has a 4-byte header.
        let table = allocation_size(buckets * 8 + buckets + TABLE_GROUP_WIDTH);
        assert_eq!(db.used_memory(), entry_allocation_size(4 + 3) + table);
        put(&db, "k", "v", Some(now_ms() + 60_000));
        let heap = db.shards[0].lock().deadlines.capacity();
        let volatile =
            entry_allocation_size(4 + 3 + 8) + table + allocation_size(heap * DEADLINE_SIZE) + allocation_size(1);
        assert_eq!(db.used_memory(), volatile);
        // A growing table is counted as it grows, and everything goes with FLUSHDB.
        for i in 0..1000 {
            put(&db, &format!("key:{i}"), "v", None);
        }
        // At least a 16-byte cell and a 9-byte bucket per key.
        assert!(db.used_memory() >= 1000 * (16 + 9));
        db.clear();
        assert_eq!(db.used_memory(), 0);
    }

    /// What `used_memory` should be, recomputed from scratch.
    fn recount(db: &Db) -> usize {
        db.shards
            .iter()
            .map(|shard| {
                let shard = shard.lock();
                shard.table.iter().map(Entry::footprint).sum::<usize>() + shard.overhead_now()
            })
            .sum()
    }

    #[test]
    fn memory_estimate_never_drifts_whatever_changes_keys() {
        let db = Db::new(4);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let later = now_ms() + 3_600_000;
        for _ in 0..20_000 {
            let key = format!("k{}", next() % 300);
            let value = "v".repeat((next() % 200) as usize);
            match next() % 8 {
                0 => put(&db, &key, &value, None),
                1 => put(&db, &key, &value, Some(later + next() % 1000)),
                2 => {
                    db.with_key(key.as_bytes(), |slot| slot.append(value.as_bytes()));
                }
                3 => {
                    db.with_key(key.as_bytes(), |slot| slot.set_expires_at(Some(later)));
                }
                4 => {
                    db.with_key(key.as_bytes(), |slot| slot.set_expires_at(None));
                }
                5 => {
                    db.with_key(key.as_bytes(), |slot| slot.remove());
                }
                6 => {
                    let target = format!("k{}", next() % 300);
                    db.with_keys(&[key.as_bytes(), target.as_bytes()], |locked| {
                        if let Some(entry) = locked.slot(0).remove() {
                            locked.slot(1).put_from(entry);
                        }
                    });
                }
                _ => {
                    db.evict(key.as_bytes(), next() % 2 == 0);
                }
            }
        }
        assert_eq!(db.used_memory(), recount(&db));
        db.clear();
        assert_eq!(db.used_memory(), 0);
    }

    #[test]
    fn lookups_touch_access_data_unless_told_not_to() {
        let db = Db::new(1);
        db.tracking().set_policy(crate::config::MaxmemoryPolicy::AllkeysLfu);
        put(&db, "k", "v", None);
        let access = || db.shards[0].lock().table.iter().next().map(Entry::access).unwrap_or_default();
        let frequency = || db.tracking().frequency(access(), now_ms());
        assert_eq!(frequency(), access::LFU_INIT_VAL);
        db.with_key_untouched(b"k", |slot| slot.exists());
        access::untouched(|| db.get(b"k"));
        assert_eq!(frequency(), access::LFU_INIT_VAL);
        db.get(b"k");
        assert_eq!(frequency(), access::LFU_INIT_VAL + 1);
        // Overwrites keep the counter (and count as an access), as in Redis.
        put(&db, "k", "a longer value than before", Some(now_ms() + 60_000));
        assert!(frequency() > access::LFU_INIT_VAL);
    }

    #[test]
    fn expired_keys_are_invisible_and_swept() {
        let db = Db::new(4);
        let past = now_ms() - 1;
        for i in 0..100 {
            put(&db, &format!("k{i}"), "v", Some(past));
        }
        put(&db, "keep", "v", Some(now_ms() + 60_000));
        assert_eq!(db.get(b"k1"), None);
        assert_eq!(db.len(), 100);
        assert_eq!(db.sweep_expired(7, usize::MAX), 99);
        assert_eq!(db.len(), 1);
        assert_eq!(db.volatile_len(), 1);
        assert_eq!(db.expired_keys(), 100);
    }

    #[test]
    fn stale_deadlines_do_not_remove_retimed_keys() {
        let db = Db::new(1);
        let soon = now_ms() - 1;
        put(&db, "k", "v", Some(soon));
        db.with_key(b"k", |slot| slot.put(b"v", Some(now_ms() + 60_000)));
        db.sweep_expired(100, usize::MAX);
        assert!(db.get(b"k").is_some());
    }

    #[test]
    fn watched_keys_change_version_on_every_kind_of_change() {
        let db = Db::new(4);
        put(&db, "k", "v", None);
        let changed = |change: &dyn Fn(&Db)| {
            let version = db.watch(b"k");
            change(&db);
            let now = db.watched_version(b"k");
            db.unwatch(b"k");
            now != version
        };
        assert!(!changed(&|db| {
            db.get(b"k");
            put(db, "other", "v", None);
        }));
        assert!(changed(&|db| put(db, "k", "w", None)));
        assert!(changed(&|db| {
            db.with_key(b"k", |slot| slot.set_expires_at(Some(now_ms() + 60_000)));
        }));
        assert!(changed(&|db| {
            db.with_key(b"k", |slot| slot.append(b"x"));
        }));
        assert!(changed(&|db| {
            db.with_key(b"k", |slot| slot.remove());
        }));
        // A flush changes a watched key only if it was there, as in Redis.
        assert!(!changed(&|db| db.clear()));
        put(&db, "k", "v", None);
        assert!(changed(&|db| db.clear()));
        assert!(changed(&|db| put(db, "k", "back", Some(now_ms() - 1))));
        // Already expired when watched: gone from the watch on, so the sweep changes nothing (as
        // Redis does not abort for it); live when watched, the sweep's removal is a change.
        assert!(!changed(&|db| {
            db.sweep_expired(10, 10);
        }));
        put(&db, "k", "soon", Some(now_ms() + 300));
        assert!(changed(&|db| {
            std::thread::sleep(std::time::Duration::from_millis(400));
            db.sweep_expired(10, 10);
        }));
        // The last watcher gone, nothing is kept.
        assert!(db.shards.iter().all(|shard| shard.lock().watched.is_empty()));
    }

    #[test]
    fn a_past_deadline_deletes_except_from_the_primary_on_a_replica() {
        let db = Db::new(1);
        let past = now_ms() - 1_000;
        let passed = |db: &Db| db.with_key(b"k", |slot| slot.deadline_passed(past));
        assert!(passed(&db));
        assert!(!db.with_key(b"k", |slot| slot.deadline_passed(now_ms() + 60_000)));
        db.counters.set_replica(true);
        assert!(passed(&db), "a replica's own client");
        assert!(!applying_primary_stream(|| passed(&db)), "the primary's stream on a replica");
    }

    #[test]
    fn scan_returns_every_key_once() {
        let db = Db::new(8);
        for i in 0..1000 {
            put(&db, &format!("key:{i}"), "v", None);
        }
        for count in [1, 10, 1000] {
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                let (next, keys) = db.scan(cursor, count, |_| true);
                seen.extend(keys);
                // Growth in the middle of a scan must not lose keys present throughout.
                put(&db, &format!("new:{}:{}", count, seen.len()), "v", None);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            let mut original: Vec<_> = seen.iter().filter(|k| k.starts_with(b"key:")).collect();
            original.sort();
            let before = original.len();
            original.dedup();
            assert_eq!(before, original.len(), "duplicates with count {count}");
            assert_eq!(original.len(), 1000, "count {count}");
        }
    }

    #[test]
    fn modify_creates_grows_in_place_keeps_the_ttl_and_tells_watchers_only_of_changes() {
        let db = Db::new(1);
        let grow = |len: usize, at: usize, byte: u8| {
            db.with_key(b"k", |slot| {
                slot.modify(len, |bytes| {
                    let changed = bytes[at] != byte;
                    bytes[at] = byte;
                    (bytes.len(), changed)
                })
            })
            .unwrap()
        };
        assert_eq!(grow(3, 2, 1), 3);
        assert_eq!(db.get(b"k").as_deref(), Some(&[0, 0, 1][..]));
        let ttl = now_ms() + 60_000;
        db.with_key(b"k", |slot| slot.set_expires_at(Some(ttl)));
        let version = db.watch(b"k");
        assert_eq!(grow(2, 2, 1), 3, "no growth, no change");
        assert_eq!(db.watched_version(b"k"), version);
        assert_eq!(grow(1000, 999, 7), 1000);
        assert_ne!(db.watched_version(b"k"), version);
        db.unwatch(b"k");
        let value = db.get(b"k").unwrap();
        assert_eq!((value.len(), value[2], value[999]), (1000, 1, 7));
        assert_eq!(db.with_key(b"k", |slot| slot.expires_at()), Some(Some(ttl)));
        let counted = {
            let shard = db.shards[0].lock();
            shard.table.iter().map(Entry::footprint).sum::<usize>() + shard.overhead_now()
        };
        assert_eq!(db.used_memory(), counted);
    }

    #[test]
    fn chunked_walk_visits_every_key_once_while_keys_come_and_go() {
        let db = Db::new(2);
        for i in 0..5000 {
            put(&db, &format!("key:{i}"), "v", None);
        }
        put(&db, "gone", "v", Some(now_ms() - 1));
        let mut seen = Vec::new();
        let mut added = 0;
        for shard in 0..db.shard_count() {
            db.for_each_chunk(shard, 100, |entries| {
                assert!(entries.len() < 2500, "chunks are bounded: {}", entries.len());
                seen.extend(entries.iter().map(|e| e.key().to_vec()));
                // Growth between chunks (tables resize) must not lose or repeat keys present throughout.
                for _ in 0..200 {
                    put(&db, &format!("new:{added}"), "v", None);
                    added += 1;
                }
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        let mut original: Vec<_> = seen.iter().filter(|k| k.starts_with(b"key:")).collect();
        original.sort();
        let total = original.len();
        original.dedup();
        assert_eq!((total, original.len()), (5000, 5000));
        assert!(!seen.iter().any(|k| k == b"gone"), "expired keys are left out");
    }

    /// Every key a frozen walk of `dbs` yields, as (db, key, value or collection kind), sorted.
    fn frozen_walk(dbs: &[Db], mut between: impl FnMut()) -> Vec<(usize, String, String)> {
        Db::freeze_all(dbs, 100);
        let mut seen = Vec::new();
        for (index, db) in dbs.iter().enumerate() {
            for shard in 0..db.shard_count() {
                db.for_each_frozen_chunk(shard, |entries| {
                    for entry in entries {
                        let value = match entry.string() {
                            Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                            None => format!("{:?}", entry.kind()),
                        };
                        seen.push((index, String::from_utf8_lossy(entry.key()).into_owned(), value));
                    }
                    between();
                    Ok::<(), ()>(())
                })
                .unwrap();
            }
        }
        seen.sort();
        seen
    }

    #[test]
    fn a_frozen_walk_sees_the_keyspace_of_one_instant_whatever_changes_meanwhile() {
        let dbs = [Db::new(4), Db::new(4)];
        for i in 0..3000 {
            put(&dbs[0], &format!("key:{i}"), &format!("v{i}"), None);
        }
        put(&dbs[1], "other", "x", None);
        put(&dbs[0], "soon", "v", Some(now_ms() + 60_000));
        let expected: Vec<_> = (0..3000)
            .map(|i| (0, format!("key:{i}"), format!("v{i}")))
            .chain([(0, "soon".to_owned(), "v".to_owned()), (1, "other".to_owned(), "x".to_owned())])
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        // Between chunks: overwrite, delete, create, append, re-time, flush the other database.
        let mut round = 0;
        let seen = frozen_walk(&dbs, || {
            for i in (round * 50)..(round * 50 + 50) {
                let key = format!("key:{}", i % 3000);
                put(&dbs[0], &key, "changed", None);
                dbs[0].with_key(format!("key:{}", (i * 7) % 3000).as_bytes(), |slot| slot.remove());
                put(&dbs[0], &format!("new:{i}"), "n", None);
            }
            dbs[0].with_key(b"soon", |slot| slot.set_expires_at(Some(1)));
            dbs[1].clear();
            put(&dbs[1], "after-flush", "y", None);
            round += 1;
        });
        assert!(round > 10, "the walk took several chunks: {round}");
        assert_eq!(seen.len(), expected.len());
        assert!(seen == expected, "the image is the keyspace at the freeze");
        // Thawed: nothing kept, and the next walk sees the keyspace as it is now.
        let now = frozen_walk(&dbs, || {});
        assert!(
            now.iter().any(|(_, key, value)| key == "key:1" && value == "changed")
                || now.iter().all(|(_, key, _)| key != "key:1")
        );
        assert!(now.iter().any(|(db, key, _)| *db == 1 && key == "after-flush"));
        for db in &dbs {
            for shard in db.shards.iter() {
                assert!(shard.lock().frozen.is_none());
            }
        }
    }

    /// A write to a collection a snapshot shares copies it first, and the copy can be smaller (a
    /// cloned `VecDeque`'s capacity is its length): the estimate subtracts the original's size.
    #[test]
    fn a_write_to_a_shared_collection_is_counted_from_the_original() {
        use crate::collections::List;
        use tinykv_proto::command::ListEnd;
        let db = Db::new(1);
        let push = |item: &'static [u8]| {
            move |list: &mut List| {
                list.push(ListEnd::Right, item);
                ((), true)
            }
        };
        db.with_key(b"l", |slot| slot.write::<List, _>(true, push(b"a"))).unwrap();
        let shared = db.with_key(b"l", |slot| slot.entry().cloned()).expect("the list is there");
        db.with_key(b"l", |slot| slot.write::<List, _>(false, push(b"b"))).unwrap();
        assert_eq!(db.used_memory(), recount(&db));
        drop(shared);
        db.with_key(b"l", |slot| slot.remove());
        assert_eq!(db.used_memory(), recount(&db));
    }

    #[test]
    fn collections_are_counted_created_changed_emptied_and_typed() {
        use crate::collections::{Hash, Set};
        let db = Db::new(2);
        let counted = recount;
        for i in 0..300 {
            let field = format!("field:{i}");
            db.with_key(b"h", |slot| slot.write::<Hash, _>(true, |hash| ((), hash.insert(field.as_bytes(), b"v"))))
                .unwrap();
            assert_eq!(db.used_memory(), counted(&db));
        }
        assert_eq!(db.with_key(b"h", |slot| slot.read::<Set>().map(|_| ())), Err(CommandError::WrongType));
        assert_eq!(db.with_key(b"h", |slot| slot.string().map(|_| ())), Err(CommandError::WrongType));
        let version = db.watch(b"h");
        for i in 0..300 {
            let field = format!("field:{i}");
            db.with_key(b"h", |slot| slot.write::<Hash, _>(false, |hash| ((), hash.remove(field.as_bytes())))).unwrap();
            assert_eq!(db.used_memory(), counted(&db));
        }
        assert_ne!(db.watched_version(b"h"), version);
        assert!(db.is_empty(), "the emptied hash went with its key");
        assert_eq!(db.used_memory(), counted(&db));
        // A write that creates nothing stores nothing.
        db.with_key(b"s", |slot| slot.write::<Set, _>(true, |_| ((), false))).unwrap();
        assert!(db.is_empty());
    }

    #[test]
    fn multi_key_locks_each_shard_once() {
        let db = Db::new(2);
        let keys: Vec<&[u8]> = vec![b"a", b"b", b"c", b"a"];
        db.with_keys(&keys, |locked| {
            for i in 0..locked.len() {
                locked.slot(i).put(b"x", None);
            }
        });
        assert_eq!(db.len(), 3);
    }
}
