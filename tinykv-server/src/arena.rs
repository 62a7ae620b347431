//! Cells for entries' allocations of up to [`MAX_CELL`] bytes, in 8-byte size classes, carved from
//! 64 KiB slabs mapped from the kernel: no per-cell header, no 16-byte rounding.
//!
//! Why: every key is one allocation ([`crate::entry`]), and glibc's malloc puts an 8-byte header in
//! front of it and rounds the chunk to 16 bytes: a 16-byte key with a 16-byte value (a 38-byte
//! entry) took a 48-byte chunk, with a 100-byte value (122 bytes) a 144-byte chunk. Here they take
//! 40 and 128 bytes. RSS per key at 1,000,000 keys (`bench/compare --no-throughput`; the arena's
//! figures are `bench/results/latest.md`'s, glibc's and the steps PROFILE.md's, "Memory: a size-class
//! arena for entries"): 16 B/16 B 67.2 B on glibc, 60.2 B here (0.46× Redis); 16 B/100 B 163.2 and
//! 148.4 B (0.71×). glibc, jemalloc and
//! mimalloc all round small chunks to 16 bytes, so no allocator swap gets there.
//!
//! Why unsafe: a cell has no header, so the memory is managed by hand: a free cell holds the
//! pointer to the next free cell (of its slab, or of a thread's cache), and a cell finds its slab's
//! header by masking its address (slabs are aligned to their size). A slab's bookkeeping is changed
//! only under its size class's lock, so cells can be allocated and freed on any thread (the event
//! loops, the lazyfree thread, blocking tasks that clone entries, the replica loader).
//!
//! CPU: each thread keeps up to 32 free cells per class ([`ThreadCache`]), taken from and given back
//! to the class's pool 16 at a time under its lock, so a write that replaces an entry by one of
//! another size takes no lock and no atomic operation. Measured per free-and-allocate pair (38
//! bytes, 4,096 live, random order; a micro-benchmark of the module alone, not committed): glibc 11–14 ns, a lock per call 13–14 ns (one thread; 24–27 ns
//! with two threads on one class, glibc 21–24), the thread caches 8 ns (14–17 ns with two threads).
//!
//! Memory comes back: a slab whose cells are all free is released (its pages returned with
//! `MADV_DONTNEED`, its addresses kept for the next slab, see `RELEASED`; one empty slab per class is kept
//! for the next allocation, so a key rewritten in a class of its own does not take and release a slab
//! per write). After `FLUSHALL` of 1,000,000 keys RSS fell to 12–14 MB (glibc kept 54 MB of 72 for
//! 16-byte values, 147 of 166 for 100-byte values: its freed chunks in the middle of the heap stay
//! resident; measured when empty slabs were still unmapped, before `MADV_DONTNEED`, which
//! `tests/arena_memory.rs` checks in bands). A slab with one live cell stays resident, as a heap page
//! with one live chunk does: deleting half of the keys at random frees few slabs, and the next writes
//! of that size use the freed cells first. Cells in threads' caches count as live, so they too keep
//! their slabs resident.

use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The largest allocation served by the arena; larger ones go to the system allocator.
pub const MAX_CELL: usize = 256;
/// Cell sizes are multiples of this (it also aligns the free list's pointers).
const GRAIN: usize = 8;
/// Size classes: class `c` holds cells of `(c + 1) * GRAIN` bytes.
const CLASSES: usize = MAX_CELL / GRAIN;
/// Bytes of a slab, also its alignment, so a cell's slab is its address rounded down.
const SLAB: usize = 64 * 1024;
/// Bytes at the start of a slab for its header, before the first cell.
const HEADER: usize = std::mem::size_of::<Slab>().next_multiple_of(GRAIN);

/// The size class of a request of `size` bytes (1 to [`MAX_CELL`]).
fn class_of(size: usize) -> usize {
    (size.max(1) - 1) / GRAIN
}

/// The bytes a request of `size` bytes takes when it is served by the arena ([`MAX_CELL`] or less):
/// its cell, rounded up to 8 bytes; `None` for larger sizes (the system allocator's).
pub fn cell_size(size: usize) -> Option<usize> {
    (size <= MAX_CELL).then(|| size.max(1).next_multiple_of(GRAIN))
}

/// A slab's header, at its first byte; cells follow.
#[repr(C)]
struct Slab {
    /// The first free cell that was used before (each holds the next's address), or null.
    free: *mut u8,
    /// Offset of the first cell never handed out: cells past it are carved as needed, so a new
    /// slab's pages are touched (and resident) only as it fills.
    bump: usize,
    /// Cells handed out and not yet given back.
    live: usize,
    /// Neighbours in its class's list of slabs with room.
    prev: *mut Slab,
    next: *mut Slab,
    /// Whether it is in that list.
    listed: bool,
}

/// One size class: its slabs that have room, and an empty one kept for the next allocation.
struct Pool {
    with_room: *mut Slab,
    spare: *mut Slab,
    /// Slabs mapped for this class (with room, full and the spare).
    slabs: usize,
}

// SAFETY: a pool's pointers are to slabs that only it manages, and every use of them holds the
// pool's lock (the `Mutex` around it), so the pool can move between threads with that lock.
unsafe impl Send for Pool {}

/// A set of size classes. The server has one, [`ARENA`]; tests make their own to count slabs.
pub struct Arena {
    pools: [Mutex<Pool>; CLASSES],
}

/// The arena that entries' allocations come from (through each thread's cache, [`alloc`]).
static ARENA: Arena = Arena::new();

impl Default for Arena {
    fn default() -> Arena {
        Arena::new()
    }
}

impl Arena {
    /// An arena with no slabs yet.
    pub const fn new() -> Arena {
        Arena { pools: [const { Mutex::new(Pool { with_room: null_mut(), spare: null_mut(), slabs: 0 }) }; CLASSES] }
    }

    /// The pool for `size` bytes (1 to [`MAX_CELL`]), locked, and its cells' size.
    fn pool(&self, size: usize) -> (MutexGuard<'_, Pool>, usize) {
        debug_assert!((1..=MAX_CELL).contains(&size));
        let class = class_of(size);
        // Nothing panics while a pool is locked, but a poisoned lock's pool would still be consistent:
        // each of its changes is complete before anything that could fail.
        (self.pools[class].lock().unwrap_or_else(PoisonError::into_inner), (class + 1) * GRAIN)
    }

    /// A cell of at least `size` bytes (1 to [`MAX_CELL`]), aligned to 8 bytes and uninitialized;
    /// null when the kernel gives no memory.
    pub fn alloc(&self, size: usize) -> *mut u8 {
        let (mut pool, cell) = self.pool(size);
        // SAFETY: the pool is locked, and its slabs were set up by `take` itself for this cell size.
        unsafe { pool.take(cell) }
    }

    /// Gives back a cell.
    ///
    /// # Safety
    /// `ptr` came from this arena (its [`Arena::alloc`], or a [`ThreadCache`] used with it) with the
    /// same `size`, and is freed once.
    pub unsafe fn free(&self, ptr: *mut u8, size: usize) {
        let (mut pool, _) = self.pool(size);
        // SAFETY: the caller's promise: a live cell of this pool's class; the pool is locked.
        unsafe { pool.give(ptr) }
    }

    /// Slabs mapped for `size`'s class (a test's view of what is given back).
    pub fn slabs(&self, size: usize) -> usize {
        self.pool(size).0.slabs
    }
}

/// Cells a thread's cache takes from a pool in one lock round when it has none of a class, and gives
/// back in one when it holds twice as many.
const BATCH: usize = 16;

/// Free cells kept by one thread, per class, so that the usual free-then-allocate of a write (a key
/// rewritten with another size) takes no lock and no atomic operation, as glibc's tcache does.
/// Each class's cells are a list linked through their first 8 bytes, as in a slab. Cells in a cache
/// count as live for their slabs: at most `2 * BATCH` per class and thread stay out of the pools.
pub struct ThreadCache {
    heads: [*mut u8; CLASSES],
    counts: [usize; CLASSES],
}

impl Default for ThreadCache {
    fn default() -> ThreadCache {
        ThreadCache::new()
    }
}

impl ThreadCache {
    /// An empty cache.
    pub const fn new() -> ThreadCache {
        ThreadCache { heads: [null_mut(); CLASSES], counts: [0; CLASSES] }
    }

    /// A cell of at least `size` bytes (1 to [`MAX_CELL`]), as [`Arena::alloc`].
    ///
    /// # Safety
    /// Every cell in this cache came from `arena` (a cache is used with one arena only).
    pub unsafe fn alloc(&mut self, arena: &Arena, size: usize) -> *mut u8 {
        let class = class_of(size);
        if self.heads[class].is_null() {
            let (mut pool, cell) = arena.pool(size);
            for _ in 0..BATCH {
                // SAFETY: the pool is locked and `cell` is its size.
                let ptr = unsafe { pool.take(cell) };
                if ptr.is_null() {
                    break;
                }
                // SAFETY: a cell just handed out (8-aligned, at least 8 bytes), owned by this cache.
                unsafe { self.push(class, ptr) };
            }
        }
        let ptr = self.heads[class];
        if !ptr.is_null() {
            // SAFETY: the head of this class's list, a free cell whose first 8 bytes `push` wrote.
            self.heads[class] = unsafe { ptr.cast::<*mut u8>().read() };
            self.counts[class] -= 1;
        }
        ptr
    }

    /// Gives back a cell, to the pool in a batch once this cache holds `2 * BATCH` of its class.
    ///
    /// # Safety
    /// `ptr` came from [`ThreadCache::alloc`] or [`Arena::alloc`] of `arena` (any thread's) with the
    /// same `size`, and is freed once; every cell in this cache came from `arena`.
    pub unsafe fn free(&mut self, arena: &Arena, ptr: *mut u8, size: usize) {
        let class = class_of(size);
        // SAFETY: the caller's promise: a cell of this class nobody uses any more.
        unsafe { self.push(class, ptr) };
        if self.counts[class] > 2 * BATCH {
            let (mut pool, _) = arena.pool(size);
            for _ in 0..BATCH {
                // SAFETY: the list holds more than `BATCH` cells of this pool's class; each is
                // unlinked before the pool takes it back.
                unsafe { self.give_head(&mut pool, class) };
            }
        }
    }

    /// Gives every cached cell back to `arena` (when the thread ends).
    ///
    /// # Safety
    /// Every cell in this cache came from `arena`.
    pub unsafe fn flush(&mut self, arena: &Arena) {
        for class in 0..CLASSES {
            if self.heads[class].is_null() {
                continue;
            }
            let (mut pool, _) = arena.pool((class + 1) * GRAIN);
            while !self.heads[class].is_null() {
                // SAFETY: as in `free`: cells of this class from this pool.
                unsafe { self.give_head(&mut pool, class) };
            }
        }
    }

    /// Cells of `size`'s class this cache holds.
    pub fn cached(&self, size: usize) -> usize {
        self.counts[class_of(size)]
    }

    /// Puts a free cell at the head of its class's list.
    ///
    /// # Safety
    /// `ptr` is a cell of `class` (8-aligned, at least 8 bytes) that nothing else uses.
    unsafe fn push(&mut self, class: usize, ptr: *mut u8) {
        // SAFETY: the caller's promise.
        unsafe { ptr.cast::<*mut u8>().write(self.heads[class]) };
        self.heads[class] = ptr;
        self.counts[class] += 1;
    }

    /// Unlinks the head of `class`'s list and gives it back to `pool`.
    ///
    /// # Safety
    /// The list is not empty and `pool` is the (locked) pool its cells came from.
    unsafe fn give_head(&mut self, pool: &mut Pool, class: usize) {
        let ptr = self.heads[class];
        // SAFETY: the caller's promise; the head's first 8 bytes are the next cell (`push`).
        unsafe {
            self.heads[class] = ptr.cast::<*mut u8>().read();
            self.counts[class] -= 1;
            pool.give(ptr);
        }
    }
}

/// The cache of the thread it belongs to, given back to [`ARENA`] when the thread ends.
struct LocalCache(ThreadCache);

impl Drop for LocalCache {
    fn drop(&mut self) {
        // SAFETY: this thread's cache only ever holds cells of `ARENA` (`alloc` and `free` below).
        unsafe { self.0.flush(&ARENA) };
    }
}

thread_local! {
    /// This thread's cache of [`ARENA`]'s cells.
    static LOCAL: UnsafeCell<LocalCache> = const { UnsafeCell::new(LocalCache(ThreadCache::new())) };
}

/// A cell of at least `size` bytes (1 to [`MAX_CELL`]) for an entry: from this thread's cache of
/// [`ARENA`], or the arena itself while the thread is ending; null when the kernel gives no memory.
pub fn alloc(size: usize) -> *mut u8 {
    LOCAL
        // SAFETY: the only reference to this thread's cache while it lives: nothing called in
        // `ThreadCache::alloc` comes back here; the cache holds only `ARENA`'s cells.
        .try_with(|local| unsafe { (*local.get()).0.alloc(&ARENA, size) })
        .unwrap_or_else(|_| ARENA.alloc(size))
}

/// Gives this thread's cached cells back to their slabs, for a thread that frees without
/// allocating (the lazyfree thread): its cache would otherwise keep up to 32 cells a class out of
/// their slabs for as long as it lives, and with them the slabs' memory.
pub fn flush_local_cache() {
    let _ = LOCAL.try_with(|local| {
        // SAFETY: as in `alloc`: the only reference to this thread's cache while it lives, holding
        // only `ARENA`'s cells.
        unsafe { (*local.get()).0.flush(&ARENA) }
    });
}

/// Gives back a cell that [`alloc`] handed out (on any thread).
///
/// # Safety
/// `ptr` came from [`alloc`] with the same `size`, and is freed once.
pub unsafe fn free(ptr: *mut u8, size: usize) {
    let cached = LOCAL.try_with(|local| {
        // SAFETY: as in `alloc`; the cell is `ARENA`'s (the caller's promise).
        unsafe { (*local.get()).0.free(&ARENA, ptr, size) }
    });
    if cached.is_err() {
        // SAFETY: the caller's promise: a cell of `ARENA` of this size, freed once.
        unsafe { ARENA.free(ptr, size) };
    }
}

impl Drop for Arena {
    /// Releases the empty slabs kept for reuse (an arena is only dropped in tests: the server's is a
    /// static). Slabs that still hold cells are left mapped: their owners may still use them.
    fn drop(&mut self) {
        for pool in &mut self.pools {
            let pool = pool.get_mut().unwrap_or_else(PoisonError::into_inner);
            let spare = std::mem::replace(&mut pool.spare, null_mut());
            if !spare.is_null() {
                pool.slabs -= 1;
                // SAFETY: the spare slab has no live cell and is no longer reachable from the pool.
                unsafe { release_slab(spare.cast::<u8>()) };
            }
        }
    }
}

impl Pool {
    /// Hands out a cell of `cell` bytes (this pool's size), mapping a slab if none has room.
    ///
    /// # Safety
    /// `cell` is this pool's cell size, always the same.
    unsafe fn take(&mut self, cell: usize) -> *mut u8 {
        let mut slab = self.with_room;
        if slab.is_null() {
            slab = std::mem::replace(&mut self.spare, null_mut());
            if slab.is_null() {
                slab = map_slab().cast::<Slab>();
                if slab.is_null() {
                    return null_mut();
                }
                self.slabs += 1;
            }
            let header =
                Slab { free: null_mut(), bump: HEADER, live: 0, prev: null_mut(), next: null_mut(), listed: false };
            // SAFETY: `slab` is a mapped (or spare, all cells free) slab of `SLAB` bytes aligned to
            // `SLAB`, which nothing else uses: its header is (re)written from scratch.
            unsafe { slab.write(header) };
            // SAFETY: as above; the list holds slabs of this pool only.
            unsafe { self.push(slab) };
        }
        // SAFETY: `slab` is in this pool's list, so it is mapped and has room: a free cell (whose
        // first 8 bytes, aligned, hold the next one's address, written by `give`) or a cell past
        // `bump` inside the slab. Only this pool's lock holder touches its header.
        unsafe {
            let ptr = if (*slab).free.is_null() {
                let ptr = slab.cast::<u8>().add((*slab).bump);
                (*slab).bump += cell;
                ptr
            } else {
                let ptr = (*slab).free;
                (*slab).free = ptr.cast::<*mut u8>().read();
                ptr
            };
            (*slab).live += 1;
            if (*slab).free.is_null() && (*slab).bump + cell > SLAB {
                self.unlink(slab);
            }
            ptr
        }
    }

    /// Takes a cell back; releases its slab when that was the slab's last live cell.
    ///
    /// # Safety
    /// `ptr` is a live cell handed out by this pool's `take`.
    unsafe fn give(&mut self, ptr: *mut u8) {
        let slab = slab_of(ptr);
        // SAFETY: the cell's slab is mapped while it has a live cell (this one), its header was
        // written by `take`, and the cell is at least 8 bytes, 8-aligned and no longer used by its
        // owner: it becomes the head of the slab's free list.
        unsafe {
            ptr.cast::<*mut u8>().write((*slab).free);
            (*slab).free = ptr;
            (*slab).live -= 1;
            if (*slab).live == 0 {
                if (*slab).listed {
                    self.unlink(slab);
                }
                if self.spare.is_null() {
                    self.spare = slab;
                } else {
                    self.slabs -= 1;
                    release_slab(slab.cast::<u8>());
                }
            } else if !(*slab).listed {
                self.push(slab);
            }
        }
    }

    /// Puts `slab` at the front of the list of slabs with room.
    ///
    /// # Safety
    /// `slab` is a slab of this pool, not in the list; the pool is locked.
    unsafe fn push(&mut self, slab: *mut Slab) {
        // SAFETY: `slab` and the list's head are mapped slabs of this pool (the caller's promise).
        unsafe {
            (*slab).prev = null_mut();
            (*slab).next = self.with_room;
            if !self.with_room.is_null() {
                (*self.with_room).prev = slab;
            }
            (*slab).listed = true;
        }
        self.with_room = slab;
    }

    /// Takes `slab` out of the list of slabs with room.
    ///
    /// # Safety
    /// `slab` is in this pool's list; the pool is locked.
    unsafe fn unlink(&mut self, slab: *mut Slab) {
        // SAFETY: `slab` and its neighbours are slabs in this pool's list (the caller's promise).
        unsafe {
            let (prev, next) = ((*slab).prev, (*slab).next);
            if prev.is_null() {
                self.with_room = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*slab).prev = null_mut();
            (*slab).next = null_mut();
            (*slab).listed = false;
        }
    }
}

/// The slab a cell is in: its address rounded down to the slab size (keeping its provenance).
fn slab_of(ptr: *mut u8) -> *mut Slab {
    ptr.map_addr(|addr| addr & !(SLAB - 1)).cast::<Slab>()
}

/// A slab whose memory went back to the kernel, kept mapped for the next slab of any class.
#[cfg(not(miri))]
struct Released(*mut u8);

// SAFETY: a released slab is only an address range of ours that nothing uses; whoever pops it from
// `RELEASED` owns it, on any thread.
#[cfg(not(miri))]
unsafe impl Send for Released {}

/// Empty slabs given back with `MADV_DONTNEED` rather than unmapped: unmapping slabs between live
/// ones would split the process's mappings, one more each time, until `mmap` fails past the
/// kernel's limit (`vm.max_map_count`, 65,530 by default: a few GB of fragmented entries) while
/// memory is free. Their pages are freed at once all the same (RSS falls); only the addresses stay.
#[cfg(not(miri))]
static RELEASED: Mutex<Vec<Released>> = Mutex::new(Vec::new());

/// A new slab: `SLAB` bytes aligned to `SLAB`, straight from the kernel (so that releasing it gives
/// the memory back at once, where a freed malloc chunk in the middle of the heap stays resident):
/// a released one if there is one, else a new mapping; null if there is no memory.
#[cfg(not(miri))]
fn map_slab() -> *mut u8 {
    if let Some(Released(slab)) = RELEASED.lock().unwrap_or_else(PoisonError::into_inner).pop() {
        // Its pages read as zeros again when touched: `take` writes the header from scratch.
        return slab;
    }
    let map = |len: usize| {
        // SAFETY: an anonymous private mapping at an address of the kernel's choice: no existing
        // memory is affected.
        let ptr = unsafe {
            libc::mmap(
                null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            null_mut()
        } else {
            ptr.cast::<u8>()
        }
    };
    let ptr = map(SLAB);
    if ptr.is_null() || ptr.addr() % SLAB == 0 {
        // Usually aligned: the kernel places mappings just below the previous ones, which are.
        return ptr;
    }
    // SAFETY: the mapping just made, not used.
    unsafe { libc::munmap(ptr.cast(), SLAB) };
    let ptr = map(2 * SLAB);
    if ptr.is_null() {
        return ptr;
    }
    let lead = ptr.addr().next_multiple_of(SLAB) - ptr.addr();
    // SAFETY: the parts of the mapping just made before and after its aligned `SLAB` bytes, not used;
    // `lead` is less than `SLAB`, so both parts are inside the `2 * SLAB` mapped.
    unsafe {
        if lead > 0 {
            libc::munmap(ptr.cast(), lead);
        }
        libc::munmap(ptr.add(lead + SLAB).cast(), SLAB - lead);
        ptr.add(lead)
    }
}

/// Gives a slab's memory back to the kernel, keeping its addresses for a later slab (see
/// [`RELEASED`]).
///
/// # Safety
/// `slab` came from `map_slab` and nothing in it is used any more.
#[cfg(not(miri))]
unsafe fn release_slab(slab: *mut u8) {
    // SAFETY: the caller's promise: a whole slab of ours, unused; its contents may be discarded.
    let released = unsafe { libc::madvise(slab.cast(), SLAB, libc::MADV_DONTNEED) };
    if released != 0 {
        tracing::warn!(err = %std::io::Error::last_os_error(), "madvise(MADV_DONTNEED) failed: an empty slab stays resident");
    }
    RELEASED.lock().unwrap_or_else(PoisonError::into_inner).push(Released(slab));
}

/// Under Miri (no `mmap`): slabs from the global allocator, with the same size and alignment.
#[cfg(miri)]
fn map_slab() -> *mut u8 {
    // SAFETY: a non-zero size.
    unsafe { std::alloc::alloc(slab_layout()) }
}

/// Under Miri: gives a slab back to the global allocator.
///
/// # Safety
/// As the non-Miri version.
#[cfg(miri)]
unsafe fn release_slab(slab: *mut u8) {
    // SAFETY: allocated by `map_slab` with this layout.
    unsafe { std::alloc::dealloc(slab, slab_layout()) }
}

/// A slab's layout for the global allocator (Miri only).
#[cfg(miri)]
fn slab_layout() -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(SLAB, SLAB).expect("a power of two, far below isize::MAX")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A tiny deterministic generator (xorshift), enough to shuffle sizes and orders.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Fills a cell with a pattern of `id`.
    fn fill(ptr: *mut u8, size: usize, id: u64) {
        for i in 0..size {
            // SAFETY: the test's cell of at least `size` bytes.
            unsafe { ptr.add(i).write((id as u8).wrapping_add(i as u8) ^ (id >> 8) as u8) };
        }
    }

    /// Whether a cell still holds `fill`'s pattern of `id`.
    fn holds(ptr: *mut u8, size: usize, id: u64) -> bool {
        // SAFETY: the test's cell of at least `size` bytes, initialized by `fill`.
        (0..size).all(|i| unsafe { ptr.add(i).read() } == (id as u8).wrapping_add(i as u8) ^ (id >> 8) as u8)
    }

    /// Cells in a slab of the class of `size`.
    fn per_slab(size: usize) -> usize {
        (SLAB - HEADER) / cell_size(size).unwrap()
    }

    #[test]
    fn cell_sizes_are_8_byte_steps_up_to_256() {
        assert_eq!(cell_size(1), Some(8));
        assert_eq!(cell_size(8), Some(8));
        assert_eq!(cell_size(9), Some(16));
        assert_eq!(cell_size(38), Some(40));
        assert_eq!(cell_size(122), Some(128));
        assert_eq!(cell_size(256), Some(256));
        assert_eq!(cell_size(257), None);
    }

    #[test]
    fn every_class_hands_out_disjoint_aligned_cells() {
        let arena = Arena::new();
        let mut cells = Vec::new();
        for size in 1..=MAX_CELL {
            for copy in 0..3u64 {
                let ptr = arena.alloc(size);
                assert!(!ptr.is_null() && ptr.addr() % GRAIN == 0);
                let id = (size as u64) << 8 | copy;
                fill(ptr, size, id);
                cells.push((ptr, size, id));
            }
        }
        for &(ptr, size, id) in &cells {
            assert!(holds(ptr, size, id), "cell of {size} bytes overwritten");
            // SAFETY: allocated above with this size, freed once.
            unsafe { arena.free(ptr, size) };
        }
        for size in (GRAIN..=MAX_CELL).step_by(GRAIN) {
            assert_eq!(arena.slabs(size), 1, "only the spare is left for {size}");
        }
    }

    #[test]
    fn an_empty_slab_is_given_back() {
        let arena = Arena::new();
        let size = 40;
        let n = 5 * per_slab(size) + 7;
        let cells: Vec<_> = (0..n).map(|_| arena.alloc(size)).collect();
        assert_eq!(arena.slabs(size), 6);
        // Free every other cell: every slab keeps live cells, none is given back.
        for ptr in cells.iter().step_by(2) {
            // SAFETY: allocated above with this size, freed once (odd ones below).
            unsafe { arena.free(*ptr, size) };
        }
        assert_eq!(arena.slabs(size), 6);
        // The freed cells are used again before any new slab.
        let again: Vec<_> = (0..n.div_ceil(2)).map(|_| arena.alloc(size)).collect();
        assert_eq!(arena.slabs(size), 6);
        for ptr in cells.iter().skip(1).step_by(2).chain(&again) {
            // SAFETY: live cells of this size, each freed once.
            unsafe { arena.free(*ptr, size) };
        }
        // One empty slab is kept for the next allocation; the others are released.
        assert_eq!(arena.slabs(size), 1);
        let ptr = arena.alloc(size);
        assert_eq!(arena.slabs(size), 1);
        // SAFETY: allocated just above.
        unsafe { arena.free(ptr, size) };
    }

    #[test]
    fn cells_move_between_threads() {
        let arena = Arena::new();
        let size = 24;
        // Allocated on one thread, freed on another (as the lazyfree thread frees the event loop's).
        let cells: Vec<Cell> = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    (0..per_slab(size) as u64 * if cfg!(miri) { 1 } else { 3 })
                        .map(|id| {
                            let ptr = arena.alloc(size);
                            fill(ptr, size, id);
                            Cell(ptr)
                        })
                        .collect()
                })
                .join()
                .unwrap()
        });
        assert_eq!(arena.slabs(size), if cfg!(miri) { 1 } else { 3 });
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for (id, Cell(ptr)) in cells.into_iter().enumerate() {
                    assert!(holds(ptr, size, id as u64));
                    // SAFETY: a live cell of this size, freed once.
                    unsafe { arena.free(ptr, size) };
                }
            });
        });
        assert_eq!(arena.slabs(size), 1);
        // Four threads allocating and freeing each other's cells at once, two through caches of their
        // own (flushed when they end), as the server's threads do, and two straight from the pools.
        let sent = std::sync::Mutex::new(Vec::<(Cell, u64)>::new());
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let (arena, sent) = (&arena, &sent);
                scope.spawn(move || {
                    let mut cache = ThreadCache::new();
                    let mut rng = Rng(t + 1);
                    for i in 0..if cfg!(miri) { 300 } else { 20_000u64 } {
                        let id = t << 32 | i;
                        // SAFETY: the cache is used with this arena only.
                        let ptr = if t % 2 == 0 { unsafe { cache.alloc(arena, size) } } else { arena.alloc(size) };
                        fill(ptr, size, id);
                        let mut sent = sent.lock().unwrap();
                        sent.push((Cell(ptr), id));
                        // Free a random cell, most likely allocated by another thread.
                        if rng.below(3) > 0 {
                            let at = rng.below(sent.len());
                            let (Cell(ptr), id) = sent.swap_remove(at);
                            drop(sent);
                            assert!(holds(ptr, size, id), "a live cell was overwritten");
                            // SAFETY: a live cell of this arena and size, removed from the list, freed once.
                            unsafe {
                                if t % 2 == 0 {
                                    cache.free(arena, ptr, size);
                                } else {
                                    arena.free(ptr, size);
                                }
                            }
                        }
                    }
                    // SAFETY: the cache holds cells of this arena only.
                    unsafe { cache.flush(arena) };
                });
            }
        });
        for (Cell(ptr), id) in sent.into_inner().unwrap() {
            assert!(holds(ptr, size, id));
            // SAFETY: the cells still live, freed once.
            unsafe { arena.free(ptr, size) };
        }
        assert_eq!(arena.slabs(size), 1);
    }

    #[test]
    fn thread_caches_take_and_give_back_in_batches() {
        let arena = Arena::new();
        let mut cache = ThreadCache::new();
        let size = 40;
        // SAFETY (every block below): the cache is used with this arena only; each cell is freed once.
        let first = unsafe { cache.alloc(&arena, size) };
        assert_eq!(cache.cached(size), BATCH - 1, "one lock round took a batch");
        let mut cells: Vec<_> = (0..3 * per_slab(size)).map(|_| unsafe { cache.alloc(&arena, size) }).collect();
        cells.push(first);
        for (id, &ptr) in cells.iter().enumerate() {
            fill(ptr, size, id as u64);
        }
        assert_eq!(arena.slabs(size), 3 + 1);
        for (id, &ptr) in cells.iter().enumerate().rev() {
            assert!(holds(ptr, size, id as u64));
            unsafe { cache.free(&arena, ptr, size) };
            assert!(cache.cached(size) <= 2 * BATCH, "a full cache gives a batch back");
        }
        // What the cache still holds pins its slabs until it is flushed (at the thread's end).
        assert!(cache.cached(size) > 0);
        unsafe { cache.flush(&arena) };
        assert_eq!((cache.cached(size), arena.slabs(size)), (0, 1));
    }

    #[test]
    fn the_servers_cells_move_between_threads_through_their_caches() {
        // Allocated on threads that end (their caches are flushed), freed here, through this thread's.
        let cells: Vec<(Cell, usize)> = std::thread::spawn(|| {
            (1..=MAX_CELL)
                .map(|size| {
                    let ptr = alloc(size);
                    fill(ptr, size, size as u64);
                    (Cell(ptr), size)
                })
                .collect()
        })
        .join()
        .unwrap();
        for (Cell(ptr), size) in cells {
            assert!(holds(ptr, size, size as u64));
            // SAFETY: from `alloc` with this size, freed once.
            unsafe { free(ptr, size) };
        }
    }

    /// A cell's pointer, to pass between test threads.
    struct Cell(*mut u8);
    // SAFETY: the test hands each cell to one thread at a time, under a lock.
    unsafe impl Send for Cell {}

    #[test]
    fn random_sizes_never_overwrite_live_cells() {
        let arena = Arena::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut live: HashMap<u64, (Cell, usize)> = HashMap::new();
        let mut ids: Vec<u64> = Vec::new();
        let rounds = if cfg!(miri) { 2_000 } else { 200_000 };
        for id in 0..rounds {
            if ids.is_empty() || rng.below(100) < 55 {
                let size = 1 + rng.below(MAX_CELL);
                let ptr = arena.alloc(size);
                fill(ptr, size, id);
                live.insert(id, (Cell(ptr), size));
                ids.push(id);
            } else {
                let victim = ids.swap_remove(rng.below(ids.len()));
                let (Cell(ptr), size) = live.remove(&victim).unwrap();
                assert!(holds(ptr, size, victim), "cell {victim} of {size} bytes overwritten");
                // SAFETY: a live cell of this size, freed once.
                unsafe { arena.free(ptr, size) };
            }
        }
        for (id, (Cell(ptr), size)) in live {
            assert!(holds(ptr, size, id));
            // SAFETY: the cells still live, freed once.
            unsafe { arena.free(ptr, size) };
        }
        for size in (GRAIN..=MAX_CELL).step_by(GRAIN) {
            assert!(arena.slabs(size) <= 1, "class {size} kept more than its spare slab");
        }
    }
}
