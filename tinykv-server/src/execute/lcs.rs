//! `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common subsequence of two
//! strings, by Redis's dynamic programming table and its walk back through it, so that where several
//! subsequences are equally long the same one (and the same ranges) come back.
//!
//! The table has `(len1 + 1) * (len2 + 1)` 32-bit cells; like Redis, TinyKV refuses to build one larger
//! than `--proto-max-bulk-len` bytes, and answers an error rather than abort when memory for it is short.

use bytes::Bytes;
use tinykv_proto::command::LcsOptions;
use tinykv_proto::{CommandError, Reply};

use crate::db::Db;

/// The reply to `LCS`.
pub(super) fn lcs(db: &Db, key1: &[u8], key2: &[u8], options: Result<LcsOptions, CommandError>, limit: u64) -> Reply {
    let options = match options {
        Ok(options) => options,
        Err(err) => return err.into(),
    };
    // Sizes are checked under the locks, so a refused request copies nothing; the copies let the
    // (possibly long) computation run without holding any shard.
    let values = db.with_keys(&[key1, key2], |locked| {
        let mut length = |i| match locked.slot(i).string() {
            Ok(value) => Ok(value.map_or(0, <[u8]>::len)),
            Err(_) => Err(Reply::error("ERR The specified keys must contain string values")),
        };
        let (len1, len2) = (length(0)?, length(1)?);
        check_size(len1, len2, limit)?;
        let mut copy = |i| locked.slot(i).string().ok().flatten().map(Bytes::copy_from_slice).unwrap_or_default();
        Ok((copy(0), copy(1)))
    });
    let (a, b) = match values {
        Ok(values) => values,
        Err(reply) => return reply,
    };
    if options.len && !options.idx {
        return Reply::Integer(lcs_len(&a, &b) as i64);
    }
    let Some(table) = Table::build(&a, &b) else {
        return Reply::error("ERR Insufficient memory, failed allocating transient memory for LCS");
    };
    let walk = table.walk(&a, &b, options.idx, options.min_match_len);
    if !options.idx {
        return Reply::Bulk(Bytes::from(walk.subsequence));
    }
    let range = |(start, end): (u32, u32)| Reply::Array(vec![Reply::Integer(start.into()), Reply::Integer(end.into())]);
    let matches = walk
        .ranges
        .into_iter()
        .map(|found| {
            let mut item = vec![range(found.a), range(found.b)];
            if options.with_match_len {
                item.push(Reply::Integer(found.len.into()));
            }
            Reply::Array(item)
        })
        .collect();
    Reply::Map(vec![
        (Reply::bulk("matches"), Reply::Array(matches)),
        (Reply::bulk("len"), Reply::Integer(table.len().into())),
    ])
}

/// Redis's limits: lengths that fit its 32-bit indexes, and a table within `limit` bytes.
fn check_size(len1: usize, len2: usize, limit: u64) -> Result<(), Reply> {
    if len1 >= u32::MAX as usize - 1 || len2 >= u32::MAX as usize - 1 {
        return Err(Reply::error("ERR String too long for LCS"));
    }
    let cells = (len1 as u64 + 1).saturating_mul(len2 as u64 + 1);
    if cells.saturating_mul(4) > limit {
        return Err(Reply::error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    Ok(())
}

/// The length alone, from two rows of the table: the same number in a fraction of the memory.
fn lcs_len(a: &[u8], b: &[u8]) -> u32 {
    let mut previous = vec![0u32; b.len() + 1];
    let mut current = vec![0u32; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
            current[j + 1] = if x == y { previous[j] + 1 } else { previous[j + 1].max(current[j]) };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// `cells[i * (len2 + 1) + j]` is the length of the LCS of `a[..i]` and `b[..j]`.
struct Table {
    cells: Vec<u32>,
    width: usize,
    rows: usize,
}

/// One matching range: positions in each string (inclusive) and its length.
#[derive(Debug, PartialEq, Eq)]
struct Match {
    a: (u32, u32),
    b: (u32, u32),
    len: u32,
}

/// What the walk back through the table finds: the subsequence, and the ranges (last first, as Redis
/// lists them) when asked for.
struct Walk {
    subsequence: Vec<u8>,
    ranges: Vec<Match>,
}

impl Table {
    /// The full table, or `None` if memory for it cannot be had.
    fn build(a: &[u8], b: &[u8]) -> Option<Table> {
        let (rows, width) = (a.len() + 1, b.len() + 1);
        let size = rows.checked_mul(width)?;
        let mut cells = Vec::new();
        cells.try_reserve_exact(size).ok()?;
        cells.resize(size, 0);
        for i in 1..rows {
            for j in 1..width {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Some(Table { cells, width, rows })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// The length of the longest common subsequence.
    fn len(&self) -> u32 {
        self.at(self.rows - 1, self.width - 1)
    }

    /// Redis's walk from the bottom-right corner: a match takes the diagonal and extends the current
    /// range backwards; otherwise it moves up when that cell is strictly larger, else left, and ends the
    /// current range. Ranges shorter than `min_len` are dropped.
    fn walk(&self, a: &[u8], b: &[u8], want_ranges: bool, min_len: u64) -> Walk {
        let mut subsequence = vec![0u8; self.len() as usize];
        let mut ranges = Vec::new();
        let (mut i, mut j) = (a.len(), b.len());
        let mut index = subsequence.len();
        // The current range: (a start, a end, b start, b end), if one is open.
        let mut current: Option<(usize, usize, usize, usize)> = None;
        while i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                subsequence[index - 1] = a[i - 1];
                match &mut current {
                    None => current = Some((i - 1, i - 1, j - 1, j - 1)),
                    Some((a_start, _, b_start, _)) if *a_start == i && *b_start == j => {
                        *a_start -= 1;
                        *b_start -= 1;
                    }
                    Some(_) => emit = true,
                }
                if current.is_some_and(|(a_start, _, b_start, _)| a_start == 0 || b_start == 0) {
                    emit = true;
                }
                index -= 1;
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = current.is_some();
            }
            if emit {
                if let Some((a_start, a_end, b_start, b_end)) = current.take() {
                    let len = a_end - a_start + 1;
                    if want_ranges && (min_len == 0 || len as u64 >= min_len) {
                        ranges.push(Match {
                            a: (a_start as u32, a_end as u32),
                            b: (b_start as u32, b_end as u32),
                            len: len as u32,
                        });
                    }
                }
            }
        }
        Walk { subsequence, ranges }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's documentation example: LCS of ohmytext and mynewtext.
    #[test]
    fn documented_example() {
        let (a, b) = (b"ohmytext", b"mynewtext");
        let table = Table::build(a, b).unwrap();
        assert_eq!(table.len(), 6);
        assert_eq!(lcs_len(a, b), 6);
        let walk = table.walk(a, b, true, 0);
        assert_eq!(walk.subsequence, b"mytext");
        assert_eq!(walk.ranges, vec![Match { a: (4, 7), b: (5, 8), len: 4 }, Match { a: (2, 3), b: (0, 1), len: 2 }]);
        let walk = table.walk(a, b, true, 4);
        assert_eq!(walk.ranges, vec![Match { a: (4, 7), b: (5, 8), len: 4 }]);
    }

    #[test]
    fn lengths_agree_with_the_table_and_sizes_are_capped() {
        let words: [&[u8]; 6] = [b"", b"a", b"abcabcbb", b"bbcacb", b"xyz", b"aaaa"];
        for a in words {
            for b in words {
                let table = Table::build(a, b).unwrap();
                assert_eq!(lcs_len(a, b), table.len(), "{a:?} {b:?}");
                assert_eq!(table.walk(a, b, false, 0).subsequence.len() as u32, table.len());
            }
        }
        assert!(check_size(99, 99, 40_000).is_ok());
        assert!(check_size(100, 99, 40_000).is_err());
        assert!(check_size(usize::MAX / 2, usize::MAX / 2, u64::MAX).is_err());
    }
}
