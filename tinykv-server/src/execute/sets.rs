//! The set family: members under one key, and the algebra of several.
//!
//! Writes record their effect through [`Effects`] while the keys' locks are held: `SADD`/`SREM` as
//! they are, `SPOP` as `SREM` of what it popped (or `DEL` when it took everything), `SMOVE` as `SREM`
//! and `SADD`, and the `*STORE` commands as `DEL` of the destination and `SADD` of the result, so
//! replay never depends on what the sources held.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use tinykv_proto::command::{CollectionScan, SetOperation};
use tinykv_proto::reply::{encode_bulks, Shape};
use tinykv_proto::{CommandError, Protocol, Reply};

use super::hashes::{random_picks, scan_reply, DEFAULT_SCAN_COUNT};
use crate::aof::Effects;
use crate::collections::{Collection, Set};
use crate::db::{Db, Keys};
use crate::entry::Value;
use crate::glob;

fn members_reply<'a>(members: impl Iterator<Item = &'a [u8]>) -> Reply {
    Reply::Set(members.map(Reply::bulk).collect())
}

/// `SADD`: how many members were new.
pub(super) fn sadd(db: &Db, key: &[u8], members: &[Bytes], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let added = or_reply!(slot.write::<Set, _>(true, |set| {
            let added = members.iter().filter(|member| set.insert(member)).count();
            (added, added > 0)
        }))
        .unwrap_or(0);
        if added > 0 {
            effects.record_chunked(&[b"SADD", key], members.iter().map(|member| &member[..]));
        }
        Reply::Integer(added as i64)
    })
}

/// `SREM`: how many members were there; the key goes with its last member.
pub(super) fn srem(db: &Db, key: &[u8], members: &[Bytes], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let removed = or_reply!(slot.write::<Set, _>(false, |set| {
            let removed = members.iter().filter(|member| set.remove(member)).count();
            (removed, removed > 0)
        }))
        .unwrap_or(0);
        if removed > 0 {
            effects.record_chunked(&[b"SREM", key], members.iter().map(|member| &member[..]));
        }
        Reply::Integer(removed as i64)
    })
}

/// `SISMEMBER`: 1 if the member is in the set.
pub(super) fn sismember(db: &Db, key: &[u8], member: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let set = or_reply!(slot.read::<Set>());
        Reply::Integer(i64::from(set.is_some_and(|set| set.contains(member))))
    })
}

/// `SMISMEMBER`: 1 or 0 for each member.
pub(super) fn smismember(db: &Db, key: &[u8], members: &[Bytes]) -> Reply {
    db.with_key(key, |slot| {
        let set = or_reply!(slot.read::<Set>());
        let found = |member: &Bytes| Reply::Integer(i64::from(set.is_some_and(|set| set.contains(member))));
        Reply::Array(members.iter().map(found).collect())
    })
}

/// `SMEMBERS`: every member (a set reply in RESP3).
pub(super) fn smembers(db: &Db, key: &[u8], protocol: Protocol, out: Option<&mut BytesMut>) -> Reply {
    db.with_key(key, |slot| match or_reply!(slot.read::<Set>()) {
        // Written in place when the connection gave its buffer (see `execute::handle_into`) and the
        // reply goes out whole: each member copied once, not into a reply first.
        Some(set) => match super::in_place(out, set.len()) {
            Some(out) => {
                encode_bulks(out, protocol, Shape::Set, set.len(), set.iter());
                Reply::written()
            }
            None => members_reply(set.iter()),
        },
        None => Reply::Set(Vec::new()),
    })
}

/// `SCARD`: the number of members, 0 for a missing key.
pub(super) fn scard(db: &Db, key: &[u8]) -> Reply {
    db.with_key(key, |slot| Reply::Integer(or_reply!(slot.read::<Set>()).map_or(0, Set::len) as i64))
}

/// `SPOP key [count]`: removes and answers random members: one (or null), or up to `count` (a set reply).
pub(super) fn spop(db: &Db, key: &[u8], count: Option<u64>, effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let Some(count) = count else {
            let popped = or_reply!(slot.write::<Set, _>(false, |set| {
                let member = set.random().map(<[u8]>::to_vec);
                if let Some(member) = &member {
                    set.remove(member);
                }
                (member, true)
            }))
            .flatten();
            return match popped {
                Some(member) => {
                    effects.record(&[b"SREM", key, &member]);
                    Reply::Bulk(Bytes::from(member))
                }
                None => Reply::Null,
            };
        };
        let Some(set) = or_reply!(slot.read::<Set>()) else { return Reply::Set(Vec::new()) };
        if count == 0 {
            return Reply::Set(Vec::new());
        }
        if count >= set.len() as u64 {
            // Everything: the key goes, as one DEL in the log.
            let reply = members_reply(set.iter());
            slot.remove();
            effects.record(&[b"DEL", key]);
            return reply;
        }
        let popped = or_reply!(slot.write::<Set, _>(false, |set| {
            let mut popped = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let Some(member) = set.random().map(<[u8]>::to_vec) else { break };
                set.remove(&member);
                popped.push(member);
            }
            (popped, true)
        }))
        .unwrap_or_default();
        effects.record_chunked(&[b"SREM", key], popped.iter().map(Vec::as_slice));
        Reply::Set(popped.into_iter().map(|member| Reply::Bulk(Bytes::from(member))).collect())
    })
}

/// `SRANDMEMBER key [count]`: one member (or null); or `count` distinct members (at most all); or,
/// for a negative count, that many picks with repeats. Nothing is removed.
pub(super) fn srandmember(db: &Db, key: &[u8], count: Option<i64>) -> Reply {
    db.with_key(key, |slot| {
        let set = or_reply!(slot.read::<Set>());
        let Some(count) = count else { return set.and_then(Set::random).map_or(Reply::Null, Reply::bulk) };
        let Some(set) = set else { return Reply::Array(Vec::new()) };
        let picks = or_reply!(random_picks(count, set.len(), || set.random(), set.iter()));
        Reply::Array(picks.into_iter().map(Reply::bulk).collect())
    })
}

/// `SMOVE source destination member`: 1 if the member moved (or is already in a source that is its
/// own destination), 0 when the source lacks it. Checks in Redis's order: a missing source is 0
/// whatever the destination holds.
pub(super) fn smove(db: &Db, source: &[u8], destination: &[u8], member: &[u8], effects: &mut Effects<'_>) -> Reply {
    db.with_keys(&[source, destination], |locked| {
        let has_member = match or_reply!(locked.slot(0).read::<Set>()) {
            None => return Reply::Integer(0),
            Some(set) => set.contains(member),
        };
        or_reply!(locked.slot(1).read::<Set>());
        if source == destination || !has_member {
            return Reply::Integer(i64::from(has_member));
        }
        or_reply!(locked.slot(0).write::<Set, _>(false, |set| (set.remove(member), true)));
        effects.record(&[b"SREM", source, member]);
        let added = or_reply!(locked.slot(1).write::<Set, _>(true, |set| {
            let added = set.insert(member);
            (added, added)
        }));
        if added == Some(true) {
            effects.record(&[b"SADD", destination, member]);
        }
        Reply::Integer(1)
    })
}

/// The members of the set at slot `i` of `locked`, copied out (none for a missing key).
fn members_of(locked: &mut Keys<'_>, i: usize) -> Vec<Bytes> {
    match locked.slot(i).read::<Set>() {
        Ok(Some(set)) => set.iter().map(Bytes::copy_from_slice).collect(),
        _ => Vec::new(),
    }
}

/// Computes `operation` over the sets at slots `first..` of `locked`, after checking every key's type
/// (a key of another type is `WRONGTYPE` even after a missing one, as in Redis). `limit` stops an
/// intersection once it has that many members (0: no limit).
fn compute(
    locked: &mut Keys<'_>,
    first: usize,
    operation: SetOperation,
    limit: usize,
) -> Result<Vec<Bytes>, CommandError> {
    let mut sizes = Vec::with_capacity(locked.len() - first);
    for i in first..locked.len() {
        sizes.push(locked.slot(i).read::<Set>()?.map(Set::len));
    }
    let mut result: Vec<Bytes> = match operation {
        SetOperation::Inter => {
            if sizes.iter().any(Option::is_none) {
                return Ok(Vec::new());
            }
            // Start from the smallest set and keep what every other one holds.
            let smallest = (0..sizes.len()).min_by_key(|&i| sizes[i]).unwrap_or(0);
            let mut result = members_of(locked, first + smallest);
            for i in first..locked.len() {
                if i != first + smallest {
                    let slot = locked.slot(i);
                    let Ok(Some(set)) = slot.read::<Set>() else { return Ok(Vec::new()) };
                    result.retain(|member| set.contains(member));
                }
            }
            result
        }
        SetOperation::Union => {
            let mut seen: HashSet<Bytes> = HashSet::new();
            for i in first..locked.len() {
                if let Ok(Some(set)) = locked.slot(i).read::<Set>() {
                    for member in set.iter() {
                        if !seen.contains(member) {
                            seen.insert(Bytes::copy_from_slice(member));
                        }
                    }
                }
            }
            seen.into_iter().collect()
        }
        SetOperation::Diff => {
            let mut result = members_of(locked, first);
            for i in first + 1..locked.len() {
                if result.is_empty() {
                    break;
                }
                if let Ok(Some(set)) = locked.slot(i).read::<Set>() {
                    result.retain(|member| !set.contains(member));
                }
            }
            result
        }
    };
    if limit > 0 {
        result.truncate(limit);
    }
    Ok(result)
}

/// `SINTER`, `SUNION`, `SDIFF` (a set reply) and their `STORE` forms (the size of the result, stored
/// without a time to live at the destination, or the destination deleted when it is empty).
pub(super) fn set_algebra(
    db: &Db,
    operation: SetOperation,
    destination: Option<&[u8]>,
    keys: &[Bytes],
    effects: &mut Effects<'_>,
) -> Reply {
    let mut all: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
    all.extend(destination);
    all.extend(keys.iter().map(|key| &key[..]));
    let first = usize::from(destination.is_some());
    db.with_keys(&all, |locked| {
        let result = or_reply!(compute(locked, first, operation, 0));
        let Some(destination) = destination else { return Reply::Set(result.into_iter().map(Reply::Bulk).collect()) };
        let mut slot = locked.slot(0);
        if result.is_empty() {
            if slot.remove().is_some() {
                effects.record(&[b"DEL", destination]);
            }
            return Reply::Integer(0);
        }
        let set: Set = result.iter().map(|member| &member[..]).collect();
        slot.put_value(Value::Collection(Collection::Set(set)), None);
        effects.record(&[b"DEL", destination]);
        effects.record_chunked(&[b"SADD", destination], result.iter().map(|member| &member[..]));
        Reply::Integer(result.len() as i64)
    })
}

/// `SINTERCARD`: the size of the intersection, counting at most `limit` (0: all).
pub(super) fn sintercard(db: &Db, keys: &[Bytes], limit: u64) -> Reply {
    let all: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    db.with_keys(&all, |locked| {
        let result = or_reply!(compute(locked, 0, SetOperation::Inter, limit));
        Reply::Integer(result.len() as i64)
    })
}

/// `SSCAN`: members, a step at a time; a small set comes whole in one step.
pub(super) fn sscan(db: &Db, scan: CollectionScan) -> Reply {
    db.with_key(&scan.key, |slot| {
        let Some(set) = or_reply!(slot.read::<Set>()) else { return scan_reply(0, Vec::new()) };
        let options = or_reply!(scan.options);
        let count = usize::try_from(options.count.unwrap_or(DEFAULT_SCAN_COUNT)).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let next = set.scan(scan.cursor, count, |member| {
            if options.pattern.as_ref().is_none_or(|pattern| glob::matches(pattern, member)) {
                items.push(Reply::bulk(member));
            }
        });
        scan_reply(next, items)
    })
}
