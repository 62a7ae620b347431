//! Lists: a deque of packed chunks, as Redis's quicklist is a list of listpacks.
//!
//! ```text
//! List    VecDeque<Chunk>, the element count, and the bytes the chunks hold
//! Chunk   one allocation of at most CHUNK_BYTES (an element longer than that has a chunk of its own):
//!         [varint len][bytes][backlen] per element, backlen being the same varint written backwards,
//!         so the last element is found from the end as the first is from the start
//! ```
//!
//! Pushes and pops at either end touch one chunk of at most a few KB, so they are O(1): a chunk keeps
//! room at its front as a `Vec` keeps room at its back, so a head push writes into that room and a
//! head pop moves the start (a listpack's head insert moves the whole listpack instead; the first
//! version did too, and `LPUSH` spent about 300 instructions in that `memmove`). Index access skips
//! whole chunks by their counts. A 16-byte element costs 18 bytes plus its share of one allocation
//! header per ~220 elements, and of the room a chunk keeps at its ends.

use std::collections::VecDeque;

use crate::entry::{push_varint, read_varint, varint_len, write_varint};

/// A chunk is closed to growth past this many bytes (Redis's `list-max-listpack-size -2` is 8 KB;
/// half that keeps a head insert's `memmove` short).
const CHUNK_BYTES: usize = 4096;

/// One packed run of elements: `data[start..]`; `data[..start]` is room for head pushes.
#[derive(Debug, Clone, Default)]
struct Chunk {
    data: Vec<u8>,
    start: usize,
    items: usize,
}

/// Bytes one element takes in a chunk.
fn encoded_len(len: usize) -> usize {
    2 * varint_len(len) + len
}

/// Appends the varint of `n` backwards: its first byte last, so it reads from the end.
fn push_backlen(out: &mut Vec<u8>, n: usize) {
    let start = out.len();
    push_varint(out, n);
    out[start..].reverse();
}

/// Reads a length written by [`push_backlen`] that ends at `end`: (length, bytes it took).
fn read_backlen(data: &[u8], end: usize) -> (usize, usize) {
    let mut value = 0usize;
    let mut used = 0;
    while used < end {
        let byte = data[end - 1 - used];
        value |= ((byte & 0x7f) as usize) << (7 * used);
        used += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    (value, used)
}

fn encode(out: &mut Vec<u8>, item: &[u8]) {
    push_varint(out, item.len());
    out.extend_from_slice(item);
    push_backlen(out, item.len());
}

/// Writes `item`'s encoding into `out`, which is exactly [`encoded_len`] long.
fn encode_into(out: &mut [u8], item: &[u8]) {
    let head = write_varint(out, item.len());
    out[head..head + item.len()].copy_from_slice(item);
    let tail = head + item.len();
    write_varint(&mut out[tail..], item.len());
    out[tail..].reverse();
}

impl Chunk {
    fn of(items: &[&[u8]]) -> Chunk {
        let mut data = Vec::with_capacity(items.iter().map(|item| encoded_len(item.len())).sum());
        items.iter().for_each(|item| encode(&mut data, item));
        Chunk { data, start: 0, items: items.len() }
    }

    /// The packed elements.
    fn bytes(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn fits(&self, len: usize) -> bool {
        self.items == 0 || self.bytes().len() + encoded_len(len) <= CHUNK_BYTES
    }

    /// Makes room for `need` more bytes at the back, growing by doubling but never past a chunk's size.
    fn reserve(&mut self, need: usize) {
        if self.start > 0 && self.data.len() + need > self.data.capacity() {
            // Head pops leave their bytes in front: dropped here, before growing, or a list used as
            // a queue (RPUSH + LPOP on one chunk) would grow its chunk for ever.
            self.data.drain(..self.start);
            self.start = 0;
        }
        let wanted = self.data.len() + need;
        if wanted > self.data.capacity() {
            let target = (self.data.capacity() * 2).max(wanted).min((CHUNK_BYTES + self.start).max(wanted));
            self.data.reserve_exact(target - self.data.len());
        }
    }

    fn push_back(&mut self, item: &[u8]) {
        self.reserve(encoded_len(item.len()));
        encode(&mut self.data, item);
        self.items += 1;
    }

    fn push_front(&mut self, item: &[u8]) {
        let need = encoded_len(item.len());
        if self.start < need {
            // Out of room at the front: moved to a new allocation with as much room at the front
            // as it holds (doubling, so a run of head pushes moves each byte O(1) times), within
            // a chunk's size.
            let live = self.data.len() - self.start;
            let room = live.max(need).max(16).min(CHUNK_BYTES.saturating_sub(live)).max(need);
            let mut data = Vec::with_capacity(room + live);
            data.resize(room, 0);
            data.extend_from_slice(self.bytes());
            self.data = data;
            self.start = room;
        }
        self.start -= need;
        let start = self.start;
        encode_into(&mut self.data[start..start + need], item);
        self.items += 1;
    }

    /// The first element's bytes and where the next one starts (offsets into [`Chunk::bytes`]).
    fn first(&self) -> (&[u8], usize) {
        let bytes = self.bytes();
        let (len, used) = read_varint(bytes);
        (&bytes[used..used + len], used + len + varint_len(len))
    }

    /// The last element's bytes and where it starts (an offset into [`Chunk::bytes`]).
    fn last(&self) -> (&[u8], usize) {
        let bytes = self.bytes();
        let end = bytes.len();
        let (len, used) = read_backlen(bytes, end);
        let start = end - used - len - varint_len(len);
        (&bytes[end - used - len..end - used], start)
    }

    fn pop_front(&mut self) -> Vec<u8> {
        let (item, next) = self.first();
        let item = item.to_vec();
        // The start moves; the bytes stay (room for the next head push).
        self.start += next;
        self.items -= 1;
        item
    }

    fn pop_back(&mut self) -> Vec<u8> {
        let (item, start) = self.last();
        let item = item.to_vec();
        self.data.truncate(self.start + start);
        self.items -= 1;
        item
    }

    fn iter(&self) -> ChunkIter<'_> {
        let data = self.bytes();
        ChunkIter { data, front: 0, back: data.len() }
    }

    fn capacity(&self) -> usize {
        self.data.capacity()
    }
}

/// The elements of one chunk, from either end.
struct ChunkIter<'a> {
    data: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (len, used) = read_varint(&self.data[self.front..]);
        let start = self.front + used;
        self.front = start + len + varint_len(len);
        Some(&self.data[start..start + len])
    }
}

impl DoubleEndedIterator for ChunkIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let (len, used) = read_backlen(self.data, self.back);
        let end = self.back - used;
        self.back = end - len - varint_len(len);
        Some(&self.data[end - len..end])
    }
}

/// Which end of a list: the protocol's `LEFT`/`RIGHT`.
pub use tinykv_proto::command::ListEnd as End;

/// A list of byte strings.
#[derive(Debug, Clone, Default)]
pub struct List {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// Capacity of every chunk's data, kept as they change so the footprint is O(1).
    bytes: usize,
}

impl Drop for List {
    /// A big list's chunks are freed on the lazy-free thread, not where the key was deleted.
    fn drop(&mut self) {
        if self.len > crate::lazyfree::THRESHOLD {
            crate::lazyfree::defer(std::mem::take(&mut self.chunks));
        }
    }
}

impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for List {}

impl<'a> FromIterator<&'a [u8]> for List {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(items: I) -> Self {
        let mut list = List::default();
        items.into_iter().for_each(|item| list.push(End::Right, item));
        list
    }
}

impl List {
    /// Elements held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing (then its key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Estimated bytes held, for `used_memory`.
    pub fn footprint(&self) -> usize {
        self.bytes + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }

    /// Runs `change` on chunk `i`, keeping the byte count right.
    fn with_chunk<R>(&mut self, i: usize, change: impl FnOnce(&mut Chunk) -> R) -> R {
        let chunk = &mut self.chunks[i];
        let before = chunk.capacity();
        let result = change(chunk);
        self.bytes = self.bytes + chunk.capacity() - before;
        result
    }

    /// Adds `item` at `end`.
    pub fn push(&mut self, end: End, item: &[u8]) {
        let at = match end {
            End::Left => 0,
            End::Right => self.chunks.len().wrapping_sub(1),
        };
        if self.chunks.get(at).is_none_or(|chunk| !chunk.fits(item.len())) {
            let chunk = Chunk::of(&[item]);
            self.bytes += chunk.capacity();
            match end {
                End::Left => self.chunks.push_front(chunk),
                End::Right => self.chunks.push_back(chunk),
            }
        } else {
            match end {
                End::Left => self.with_chunk(at, |chunk| chunk.push_front(item)),
                End::Right => self.with_chunk(at, |chunk| chunk.push_back(item)),
            }
        }
        self.len += 1;
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        if self.chunks.is_empty() {
            return None;
        }
        let at = match end {
            End::Left => 0,
            End::Right => self.chunks.len().checked_sub(1)?,
        };
        let item = match end {
            End::Left => self.with_chunk(at, Chunk::pop_front),
            End::Right => self.with_chunk(at, Chunk::pop_back),
        };
        self.len -= 1;
        if self.chunks[at].items == 0 {
            if let Some(chunk) = self.chunks.remove(at) {
                self.bytes -= chunk.capacity();
            }
            if self.chunks.capacity() > 64 && self.chunks.len() * 4 < self.chunks.capacity() {
                self.chunks.shrink_to(self.chunks.len() * 2);
            }
        }
        Some(item)
    }

    /// The element at `end` without removing it.
    pub fn peek(&self, end: End) -> Option<&[u8]> {
        match end {
            End::Left => self.chunks.front().map(|chunk| chunk.first().0),
            End::Right => self.chunks.back().map(|chunk| chunk.last().0),
        }
    }

    /// Every element, head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.chunks.iter().flat_map(Chunk::iter)
    }

    /// Which chunk holds element `index` (< len) and its index there; walks from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len / 2 {
            let mut skipped = 0;
            for (i, chunk) in self.chunks.iter().enumerate() {
                if index < skipped + chunk.items {
                    return (i, index - skipped);
                }
                skipped += chunk.items;
            }
        } else {
            let mut from_end = self.len;
            for (i, chunk) in self.chunks.iter().enumerate().rev() {
                from_end -= chunk.items;
                if index >= from_end {
                    return (i, index - from_end);
                }
            }
        }
        (0, 0)
    }

    /// Elements `start..=stop` (both in range, start <= stop), skipping whole chunks to the first.
    pub fn range(&self, start: usize, stop: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (chunk, offset) = if start < self.len { self.locate(start) } else { (self.chunks.len(), 0) };
        self.chunks.range(chunk..).flat_map(Chunk::iter).skip(offset).take(stop.saturating_sub(start) + 1)
    }

    /// The element at `index` (from 0), if there is one.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (chunk, offset) = self.locate(index);
        self.chunks[chunk].iter().nth(offset)
    }

    /// Rewrites chunk `i` as `items`, split into chunks of at most [`CHUNK_BYTES`], or removes it.
    fn replace_chunk(&mut self, i: usize, items: &[&[u8]]) {
        let Some(old) = self.chunks.remove(i) else { return };
        self.bytes -= old.capacity();
        self.len -= old.items;
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut start = 0;
        let mut size = 0;
        for (j, item) in items.iter().enumerate() {
            let len = encoded_len(item.len());
            if j > start && size + len > CHUNK_BYTES {
                chunks.push(Chunk::of(&items[start..j]));
                (start, size) = (j, 0);
            }
            size += len;
        }
        if start < items.len() {
            chunks.push(Chunk::of(&items[start..]));
        }
        for (offset, chunk) in chunks.into_iter().enumerate() {
            self.bytes += chunk.capacity();
            self.len += chunk.items;
            self.chunks.insert(i + offset, chunk);
        }
    }

    /// `LSET`: replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, item: &[u8]) -> bool {
        if index >= self.len {
            return false;
        }
        let (chunk, offset) = self.locate(index);
        let view = self.chunks[chunk].clone();
        let mut items: Vec<&[u8]> = view.iter().collect();
        items[offset] = item;
        self.replace_chunk(chunk, &items);
        true
    }

    /// `LINSERT`: puts `item` before (or after) the first element equal to `pivot`; false when
    /// there is none.
    pub fn insert(&mut self, pivot: &[u8], after: bool, item: &[u8]) -> bool {
        let found = self
            .chunks
            .iter()
            .enumerate()
            .find_map(|(i, chunk)| chunk.iter().position(|element| element == pivot).map(|offset| (i, offset)));
        let Some((chunk, offset)) = found else { return false };
        let view = self.chunks[chunk].clone();
        let mut items: Vec<&[u8]> = view.iter().collect();
        items.insert(offset + usize::from(after), item);
        self.replace_chunk(chunk, &items);
        true
    }

    /// `LREM`: removes up to `count` elements equal to `item` from the head (from the tail when
    /// `from_tail`), every one when `count` is 0; returns how many.
    pub fn remove(&mut self, item: &[u8], count: usize, from_tail: bool) -> usize {
        let limit = if count == 0 { usize::MAX } else { count };
        let mut removed = 0;
        let order: Vec<usize> =
            if from_tail { (0..self.chunks.len()).rev().collect() } else { (0..self.chunks.len()).collect() };
        for i in order {
            if removed >= limit {
                break;
            }
            if !self.chunks[i].iter().any(|element| element == item) {
                continue;
            }
            let view = self.chunks[i].clone();
            let mut items: Vec<&[u8]> = view.iter().collect();
            let mut keep = vec![true; items.len()];
            let positions: Vec<usize> =
                if from_tail { (0..items.len()).rev().collect() } else { (0..items.len()).collect() };
            for j in positions {
                if removed < limit && items[j] == item {
                    keep[j] = false;
                    removed += 1;
                }
            }
            let mut k = 0;
            items.retain(|_| {
                k += 1;
                keep[k - 1]
            });
            self.replace_chunk(i, &items);
        }
        removed
    }

    /// `LTRIM`: keeps only elements `start..=stop` (in range, start <= stop), or none at all when
    /// `keep` is None.
    pub fn trim(&mut self, keep: Option<(usize, usize)>) {
        let Some((start, stop)) = keep else {
            *self = List::default();
            return;
        };
        // Whole chunks off the tail, then the head; then the two partial ends.
        let mut drop_back = self.len - 1 - stop;
        while let Some(chunk) = self.chunks.back() {
            if chunk.items > drop_back {
                break;
            }
            drop_back -= chunk.items;
            self.len -= chunk.items;
            self.bytes -= chunk.capacity();
            self.chunks.pop_back();
        }
        for _ in 0..drop_back {
            self.pop(End::Right);
        }
        let mut drop_front = start;
        while let Some(chunk) = self.chunks.front() {
            if chunk.items > drop_front {
                break;
            }
            drop_front -= chunk.items;
            self.len -= chunk.items;
            self.bytes -= chunk.capacity();
            self.chunks.pop_front();
        }
        if drop_front > 0 {
            let view = self.chunks[0].clone();
            let items: Vec<&[u8]> = view.iter().skip(drop_front).collect();
            self.replace_chunk(0, &items);
        }
        self.chunks.shrink_to_fit();
    }

    /// The chunks' elements, one slice per chunk: how an RDB file lays a list out.
    pub fn chunks(&self) -> impl Iterator<Item = Vec<&[u8]>> + '_ {
        self.chunks.iter().map(|chunk| chunk.iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_a_vecdeque() {
        let mut list = List::default();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for step in 0..20000 {
            let len = if next() % 50 == 0 { 5000 + next() % 300 } else { next() % 40 };
            let item: Vec<u8> = (0..len).map(|i| (i + step) as u8).collect();
            match next() % 10 {
                0..=2 => {
                    list.push(End::Left, &item);
                    model.push_front(item);
                }
                3..=5 => {
                    list.push(End::Right, &item);
                    model.push_back(item);
                }
                6 => assert_eq!(list.pop(End::Left), model.pop_front()),
                7 => assert_eq!(list.pop(End::Right), model.pop_back()),
                8 if !model.is_empty() => {
                    let i = next() % model.len();
                    assert_eq!(list.get(i), Some(&model[i][..]));
                    list.set(i, &item);
                    model[i] = item;
                }
                _ if !model.is_empty() => {
                    let i = next() % model.len();
                    let pivot = model[i].clone();
                    list.insert(&pivot, step % 2 == 0, &item);
                    let at = model.iter().position(|e| *e == pivot).unwrap_or(0) + usize::from(step % 2 == 0);
                    model.insert(at, item);
                }
                _ => {}
            }
            assert_eq!(list.len(), model.len());
        }
        assert!(list.iter().eq(model.iter().map(|e| &e[..])));
        assert!(list.iter().rev().eq(model.iter().rev().map(|e| &e[..])));
        let (start, stop) = (model.len() / 3, model.len() / 2);
        assert!(list.range(start, stop).eq(model.range(start..=stop).map(|e| &e[..])));
        let target = model[0].clone();
        let expected = model.iter().filter(|e| **e == target).count().min(2);
        assert_eq!(list.remove(&target, 2, true), expected);
        for _ in 0..expected {
            let at = model.iter().rposition(|e| *e == target).unwrap_or(0);
            model.remove(at);
        }
        assert!(list.iter().eq(model.iter().map(|e| &e[..])));
        list.trim(Some((start, stop)));
        let kept: Vec<&[u8]> = model.range(start..=stop).map(|e| &e[..]).collect();
        assert!(list.iter().eq(kept.iter().copied()));
        assert_eq!(list.len(), kept.len());
    }

    #[test]
    fn footprint_stays_close_to_the_bytes() {
        let mut list = List::default();
        for i in 0..100_000u64 {
            list.push(End::Right, format!("{i:016}").as_bytes());
        }
        let per = list.footprint() as f64 / 100_000.0;
        assert!(per < 18.5, "{per} bytes per element");
        while list.pop(End::Left).is_some() {}
        assert_eq!(list.footprint(), list.chunks.capacity() * std::mem::size_of::<Chunk>());
        // Head pushes fill the room chunks keep at their front: no more memory than tail pushes.
        let mut list = List::default();
        for i in 0..100_000u64 {
            list.push(End::Left, format!("{i:016}").as_bytes());
        }
        let per = list.footprint() as f64 / 100_000.0;
        assert!(per < 18.5, "{per} bytes per element pushed at the head");
        // A short list used as a queue (tail pushes, head pops on one chunk) stays small.
        let mut queue = List::default();
        queue.push(End::Right, b"a");
        queue.push(End::Right, b"b");
        for i in 0..100_000u64 {
            queue.push(End::Right, format!("{i:016}").as_bytes());
            queue.pop(End::Left);
        }
        assert!(queue.footprint() < 2 * CHUNK_BYTES, "footprint {} for {} elements", queue.footprint(), queue.len());
        assert!(list.iter().rev().eq((0..100_000u64)
            .map(|i| format!("{i:016}"))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_bytes())));
    }
}
