//! Sorted sets: members with scores, ordered by (score, member), with Redis's two encodings.
//!
//! ```text
//! packed  one exactly-sized allocation: [score f64 LE][varint len][member] per entry, in order.
//!         Linear scans, so only while small: at most MAX_PACKED_ENTRIES entries of at most
//!         MAX_PACKED_VALUE bytes (Redis's zset-max-listpack-entries/-value); OBJECT ENCODING "listpack".
//! tree    a treap (a binary search tree balanced by random priorities, so O(log n) expected depth
//!         whatever order members arrive in) kept in one Vec of 40-byte nodes linked by u32 indices,
//!         each node knowing its subtree's size: insert, delete, score-range and rank are O(log n).
//!         A hash table of node indices finds a member's node (its score) in O(1).
//!         OBJECT ENCODING "skiplist", as Redis names its own big encoding.
//! ```
//!
//! A zset starts packed and becomes a tree for good once it grows past either limit, as in Redis; a
//! zset built whole (a `*STORE` result, an RDB load) takes the encoding its size calls for. The
//! packed encoding keeps no negative zero (Redis stores an integral score as an integer there); the
//! tree keeps the score as given. Every zset keeps its footprint current in O(1) per change.

use std::cmp::Ordering;

use hashbrown::hash_table::HashTable;
use smallvec::SmallVec;

use crate::collections::{hash_of, scan_step, MAX_PACKED_ENTRIES, MAX_PACKED_VALUE};
use crate::db::random_u64;
use crate::entry::{allocation_size, push_varint, read_varint, varint_len};

/// No node: the end of a link.
const NIL: u32 = u32::MAX;
/// A tree smaller than this many nodes is never compacted.
const MIN_COMPACT: usize = 1024;

/// Redis's order of two entries: by score (`-0` equal to `0`), then by member bytes.
pub fn order(a_score: f64, a: &[u8], b_score: f64, b: &[u8]) -> Ordering {
    a_score.partial_cmp(&b_score).unwrap_or(Ordering::Equal).then_with(|| a.cmp(b))
}

/// A sorted set.
#[derive(Debug, Clone)]
pub struct ZSet(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Packed(Packed),
    Tree(Tree),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet(Repr::Packed(Packed::default()))
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|((a, x), (b, y))| a == b && x == y)
    }
}

// Scores are never NaN, so equality is an equivalence.
impl Eq for ZSet {}

impl ZSet {
    /// Members held.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Packed(packed) => packed.len,
            Repr::Tree(tree) => tree.len,
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it is in the compact encoding (`listpack`), else `skiplist`.
    pub fn is_packed(&self) -> bool {
        matches!(self.0, Repr::Packed(_))
    }

    /// Estimated bytes held, for `used_memory`: O(1).
    pub fn footprint(&self) -> usize {
        match &self.0 {
            Repr::Packed(packed) => packed.data.len(),
            Repr::Tree(tree) => tree.footprint(),
        }
    }

    /// Moves a packed zset into the big encoding, as Redis's `SORT` does to a zset it sorts.
    pub fn unpack(&mut self) {
        if let Repr::Packed(packed) = &self.0 {
            let mut tree = Tree::default();
            for item in packed.items() {
                tree.insert(item.member, item.score);
            }
            self.0 = Repr::Tree(tree);
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.0 {
            Repr::Packed(packed) => packed.find(member).map(|item| item.score),
            Repr::Tree(tree) => tree.find(member).map(|node| tree.nodes[node as usize].score),
        }
    }

    /// Sets the score of `member`, adding it if new; returns its old score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Repr::Packed(packed) = &mut self.0 {
            let found = packed.find(member).map(|item| (item.start, item.end, item.score));
            if let Some((start, end, old)) = found {
                if old != score {
                    packed.splice(start, end, None);
                    packed.insert(member, score);
                }
                return Some(old);
            }
            if packed.len < MAX_PACKED_ENTRIES && member.len() <= MAX_PACKED_VALUE {
                packed.insert(member, score);
                return None;
            }
            self.unpack();
        }
        match &mut self.0 {
            Repr::Tree(tree) => tree.insert(member, score),
            Repr::Packed(_) => None, // converted just above
        }
    }

    /// Removes `member`; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.0 {
            Repr::Packed(packed) => {
                let (start, end, score) = packed.find(member).map(|item| (item.start, item.end, item.score))?;
                packed.splice(start, end, None);
                Some(score)
            }
            Repr::Tree(tree) => tree.remove(member),
        }
    }

    /// Removes the first entry in order (the last with `last`) and hands it over: what `ZPOPMIN`
    /// and `ZPOPMAX` do, without finding the member again by its bytes (one walk down the tree's
    /// edge, no comparisons, the member moved out rather than copied).
    pub fn pop_end(&mut self, last: bool) -> Option<(Box<[u8]>, f64)> {
        match &mut self.0 {
            Repr::Packed(packed) => {
                let item = if last { packed.items().last() } else { packed.items().next() };
                let (start, end, score, member) =
                    item.map(|item| (item.start, item.end, item.score, Box::from(item.member)))?;
                packed.splice(start, end, None);
                Some((member, score))
            }
            Repr::Tree(tree) => tree.pop_end(last),
        }
    }

    /// The 0-based position of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Packed(packed) => packed.items().position(|item| item.member == member),
            Repr::Tree(tree) => tree.find(member).map(|node| tree.rank_of(node)),
        }
    }

    /// How many entries come before the first for which `before` is false; `before` must be true
    /// for a prefix of the order (a range's lower end) and false after it.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.0 {
            Repr::Packed(packed) => packed.items().take_while(|item| before(item.score, item.member)).count(),
            Repr::Tree(tree) => tree.count_before(before),
        }
    }

    /// The entries of ranks `start..end` (clamped to the size), ascending, or descending from
    /// `end - 1` when `reverse`.
    pub fn range(&self, start: usize, end: usize, reverse: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let end = end.min(self.len());
        if start >= end {
            return Box::new(std::iter::empty());
        }
        match &self.0 {
            Repr::Packed(packed) => {
                let items = packed.items().skip(start).take(end - start).map(|item| (item.member, item.score));
                if reverse {
                    Box::new(items.collect::<Vec<_>>().into_iter().rev())
                } else {
                    Box::new(items)
                }
            }
            Repr::Tree(tree) => Box::new(tree.walk(if reverse { end - 1 } else { start }, end - start, reverse)),
        }
    }

    /// Every entry in ascending order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        self.range(0, self.len(), false)
    }

    /// An entry picked at random, or `None` when empty.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let rank = random_u64() as usize % len;
        self.range(rank, rank + 1, false).next()
    }

    /// One `ZSCAN` step, as [`crate::collections::Hash::scan`]: a packed zset whole in one step, a
    /// tree as [`scan_step`] walks a table, so a member present throughout is seen whatever changes.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match &self.0 {
            Repr::Packed(_) => {
                self.iter().for_each(|(member, score)| visit(member, score));
                0
            }
            Repr::Tree(tree) => {
                let hash = |&node: &u32| hash_of(&tree.nodes[node as usize].member);
                scan_step(&tree.index, cursor, count, hash, |&node| {
                    let node = &tree.nodes[node as usize];
                    visit(&node.member, node.score);
                })
            }
        }
    }
}

impl ZSet {
    /// A zset of `entries` built as Redis builds a computed or loaded one: in the big encoding, then
    /// packed if it is small enough (so a big one keeps a `-0` score, a packed one does not). A later
    /// score of the same member wins; also returns how many entries repeated a member.
    pub fn build(entries: Vec<(&[u8], f64)>) -> (ZSet, usize) {
        let small = entries.len() <= MAX_PACKED_ENTRIES && entries.iter().all(|(m, _)| m.len() <= MAX_PACKED_VALUE);
        let mut zset = if small { ZSet::default() } else { ZSet(Repr::Tree(Tree::default())) };
        let repeats = entries.into_iter().filter(|(member, score)| zset.insert(member, *score).is_some()).count();
        (zset, repeats)
    }
}

impl<'a> FromIterator<(&'a [u8], f64)> for ZSet {
    /// See [`ZSet::build`].
    fn from_iter<I: IntoIterator<Item = (&'a [u8], f64)>>(entries: I) -> Self {
        ZSet::build(entries.into_iter().collect()).0
    }
}

// ---- the packed encoding -------------------------------------------------------------------------

/// Entries one after another in one exactly-sized allocation: `[score][varint len][member]` each.
#[derive(Debug, Clone, Default)]
struct Packed {
    data: Box<[u8]>,
    len: usize,
}

/// One entry of a [`Packed`]: where it is, and what.
struct Item<'a> {
    start: usize,
    end: usize,
    score: f64,
    member: &'a [u8],
}

impl Packed {
    fn items(&self) -> impl Iterator<Item = Item<'_>> + '_ {
        let data = &self.data;
        let mut at = 0;
        std::iter::from_fn(move || {
            let score_bytes: [u8; 8] = data.get(at..at + 8)?.try_into().ok()?;
            let (len, used) = read_varint(&data[at + 8..]);
            let begin = at + 8 + used;
            let member = data.get(begin..begin + len)?;
            let start = at;
            at = begin + len;
            Some(Item { start, end: at, score: f64::from_le_bytes(score_bytes), member })
        })
    }

    fn find(&self, member: &[u8]) -> Option<Item<'_>> {
        self.items().find(|item| item.member == member)
    }

    /// Adds an entry not yet present, in its place in the order.
    fn insert(&mut self, member: &[u8], score: f64) {
        // Redis keeps an integral score as an integer here, which has no negative zero.
        let score = score + 0.0;
        let at = self
            .items()
            .find(|item| order(item.score, item.member, score, member) == Ordering::Greater)
            .map_or(self.data.len(), |item| item.start);
        self.splice(at, at, Some((member, score)));
    }

    /// Replaces the bytes `start..end` (one entry, or nothing) with `insert`, in one exactly-sized
    /// allocation.
    fn splice(&mut self, start: usize, end: usize, insert: Option<(&[u8], f64)>) {
        let added = insert.map_or(0, |(member, _)| 8 + varint_len(member.len()) + member.len());
        let mut data = Vec::with_capacity(self.data.len() - (end - start) + added);
        data.extend_from_slice(&self.data[..start]);
        if let Some((member, score)) = insert {
            data.extend_from_slice(&score.to_le_bytes());
            push_varint(&mut data, member.len());
            data.extend_from_slice(member);
        }
        data.extend_from_slice(&self.data[end..]);
        self.data = data.into_boxed_slice();
        self.len = self.len + usize::from(insert.is_some()) - usize::from(end > start);
    }
}

// ---- the tree encoding ---------------------------------------------------------------------------

/// One entry of a [`Tree`], and a node of its treap.
#[derive(Debug, Clone)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    left: u32,
    right: u32,
    /// Nodes in the subtree rooted here; a free node links the free list through `left`.
    size: u32,
    /// Heap order: a parent's priority is at least its children's.
    priority: u32,
}

/// A treap with subtree sizes in an arena, and a hash index of members.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
    root: u32,
    /// The first free node (freed nodes are reused before the arena grows).
    free: u32,
    /// Node indices, hashed by member.
    index: HashTable<u32>,
    len: usize,
    /// Allocator bytes of the members.
    heap: usize,
}

impl Default for Tree {
    fn default() -> Self {
        Tree { nodes: Vec::new(), root: NIL, free: NIL, index: HashTable::new(), len: 0, heap: 0 }
    }
}

impl Drop for Tree {
    /// A big tree is freed on the lazy-free thread, not under the shard lock of the command that
    /// dropped it (a `DEL` of a million members is a million `free`s).
    fn drop(&mut self) {
        if self.len > crate::lazyfree::THRESHOLD {
            crate::lazyfree::defer((std::mem::take(&mut self.nodes), std::mem::take(&mut self.index)));
        }
    }
}

impl Tree {
    fn footprint(&self) -> usize {
        let index = self.index.num_buckets() * (std::mem::size_of::<u32>() + 1);
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.heap + index
    }

    fn node(&self, node: u32) -> &Node {
        &self.nodes[node as usize]
    }

    fn size(&self, node: u32) -> usize {
        if node == NIL {
            0
        } else {
            self.nodes[node as usize].size as usize
        }
    }

    fn resize(&mut self, node: u32) {
        let n = self.node(node);
        let size = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[node as usize].size = size as u32;
    }

    /// Whether node `a` sorts before node `b`.
    fn less(&self, a: u32, b: u32) -> bool {
        let (a, b) = (self.node(a), self.node(b));
        order(a.score, &a.member, b.score, &b.member) == Ordering::Less
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        self.index.find(hash_of(member), |&node| &self.nodes[node as usize].member[..] == member).copied()
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some(node) = self.find(member) {
            let old = self.node(node).score;
            // Redis leaves an equal score alone (so `-0` stays `-0` when `0` is given).
            if old != score {
                self.detach(node);
                let n = &mut self.nodes[node as usize];
                (n.score, n.left, n.right, n.size) = (score, NIL, NIL, 1);
                self.attach(node);
            }
            return Some(old);
        }
        let node = self.allocate(Box::from(member), score);
        self.heap += allocation_size(member.len());
        let Tree { nodes, index, .. } = self;
        index.insert_unique(hash_of(member), node, |&n| hash_of(&nodes[n as usize].member));
        self.attach(node);
        self.len += 1;
        None
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let Tree { nodes, index, .. } = self;
        let (node, _) = index.find_entry(hash_of(member), |&n| &nodes[n as usize].member[..] == member).ok()?.remove();
        let score = self.node(node).score;
        self.detach(node);
        self.heap -= allocation_size(member.len());
        self.release(node);
        self.removed();
        Some(score)
    }

    /// Removes the first node in order (the last with `last`): down the tree's left (right) edge,
    /// each subtree on the way losing that one node, which its other child replaces (a treap's heap
    /// order holds: that child's priority is at most the node's).
    fn pop_end(&mut self, last: bool) -> Option<(Box<[u8]>, f64)> {
        let (mut parent, mut at) = (NIL, self.root);
        if at == NIL {
            return None;
        }
        loop {
            let n = self.node(at);
            let next = if last { n.right } else { n.left };
            if next == NIL {
                break;
            }
            self.nodes[at as usize].size -= 1;
            (parent, at) = (at, next);
        }
        let n = self.node(at);
        let rest = if last { n.left } else { n.right };
        self.link(parent, last, rest);
        let member = std::mem::take(&mut self.nodes[at as usize].member);
        let score = self.node(at).score;
        let indexed = self.index.find_entry(hash_of(&member), |&n| n == at).map(|found| found.remove());
        debug_assert!(indexed.is_ok(), "every node is in the member index");
        self.heap -= allocation_size(member.len());
        self.release(at);
        self.removed();
        Some((member, score))
    }

    /// After a node left: one fewer, and the index and arena given back what mass deletion left
    /// empty.
    fn removed(&mut self) {
        self.len -= 1;
        if self.index.num_buckets() > 64 && self.len * 8 < self.index.num_buckets() {
            let Tree { nodes, index, .. } = self;
            index.shrink_to(self.len * 2, |&n| hash_of(&nodes[n as usize].member));
        }
        if self.nodes.len() > MIN_COMPACT && self.len * 4 < self.nodes.len() {
            self.compact();
        }
    }

    fn allocate(&mut self, member: Box<[u8]>, score: f64) -> u32 {
        let node = Node { member, score, left: NIL, right: NIL, size: 1, priority: random_u64() as u32 };
        if self.free != NIL {
            let index = self.free;
            self.free = self.node(index).left;
            self.nodes[index as usize] = node;
            index
        } else {
            // u32 indices: 4 billion members would need hundreds of gigabytes first.
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    fn release(&mut self, node: u32) {
        let free = self.free;
        let n = &mut self.nodes[node as usize];
        n.member = Box::default();
        n.left = free;
        self.free = node;
    }

    /// Moves every entry into a fresh arena, giving back what mass deletion left free.
    fn compact(&mut self) {
        let mut fresh = Tree::default();
        fresh.nodes.reserve_exact(self.len);
        let entries: Vec<(Box<[u8]>, f64)> = {
            let walk = self.walk(0, self.len, false);
            walk.map(|(member, score)| (Box::from(member), score)).collect()
        };
        for (member, score) in entries {
            fresh.insert(&member, score);
        }
        *self = fresh;
    }

    /// Inserts the lone node `node` (no children, size 1): down from the root while the nodes
    /// outrank it, each subtree on the way gaining it (one more, without reading its children: two
    /// more cache lines a level on a big set), then in the place of the first that does not, whose
    /// subtree it splits. A loop, not a recursion: a level costs a compare and a step.
    fn attach(&mut self, node: u32) {
        let priority = self.node(node).priority;
        let (mut parent, mut right, mut at) = (NIL, false, self.root);
        while at != NIL && self.node(at).priority >= priority {
            self.nodes[at as usize].size += 1;
            (parent, right) = (at, self.less(at, node));
            at = if right { self.node(at).right } else { self.node(at).left };
        }
        if at != NIL {
            let (left, right) = self.split(at, node);
            let n = &mut self.nodes[node as usize];
            (n.left, n.right) = (left, right);
            self.resize(node);
        }
        self.link(parent, right, node);
    }

    /// Makes `child` the right (with `right`) or left child of `parent`, or the root when `parent`
    /// is `NIL`.
    fn link(&mut self, parent: u32, right: bool, child: u32) {
        match parent {
            NIL => self.root = child,
            _ if right => self.nodes[parent as usize].right = child,
            _ => self.nodes[parent as usize].left = child,
        }
    }

    /// Splits the subtree `at` into the nodes before `node` and those after it.
    fn split(&mut self, at: u32, node: u32) -> (u32, u32) {
        if at == NIL {
            return (NIL, NIL);
        }
        if self.less(at, node) {
            let (left, right) = self.split(self.node(at).right, node);
            self.nodes[at as usize].right = left;
            self.resize(at);
            (at, right)
        } else {
            let (left, right) = self.split(self.node(at).left, node);
            self.nodes[at as usize].left = right;
            self.resize(at);
            (left, at)
        }
    }

    /// Takes node `node` out of the tree: down from the root to it, each subtree on the way losing
    /// exactly it (it is in the tree: found through the index), then its children joined in its place.
    fn detach(&mut self, node: u32) {
        let (mut parent, mut right, mut at) = (NIL, false, self.root);
        while at != node {
            self.nodes[at as usize].size -= 1;
            (parent, right) = (at, self.less(at, node));
            at = if right { self.node(at).right } else { self.node(at).left };
        }
        let n = self.node(node);
        let joined = self.merge(n.left, n.right);
        self.link(parent, right, joined);
    }

    /// Joins two subtrees, every node of `a` before every node of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.node(a).priority > self.node(b).priority {
            let right = self.merge(self.node(a).right, b);
            self.nodes[a as usize].right = right;
            self.resize(a);
            a
        } else {
            let left = self.merge(a, self.node(b).left);
            self.nodes[b as usize].left = left;
            self.resize(b);
            b
        }
    }

    fn rank_of(&self, node: u32) -> usize {
        let mut at = self.root;
        let mut rank = 0;
        while at != NIL {
            let n = self.node(at);
            if at == node {
                return rank + self.size(n.left);
            }
            if self.less(at, node) {
                rank += self.size(n.left) + 1;
                at = n.right;
            } else {
                at = n.left;
            }
        }
        rank
    }

    fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut at = self.root;
        let mut count = 0;
        while at != NIL {
            let n = self.node(at);
            if before(n.score, &n.member) {
                count += self.size(n.left) + 1;
                at = n.right;
            } else {
                at = n.left;
            }
        }
        count
    }

    /// `count` entries in order from rank `from` (descending when `reverse`).
    fn walk(&self, from: usize, count: usize, reverse: bool) -> Walk<'_> {
        let mut stack = SmallVec::new();
        let mut at = self.root;
        let mut rank = from;
        // Down to the entry of rank `from`, keeping the ancestors still to come in walk order.
        while at != NIL {
            let n = self.node(at);
            let left = self.size(n.left);
            match rank.cmp(&left) {
                Ordering::Less => {
                    if !reverse {
                        stack.push(at);
                    }
                    at = n.left;
                }
                Ordering::Equal => {
                    stack.push(at);
                    break;
                }
                Ordering::Greater => {
                    if reverse {
                        stack.push(at);
                    }
                    rank -= left + 1;
                    at = n.right;
                }
            }
        }
        Walk { tree: self, stack, remaining: count, reverse }
    }
}

/// An in-order walk of a [`Tree`] from some rank, with its path in a stack.
struct Walk<'a> {
    tree: &'a Tree,
    /// The ancestors still to visit, at most the tree's depth: about 2 ln n on average (28 for a
    /// million members), so a range's walk hardly ever allocates (a `Vec` here grew four times a walk).
    stack: SmallVec<[u32; 64]>,
    remaining: usize,
    reverse: bool,
}

impl<'a> Iterator for Walk<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let tree = self.tree;
        let at = self.stack.pop()?;
        self.remaining -= 1;
        let n = tree.node(at);
        let mut next = if self.reverse { n.left } else { n.right };
        while next != NIL {
            self.stack.push(next);
            let child = tree.node(next);
            next = if self.reverse { child.right } else { child.left };
        }
        Some((&n.member, n.score))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A model: member -> score, and the order as a sorted list.
    fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut all: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        all.sort_by(|a, b| order(a.1, &a.0, b.1, &b.0));
        all
    }

    /// The size of the subtree at `at`, checking on the way that every node's count is its own
    /// subtree's (attach and detach adjust them by one, split and merge recount them).
    fn subtree_size_checked(tree: &Tree, at: u32) -> usize {
        if at == NIL {
            return 0;
        }
        let n = tree.node(at);
        let size = 1 + subtree_size_checked(tree, n.left) + subtree_size_checked(tree, n.right);
        assert_eq!(n.size as usize, size);
        // And the heap order that keeps the treap balanced.
        for child in [n.left, n.right].into_iter().filter(|&child| child != NIL) {
            assert!(tree.node(child).priority <= n.priority);
        }
        size
    }

    #[test]
    fn zsets_agree_with_a_model_across_the_conversion_and_compaction() {
        let mut zset = ZSet::default();
        let mut model = BTreeMap::new();
        let mut x = 12345u64;
        for step in 0..6000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let member = format!("m{}", (x >> 33) % 3000).into_bytes();
            let score = ((x >> 20) % 50) as f64 / 2.0;
            if step % 7 == 5 {
                // ZPOPMIN / ZPOPMAX: the first or last in order, taken out whole.
                let last = step % 2 == 0;
                let expected = sorted(&model);
                let end = if last { expected.last() } else { expected.first() };
                let popped = zset.pop_end(last).map(|(member, score)| (member.to_vec(), score));
                assert_eq!(popped.as_ref(), end, "pop_end({last}) at step {step}");
                if let Some((member, _)) = &popped {
                    model.remove(member);
                    assert_eq!(zset.score(member), None);
                }
            } else if step % 3 == 2 || step > 4000 {
                assert_eq!(zset.remove(&member), model.remove(&member));
            } else {
                assert_eq!(zset.insert(&member, score), model.insert(member.clone(), score));
            }
            assert_eq!(zset.len(), model.len());
            if step % 500 == 0 || step == 5999 {
                let expected = sorted(&model);
                let got: Vec<(Vec<u8>, f64)> = zset.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(got, expected);
                for (rank, (member, score)) in expected.iter().enumerate() {
                    assert_eq!(zset.rank(member), Some(rank));
                    assert_eq!(zset.score(member), Some(*score));
                }
                let reversed: Vec<(Vec<u8>, f64)> =
                    zset.range(0, zset.len(), true).map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(reversed, expected.iter().rev().cloned().collect::<Vec<_>>());
                if expected.len() > 10 {
                    let middle: Vec<(Vec<u8>, f64)> = zset.range(3, 9, true).map(|(m, s)| (m.to_vec(), s)).collect();
                    assert_eq!(middle, expected[3..9].iter().rev().cloned().collect::<Vec<_>>());
                }
                if let Repr::Tree(tree) = &zset.0 {
                    assert_eq!(subtree_size_checked(tree, tree.root), tree.len);
                }
                let below = zset.count_before(|score, _| score < 10.0);
                assert_eq!(below, expected.iter().filter(|(_, s)| *s < 10.0).count());
            }
        }
        assert!(!zset.is_packed() || zset.len() <= MAX_PACKED_ENTRIES);
    }

    #[test]
    fn small_zsets_stay_packed_and_keep_no_negative_zero() {
        let mut zset = ZSet::default();
        zset.insert(b"a", -0.0);
        assert!(zset.is_packed());
        assert!(zset.score(b"a").is_some_and(|s| s == 0.0 && s.is_sign_positive()));
        for i in 0..MAX_PACKED_ENTRIES {
            zset.insert(format!("{i}").as_bytes(), i as f64);
        }
        assert!(!zset.is_packed());
        zset.insert(b"z", -0.0);
        assert!(zset.score(b"z").is_some_and(|s| s == 0.0 && s.is_sign_negative()));
        let footprint = zset.footprint();
        assert!(footprint > 129 * 40, "{footprint}");
        let mut long = ZSet::default();
        long.insert(&[b'x'; 65], 1.0);
        assert!(!long.is_packed());
    }
}
