//! One key and its value in a single allocation.
//!
//! ```text
//! table slot (8 bytes): [pointer]
//! allocation:           [access data: 3 bytes LE][length: varint] + the entry's bytes:
//! entry's bytes:        [flags: u8][expires_at: u64 LE, if TTL][key_len: varint][key][value_len: u64 LE, if SPARE][value][spare]
//! a collection's:       [flags: u8 with COLLECTION][expires_at, if TTL][key_len: varint][key][Arc<Collection>: 8]
//! ```
//!
//! A hash or set keeps the same slot and allocation, whose value is a pointer to the collection, held
//! as one strong count of an `Arc`: a snapshot copies a chunk of entries under a shard's lock by
//! bumping counts, not by copying contents, and a write to a collection a snapshot still holds copies
//! it first (`Arc::make_mut`). So string keys cost exactly what they did before collections existed.
//!
//! The hash table stores just an 8-byte pointer per key (a hashbrown table at its usual load costs
//! about 19 bytes a key with its control bytes, against 36 for the 16-byte slot this replaced, see
//! `bench/results/PROFILE.md`, "Memory: 8-byte slots"), so a small key with a small value costs one
//! pointer and one allocation, about half of what Redis spends. The time to live lives in the same
//! allocation, present only for keys that have one. The allocation starts with what the slot no longer
//! holds: the access data (24 bits: an LRU clock or an LFU counter with its decrement time, see
//! [`crate::access`], Redis's 24-bit `lru` field) and the length of the entry's bytes, a varint (one
//! byte below 128), which the allocator needs back to free it. Five bytes in all for a small entry:
//! 16-byte key and value take 38 bytes, a 16-byte key with a 100-byte value 122. Allocations of up
//! to 256 bytes are cells of [`crate::arena`] (8-byte steps, no header: 40 and 128 bytes for those
//! two, where glibc's malloc took 48 and 144); larger ones come from the system allocator.

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::arena;
use crate::collections::{Collection, Kind};

/// Flag bit: an 8-byte expiry time follows the flags byte.
const HAS_TTL: u8 = 1;
/// Flag bit: the value's length is stored after the key and room to grow follows the value. Only
/// values that were appended to carry it, so `APPEND` in a loop costs amortized O(1) per byte.
const HAS_SPARE: u8 = 2;
/// Flag bit: the value was changed in place (`SETRANGE`, `SETBIT`, `BITFIELD`, or moved with such a
/// value): Redis's `raw` encoding whatever its length, as its string was unshared to be written.
/// (A value with room to grow, `HAS_SPARE`, is raw too.) A new value clears it.
const RAW: u8 = 4;
/// Flag bit: the value is a string object even if it reads as an integer (`INCRBYFLOAT`'s result is
/// `embstr` in Redis, never `int`). A new value clears it.
const NOT_INT: u8 = 8;
/// Flag bit: the value is not a string but an `Arc<Collection>`, its 8 bytes those of
/// `Arc::into_raw`, always the entry's last 8 bytes (never with `HAS_SPARE`); the entry owns one
/// strong count.
const COLLECTION: u8 = 16;
/// The flags that say how Redis would have encoded the value: kept when the entry is rebuilt for
/// another reason (an expiry change, a move to another key).
const ENCODING_FLAGS: u8 = RAW | NOT_INT;
/// Smallest room made for a value that is being appended to.
const MIN_APPEND_CAPACITY: usize = 64;
/// Up to this size a value grown in place (`SETRANGE`, `SETBIT`) gets room to double; past it, this
/// much more: Redis's `sdsMakeRoomFor` policy, so rising offsets cost amortized O(1) per byte without
/// a 512 MiB value reserving another 512 MiB.
const GREEDY_GROWTH_LIMIT: usize = 1024 * 1024;

/// A key, its value and its optional expiry, packed into one boxed slice, with its access data.
#[derive(Debug)]
pub struct Entry {
    data: Slim,
}

/// A value taken out of an entry, to be stored under another key (`RENAME`, `MOVE`, `COPY`) or
/// decoded from a file (`RESTORE`, RDB loading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string's bytes.
    String(Vec<u8>),
    /// A collection.
    Collection(Collection),
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(ptr) = self.collection_ptr() {
            // SAFETY: the pointer came from `Arc::into_raw` and this entry owns one strong count of it
            // (given at creation or clone, never given away), released here exactly once.
            drop(unsafe { Arc::from_raw(ptr) });
        }
    }
}

impl Clone for Entry {
    fn clone(&self) -> Entry {
        if let Some(ptr) = self.collection_ptr() {
            // SAFETY: the entry holds a strong count, so the Arc is alive; the copy's bytes (cloned
            // below) hold the same pointer and own this new count.
            unsafe { Arc::increment_strong_count(ptr) };
        }
        Entry { data: self.data.clone() }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        match (self.collection(), other.collection()) {
            (None, None) => self.data == other.data,
            (Some(a), Some(b)) => self.key() == other.key() && self.expires_at() == other.expires_at() && a == b,
            _ => false,
        }
    }
}

impl Eq for Entry {}

impl Entry {
    /// Starts loading the entry into the cache ahead of its use, so the lookups of a pipelined batch
    /// wait for memory together instead of one after another (see [`crate::db::Db::prefetch`]).
    #[inline]
    pub fn prefetch(&self) {
        self.data.prefetch();
    }

    /// Packs `key`, `value` and an expiry (Unix milliseconds) into one allocation.
    pub fn new(key: &[u8], value: &[u8], expires_at: Option<u64>) -> Entry {
        let mut head = [0u8; 1 + 8 + MAX_VARINT_LEN];
        let mut at = 1;
        if let Some(expires_at) = expires_at {
            head[0] = HAS_TTL;
            head[1..9].copy_from_slice(&expires_at.to_le_bytes());
            at = 9;
        }
        at += write_varint(&mut head[at..], key.len());
        let parts = [&head[..at], key, value];
        Entry { data: Slim::new(at + key.len() + value.len(), &parts, 0) }
    }

    /// A key holding `collection`.
    pub fn with_collection(key: &[u8], collection: Collection, expires_at: Option<u64>) -> Entry {
        Entry::with_arc(key, Arc::new(collection), expires_at)
    }

    /// A key holding the collection `arc` (whose strong count the entry takes over).
    fn with_arc(key: &[u8], arc: Arc<Collection>, expires_at: Option<u64>) -> Entry {
        let ptr = Arc::into_raw(arc) as usize as u64;
        let mut entry = Entry::new(key, &ptr.to_le_bytes(), expires_at);
        entry.data[0] |= COLLECTION;
        entry
    }

    /// A key holding `value`.
    pub fn with_value(key: &[u8], value: Value, expires_at: Option<u64>) -> Entry {
        match value {
            Value::String(bytes) => Entry::new(key, &bytes, expires_at),
            Value::Collection(collection) => Entry::with_collection(key, collection, expires_at),
        }
    }

    /// The collection's pointer, if the value is one.
    fn collection_ptr(&self) -> Option<*const Collection> {
        let data = &*self.data;
        if data[0] & COLLECTION == 0 {
            return None;
        }
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&data[data.len() - 8..]);
        Some(u64::from_le_bytes(bytes) as usize as *const Collection)
    }

    /// The type of the value.
    pub fn kind(&self) -> Kind {
        self.collection().map_or(Kind::String, Collection::kind)
    }

    /// The value, if it is a string.
    pub fn string(&self) -> Option<&[u8]> {
        let data = &*self.data;
        (data[0] & COLLECTION == 0).then(|| {
            let (start, len) = value_span(data);
            &data[start..start + len]
        })
    }

    /// The value, if it is a collection.
    pub fn collection(&self) -> Option<&Collection> {
        // SAFETY: the entry owns a strong count, so the collection lives at least as long as `&self`;
        // it is only ever changed through `collection_mut`, which needs `&mut self`.
        self.collection_ptr().map(|ptr| unsafe { &*ptr })
    }

    /// The value, if it is a collection, to change in place: copied first if a snapshot shares it.
    pub fn collection_mut(&mut self) -> Option<&mut Collection> {
        let ptr = self.collection_ptr()?;
        // SAFETY: rebuilds the Arc this entry owns a count of, without taking that count away
        // (`ManuallyDrop`): `make_mut` either finds it unique or swaps in a unique copy, dropping this
        // entry's count of the shared one, and the pointer stored below owns the count of the result.
        let mut arc = ManuallyDrop::new(unsafe { Arc::from_raw(ptr) });
        let unique: *mut Collection = Arc::make_mut(&mut arc);
        let data = &mut *self.data;
        let start = data.len() - 8;
        data[start..].copy_from_slice(&(Arc::as_ptr(&arc) as usize as u64).to_le_bytes());
        // SAFETY: `unique` points into the Arc the entry now owns alone, borrowed for as long as `&mut self`.
        Some(unsafe { &mut *unique })
    }

    /// The value, taken out (a collection is moved, not copied, unless a snapshot shares it).
    pub fn into_value(self) -> Value {
        match self.collection_ptr() {
            None => Value::String(self.raw_value().to_vec()),
            Some(ptr) => {
                // The entry's count moves to `arc`: the entry must not release it when dropped.
                let this = ManuallyDrop::new(self);
                // SAFETY: the count this entry owned, taken over once; `this` is never dropped, and its
                // bytes (the `Slim`) are freed here by hand.
                let arc = unsafe { Arc::from_raw(ptr) };
                // SAFETY: `this.data` is read out exactly once and `this` is forgotten.
                drop(unsafe { std::ptr::read(&this.data) });
                Value::Collection(Arc::unwrap_or_clone(arc))
            }
        }
    }

    /// The key's access data: an LRU clock or an LFU counter, as [`crate::access`] reads it.
    pub fn access(&self) -> u32 {
        self.data.tag()
    }

    /// Stores the key's access data: 24 bits (what [`crate::access`] makes), higher bits are dropped.
    pub fn set_access(&mut self, access: u32) {
        self.data.set_tag(access);
    }

    /// Whether the value was changed in place (`APPEND`, `SETRANGE`, `SETBIT`, ...): what Redis
    /// reports as the `raw` encoding whatever the value's length, since its string was unshared.
    pub fn is_raw(&self) -> bool {
        self.data[0] & (HAS_SPARE | RAW) != 0
    }

    /// Marks the value as changed in place (see [`Entry::is_raw`]).
    pub fn mark_raw(&mut self) {
        self.data[0] |= RAW;
    }

    /// Whether the value must not be reported as an integer (see [`Entry::mark_not_int`]).
    pub fn is_not_int(&self) -> bool {
        self.data[0] & NOT_INT != 0
    }

    /// Marks the value as a string object even if it reads as an integer: what Redis stores for
    /// `INCRBYFLOAT` (`embstr`), where `SET` would have made an `int`.
    pub fn mark_not_int(&mut self) {
        self.data[0] |= NOT_INT;
    }

    /// The flags that say how Redis would have encoded the value (to carry them to a rebuilt entry).
    pub fn encoding_flags(&self) -> u8 {
        // Room to grow (`HAS_SPARE`) is not carried over, but the raw-ness it implies is.
        let raw = if self.is_raw() { RAW } else { 0 };
        raw | (self.data[0] & NOT_INT)
    }

    /// Gives the entry encoding flags read from another with [`Entry::encoding_flags`].
    pub fn set_encoding_flags(&mut self, flags: u8) {
        self.data[0] |= flags & ENCODING_FLAGS;
    }

    /// A key whose value is `len` zero bytes, without a time to live: what `SETRANGE` and `SETBIT` start
    /// from on a missing key, built in place rather than copied from a zeroed buffer.
    pub fn zeroed(key: &[u8], len: usize) -> Entry {
        let mut head = [0u8; 1 + MAX_VARINT_LEN];
        let at = 1 + write_varint(&mut head[1..], key.len());
        Entry { data: Slim::new(at + key.len() + len, &[&head[..at], key], 0) }
    }

    fn ttl_len(&self) -> usize {
        ttl_len(&self.data)
    }

    /// Where the key starts, and its length.
    fn key_span(&self) -> (usize, usize) {
        key_span(&self.data)
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        // One look at the header (`Slim::span`) for the whole call: this runs for every probe.
        let data = &*self.data;
        let (start, len) = key_span(data);
        &data[start..start + len]
    }

    /// Where the value starts, and its length.
    fn value_span(&self) -> (usize, usize) {
        value_span(&self.data)
    }

    /// The value's bytes: a string, or a collection's pointer.
    fn raw_value(&self) -> &[u8] {
        let data = &*self.data;
        let (start, len) = value_span(data);
        &data[start..start + len]
    }

    /// Replaces the value and expiry in place when the result has exactly the old layout and size
    /// (a counter, a fixed-size value rewritten): no allocation. Returns false when it does not fit.
    pub fn overwrite(&mut self, value: &[u8], expires_at: Option<u64>) -> bool {
        let data = &mut *self.data;
        if data[0] & COLLECTION != 0 {
            return false;
        }
        let (start, len) = value_span(data);
        let same_layout = data[0] & HAS_SPARE == 0 && expires_at.is_some() == (ttl_len(data) == 8);
        if !same_layout || len != value.len() {
            return false;
        }
        if let Some(at) = expires_at {
            data[1..9].copy_from_slice(&at.to_le_bytes());
        }
        data[start..].copy_from_slice(value);
        // A new value, as Redis makes a new object: encoded afresh.
        data[0] &= !ENCODING_FLAGS;
        true
    }

    /// Appends `extra` to the value in place when there is room, else moves it to an allocation
    /// with room to double, so repeated appends cost amortized O(1) per byte, as in Redis. False
    /// (and nothing done) when the value is a collection.
    pub fn append(&mut self, extra: &[u8]) -> bool {
        if self.data[0] & COLLECTION != 0 {
            return false;
        }
        let new_len = self.value_span().1 + extra.len();
        self.grow_value(new_len, extra, (2 * new_len).max(MIN_APPEND_CAPACITY));
        true
    }

    /// A string value, for changes in place that keep its length; `None` for a collection.
    pub fn value_mut(&mut self) -> Option<&mut [u8]> {
        if self.data[0] & COLLECTION != 0 {
            return None;
        }
        let (start, len) = self.value_span();
        Some(&mut self.data[start..start + len])
    }

    /// Pads the value with zero bytes up to `len` (nothing if it is that long already); returns whether it
    /// grew. In place when there is room; otherwise the value moves to an allocation with room to grow.
    pub fn grow_zeroed(&mut self, len: usize) -> bool {
        if len <= self.value_span().1 || self.data[0] & COLLECTION != 0 {
            return false;
        }
        let room = if len < GREEDY_GROWTH_LIMIT { 2 * len } else { len + GREEDY_GROWTH_LIMIT };
        self.grow_value(len, &[], room.max(MIN_APPEND_CAPACITY));
        true
    }

    /// The string value grown to `new_len` bytes: the old value, then `extra`, then zeros. In place
    /// when its spare room allows; otherwise it moves to an allocation with room for `capacity`
    /// value bytes (at least `new_len`), its length stored in front of it.
    fn grow_value(&mut self, new_len: usize, extra: &[u8], capacity: usize) {
        let (start, len) = self.value_span();
        if self.data[0] & HAS_SPARE != 0 && start + new_len <= self.data.len() {
            self.data[start + len..start + len + extra.len()].copy_from_slice(extra);
            // Spare room is kept zeroed, but a value is never trusted to have left it so.
            self.data[start + len + extra.len()..start + new_len].fill(0);
            self.data[start - 8..start].copy_from_slice(&(new_len as u64).to_le_bytes());
            return;
        }
        let (key_start, key_len) = self.key_span();
        let parts = [
            &[self.data[0] | HAS_SPARE][..],
            &self.data[1..key_start + key_len],
            &(new_len as u64).to_le_bytes(),
            self.raw_value(),
            extra,
        ];
        self.data = Slim::new(key_start + key_len + 8 + capacity.max(new_len), &parts, self.data.tag());
    }

    /// The expiry time in Unix milliseconds, if the key has one.
    pub fn expires_at(&self) -> Option<u64> {
        (self.ttl_len() == 8).then(|| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&self.data[1..9]);
            u64::from_le_bytes(bytes)
        })
    }

    /// Whether the key has expired at `now` (Unix milliseconds).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }

    /// Changes the expiry; rewrites in place when the key already had one.
    pub fn set_expires_at(&mut self, expires_at: Option<u64>) {
        match (self.expires_at(), expires_at) {
            (Some(_), Some(at)) => self.data[1..9].copy_from_slice(&at.to_le_bytes()),
            (None, None) => {}
            _ => {
                let (access, flags) = (self.access(), self.encoding_flags());
                *self = match self.collection_ptr() {
                    None => Entry::new(self.key(), self.raw_value(), expires_at),
                    Some(ptr) => {
                        // SAFETY: a new count for the rebuilt entry; the old one is released when the
                        // old entry is dropped by this assignment.
                        unsafe { Arc::increment_strong_count(ptr) };
                        // SAFETY: the count just taken, owned by the new entry from here.
                        Entry::with_arc(self.key(), unsafe { Arc::from_raw(ptr) }, expires_at)
                    }
                };
                self.set_access(access);
                // Encoded as before: an expiry change leaves Redis's object as it is.
                self.set_encoding_flags(flags);
            }
        }
    }

    /// Bytes the allocator holds for this entry's allocation (its table slot is counted with the
    /// table, see [`crate::db`]).
    pub fn footprint(&self) -> usize {
        // One look at the header for a string (every write asks, twice).
        let (start, len) = self.data.span();
        let own = entry_allocation_size(start + len);
        if self.data.first_byte() & COLLECTION == 0 {
            return own;
        }
        match self.collection() {
            None => own,
            // The Arc's allocation (two counts and the collection) and what the collection holds.
            Some(collection) => {
                own + allocation_size(2 * std::mem::size_of::<usize>() + std::mem::size_of::<Collection>())
                    + collection.footprint()
            }
        }
    }
}

/// Bytes an entry's allocation of `size` bytes (its header included) takes: a cell of the
/// [`crate::arena`] up to its largest, the system allocator's chunk past it.
pub fn entry_allocation_size(size: usize) -> usize {
    arena::cell_size(size).unwrap_or_else(|| allocation_size(size))
}

/// Bytes the allocator takes for a request of `size` bytes, so the memory estimate follows what the
/// process really holds (RSS) rather than what was asked for. glibc malloc's rules, the default
/// allocator: an 8-byte header, rounded up to 16, at least 32; past its mmap threshold (128 KiB),
/// whole pages. (jemalloc's size classes differ by a few percent either way.)
pub fn allocation_size(size: usize) -> usize {
    const HEADER: usize = 8;
    const ALIGN: usize = 16;
    const MIN_CHUNK: usize = 32;
    const MMAP_THRESHOLD: usize = 128 * 1024;
    const PAGE: usize = 4096;
    if size == 0 {
        0
    } else if size >= MMAP_THRESHOLD {
        (size + 2 * HEADER).div_ceil(PAGE) * PAGE
    } else {
        ((size + HEADER).div_ceil(ALIGN) * ALIGN).max(MIN_CHUNK)
    }
}

/// Bytes of the expiry time in an entry's bytes `data`: 8 if it has one.
fn ttl_len(data: &[u8]) -> usize {
    if data[0] & HAS_TTL != 0 {
        8
    } else {
        0
    }
}

/// Where the key starts in an entry's bytes `data`, and its length.
#[inline]
fn key_span(data: &[u8]) -> (usize, usize) {
    let at = 1 + ttl_len(data);
    if data[at] < 0x80 {
        // Keys under 128 bytes: most.
        return (at + 1, usize::from(data[at]));
    }
    let (len, used) = read_varint(&data[at..]);
    (at + used, len)
}

/// Where the value starts in an entry's bytes `data`, and its length.
#[inline]
fn value_span(data: &[u8]) -> (usize, usize) {
    let (key_start, key_len) = key_span(data);
    let after_key = key_start + key_len;
    if data[0] & HAS_SPARE != 0 {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&data[after_key..after_key + 8]);
        (after_key + 8, u64::from_le_bytes(bytes) as usize)
    } else {
        (after_key, data.len() - after_key)
    }
}

/// Bytes of the access data at the start of every allocation.
const TAG_LEN: usize = 3;
/// The access data kept: 24 bits.
const TAG_MASK: u32 = (1 << (8 * TAG_LEN)) - 1;
/// The most bytes a varint of a `usize` takes.
const MAX_VARINT_LEN: usize = 10;

/// A `Box<[u8]>` in 8 bytes instead of 16, with 24 bits for its owner: a thin pointer to an
/// allocation that starts with those 24 bits and the slice's length (a varint), then the bytes.
///
/// Why unsafe: the length has to be in the allocation for the table slot to be one pointer (a
/// `Box<[u8]>` is a pointer and a length), and the allocator needs it back, exactly, to free the
/// memory: what `new` wrote is what `layout` reads.
struct Slim {
    ptr: NonNull<u8>,
}

// SAFETY: a `Slim` owns its allocation exactly as a `Box<[u8]>` would; nothing else points into it,
// so moving it to or sharing it with another thread is as safe as for the box.
unsafe impl Send for Slim {}
// SAFETY: shared references only read the bytes (`Deref`, `tag`); writes need `&mut`, as for a box.
unsafe impl Sync for Slim {}

impl Slim {
    /// `len` bytes: `parts` one after the other, then zeros; the owner's 24 bits are `tag`.
    fn new(len: usize, parts: &[&[u8]], tag: u32) -> Slim {
        let filled: usize = parts.iter().map(|part| part.len()).sum();
        // An error of the caller's arithmetic, caught before anything is written.
        assert!(filled <= len, "an entry's parts fit in its length");
        let head_len = TAG_LEN + varint_len(len);
        let size = head_len + len;
        let raw = if size <= arena::MAX_CELL {
            arena::alloc(size)
        } else {
            // SAFETY: the layout's size is more than `MAX_CELL`, never zero.
            unsafe { std::alloc::alloc(Slim::layout(size)) }
        };
        let Some(ptr) = NonNull::new(raw) else { std::alloc::handle_alloc_error(Slim::layout(size)) };
        let base = ptr.as_ptr();
        let tag = (tag & TAG_MASK).to_le_bytes();
        // SAFETY: `head_len` bytes (the tag, then the length as `write_varint` would write it) are
        // within the allocation, which nothing else references yet.
        unsafe {
            base.copy_from_nonoverlapping(tag.as_ptr(), TAG_LEN);
            let (mut n, mut at) = (len, TAG_LEN);
            while n >= 0x80 {
                base.add(at).write((n as u8) | 0x80);
                n >>= 7;
                at += 1;
            }
            base.add(at).write(n as u8);
        }
        let mut at = head_len;
        for part in parts {
            // SAFETY: the parts' total fits in the `len` bytes after the header (checked above);
            // `part` cannot overlap memory that was only just allocated.
            unsafe { base.add(at).copy_from_nonoverlapping(part.as_ptr(), part.len()) };
            at += part.len();
        }
        if filled < len {
            // SAFETY: `at..head_len + len` is the rest of the allocation, zeroed so every byte is
            // initialized before a slice over it is made.
            unsafe { base.add(at).write_bytes(0, head_len + len - at) };
        }
        Slim { ptr }
    }

    /// The layout of an allocation of `size` bytes (bytes, no alignment).
    fn layout(size: usize) -> std::alloc::Layout {
        // An invariant, not a client's choice: entries are built from bytes already in memory, capped
        // at 512 MiB (`--proto-max-bulk-len`) plus at most as much room to grow.
        std::alloc::Layout::array::<u8>(size).expect("an entry is smaller than isize::MAX")
    }

    /// Where the bytes start (the length of the header) and how many there are.
    #[inline]
    fn span(&self) -> (usize, usize) {
        // SAFETY: `new` wrote at least one byte of length at `TAG_LEN`.
        let first = unsafe { *self.ptr.as_ptr().add(TAG_LEN) };
        if first < 0x80 {
            // Entries under 128 bytes: most keys.
            return (TAG_LEN + 1, usize::from(first));
        }
        self.long_span()
    }

    /// [`Slim::span`] for entries of 128 bytes and more. Every access to the bytes reads it (an
    /// `APPEND` a dozen times), so the two- and three-byte lengths of entries under 2 MiB are read
    /// without the loop.
    fn long_span(&self) -> (usize, usize) {
        // SAFETY: the first byte had its continuation bit set, so `new` wrote a second one.
        let (first, second) = unsafe { (*self.ptr.as_ptr().add(TAG_LEN), *self.ptr.as_ptr().add(TAG_LEN + 1)) };
        let low = usize::from(first & 0x7f) | usize::from(second & 0x7f) << 7;
        if second < 0x80 {
            return (TAG_LEN + 2, low);
        }
        // SAFETY: the second byte had its continuation bit set too, so `new` wrote a third.
        let third = unsafe { *self.ptr.as_ptr().add(TAG_LEN + 2) };
        if third < 0x80 {
            return (TAG_LEN + 3, low | usize::from(third) << 14);
        }
        let mut len = 0usize;
        for i in 0..MAX_VARINT_LEN {
            // SAFETY: `new` wrote a complete varint at `TAG_LEN`: every byte read here, up to the one
            // without a continuation bit, is inside the allocation and initialized.
            let byte = unsafe { *self.ptr.as_ptr().add(TAG_LEN + i) };
            len |= usize::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return (TAG_LEN + i + 1, len);
            }
        }
        unreachable!("new writes at most MAX_VARINT_LEN bytes of length")
    }

    /// Bytes the allocation takes (what the allocator was asked for): the header and the bytes.
    fn allocation_len(&self) -> usize {
        let (start, len) = self.span();
        start + len
    }

    /// Asks the CPU to start loading the allocation's first cache line (header, flags, key), without
    /// waiting for it: see [`Entry::prefetch`].
    #[inline]
    fn prefetch(&self) {
        // SAFETY: SSE is part of every x86_64 CPU (the target's baseline), and a prefetch is a hint
        // that reads nothing and cannot fault, whatever the address; this one is the allocation's.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(self.ptr.as_ptr().cast::<i8>())
        };
    }

    /// The first of the bytes (an entry's flags): the bytes are never empty.
    #[inline]
    fn first_byte(&self) -> u8 {
        let (start, _) = self.span();
        // SAFETY: every entry has at least its flags byte and key length after the header, written
        // (or zeroed) by `new`.
        unsafe { *self.ptr.as_ptr().add(start) }
    }

    /// The owner's 24 bits.
    fn tag(&self) -> u32 {
        let mut bytes = [0u8; 4];
        // SAFETY: the first `TAG_LEN` bytes of the allocation are the tag, written by `new`; `bytes`
        // is a separate local.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), bytes.as_mut_ptr(), TAG_LEN) };
        u32::from_le_bytes(bytes)
    }

    /// Stores the owner's 24 bits (higher bits of `tag` are dropped).
    fn set_tag(&mut self, tag: u32) {
        let bytes = (tag & TAG_MASK).to_le_bytes();
        // SAFETY: as in `tag`, and `&mut self` makes this the only reference to the allocation.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr(), TAG_LEN) };
    }
}

impl Deref for Slim {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        let (start, len) = self.span();
        // SAFETY: `start..start + len` are the bytes `new` allocated and initialized after the header,
        // owned by this `Slim` until drop; `&self` keeps them from being written meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), len) }
    }
}

impl DerefMut for Slim {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let (start, len) = self.span();
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference. The header (tag and
        // length) is outside the slice, so no write through it can change the length `drop` reads.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), len) }
    }
}

impl Drop for Slim {
    fn drop(&mut self) {
        let size = self.allocation_len();
        if size <= arena::MAX_CELL {
            // SAFETY: `ptr` came from the arena with this same size (the length read back is the one
            // `new` wrote, never changed since), and is freed once.
            unsafe { arena::free(self.ptr.as_ptr(), size) };
        } else {
            // SAFETY: `ptr` came from `alloc` with this same layout (as above), and is freed once.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Slim::layout(size)) };
        }
    }
}

impl Clone for Slim {
    fn clone(&self) -> Slim {
        Slim::new(self.len(), &[&**self], self.tag())
    }
}

impl PartialEq for Slim {
    /// Entries are equal when their bytes are: the access data is bookkeeping, not content.
    fn eq(&self, other: &Slim) -> bool {
        **self == **other
    }
}

impl Eq for Slim {}

impl std::fmt::Debug for Slim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slim").field("bytes", &&**self).field("tag", &self.tag()).finish()
    }
}

/// Writes `n` as a varint (as [`push_varint`]) at the start of `out`; returns the bytes it took.
/// `out` has room for it (at most [`MAX_VARINT_LEN`] bytes).
pub(crate) fn write_varint(out: &mut [u8], mut n: usize) -> usize {
    let mut at = 0;
    while n >= 0x80 {
        out[at] = (n as u8) | 0x80;
        n >>= 7;
        at += 1;
    }
    out[at] = n as u8;
    at + 1
}

/// Bytes [`push_varint`] takes for `n`.
pub(crate) fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Appends `n` as a LEB128 varint: one byte below 128, as most lengths are.
pub(crate) fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varint written by [`push_varint`]; returns the value and the bytes it took.
pub(crate) fn read_varint(bytes: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().enumerate() {
        value |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks() {
        for key_len in [0, 1, 127, 128, 300, 20_000] {
            let key = vec![b'k'; key_len];
            let entry = Entry::new(&key, b"value\r\n\0", None);
            assert_eq!(entry.key(), key.as_slice());
            assert_eq!(entry.string().unwrap(), b"value\r\n\0");
            assert_eq!(entry.expires_at(), None);
            let entry = Entry::new(&key, b"", Some(1234));
            assert_eq!(entry.key(), key.as_slice());
            assert_eq!(entry.string().unwrap(), b"");
            assert_eq!(entry.expires_at(), Some(1234));
        }
    }

    #[test]
    fn appends_grow_in_place_and_keep_everything_else() {
        let mut entry = Entry::new(b"key", b"ab", Some(99));
        let mut expected = b"ab".to_vec();
        for i in 0..1000u32 {
            let piece = i.to_string();
            entry.append(piece.as_bytes());
            expected.extend_from_slice(piece.as_bytes());
            assert_eq!(entry.string().unwrap(), expected.as_slice());
        }
        assert_eq!((entry.key(), entry.expires_at()), (&b"key"[..], Some(99)));
        // Doubling: far fewer than a thousand reallocations left room at the end.
        assert!(entry.data.len() >= expected.len() && entry.data.len() <= 4 * expected.len() + 64);
        entry.set_expires_at(None);
        entry.set_expires_at(Some(5));
        assert_eq!(
            (entry.key(), entry.string().unwrap(), entry.expires_at()),
            (&b"key"[..], expected.as_slice(), Some(5))
        );
    }

    #[test]
    fn overwrite_in_place_only_when_the_layout_matches() {
        let mut entry = Entry::new(b"key", b"123", None);
        assert!(entry.overwrite(b"456", None));
        assert_eq!((entry.key(), entry.string().unwrap(), entry.expires_at()), (&b"key"[..], &b"456"[..], None));
        assert!(!entry.overwrite(b"4567", None));
        assert!(!entry.overwrite(b"789", Some(5)));
        let mut entry = Entry::new(b"key", b"123", Some(1));
        assert!(entry.overwrite(b"789", Some(5)));
        assert_eq!((entry.key(), entry.string().unwrap(), entry.expires_at()), (&b"key"[..], &b"789"[..], Some(5)));
        assert!(!entry.overwrite(b"789", None));
        entry.append(b"0");
        assert!(!entry.overwrite(b"7890", Some(5)), "an entry with room to grow keeps its own layout");
    }

    #[test]
    fn expiry_changes_keep_key_and_value() {
        let mut entry = Entry::new(b"k", b"v", None);
        entry.set_expires_at(Some(10));
        assert_eq!((entry.key(), entry.string().unwrap(), entry.expires_at()), (&b"k"[..], &b"v"[..], Some(10)));
        assert!(entry.is_expired(10) && !entry.is_expired(9));
        entry.set_expires_at(Some(20));
        assert_eq!(entry.expires_at(), Some(20));
        entry.set_expires_at(None);
        assert_eq!((entry.key(), entry.string().unwrap(), entry.expires_at()), (&b"k"[..], &b"v"[..], None));
    }

    #[test]
    fn zeroed_values_grow_in_place_and_keep_key_and_ttl() {
        let mut entry = Entry::zeroed(b"key", 3);
        assert_eq!((entry.key(), entry.string().unwrap(), entry.expires_at()), (&b"key"[..], &[0u8; 3][..], None));
        entry.value_mut().unwrap()[1] = 7;
        assert!(!entry.grow_zeroed(2));
        assert!(entry.grow_zeroed(5));
        assert_eq!(entry.string().unwrap(), &[0, 7, 0, 0, 0]);
        entry.set_expires_at(Some(42));
        let mut expected = entry.string().unwrap().to_vec();
        for len in (6..5000).step_by(7) {
            assert!(entry.grow_zeroed(len));
            expected.resize(len, 0);
            let last = len - 1;
            entry.value_mut().unwrap()[last] = 1;
            expected[last] = 1;
            assert_eq!(entry.string().unwrap(), expected.as_slice());
        }
        assert_eq!((entry.key(), entry.expires_at()), (&b"key"[..], Some(42)));
        // Room to double, not more.
        assert!(entry.data.len() <= 2 * expected.len() + 64);
        // Appends and growth share the room.
        entry.append(b"xyz");
        expected.extend_from_slice(b"xyz");
        assert!(entry.grow_zeroed(expected.len() + 2));
        expected.extend_from_slice(&[0, 0]);
        assert_eq!(entry.string().unwrap(), expected.as_slice());
    }

    #[test]
    fn small_entry_is_one_small_allocation() {
        assert_eq!(std::mem::size_of::<Entry>(), 8);
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 8);
        let entry = Entry::new(&[0; 16], &[0; 16], None);
        // A 40-byte cell of the arena (it was glibc's 48-byte chunk), and a 100-byte value's entry
        // a 128-byte cell (was 144); past the arena's largest cell, the system allocator's chunk.
        assert_eq!((entry.data.len(), entry.data.allocation_len()), (34, 38));
        assert_eq!((entry.footprint(), entry_allocation_size(38)), (40, 40));
        assert_eq!(Entry::new(&[0; 16], &[0; 100], None).footprint(), 128);
        assert_eq!(Entry::new(&[0; 16], &[0; 300], None).footprint(), allocation_size(3 + 2 + 2 + 16 + 300));
        assert_eq!(entry_allocation_size(256), 256);
        assert_eq!(entry_allocation_size(257), allocation_size(257));
    }

    #[test]
    fn access_data_survives_every_rewrite_of_the_allocation() {
        let mut entry = Entry::new(b"k", b"v", None);
        assert_eq!(entry.access(), 0);
        entry.set_access(0x00ab_cdef);
        entry.set_expires_at(Some(7));
        entry.append(b"more");
        assert!(entry.is_raw());
        entry.set_expires_at(None);
        assert_eq!((entry.access(), entry.string().unwrap()), (0x00ab_cdef, &b"vmore"[..]));
        let copy = entry.clone();
        assert_eq!((copy.access(), copy.key(), copy.string().unwrap()), (0x00ab_cdef, &b"k"[..], &b"vmore"[..]));
        assert!(!Entry::new(b"k", b"v", None).is_raw());
        // All 24 bits are kept (an LFU counter's minutes are the top 16), nothing above them.
        entry.set_access(0x0100_0000 | 0x00ff_ffff);
        assert_eq!((entry.access(), entry.key(), entry.string().unwrap()), (0x00ff_ffff, &b"k"[..], &b"vmore"[..]));
    }

    #[test]
    fn collections_share_their_slot_layout_and_are_counted_once() {
        use crate::collections::Set;
        let set: Set = [&b"a"[..], b"b"].into_iter().collect();
        let mut entry = Entry::with_collection(b"key", Collection::Set(set), None);
        assert_eq!((entry.kind(), entry.string(), entry.key()), (Kind::Set, None, &b"key"[..]));
        entry.set_access(77);
        entry.set_expires_at(Some(5));
        let snapshot = entry.clone();
        // A write while a snapshot shares the collection copies it; the snapshot keeps the old one.
        if let Some(Collection::Set(set)) = entry.collection_mut() {
            set.insert(b"c");
        }
        assert_eq!(snapshot.collection().map(Collection::len), Some(2));
        assert_eq!(entry.collection().map(Collection::len), Some(3));
        assert_eq!((entry.access(), entry.expires_at()), (77, Some(5)));
        assert!(!entry.append(b"x") && !entry.overwrite(b"12345678", Some(5)) && entry.value_mut().is_none());
        entry.set_expires_at(None);
        let Value::Collection(moved) = entry.into_value() else { panic!("a collection") };
        assert_eq!(moved.len(), 3);
        drop(snapshot);
    }

    #[test]
    fn allocation_sizes_follow_glibc_malloc() {
        assert_eq!(allocation_size(0), 0);
        assert_eq!(allocation_size(1), 32);
        assert_eq!(allocation_size(24), 32);
        assert_eq!(allocation_size(25), 48);
        assert_eq!(allocation_size(34), 48);
        assert_eq!(allocation_size(40), 48);
        assert_eq!(allocation_size(41), 64);
        assert_eq!(allocation_size(1042), 1056);
        assert_eq!(allocation_size(200_000), 200_704);
    }
}
