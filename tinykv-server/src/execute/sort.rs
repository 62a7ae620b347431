//! `SORT` and `SORT_RO`: the elements of a list, set or sorted set, sorted as numbers or strings,
//! by themselves or by the values of other keys (`BY weight_*`, `BY obj_*->field`), cut by `LIMIT`,
//! answered as themselves or as other keys' values (`GET`), or stored as a list (`STORE`).
//!
//! The source's elements are copied out under its lock; the keys `BY` and `GET` name are then read
//! one at a time, each under its own shard's lock. So unlike Redis, a `SORT` that reads other keys
//! is not atomic with writes to those keys by other clients at the same moment.

use std::cmp::Ordering;

use bytes::Bytes;
use tinykv_proto::command::Sort;
use tinykv_proto::score::strtod;
use tinykv_proto::{CommandError, Reply};

use crate::aof::Effects;
use crate::collections::{Collection, End, Hash, Kind, List, Set};
use crate::db::Db;
use crate::entry::Value;
use crate::zset::ZSet;

/// One element being sorted, with what it sorts by.
struct Element {
    item: Bytes,
    score: f64,
    /// With `ALPHA` and `BY`: the value it sorts by (`None` when the key is missing).
    by: Option<Bytes>,
}

/// The elements of `key` in their native order (a set's in no particular order), and its type.
fn elements(db: &Db, key: &[u8]) -> Result<(Option<Kind>, Vec<Bytes>), CommandError> {
    db.with_key(key, |slot| {
        let kind = slot.kind();
        let items = match kind {
            None => Vec::new(),
            Some(Kind::List) => {
                slot.read::<List>()?.map_or_else(Vec::new, |list| list.iter().map(Bytes::copy_from_slice).collect())
            }
            Some(Kind::Set) => {
                slot.read::<Set>()?.map_or_else(Vec::new, |set| set.iter().map(Bytes::copy_from_slice).collect())
            }
            Some(Kind::ZSet) => {
                // Redis converts a zset it sorts to its big encoding, for good.
                let unpack = |zset: &mut ZSet| {
                    zset.unpack();
                    zset.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect()
                };
                slot.reencode::<ZSet, _>(unpack)?.unwrap_or_default()
            }
            Some(_) => return Err(CommandError::WrongType),
        };
        Ok((kind, items))
    })
}

/// What a `BY`/`GET` pattern names for `element`, as Redis's `lookupKeyByPattern`: `#` is the element
/// itself; otherwise the first `*` is replaced by the element, and a `->field` after it reads that
/// field of a hash; a pattern without `*`, a missing key or one of the wrong type give nothing.
fn lookup(db: &Db, pattern: &[u8], element: &Bytes) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(element.clone());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after.windows(2).position(|w| w == b"->").filter(|&at| at + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let key = [&pattern[..star], &element[..], suffix].concat();
    db.with_key(&key, |slot| match field {
        Some(field) => slot.read::<Hash>().ok().flatten()?.get(field).map(Bytes::copy_from_slice),
        None => slot.string().ok().flatten().map(Bytes::copy_from_slice),
    })
}

/// A value as `SORT` reads a number (`strtod`, to the end or a NUL): `None` for text that is not
/// one, NaN, or a number out of a double's range (subnormals included, as glibc sets `ERANGE`).
fn sort_score(text: &[u8]) -> Option<f64> {
    let read = strtod(text);
    let clean_end = text[read.consumed..].first().is_none_or(|&b| b == 0);
    let subnormal = read.value != 0.0 && read.value.abs() < f64::MIN_POSITIVE;
    (clean_end && !read.value.is_nan() && !read.out_of_range && !subnormal).then_some(read.value)
}

/// Redis's LIMIT arithmetic: the positions `start..=end` of `len` elements to answer (`end < start`
/// when none).
fn window(limit: Option<(i64, i64)>, len: i64) -> (i64, i64) {
    let (offset, count) = limit.unwrap_or((0, -1));
    let mut start = offset.max(0).min(len);
    let count = count.max(-1).min(len);
    let mut end = if count < 0 { len } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

/// `SORT`/`SORT_RO`.
pub(super) fn sort(db: &Db, sort: Sort, effects: &mut Effects<'_>) -> Reply {
    let Sort { key, mut by, nosort, limit, gets, desc, mut alpha, store } = sort;
    // A BY pattern without `*` sorts nothing: the elements keep their native order.
    let mut dontsort = nosort;
    let (kind, items) = or_reply!(elements(db, &key));
    if dontsort && kind == Some(Kind::Set) && store.is_some() {
        // A set's order is arbitrary: what is stored must not be.
        dontsort = false;
        alpha = true;
        by = None;
    }
    let mut elements: Vec<Element> = items.into_iter().map(|item| Element { item, score: 0.0, by: None }).collect();
    if dontsort {
        if desc && kind != Some(Kind::Set) {
            elements.reverse();
        }
    } else {
        let mut bad_number = false;
        for element in &mut elements {
            let value = match &by {
                Some(pattern) => lookup(db, pattern, &element.item),
                None => Some(element.item.clone()),
            };
            if alpha {
                if by.is_some() {
                    element.by = value;
                }
            } else if let Some(value) = value {
                match sort_score(&value) {
                    Some(score) => element.score = score,
                    None => bad_number = true,
                }
            }
        }
        if bad_number {
            return Reply::error("ERR One or more scores can't be converted into double");
        }
        let by_pattern = by.is_some();
        elements.sort_by(|a, b| {
            let order = if !alpha {
                a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal).then_with(|| a.item.cmp(&b.item))
            } else if by_pattern {
                match (&a.by, &b.by) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else {
                a.item.cmp(&b.item)
            };
            if desc {
                order.reverse()
            } else {
                order
            }
        });
    }
    let (start, end) = window(limit, elements.len() as i64);
    let selected: &[Element] = if end >= start { &elements[start as usize..=end as usize] } else { &[] };
    let mut values: Vec<Option<Bytes>> = Vec::with_capacity(selected.len() * gets.len().max(1));
    for element in selected {
        if gets.is_empty() {
            values.push(Some(element.item.clone()));
        }
        for pattern in &gets {
            values.push(lookup(db, pattern, &element.item));
        }
    }
    match store {
        None => Reply::Array(values.into_iter().map(|value| value.map_or(Reply::Null, Reply::Bulk)).collect()),
        Some(destination) => store_list(db, &destination, values, effects),
    }
}

/// `STORE destination`: the values as a list (a missing one as an empty string), replacing what the
/// destination held (with no time to live); the destination is deleted when there are none. Logged
/// as `DEL` and `RPUSH` of the values. Answers how many were stored.
fn store_list(db: &Db, destination: &[u8], values: Vec<Option<Bytes>>, effects: &mut Effects<'_>) -> Reply {
    db.with_key(destination, |slot| {
        if values.is_empty() {
            if slot.remove().is_some() {
                effects.record(&[b"DEL", destination]);
            }
            return Reply::Integer(0);
        }
        let mut list = List::default();
        for value in &values {
            list.push(End::Right, value.as_deref().unwrap_or_default());
        }
        effects.record(&[b"DEL", destination]);
        effects
            .record_chunked(&[b"RPUSH", destination], values.iter().map(|value| value.as_deref().unwrap_or_default()));
        slot.put_value(Value::Collection(Collection::List(Box::new(list))), None);
        Reply::Integer(values.len() as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_numbers_follow_redis() {
        assert_eq!(window(None, 5), (0, 4));
        assert_eq!(window(Some((1, 2)), 5), (1, 2));
        assert_eq!(window(Some((-3, 2)), 5), (0, 1));
        assert_eq!(window(Some((7, 2)), 5), (4, 3));
        assert_eq!(window(Some((2, 0)), 5), (2, 1));
        assert_eq!(window(Some((0, -7)), 0), (-1, -2));
        assert_eq!(sort_score(b"1.5"), Some(1.5));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" 2"), Some(2.0));
        assert_eq!(sort_score(b"inf"), Some(f64::INFINITY));
        for bad in [&b"x"[..], b"1 ", b"nan", b"1e400", b"1e-400", b"1e-310"] {
            assert_eq!(sort_score(bad), None, "{bad:?}");
        }
    }
}
