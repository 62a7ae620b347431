//! The values a key can hold besides a string: hashes and sets (lists will join them here as more
//! variants of [`Collection`]); sorted sets are [`crate::zset::ZSet`].
//!
//! Each has two encodings, as in Redis:
//!
//! ```text
//! packed   one allocation: [varint len][bytes] per item, items in insertion order
//!          (a hash: field, value, field, value, ...; a set: members). Linear search, so only while
//!          small: at most MAX_PACKED_HASH_ENTRIES fields (a hash) or MAX_PACKED_ENTRIES members (a
//!          set), each at most MAX_PACKED_VALUE bytes.
//! table    a hashbrown table with one allocation per entry (a set: the member; a hash: field and
//!          value in one [varint field len][field][value] block) and a 16-byte slot.
//! ```
//!
//! A collection starts packed and becomes a table for good once it grows past either limit (Redis
//! 7.0's `hash-max-listpack-entries`/`-value` for hashes, so `OBJECT ENCODING` answers as Redis's). Every collection keeps an estimate of the bytes it holds, so
//! `used_memory` covers collection contents in O(1) per change.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::hash_table::HashTable;
use hashbrown::DefaultHashBuilder;

use crate::db::random_u64;

mod list;
mod scan;
use crate::entry::{allocation_size, push_varint, read_varint, varint_len, write_varint};
use crate::lazyfree;
use crate::zset::ZSet;
pub use list::{End, List};
pub(crate) use scan::scan_step;

/// Members a packed set (and entries a packed sorted set) holds at most (Redis's
/// `zset-max-listpack-entries`).
pub const MAX_PACKED_ENTRIES: usize = 128;
/// Fields a packed hash holds at most (Redis 7.0's `hash-max-listpack-entries`): the largest packed
/// collection.
pub const MAX_PACKED_HASH_ENTRIES: usize = 512;
/// Longest field, value or member a packed collection holds (Redis's `hash-max-listpack-value`).
pub const MAX_PACKED_VALUE: usize = 64;
/// A table shrinks when fewer than one bucket in this many is used, so random picks (which probe
/// random buckets) stay cheap after mass deletion, as Redis shrinks below 10% fill.
const SHRINK_RATIO: usize = 8;

/// The type of a key's value, as `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A byte string.
    String,
    /// A hash of fields to values.
    Hash,
    /// A set of members.
    Set,
    // --- lists ---
    /// A list of elements.
    List,
    // --- sorted sets ---
    /// A sorted set of members with scores.
    ZSet,
}

impl Kind {
    /// The name `TYPE` answers and `SCAN ... TYPE` matches.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::Set => "set",
            // --- lists ---
            Kind::List => "list",
            Kind::ZSet => "zset",
        }
    }
}

/// The process's hasher for collection tables: seeded at random once, so clients cannot choose
/// members that collide.
pub(crate) fn hash_of(bytes: &[u8]) -> u64 {
    static HASHER: OnceLock<DefaultHashBuilder> = OnceLock::new();
    HASHER.get_or_init(DefaultHashBuilder::default).hash_one(bytes)
}

/// A value that is not a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collection {
    /// `HSET` and friends.
    Hash(Hash),
    /// `SADD` and friends.
    Set(Set),
    // --- lists ---
    /// `LPUSH` and friends. Boxed, as `ZSet` is: the enum stays the size of a hash or set, which
    /// every small hash and set pays for (a list or sorted set is big enough not to mind the pointer).
    List(Box<List>),
    // --- sorted sets ---
    /// `ZADD` and friends.
    ZSet(Box<ZSet>),
}

impl Collection {
    /// Which type this is.
    pub fn kind(&self) -> Kind {
        match self {
            Collection::Hash(_) => Kind::Hash,
            Collection::Set(_) => Kind::Set,
            // --- lists ---
            Collection::List(_) => Kind::List,
            Collection::ZSet(_) => Kind::ZSet,
        }
    }

    /// Entries (fields or members).
    pub fn len(&self) -> usize {
        match self {
            Collection::Hash(hash) => hash.len(),
            Collection::Set(set) => set.len(),
            // --- lists ---
            Collection::List(list) => list.len(),
            Collection::ZSet(zset) => zset.len(),
        }
    }

    /// Whether it holds nothing: an empty collection is deleted with its key.
    pub fn is_empty(&self) -> bool {
        match self {
            Collection::Hash(hash) => hash.is_empty(),
            Collection::Set(set) => set.is_empty(),
            // --- lists ---
            Collection::List(list) => list.is_empty(),
            Collection::ZSet(zset) => zset.is_empty(),
        }
    }

    /// Estimated bytes held (allocations and table slots), for `used_memory`.
    pub fn footprint(&self) -> usize {
        match self {
            Collection::Hash(hash) => hash.footprint(),
            Collection::Set(set) => set.footprint(),
            // --- lists ---
            Collection::List(list) => list.footprint(),
            Collection::ZSet(zset) => zset.footprint(),
        }
    }
}

/// A collection type a command works on: how to find it in a [`Collection`] and make a new one.
pub trait Typed: Sized {
    /// Its `TYPE` name.
    const KIND: Kind;
    /// An empty one, for a write to a missing key.
    fn empty() -> Self;
    /// The value as this type, if it is one.
    fn of(collection: &Collection) -> Option<&Self>;
    /// The value as this type, if it is one.
    fn of_mut(collection: &mut Collection) -> Option<&mut Self>;
    /// Wraps it up.
    fn into_collection(self) -> Collection;
}

impl Typed for Hash {
    const KIND: Kind = Kind::Hash;
    fn empty() -> Self {
        Hash::default()
    }
    fn of(collection: &Collection) -> Option<&Self> {
        match collection {
            Collection::Hash(hash) => Some(hash),
            _ => None,
        }
    }
    fn of_mut(collection: &mut Collection) -> Option<&mut Self> {
        match collection {
            Collection::Hash(hash) => Some(hash),
            _ => None,
        }
    }
    fn into_collection(self) -> Collection {
        Collection::Hash(self)
    }
}

impl Typed for Set {
    const KIND: Kind = Kind::Set;
    fn empty() -> Self {
        Set::default()
    }
    fn of(collection: &Collection) -> Option<&Self> {
        match collection {
            Collection::Set(set) => Some(set),
            _ => None,
        }
    }
    fn of_mut(collection: &mut Collection) -> Option<&mut Self> {
        match collection {
            Collection::Set(set) => Some(set),
            _ => None,
        }
    }
    fn into_collection(self) -> Collection {
        Collection::Set(self)
    }
}

// --- lists ---
impl Typed for List {
    const KIND: Kind = Kind::List;
    fn empty() -> Self {
        List::default()
    }
    fn of(collection: &Collection) -> Option<&Self> {
        match collection {
            Collection::List(list) => Some(list),
            _ => None,
        }
    }
    fn of_mut(collection: &mut Collection) -> Option<&mut Self> {
        match collection {
            Collection::List(list) => Some(list),
            _ => None,
        }
    }
    fn into_collection(self) -> Collection {
        Collection::List(Box::new(self))
    }
}

// --- sorted sets ---
impl Typed for ZSet {
    const KIND: Kind = Kind::ZSet;
    fn empty() -> Self {
        ZSet::default()
    }
    fn of(collection: &Collection) -> Option<&Self> {
        match collection {
            Collection::ZSet(zset) => Some(zset),
            _ => None,
        }
    }
    fn of_mut(collection: &mut Collection) -> Option<&mut Self> {
        match collection {
            Collection::ZSet(zset) => Some(zset),
            _ => None,
        }
    }
    fn into_collection(self) -> Collection {
        Collection::ZSet(Box::new(self))
    }
}

// ---- the packed encoding -------------------------------------------------------------------------

/// Byte strings one after another in one exactly-sized allocation: `[varint len][bytes]` each.
///
/// Just the allocation, no count beside it or in it: a small hash or set is then 16 bytes, so the
/// `Arc` holding its [`Collection`] fits glibc's 48-byte chunk (64 with a `usize` count, 80 with the
/// table unboxed too), and the data has no byte to spare that could push it into the next chunk
/// (10 small integers: 40 bytes, a 48-byte chunk; 41: 64). `HLEN`/`SCARD` walk at most 256 items;
/// an insert's limit check only counts once the data is long enough to reach the limit
/// ([`Packed::fewer_items_than`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Packed {
    data: Box<[u8]>,
}

/// The items of a [`Packed`], in order, their lengths read by [`item_len`]: finding a field of a
/// 100-field hash costs half what it did with the varint loop.
struct Items<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    #[inline]
    fn next(&mut self) -> Option<Item<'a>> {
        let start = self.at;
        let (len, used) = item_len(self.data, start)?;
        let end = start + used + len;
        let bytes = self.data.get(start + used..end)?;
        self.at = end;
        Some(Item { start, end, bytes })
    }
}

/// The length of the packed item at `at` and the bytes that length takes, if there is one. Every
/// packed item is at most `MAX_PACKED_VALUE` bytes, so its length takes one byte, read without the
/// varint loop (which stays for the format's sake).
#[inline]
fn item_len(data: &[u8], at: usize) -> Option<(usize, usize)> {
    match *data.get(at)? {
        short @ 0..0x80 => Some((short as usize, 1)),
        _ => Some(read_varint(&data[at..])),
    }
}

/// One item of a [`Packed`]: where it starts and ends in the data, and its bytes.
struct Item<'a> {
    start: usize,
    end: usize,
    bytes: &'a [u8],
}

impl Packed {
    fn items(&self) -> Items<'_> {
        Items { data: &self.data, at: 0 }
    }

    /// Items held (a hash holds two per field): skipped over, not read (`HLEN` and `SCARD` count
    /// up to 256 of them).
    fn count(&self) -> usize {
        let (mut at, mut count) = (0, 0);
        while let Some((len, used)) = item_len(&self.data, at) {
            at += used + len;
            count += 1;
        }
        count
    }

    /// Whether it holds no items.
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Whether it holds fewer than `limit` items: without counting while its data is shorter than
    /// that (every item takes at least its length byte), which is every insert into a small one.
    fn fewer_items_than(&self, limit: usize) -> bool {
        self.data.len() < limit || self.count() < limit
    }

    /// Replaces the bytes `start..end` with `insert`, encoded, the allocation kept exactly sized. A
    /// replacement of the same size (a counter's new value, a flag's) is written over the old bytes;
    /// otherwise the allocation is resized (in place when the allocator can, as Redis's listpacks
    /// are) and the bytes after the change moved.
    fn splice(&mut self, start: usize, end: usize, insert: &[&[u8]]) {
        let added: usize = insert.iter().map(|item| varint_len(item.len()) + item.len()).sum();
        let removed = end - start;
        if added != removed {
            let mut data = std::mem::take(&mut self.data).into_vec();
            let len = data.len();
            if added > removed {
                // Exactly: `resize` alone would double the capacity, and the box shrink it back.
                data.reserve_exact(added - removed);
                data.resize(len + added - removed, 0);
                data.copy_within(end..len, start + added);
            } else {
                data.copy_within(end..len, start + added);
                data.truncate(len - (removed - added));
            }
            self.data = data.into_boxed_slice();
        }
        let mut at = start;
        for item in insert {
            at += write_varint(&mut self.data[at..], item.len());
            self.data[at..at + item.len()].copy_from_slice(item);
            at += item.len();
        }
    }

    /// Where the value paired with `field` is (pairs of items: field, value).
    /// `Err` holds the number of pairs walked past, all of them when the field is missing: so an
    /// insert knows whether another pair fits without counting them again.
    fn find_value(&self, field: &[u8]) -> Result<(usize, usize), usize> {
        let mut items = self.items();
        let mut pairs = 0;
        while let Some(key) = items.next() {
            let Some(value) = items.next() else { break };
            if key.bytes == field {
                return Ok((value.start, value.end));
            }
            pairs += 1;
        }
        Err(pairs)
    }

    /// Where the pair of `field` and its value is.
    fn find_pair(&self, field: &[u8]) -> Option<(usize, usize)> {
        let mut items = self.items();
        while let Some(key) = items.next() {
            let value = items.next()?;
            if key.bytes == field {
                return Some((key.start, value.end));
            }
        }
        None
    }

    fn footprint(&self) -> usize {
        self.data.len()
    }
}

// ---- the table encoding --------------------------------------------------------------------------

/// What a table holds: something with a key to hash and find it by.
trait Keyed: Send + 'static {
    fn key(&self) -> &[u8];
    fn heap(&self) -> usize;
}

impl Keyed for Box<[u8]> {
    fn key(&self) -> &[u8] {
        self
    }
    fn heap(&self) -> usize {
        self.len()
    }
}

/// A hash's field and value in one allocation: `[varint field len][field][value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair(Box<[u8]>);

impl Pair {
    fn new(field: &[u8], value: &[u8]) -> Pair {
        let mut data = Vec::with_capacity(varint_len(field.len()) + field.len() + value.len());
        push_varint(&mut data, field.len());
        data.extend_from_slice(field);
        data.extend_from_slice(value);
        Pair(data.into_boxed_slice())
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let (len, used) = read_varint(&self.0);
        (&self.0[used..used + len], &self.0[used + len..])
    }

    fn value(&self) -> &[u8] {
        self.split().1
    }
}

impl Keyed for Pair {
    fn key(&self) -> &[u8] {
        self.split().0
    }
    fn heap(&self) -> usize {
        self.0.len()
    }
}

/// A hashbrown table with what SCAN and memory accounting need on top.
#[derive(Debug, Clone)]
struct Table<T: Send + 'static> {
    table: HashTable<T>,
    /// Bytes of the entries' own allocations.
    heap: usize,
}

impl<T: Send + 'static> Drop for Table<T> {
    /// A big table's entries are freed on the lazy-free thread, not where the key was deleted.
    fn drop(&mut self) {
        if self.table.len() > lazyfree::THRESHOLD {
            lazyfree::defer(std::mem::take(&mut self.table));
        }
    }
}

impl<T: Keyed> Table<T> {
    fn with_capacity(capacity: usize) -> Table<T> {
        Table { table: HashTable::with_capacity(capacity), heap: 0 }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn find(&self, key: &[u8]) -> Option<&T> {
        self.table.find(hash_of(key), |item| item.key() == key)
    }

    /// Inserts `item`, replacing an entry with the same key; returns whether the key is new.
    fn insert(&mut self, item: T) -> bool {
        let hash = hash_of(item.key());
        if let Some(old) = self.table.find_mut(hash, |old| old.key() == item.key()) {
            self.heap = self.heap - old.heap() + item.heap();
            *old = item;
            return false;
        }
        self.heap += item.heap();
        self.table.insert_unique(hash, item, |item| hash_of(item.key()));
        true
    }

    /// Adds the entry `make` builds for `key` unless `key` is there; returns whether it was added.
    /// Nothing is built for a key already there: adding a set's existing member (most of a busy
    /// set's `SADD`s) allocates and frees nothing. (Not hashbrown's `entry`: it makes room for one
    /// more before it looks, so a full table doubled on re-adding a member it held.)
    fn insert_absent(&mut self, key: &[u8], make: impl FnOnce() -> T) -> bool {
        let hash = hash_of(key);
        if self.table.find(hash, |old| old.key() == key).is_some() {
            return false;
        }
        let item = make();
        self.heap += item.heap();
        self.table.insert_unique(hash, item, |item| hash_of(item.key()));
        true
    }

    fn remove(&mut self, key: &[u8]) -> Option<T> {
        let (item, _) = self.table.find_entry(hash_of(key), |item| item.key() == key).ok()?.remove();
        self.heap -= item.heap();
        if self.table.num_buckets() > 64 && self.table.len() * SHRINK_RATIO < self.table.num_buckets() {
            self.table.shrink_to(self.table.len() * 2, |item| hash_of(item.key()));
        }
        Some(item)
    }

    /// An entry picked at random: probes random buckets (the table is kept at least 1/8 full).
    fn random(&self) -> Option<&T> {
        if self.table.is_empty() {
            return None;
        }
        let buckets = self.table.num_buckets();
        loop {
            if let Some(item) = self.table.get_bucket(random_u64() as usize % buckets) {
                return Some(item);
            }
        }
    }

    /// One SCAN step: see [`scan_step`].
    fn scan(&self, cursor: u64, count: usize, visit: impl FnMut(&T)) -> u64 {
        scan_step(&self.table, cursor, count, |item| hash_of(item.key()), visit)
    }

    /// Bytes held: the entries, the buckets and this (boxed) struct itself.
    fn footprint(&self) -> usize {
        self.heap
            + self.table.num_buckets() * (std::mem::size_of::<T>() + 1)
            + allocation_size(std::mem::size_of::<Self>())
    }
}

impl<T: Keyed + PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.table.iter().all(|item| other.find(item.key()) == Some(item))
    }
}

impl<T: Keyed + Eq> Eq for Table<T> {}

/// Whether an item this long may stay packed.
fn packable(len: usize) -> bool {
    len <= MAX_PACKED_VALUE
}

// ---- hashes --------------------------------------------------------------------------------------

/// A hash: fields mapped to values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash(HashRepr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum HashRepr {
    Packed(Packed),
    /// Boxed, so a small (packed) hash keeps the enum small: see [`Collection`].
    Table(Box<Table<Pair>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash(HashRepr::Packed(Packed::default()))
    }
}

impl Hash {
    /// Fields held.
    pub fn len(&self) -> usize {
        match &self.0 {
            HashRepr::Packed(packed) => packed.count() / 2,
            HashRepr::Table(table) => table.len(),
        }
    }

    /// Whether it has no fields.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            HashRepr::Packed(packed) => packed.is_empty(),
            HashRepr::Table(table) => table.len() == 0,
        }
    }

    /// Whether it is in the compact encoding (`OBJECT ENCODING` says `listpack` then).
    pub fn is_packed(&self) -> bool {
        matches!(self.0, HashRepr::Packed(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.0 {
            HashRepr::Packed(packed) => {
                let mut items = packed.items();
                while let Some(key) = items.next() {
                    let value = items.next()?;
                    if key.bytes == field {
                        return Some(value.bytes);
                    }
                }
                None
            }
            HashRepr::Table(table) => table.find(field).map(Pair::value),
        }
    }

    /// Sets `field` to `value`; returns whether the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let HashRepr::Packed(packed) = &mut self.0 {
            match packed.find_value(field) {
                Ok((start, end)) if packable(value.len()) => {
                    packed.splice(start, end, &[value]);
                    return false;
                }
                Err(pairs) if packable(field.len()) && packable(value.len()) && pairs < MAX_PACKED_HASH_ENTRIES => {
                    let end = packed.data.len();
                    packed.splice(end, end, &[field, value]);
                    return true;
                }
                _ => {}
            }
            self.convert();
        }
        match &mut self.0 {
            HashRepr::Table(table) => table.insert(Pair::new(field, value)),
            HashRepr::Packed(_) => false, // converted just above
        }
    }

    /// Moves a packed hash into a table.
    fn convert(&mut self) {
        let mut table = Table::with_capacity(self.len() + 1);
        for (field, value) in self.iter() {
            table.insert(Pair::new(field, value));
        }
        self.0 = HashRepr::Table(Box::new(table));
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.0 {
            HashRepr::Packed(packed) => {
                let Some((start, end)) = packed.find_pair(field) else { return false };
                packed.splice(start, end, &[]);
                true
            }
            HashRepr::Table(table) => table.remove(field).is_some(),
        }
    }

    /// Every field and its value, in no particular order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.0 {
            HashRepr::Packed(packed) => {
                let mut items = packed.items();
                Box::new(std::iter::from_fn(move || Some((items.next()?.bytes, items.next()?.bytes))))
            }
            HashRepr::Table(table) => Box::new(table.table.iter().map(Pair::split)),
        }
    }

    /// A field and its value picked at random, or `None` when empty.
    pub fn random(&self) -> Option<(&[u8], &[u8])> {
        match &self.0 {
            HashRepr::Packed(_) => {
                let len = self.len();
                if len == 0 {
                    return None;
                }
                self.iter().nth(random_u64() as usize % len)
            }
            HashRepr::Table(table) => table.random().map(Pair::split),
        }
    }

    /// One `HSCAN` step: calls `visit` for the fields of about `count` entries from `cursor`, and
    /// returns the next cursor (0 when done). A packed hash is visited whole in one step, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.0 {
            HashRepr::Packed(_) => {
                self.iter().for_each(|(field, value)| visit(field, value));
                0
            }
            HashRepr::Table(table) => table.scan(cursor, count, |pair| {
                let (field, value) = pair.split();
                visit(field, value);
            }),
        }
    }

    /// Estimated bytes held.
    pub fn footprint(&self) -> usize {
        match &self.0 {
            HashRepr::Packed(packed) => packed.footprint(),
            HashRepr::Table(table) => table.footprint(),
        }
    }
}

// ---- sets ----------------------------------------------------------------------------------------

/// A set of distinct members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set(SetRepr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum SetRepr {
    Packed(Packed),
    /// Boxed, so a small (packed) set keeps the enum small: see [`Collection`].
    Table(Box<Table<Box<[u8]>>>),
}

impl Default for Set {
    fn default() -> Self {
        Set(SetRepr::Packed(Packed::default()))
    }
}

impl Set {
    /// Members held.
    pub fn len(&self) -> usize {
        match &self.0 {
            SetRepr::Packed(packed) => packed.count(),
            SetRepr::Table(table) => table.len(),
        }
    }

    /// Whether it has no members.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            SetRepr::Packed(packed) => packed.is_empty(),
            SetRepr::Table(table) => table.len() == 0,
        }
    }

    /// Whether it is in the compact encoding.
    pub fn is_packed(&self) -> bool {
        matches!(self.0, SetRepr::Packed(_))
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.0 {
            SetRepr::Packed(packed) => packed.items().any(|item| item.bytes == member),
            SetRepr::Table(table) => table.find(member).is_some(),
        }
    }

    /// Adds `member`; returns whether it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if let SetRepr::Packed(packed) = &mut self.0 {
            if packed.items().any(|item| item.bytes == member) {
                return false;
            }
            if packable(member.len()) && packed.fewer_items_than(MAX_PACKED_ENTRIES) {
                let end = packed.data.len();
                packed.splice(end, end, &[member]);
                return true;
            }
            let mut table = Table::with_capacity(packed.count() + 1);
            for item in packed.items() {
                table.insert(Box::from(item.bytes));
            }
            self.0 = SetRepr::Table(Box::new(table));
        }
        match &mut self.0 {
            SetRepr::Table(table) => table.insert_absent(member, || Box::from(member)),
            SetRepr::Packed(_) => false, // converted just above
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.0 {
            SetRepr::Packed(packed) => {
                let Some((start, end)) = packed.items().find(|item| item.bytes == member).map(|i| (i.start, i.end))
                else {
                    return false;
                };
                packed.splice(start, end, &[]);
                true
            }
            SetRepr::Table(table) => table.remove(member).is_some(),
        }
    }

    /// Every member, in no particular order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.0 {
            SetRepr::Packed(packed) => Box::new(packed.items().map(|item| item.bytes)),
            SetRepr::Table(table) => Box::new(table.table.iter().map(|member| &member[..])),
        }
    }

    /// A member picked at random, or `None` when empty.
    pub fn random(&self) -> Option<&[u8]> {
        match &self.0 {
            SetRepr::Packed(packed) => {
                let count = packed.count();
                if count == 0 {
                    return None;
                }
                packed.items().nth(random_u64() as usize % count).map(|item| item.bytes)
            }
            SetRepr::Table(table) => table.random().map(|member| &member[..]),
        }
    }

    /// One `SSCAN` step, as [`Hash::scan`].
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        match &self.0 {
            SetRepr::Packed(_) => {
                self.iter().for_each(visit);
                0
            }
            SetRepr::Table(table) => table.scan(cursor, count, |member| visit(member)),
        }
    }

    /// Estimated bytes held.
    pub fn footprint(&self) -> usize {
        match &self.0 {
            SetRepr::Packed(packed) => packed.footprint(),
            SetRepr::Table(table) => table.footprint(),
        }
    }
}

impl<'a> FromIterator<&'a [u8]> for Set {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(members: I) -> Self {
        let mut set = Set::default();
        for member in members {
            set.insert(member);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn hashes_agree_with_a_map_across_the_conversion() {
        let mut hash = Hash::default();
        let mut model = BTreeMap::new();
        for i in 0..400u32 {
            let field = format!("f{}", i % 150).into_bytes();
            let value = if i % 97 == 0 { vec![b'v'; 100] } else { i.to_string().into_bytes() };
            assert_eq!(hash.insert(&field, &value), model.insert(field.clone(), value).is_none());
            if i % 7 == 0 {
                let gone = format!("f{}", i % 13).into_bytes();
                assert_eq!(hash.remove(&gone), model.remove(&gone).is_some());
            }
            assert_eq!(hash.len(), model.len());
            if i == 50 {
                assert!(!hash.is_packed(), "a 100-byte value converts it");
            }
        }
        let collected: BTreeMap<Vec<u8>, Vec<u8>> = hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(collected, model);
        for (field, value) in &model {
            assert_eq!(hash.get(field), Some(value.as_slice()));
        }
        assert!(hash.random().is_some_and(|(f, v)| model.get(f).map(Vec::as_slice) == Some(v)));
    }

    #[test]
    fn packed_counts_follow_inserts_replacements_and_removals() {
        let mut hash = Hash::default();
        let mut set = Set::default();
        for round in 0..2 {
            for i in 0..MAX_PACKED_HASH_ENTRIES {
                let name = format!("f{i}");
                assert!(hash.insert(name.as_bytes(), b"v"));
                assert!(!hash.insert(name.as_bytes(), b"replaced"));
                assert_eq!(hash.len(), i + 1, "round {round}");
                if i < MAX_PACKED_ENTRIES {
                    assert!(set.insert(name.as_bytes()) && !set.insert(name.as_bytes()));
                    assert_eq!(set.len(), i + 1, "round {round}");
                }
            }
            assert!(hash.is_packed() && set.is_packed());
            assert_eq!(hash.get(b"f7"), Some(&b"replaced"[..]));
            for i in (0..MAX_PACKED_HASH_ENTRIES).rev() {
                let name = format!("f{i}");
                assert!(hash.remove(name.as_bytes()) && !hash.remove(name.as_bytes()));
                assert_eq!(hash.len(), i);
                if i < MAX_PACKED_ENTRIES {
                    assert!(set.remove(name.as_bytes()) && !set.remove(name.as_bytes()));
                    assert_eq!(set.len(), i);
                }
            }
            assert!(hash.is_empty() && set.is_empty() && set.random().is_none());
        }
        // One more than fits packed, with the shortest items (empty: only their length byte): a
        // table, with everything still there.
        for i in 0..=MAX_PACKED_HASH_ENTRIES {
            let name = format!("{i}");
            hash.insert(name.as_bytes(), b"");
            if i <= MAX_PACKED_ENTRIES {
                set.insert(if i == 0 { b"" } else { name.as_bytes() });
            }
        }
        assert!(!hash.is_packed() && !set.is_packed());
        assert_eq!((hash.len(), set.len()), (MAX_PACKED_HASH_ENTRIES + 1, MAX_PACKED_ENTRIES + 1));
    }

    #[test]
    fn adding_a_member_already_there_keeps_it_and_builds_nothing() {
        let mut set = Set::default();
        for i in 0..=MAX_PACKED_ENTRIES {
            set.insert(format!("m{i}").as_bytes());
        }
        let stored = |set: &Set| match &set.0 {
            SetRepr::Table(table) => table.find(b"m3").map(|member| member.as_ptr()),
            SetRepr::Packed(_) => panic!("a table past the packed size"),
        };
        let before = (stored(&set), set.footprint());
        assert!(!set.insert(b"m3"));
        // The same allocation: the member was not rebuilt and swapped in.
        assert_eq!((stored(&set), set.footprint()), before);
        // A full table does not grow for a member it holds (hashbrown's `entry` would make room first).
        let mut i = MAX_PACKED_ENTRIES + 1;
        while let SetRepr::Table(table) = &set.0 {
            if table.table.capacity() == table.len() {
                break;
            }
            set.insert(format!("m{i}").as_bytes());
            i += 1;
        }
        let full = set.footprint();
        assert!(!set.insert(b"m3"));
        assert_eq!(set.footprint(), full, "re-adding a member to a full table grew it");
    }

    #[test]
    fn packed_values_are_rewritten_in_place_grown_and_shrunk() {
        let mut hash = Hash::default();
        for i in 0..20 {
            hash.insert(format!("f{i}").as_bytes(), b"10");
        }
        let data = |hash: &Hash| match &hash.0 {
            HashRepr::Packed(packed) => (packed.data.as_ptr(), packed.data.len()),
            HashRepr::Table(_) => panic!("20 short fields stay packed"),
        };
        let before = data(&hash);
        assert!(!hash.insert(b"f3", b"11"));
        assert_eq!(data(&hash), before, "a value of the same size is written over the old one");
        assert!(!hash.insert(b"f3", &[b'x'; 40]));
        assert!(!hash.insert(b"f4", b"1234567"));
        assert!(!hash.insert(b"f5", b""));
        assert!(!hash.insert(b"f19", b"last"));
        for i in 0..20 {
            let expected: &[u8] = match i {
                3 => &[b'x'; 40],
                4 => b"1234567",
                5 => b"",
                19 => b"last",
                _ => b"10",
            };
            assert_eq!(hash.get(format!("f{i}").as_bytes()), Some(expected), "f{i}");
        }
        assert_eq!(hash.len(), 20);
        assert!(hash.is_packed());
    }

    #[test]
    fn a_small_collection_is_small() {
        // The `Arc` holding it takes 16 + this: 40 bytes, glibc's 48-byte chunk (80 with a 48-byte enum).
        assert!(std::mem::size_of::<Collection>() <= 24, "{}", std::mem::size_of::<Collection>());
    }

    #[test]
    fn small_hashes_stay_packed_and_footprints_follow_contents() {
        let mut hash = Hash::default();
        for i in 0..MAX_PACKED_HASH_ENTRIES {
            hash.insert(format!("field:{i}").as_bytes(), b"value");
        }
        assert!(hash.is_packed());
        let packed = hash.footprint();
        assert!(packed < MAX_PACKED_HASH_ENTRIES * 20, "{packed}");
        hash.insert(b"one more", b"value");
        assert!(!hash.is_packed());
        assert!(hash.footprint() > packed);
    }

    #[test]
    fn sets_agree_with_a_set_and_scan_sees_everything_while_growing() {
        let mut set = Set::default();
        let mut model = BTreeSet::new();
        for i in 0..2000u32 {
            let member = (i % 1500).to_string().into_bytes();
            assert_eq!(set.insert(&member), model.insert(member.clone()));
            if i % 3 == 0 {
                let gone = (i / 2).to_string().into_bytes();
                assert_eq!(set.remove(&gone), model.remove(&gone));
            }
        }
        assert_eq!(set.len(), model.len());
        let all: BTreeSet<Vec<u8>> = set.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(all, model);
        // A scan while members are added returns every member present throughout at least once.
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut extra = 0;
        loop {
            cursor = set.scan(cursor, 10, |m| {
                seen.insert(m.to_vec());
            });
            for _ in 0..20 {
                set.insert(format!("new{extra}").as_bytes());
                extra += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        assert!(model.iter().all(|m| seen.contains(m)));
        // Mass removal shrinks the table, and random picks still work.
        for m in set.iter().map(<[u8]>::to_vec).collect::<Vec<_>>().iter().skip(3) {
            set.remove(m);
        }
        assert_eq!(set.len(), 3);
        assert!(set.random().is_some_and(|m| set.contains(m)));
    }
}
