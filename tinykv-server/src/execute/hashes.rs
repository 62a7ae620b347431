//! The hash family: fields and values under one key.
//!
//! Writes record their effect through [`Effects`] while the key's lock is held: the command itself
//! where it is deterministic, `HSET` of the result for `HINCRBY` and `HINCRBYFLOAT`.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use tinykv_proto::command::{parse_integer, CollectionScan};
use tinykv_proto::reply::{encode_bulks, Shape};
use tinykv_proto::{CommandError, Protocol, Reply};

use super::long_double::LongDouble;
use crate::aof::Effects;
use crate::collections::{Hash, MAX_PACKED_HASH_ENTRIES};
use crate::db::{random_u64, Db};
use crate::glob;

/// Entries an `HSCAN`/`SSCAN` step looks at when the client gives no `COUNT`, as in Redis.
pub(super) const DEFAULT_SCAN_COUNT: u64 = 10;
/// Most elements one random-pick reply (`HRANDFIELD`/`SRANDMEMBER` with a negative count) may hold:
/// as many as one request may carry. Redis has no such cap and builds whatever is asked, until the
/// machine runs out of memory; a larger count is refused here before anything is allocated.
pub(super) const MAX_RANDOM_REPLY: u64 = tinykv_proto::Limits::DEFAULT_MAX_ELEMENTS as u64;

/// The error for a random-pick count past [`MAX_RANDOM_REPLY`].
fn count_too_large() -> Reply {
    Reply::error(format!("ERR count is too large: a reply holds at most {MAX_RANDOM_REPLY} random picks"))
}

/// `HSET`/`HMSET`: the number of fields added (`OK` for `HMSET`).
pub(super) fn hset(db: &Db, key: &[u8], pairs: &[(Bytes, Bytes)], hmset: bool, effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let added = or_reply!(slot.write::<Hash, _>(true, |hash| {
            let mut added = 0;
            for (field, value) in pairs {
                added += usize::from(hash.insert(field, value));
            }
            (added, true)
        }))
        .unwrap_or(0);
        effects.record_chunked(&[b"HSET", key], pairs.iter().flat_map(|(field, value)| [&field[..], &value[..]]));
        if hmset {
            Reply::ok()
        } else {
            Reply::Integer(added as i64)
        }
    })
}

/// `HSETNX`: 1 if the field was set, 0 if it existed.
pub(super) fn hsetnx(db: &Db, key: &[u8], field: &[u8], value: &[u8], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let set = or_reply!(slot.write::<Hash, _>(true, |hash| {
            if hash.get(field).is_some() {
                (false, false)
            } else {
                (hash.insert(field, value), true)
            }
        }))
        .unwrap_or(false);
        if set {
            effects.record(&[b"HSET", key, field, value]);
        }
        Reply::Integer(i64::from(set))
    })
}

/// `HGET`: the value of the field, or null.
pub(super) fn hget(db: &Db, key: &[u8], field: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let hash = or_reply!(slot.read::<Hash>());
        hash.and_then(|hash| hash.get(field)).map_or(Reply::Null, Reply::bulk)
    })
}

/// `HMGET`: the value of each field, null where there is none.
pub(super) fn hmget(db: &Db, key: &[u8], fields: &[Bytes]) -> Reply {
    db.with_key(key, |slot| {
        let hash = or_reply!(slot.read::<Hash>());
        let value = |field: &Bytes| hash.and_then(|hash| hash.get(field)).map_or(Reply::Null, Reply::bulk);
        Reply::Array(fields.iter().map(value).collect())
    })
}

/// `HDEL`: how many of the fields existed; the key goes with its last field.
pub(super) fn hdel(db: &Db, key: &[u8], fields: &[Bytes], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let removed = or_reply!(slot.write::<Hash, _>(false, |hash| {
            let removed = fields.iter().filter(|field| hash.remove(field)).count();
            (removed, removed > 0)
        }))
        .unwrap_or(0);
        if removed > 0 {
            effects.record_chunked(&[b"HDEL", key], fields.iter().map(|field| &field[..]));
        }
        Reply::Integer(removed as i64)
    })
}

/// `HLEN`: the number of fields, 0 for a missing key.
pub(super) fn hlen(db: &Db, key: &[u8]) -> Reply {
    db.with_key(key, |slot| Reply::Integer(or_reply!(slot.read::<Hash>()).map_or(0, Hash::len) as i64))
}

/// `HSTRLEN`: the length of the field's value, 0 when there is none.
pub(super) fn hstrlen(db: &Db, key: &[u8], field: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let hash = or_reply!(slot.read::<Hash>());
        Reply::Integer(hash.and_then(|hash| hash.get(field)).map_or(0, <[u8]>::len) as i64)
    })
}

/// `HEXISTS`: 1 if the field exists.
pub(super) fn hexists(db: &Db, key: &[u8], field: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let hash = or_reply!(slot.read::<Hash>());
        Reply::Integer(i64::from(hash.is_some_and(|hash| hash.get(field).is_some())))
    })
}

/// Which parts of each entry `HKEYS`, `HVALS` and `HGETALL` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Fields,
    Values,
    Both,
}

/// `HKEYS`, `HVALS` (arrays) and `HGETALL` (a map: flat pairs in RESP2); written in place in `out`
/// when the connection gave its buffer (see `execute::handle_into`) and the reply is short enough to
/// go out whole: each field and value copied once, not into a reply first.
pub(super) fn hgetall(db: &Db, key: &[u8], part: Part, protocol: Protocol, out: Option<&mut BytesMut>) -> Reply {
    db.with_key(key, |slot| {
        let Some(hash) = or_reply!(slot.read::<Hash>()) else {
            return if part == Part::Both { Reply::Map(Vec::new()) } else { Reply::Array(Vec::new()) };
        };
        let len = hash.len();
        if let Some(out) = super::in_place(out, len) {
            let entries = hash.iter();
            match part {
                Part::Fields => encode_bulks(out, protocol, Shape::Array, len, entries.map(|(field, _)| field)),
                Part::Values => encode_bulks(out, protocol, Shape::Array, len, entries.map(|(_, value)| value)),
                Part::Both => {
                    let flat = entries.flat_map(|(field, value)| [field, value]);
                    encode_bulks(out, protocol, Shape::Map, len, flat)
                }
            }
            return Reply::written();
        }
        match part {
            Part::Fields => Reply::Array(hash.iter().map(|(field, _)| Reply::bulk(field)).collect()),
            Part::Values => Reply::Array(hash.iter().map(|(_, value)| Reply::bulk(value)).collect()),
            Part::Both => Reply::Map(hash.iter().map(|(f, v)| (Reply::bulk(f), Reply::bulk(v))).collect()),
        }
    })
}

/// `HINCRBY`: the new value, with Redis's errors for a value that is not an integer and for overflow.
pub(super) fn hincrby(db: &Db, key: &[u8], field: &[u8], delta: i64, effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let result = or_reply!(slot.write::<Hash, _>(true, |hash| {
            let current = match hash.get(field).map(parse_integer) {
                None => 0,
                Some(Ok(current)) => current,
                Some(Err(_)) => return (Err(Reply::error("ERR hash value is not an integer")), false),
            };
            let Some(next) = current.checked_add(delta) else {
                return (Err(Reply::error("ERR increment or decrement would overflow")), false);
            };
            hash.insert(field, itoa::Buffer::new().format(next).as_bytes());
            (Ok(next), true)
        }));
        match result {
            Some(Ok(next)) => {
                effects.record(&[b"HSET", key, field, itoa::Buffer::new().format(next).as_bytes()]);
                Reply::Integer(next)
            }
            Some(Err(reply)) => reply,
            None => Reply::Null, // never: the hash is created
        }
    })
}

/// `HINCRBYFLOAT`: adds in `long double` as Redis does and stores (and logs) the result as text.
pub(super) fn hincrbyfloat(db: &Db, key: &[u8], field: &[u8], increment: &[u8], effects: &mut Effects<'_>) -> Reply {
    // The increment is checked before the key is looked at.
    let increment = match LongDouble::parse(increment) {
        None => return CommandError::NotFloat.into(),
        Some(LongDouble::Infinite { .. }) => return Reply::error("ERR value is NaN or Infinity"),
        Some(increment) => increment,
    };
    db.with_key(key, |slot| {
        let result = or_reply!(slot.write::<Hash, _>(true, |hash| {
            let current = match hash.get(field) {
                None => LongDouble::ZERO,
                Some(value) => match LongDouble::parse(value) {
                    Some(current) => current,
                    None => return (Err(Reply::error("ERR hash value is not a float")), false),
                },
            };
            let Some(sum) = current.checked_add(increment) else {
                return (Err(Reply::error("ERR increment would produce NaN or Infinity")), false);
            };
            let text = sum.to_human();
            hash.insert(field, text.as_bytes());
            (Ok(text), true)
        }));
        match result {
            Some(Ok(text)) => {
                effects.record(&[b"HSET", key, field, text.as_bytes()]);
                Reply::Bulk(Bytes::from(text))
            }
            Some(Err(reply)) => reply,
            None => Reply::Null, // never: the hash is created
        }
    })
}

/// The reply to one `HSCAN`/`SSCAN` step: `[next cursor, [items]]`, a flat array in both protocols.
pub(super) fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Bulk(Bytes::from(next.to_string())), Reply::Array(items)])
}

/// `HSCAN`: fields and values, a step at a time; a small hash comes whole in one step.
pub(super) fn hscan(db: &Db, scan: CollectionScan) -> Reply {
    db.with_key(&scan.key, |slot| {
        let Some(hash) = or_reply!(slot.read::<Hash>()) else { return scan_reply(0, Vec::new()) };
        let options = or_reply!(scan.options);
        let count = usize::try_from(options.count.unwrap_or(DEFAULT_SCAN_COUNT)).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let next = hash.scan(scan.cursor, count, |field, value| {
            if options.pattern.as_ref().is_none_or(|pattern| glob::matches(pattern, field)) {
                items.push(Reply::bulk(field));
                items.push(Reply::bulk(value));
            }
        });
        scan_reply(next, items)
    })
}

/// The reply to picks of `(field, value)`: fields only, or with values as flat pairs (RESP2) or
/// two-element arrays (RESP3), as Redis 7.0 answers `HRANDFIELD ... WITHVALUES`.
fn picks_reply<'a>(picks: impl Iterator<Item = (&'a [u8], &'a [u8])>, withvalues: bool, protocol: Protocol) -> Reply {
    let mut items = Vec::new();
    for (field, value) in picks {
        match (withvalues, protocol) {
            (false, _) => items.push(Reply::bulk(field)),
            (true, Protocol::Resp2) => items.extend([Reply::bulk(field), Reply::bulk(value)]),
            (true, Protocol::Resp3) => items.push(Reply::Array(vec![Reply::bulk(field), Reply::bulk(value)])),
        }
    }
    Reply::Array(items)
}

/// `HRANDFIELD key [count [WITHVALUES]]`: one field (or null); or `count` distinct fields (at most
/// all of them); or, for a negative count, that many picks with repeats.
pub(super) fn hrandfield(db: &Db, key: &[u8], count: Option<(i64, bool)>, protocol: Protocol) -> Reply {
    db.with_key(key, |slot| {
        let hash = or_reply!(slot.read::<Hash>());
        let Some((count, withvalues)) = count else {
            return hash.and_then(Hash::random).map_or(Reply::Null, |(field, _)| Reply::bulk(field));
        };
        let Some(hash) = hash else { return Reply::Array(Vec::new()) };
        let picks = or_reply!(random_picks(count, hash.len(), || hash.random(), hash.iter()));
        picks_reply(picks.into_iter(), withvalues, protocol)
    })
}

/// The picks of `HRANDFIELD`/`SRANDMEMBER`/`ZRANDMEMBER key count` from a collection of `len` items:
/// for a negative count that many with repeats (refused past [`MAX_RANDOM_REPLY`] before anything is
/// allocated), else `count` distinct ones, or all of them (in the collection's own order).
pub(super) fn random_picks<'a, T: Copy + KeyOf<'a>>(
    count: i64,
    len: usize,
    mut random: impl FnMut() -> Option<T>,
    all: impl Iterator<Item = T>,
) -> Result<Vec<T>, Reply> {
    let wanted = count.unsigned_abs();
    if count < 0 {
        if wanted > MAX_RANDOM_REPLY {
            return Err(count_too_large());
        }
        if len <= MAX_PACKED_HASH_ENTRIES && wanted > 1 {
            // A packed collection finds a random item by walking to it: walk it once instead.
            let items: Vec<T> = all.collect();
            return Ok((0..wanted)
                .filter_map(|_| items.get(random_u64() as usize % items.len().max(1)).copied())
                .collect());
        }
        return Ok((0..wanted).filter_map(|_| random()).collect());
    }
    if wanted >= len as u64 {
        return Ok(all.collect());
    }
    Ok(distinct(len, wanted as usize, random, all))
}

/// `wanted` distinct items out of `len` (`wanted < len`): drawn at random when few are wanted from a
/// big collection, otherwise the whole collection shuffled and cut, as Redis switches strategy at a
/// third.
fn distinct<'a, T: Copy + KeyOf<'a>>(
    len: usize,
    wanted: usize,
    mut random: impl FnMut() -> Option<T>,
    all: impl Iterator<Item = T>,
) -> Vec<T> {
    // Small collections are shuffled whole too: a packed one walks to each random item it draws.
    if wanted * 3 > len || len <= MAX_PACKED_HASH_ENTRIES {
        let mut items: Vec<T> = all.collect();
        for i in 0..wanted.min(items.len()) {
            let j = i + (random_u64() as usize) % (items.len() - i);
            items.swap(i, j);
        }
        items.truncate(wanted);
        return items;
    }
    let mut seen = HashSet::with_capacity(wanted);
    let mut picks = Vec::with_capacity(wanted);
    while picks.len() < wanted {
        let Some(item) = random() else { break };
        if seen.insert(item.key_of()) {
            picks.push(item);
        }
    }
    picks
}

/// What makes a pick distinct: a member, or a hash entry's field.
pub(super) trait KeyOf<'a> {
    fn key_of(self) -> &'a [u8];
}

impl<'a> KeyOf<'a> for &'a [u8] {
    fn key_of(self) -> &'a [u8] {
        self
    }
}

impl<'a> KeyOf<'a> for (&'a [u8], &'a [u8]) {
    fn key_of(self) -> &'a [u8] {
        self.0
    }
}
