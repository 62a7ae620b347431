//! One `HSCAN`/`SSCAN`/`ZSCAN` step over a hashbrown table, with Redis's guarantee: an entry present
//! for the whole scan is returned at least once, however the table grows, shrinks or rehashes
//! between steps, and a step reads about as much of the table as it returns.
//!
//! As in Redis, the cursor walks the table's home buckets (an entry's home is `hash & (buckets -
//! 1)`) in reverse-binary order: the bits under the mask counted up from the top one down. A
//! resize adds or drops the mask's top bit, which splits each home into two neighbours in that
//! order or merges two neighbours into one, so every home passed before the resize stays passed
//! after it (an entry may be returned twice across a resize, never missed).
//!
//! hashbrown moves an entry off its home bucket when that is taken (open addressing), so a home's
//! entries are found where hashbrown's own lookup would look: see [`visit_home`]. That leans on
//! hashbrown's layout (home = low bits of the hash, tag = top seven bits, probe groups at most
//! [`WINDOW`] wide, room for growth as 7/8 of the buckets), which `every_entry_is_found_under_its_home`
//! checks on tables of many sizes and fills.

use hashbrown::hash_table::HashTable;

/// The most buckets a hashbrown probe group spans (16 with SSE2, 8 elsewhere).
const WINDOW: u64 = 16;
/// hashbrown's tags: the top seven bits of a hash (of a 64-bit hash: on a 32-bit target hashbrown
/// takes them from the low 32 bits, which this module does not handle).
const TAG_SHIFT: u32 = 64 - 7;
const _: () = assert!(usize::BITS == 64, "the SCAN family reads hashbrown's 64-bit table layout");

/// One SCAN step over `table`, whose entries hash to `hash` (the hash the table was built with):
/// visits homes from `cursor` until `count` entries were seen or ten times `count` homes were read
/// (Redis's bound for a sparse table), and returns the next cursor, 0 when the table was covered.
pub(crate) fn scan_step<T>(
    table: &HashTable<T>,
    mut cursor: u64,
    count: usize,
    hash: impl Fn(&T) -> u64,
    mut visit: impl FnMut(&T),
) -> u64 {
    let mask = (table.num_buckets() as u64).saturating_sub(1);
    let tombstones = has_tombstones(table);
    let mut seen = 0;
    let mut homes_left = count.max(1).saturating_mul(10);
    loop {
        seen += visit_home(table, cursor & mask, mask, tombstones, &hash, &mut visit);
        cursor = next_cursor(cursor, mask);
        homes_left -= 1;
        if cursor == 0 || seen >= count || homes_left == 0 {
            return cursor;
        }
    }
}

/// The entries whose home bucket is `home` (under `mask`), visited; returns how many.
///
/// When hashbrown's probe from `home` stops within the [`WINDOW`] buckets from it, the home's
/// entries are all among those buckets: a probe stops at the first group holding an empty bucket,
/// and a group is at most [`WINDOW`] wide. In a table without tombstones (see [`has_tombstones`])
/// an empty one among them says so; with tombstones, [`probe_stops_in_window`] finds out.
/// Otherwise the probe sequence is walked once per tag, which finds every entry hashbrown's
/// lookup could.
fn visit_home<T>(
    table: &HashTable<T>,
    home: u64,
    mask: u64,
    tombstones: bool,
    hash: &impl Fn(&T) -> u64,
    visit: &mut impl FnMut(&T),
) -> usize {
    let mut seen = 0;
    let mut visit_if_home = |item: &T| {
        if hash(item) & mask == home {
            visit(item);
            seen += 1;
        }
    };
    let bucket = |offset: u64| table.get_bucket(((home + offset) & mask) as usize);
    let window = WINDOW.min(mask + 1);
    let stops_in_window = if tombstones {
        probe_stops_in_window(table, home, mask, hash)
    } else {
        (0..window).any(|offset| bucket(offset).is_none())
    };
    if stops_in_window {
        (0..window).filter_map(bucket).for_each(visit_if_home);
    } else {
        for tag in 0..1u64 << (64 - TAG_SHIFT) {
            for index in table.iter_hash_buckets(tag << TAG_SHIFT | home) {
                table.get_bucket(index).map(&mut visit_if_home);
            }
        }
    }
    seen
}

/// Whether hashbrown's probe from `home` stops within the [`WINDOW`] buckets from it, in a table
/// with tombstones (where a bucket that looks empty may be a tombstone the probe steps over):
/// told by one probe walk for the tag of an entry 24 to 31 buckets on, a span every probe group
/// width (8 or 16) visits next once it has passed the first 16 buckets. The walk yields that entry
/// exactly when the probe went past them. `false` when there is no such entry to tell by.
fn probe_stops_in_window<T>(table: &HashTable<T>, home: u64, mask: u64, hash: &impl Fn(&T) -> u64) -> bool {
    if mask < 2 * WINDOW - 1 {
        return false;
    }
    let beyond = (WINDOW + WINDOW / 2..2 * WINDOW).map(|offset| (home + offset) & mask);
    let Some((index, item)) = beyond.filter_map(|i| Some((i, table.get_bucket(i as usize)?))).next() else {
        return false;
    };
    let tag = hash(item) >> TAG_SHIFT;
    !table.iter_hash_buckets(tag << TAG_SHIFT | home).any(|found| found as u64 == index)
}

/// Whether removals left tombstones in `table`: hashbrown gives an emptied bucket back to its
/// room for growth only when no probe can have passed it, so room short of a fresh table's
/// (7/8 of the buckets) means tombstones. Were hashbrown to count differently, this answers yes
/// and the scan takes the slower, always-right probe walks.
fn has_tombstones<T>(table: &HashTable<T>) -> bool {
    let buckets = table.num_buckets();
    let fresh_capacity = if buckets <= 8 { buckets - 1 } else { buckets / 8 * 7 };
    table.capacity() != fresh_capacity
}

/// The cursor after `cursor` in reverse-binary order under `mask`; 0 when every home was visited.
fn next_cursor(cursor: u64, mask: u64) -> u64 {
    (cursor | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn table_of(members: impl IntoIterator<Item = u64>) -> HashTable<u64> {
        let mut table = HashTable::new();
        for member in members {
            table.insert_unique(hash(&member), member, hash);
        }
        table
    }

    /// A fixed hash (splitmix64's finaliser), so the tables' layouts are the same every run.
    fn hash(member: &u64) -> u64 {
        let mut z = member.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Each entry of `table` under the home it was found at, checking none is found twice.
    fn homes_found(table: &HashTable<u64>, tombstones: bool) -> BTreeMap<u64, u64> {
        let mask = table.num_buckets() as u64 - 1;
        let mut homes = BTreeMap::new();
        for home in 0..=mask {
            visit_home(table, home, mask, tombstones, &hash, &mut |&m: &u64| {
                assert_eq!(homes.insert(m, home), None, "{m} found twice in {} buckets", mask + 1);
            });
        }
        assert!(homes.iter().all(|(m, &home)| hash(m) & mask == home));
        homes
    }

    #[test]
    fn every_entry_is_found_under_its_home() {
        // Sizes either side of a probe group's width, and tables filled to hashbrown's 7/8 of
        // their buckets, where probes run past full windows.
        for size in [1u64, 3, 7, 14, 15, 17, 100, 112, 896, 1000, 7168] {
            let table = table_of(0..size);
            assert!(!has_tombstones(&table), "a fresh table of {size} reads as having tombstones");
            assert_eq!(homes_found(&table, false).len(), table.len(), "size {size}");
            // Removals leave tombstones, which a probe walk steps over.
            let mut table = table_of(0..size * 2);
            for member in (0..size * 2).filter(|m| m % 2 == 1) {
                let found = table.find_entry(hash(&member), |&m| m == member).ok();
                found.map(|entry| entry.remove());
            }
            let tombstones = has_tombstones(&table);
            assert_eq!(homes_found(&table, tombstones).len(), table.len(), "size {size} halved");
            assert_eq!(homes_found(&table, true).len(), table.len(), "size {size} halved");
        }
        // A table left mostly tombstones is rehashed in place (same buckets) when it runs out of
        // room while at most half full, as an insert can make it do (`reserve` here, past its room):
        // the layout after that is found too.
        let mut table = table_of(0..1792);
        let buckets = table.num_buckets();
        for member in (0..1792).filter(|m| m % 8 != 0) {
            table.find_entry(hash(&member), |&m| m == member).ok().map(|entry| entry.remove());
        }
        assert!(has_tombstones(&table));
        table.reserve(table.capacity() - table.len() + 1, hash);
        assert!(!has_tombstones(&table) && table.num_buckets() == buckets, "rehashed in place");
        assert_eq!(homes_found(&table, false).len(), table.len());
        assert_eq!(homes_found(&table, true).len(), table.len());
        // An entry pushed far into its probe group, then a bucket before it emptied (an empty
        // bucket, not a tombstone, at this fill): the entry is still found.
        let mut checked = 0;
        for size in [3_600u64, 5_000, 6_000] {
            let table = table_of(0..size);
            let mask = table.num_buckets() as u64 - 1;
            let index_of = |table: &HashTable<u64>, m: u64| table.find_bucket_index(hash(&m), |&x| x == m);
            let offset = |m: u64, index: usize| (index as u64).wrapping_sub(hash(&m)) & mask;
            for far in (0..size).filter(|&m| index_of(&table, m).is_some_and(|i| offset(m, i) >= 8)) {
                let far_index = index_of(&table, far).unwrap_or_default() as u64;
                let mut before = (1..offset(far, far_index as usize)).map(|back| (far_index - back) & mask);
                let Some(index) = before.find(|&i| table.get_bucket(i as usize).is_some()) else { continue };
                let mut emptied = table.clone();
                let Some(&gone) = emptied.get_bucket(index as usize) else { continue };
                emptied.find_entry(hash(&gone), |&m| m == gone).ok().map(|entry| entry.remove());
                if !has_tombstones(&emptied) {
                    assert_eq!(homes_found(&emptied, false).len(), emptied.len(), "{far} after removing {gone}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 0);
    }

    #[test]
    fn the_reverse_binary_order_visits_every_home_once() {
        for mask in [0u64, 1, 7, 1023] {
            let mut position = 0;
            let mut visited = Vec::new();
            loop {
                visited.push(position & mask);
                position = next_cursor(position, mask);
                if position == 0 {
                    break;
                }
            }
            visited.sort_unstable();
            assert_eq!(visited, (0..=mask).collect::<Vec<_>>());
        }
    }

    /// Scans `table` to the end, calling `between` after every step, and returns what it saw.
    fn scan_all(table: &mut HashTable<u64>, count: usize, mut between: impl FnMut(&mut HashTable<u64>)) -> Vec<u64> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = scan_step(table, cursor, count, hash, |&m| seen.push(m));
            if cursor == 0 {
                return seen;
            }
            between(table);
        }
    }

    #[test]
    fn a_big_table_is_scanned_in_short_steps_through_growth_and_shrinking() {
        // Big enough for the home scheme; each step returns about `count`, not a share of the table.
        let table = table_of(0..20_000);
        let mut longest = 0;
        let mut cursor = 0;
        let mut steps = 0;
        let mut seen = Vec::new();
        loop {
            let before = seen.len();
            cursor = scan_step(&table, cursor, 10, hash, |&m| seen.push(m));
            longest = longest.max(seen.len() - before);
            steps += 1;
            if cursor == 0 {
                break;
            }
        }
        assert!(longest < 40, "a step returned {longest}");
        assert!(steps > 1000, "{steps} steps");
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "nothing twice without a resize");
        assert_eq!(sorted, (0..20_000).collect::<Vec<_>>());

        // The table quadruples while it is scanned: everything there from the start is seen.
        let mut table = table_of(0..5_000);
        let mut next = 5_000;
        let seen = scan_all(&mut table, 10, |table| {
            for _ in 0..40 {
                table.insert_unique(hash(&next), next, hash);
                next += 1;
            }
        });
        assert!(next > 20_000);
        assert!((0..5_000).all(|m| seen.contains(&m)));

        // And it shrinks to a sixteenth, rehashed as the table does on removal.
        let mut table = table_of(0..20_000);
        let buckets = table.num_buckets();
        let mut gone = 19_999u64;
        let seen = scan_all(&mut table, 10, |table| {
            for _ in 0..100 {
                if gone >= 1_250 {
                    let entry = table.find_entry(hash(&gone), |&m| m == gone).ok();
                    entry.map(|entry| entry.remove());
                    gone -= 1;
                }
            }
            if table.len() * 8 < table.num_buckets() {
                table.shrink_to(table.len() * 2, hash);
            }
        });
        assert!(table.num_buckets() * 4 <= buckets, "{buckets} -> {} buckets", table.num_buckets());
        assert!((0..1_250).all(|m| seen.contains(&m)));
    }

    #[test]
    fn a_small_table_is_scanned_whole_each_entry_once() {
        for size in [0u64, 1, 5, 200] {
            let mut table = table_of(0..size);
            let mut seen = scan_all(&mut table, 10, |_| {});
            seen.sort_unstable();
            assert_eq!(seen, (0..size).collect::<Vec<_>>());
        }
        // A count past the table's size takes it in one step.
        let table = table_of(0..200);
        let mut seen = 0;
        assert_eq!(scan_step(&table, 0, 1000, hash, |_| seen += 1), 0);
        assert_eq!(seen, 200);
    }
}
