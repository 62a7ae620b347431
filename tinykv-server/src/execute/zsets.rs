//! The sorted-set family: members ordered by score, and the algebra of several sorted sets (and sets).
//!
//! Writes record their effect through [`Effects`] while the keys' locks are held, always as commands
//! that set an absolute state: `ZADD` of each member's resulting score (so `ZINCRBY` and `ZADD INCR`
//! log the score they produced), `ZREM` of what the pops and the `ZREMRANGEBY*` commands removed, and
//! `DEL` then `ZADD` of the result for the `*STORE` commands. Replay never depends on randomness or
//! on what the sources held.

use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};
use tinykv_proto::command::{Aggregate, CollectionScan, SetOperation, ZAdd, ZRange, ZRangeBy, ZSetOp};
use tinykv_proto::score::{format_g17, LexBound, ScoreBound};
use tinykv_proto::{Command, CommandError, Protocol, Reply};

use super::hashes::{random_picks, scan_reply, KeyOf, DEFAULT_SCAN_COUNT};
use crate::aof::Effects;
use crate::collections::{Collection, Set, MAX_PACKED_ENTRIES};
use crate::db::{Db, Keys, Slot};
use crate::entry::Value;
use crate::glob;
use crate::zset::{order, ZSet};

/// Runs one sorted-set command: they need only their database (and the protocol, for the shape of
/// replies with scores), so replay runs them too.
pub(super) fn run(command: Command, db: &Db, protocol: Protocol, effects: &mut Effects<'_>) -> Reply {
    match command {
        Command::ZAdd(add) => zadd(db, add, effects),
        Command::ZRem { key, members } => zrem(db, &key, &members, effects),
        Command::ZCard { key } => {
            db.with_key(&key, |slot| Reply::Integer(or_reply!(slot.read::<ZSet>()).map_or(0, ZSet::len) as i64))
        }
        Command::ZCount { key, min, max } => count(db, &key, |zset| score_span(zset, &min, &max)),
        Command::ZLexCount { key, min, max } => count(db, &key, |zset| lex_span(zset, &min, &max)),
        Command::ZScore { key, member } => db.with_key(&key, |slot| {
            let zset = or_reply!(slot.read::<ZSet>());
            zset.and_then(|zset| zset.score(&member)).map_or(Reply::Null, Reply::Double)
        }),
        Command::ZMScore { key, members } => db.with_key(&key, |slot| {
            let zset = or_reply!(slot.read::<ZSet>());
            let score = |member: &Bytes| zset.and_then(|zset| zset.score(member)).map_or(Reply::Null, Reply::Double);
            Reply::Array(members.iter().map(score).collect())
        }),
        Command::ZRank { key, member, reverse } => db.with_key(&key, |slot| {
            let Some(zset) = or_reply!(slot.read::<ZSet>()) else { return Reply::Null };
            match zset.rank(&member) {
                Some(rank) if reverse => Reply::Integer((zset.len() - 1 - rank) as i64),
                Some(rank) => Reply::Integer(rank as i64),
                None => Reply::Null,
            }
        }),
        Command::ZRange(range) => zrange(db, range, protocol, effects, None),
        Command::ZPop { keys, max, count, multi, timeout: _ } => zpop(db, &keys, max, count, multi, protocol, effects),
        Command::ZRemRange { key, by } => zremrange(db, &key, &by, effects),
        Command::ZSetOp(op) => zsetop(db, op, protocol, effects),
        Command::ZRandMember { key, count } => zrandmember(db, &key, count, protocol),
        Command::ZScan(scan) => zscan(db, scan),
        _ => Reply::error("ERR not a collection command"),
    }
}

/// Whether command `name` can leave a sorted set where clients may wait in `BZPOPMIN`, `BZPOPMAX` or
/// `BZMPOP`: they are served after it (the commands of other families that move values, `RENAME`
/// and such, serve them too).
pub(super) fn may_put_a_zset(name: &str) -> bool {
    matches!(name, "ZADD" | "ZINCRBY" | "ZUNIONSTORE" | "ZINTERSTORE" | "ZDIFFSTORE" | "ZRANGESTORE")
}

/// Entries as a reply: members only, or with scores as flat pairs (RESP2) or two-element arrays
/// (RESP3), as Redis 7.0 answers `ZRANGE ... WITHSCORES`. Each member comes as its bulk reply:
/// copied from the set (`Reply::bulk`) or moved in when it was popped (`Reply::Bulk`).
fn entries_reply(entries: impl Iterator<Item = (Reply, f64)>, withscores: bool, protocol: Protocol) -> Reply {
    let mut items = Vec::new();
    push_entries(&mut items, entries, withscores, protocol);
    Reply::Array(items)
}

/// [`entries_reply`]'s items, appended to `items` (after a served `BZPOPMIN`'s key).
fn push_entries(
    items: &mut Vec<Reply>,
    entries: impl Iterator<Item = (Reply, f64)>,
    withscores: bool,
    protocol: Protocol,
) {
    for (member, score) in entries {
        match (withscores, protocol) {
            (false, _) => items.push(member),
            (true, Protocol::Resp2) => items.extend([member, Reply::Double(score)]),
            (true, Protocol::Resp3) => items.push(Reply::Array(vec![member, Reply::Double(score)])),
        }
    }
}

/// Popped entries, their members moved in, for [`entries_reply`].
fn popped_entries(popped: Vec<(Bytes, f64)>) -> impl Iterator<Item = (Reply, f64)> {
    popped.into_iter().map(|(member, score)| (Reply::Bulk(member), score))
}

/// `ZADD` (and `ZINCRBY`, which is `ZADD ... INCR`): the number added (or changed, with `CH`), or
/// with `INCR` the resulting score (null when a condition left the member alone).
fn zadd(db: &Db, add: ZAdd, effects: &mut Effects<'_>) -> Reply {
    let ZAdd { key, flags, entries } = add;
    db.with_key(&key, |slot| {
        let result = or_reply!(slot.write::<ZSet, _>(!flags.xx, |zset| {
            let (mut added, mut updated, mut processed, mut last) = (0i64, 0i64, 0, 0.0);
            let mut changed: Vec<(&[u8], f64)> = Vec::new();
            for (score, member) in &entries {
                let mut score = *score;
                match zset.score(member) {
                    Some(current) => {
                        if flags.nx {
                            continue;
                        }
                        if flags.incr {
                            score += current;
                            if score.is_nan() {
                                return (Err(()), !changed.is_empty());
                            }
                        }
                        if (flags.lt && score >= current) || (flags.gt && score <= current) {
                            continue;
                        }
                        processed += 1;
                        last = score;
                        if score != current {
                            zset.insert(member, score);
                            updated += 1;
                            changed.push((member, score));
                        }
                    }
                    None if flags.xx => {}
                    None => {
                        zset.insert(member, score);
                        added += 1;
                        processed += 1;
                        last = score;
                        changed.push((member, score));
                    }
                }
            }
            if !changed.is_empty() {
                effects.record_zadd(&key, changed.iter().copied());
            }
            let any = !changed.is_empty();
            (Ok((added, updated, processed, last)), any)
        }));
        match result {
            Some(Err(())) => Reply::error("ERR resulting score is not a number (NaN)"),
            Some(Ok((_, _, processed, last))) if flags.incr => {
                if processed > 0 {
                    Reply::Double(last)
                } else {
                    Reply::Null
                }
            }
            Some(Ok((added, updated, _, _))) => Reply::Integer(if flags.ch { added + updated } else { added }),
            None if flags.incr => Reply::Null,
            None => Reply::Integer(0),
        }
    })
}

/// `ZREM`: how many members were there; the key goes with its last member.
fn zrem(db: &Db, key: &[u8], members: &[Bytes], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let removed = or_reply!(slot.write::<ZSet, _>(false, |zset| {
            let removed = members.iter().filter(|member| zset.remove(member).is_some()).count();
            (removed, removed > 0)
        }))
        .unwrap_or(0);
        if removed > 0 {
            effects.record_chunked(&[b"ZREM", key], members.iter().map(|member| &member[..]));
        }
        Reply::Integer(removed as i64)
    })
}

/// The ascending ranks `start..end` of the entries whose scores lie between `min` and `max`.
fn score_span(zset: &ZSet, min: &ScoreBound, max: &ScoreBound) -> (usize, usize) {
    let start = zset.count_before(|score, _| min.below_min(score));
    let end = zset.count_before(|score, _| max.within_max(score));
    (start, end.max(start))
}

/// The ascending ranks `start..end` of the entries whose members lie between `min` and `max` (when
/// all scores are equal, as Redis requires of a lexicographic range).
fn lex_span(zset: &ZSet, min: &LexBound, max: &LexBound) -> (usize, usize) {
    let start = zset.count_before(|_, member| min.below_min(member));
    let end = zset.count_before(|_, member| max.within_max(member));
    (start, end.max(start))
}

/// The ascending ranks a `start stop` pair of positions covers (negative from the end), with
/// Redis's clamping; `None` when empty.
fn rank_span(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { start.saturating_add(len).max(0) } else { start };
    let stop = if stop < 0 { stop.saturating_add(len) } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, (stop.min(len - 1) + 1) as usize))
}

/// `ZCOUNT`/`ZLEXCOUNT`: the size of a span, 0 for a missing key.
fn count(db: &Db, key: &[u8], span: impl Fn(&ZSet) -> (usize, usize)) -> Reply {
    db.with_key(key, |slot| {
        let Some(zset) = or_reply!(slot.read::<ZSet>()) else { return Reply::Integer(0) };
        let (start, end) = span(zset);
        Reply::Integer((end - start) as i64)
    })
}

/// Entries of a sorted set, members with their scores, in some order.
type Entries<'a> = Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a>;

/// The entries a range command selects, in reply order, and how many there are.
fn select<'a>(zset: &'a ZSet, by: &ZRangeBy, reverse: bool, limit: Option<(i64, i64)>) -> (usize, Entries<'a>) {
    let none = || (0, Box::new(std::iter::empty()) as Entries<'a>);
    let (start, end) = match by {
        ZRangeBy::Rank(start, stop) => {
            let Some((start, end)) = rank_span(zset.len(), *start, *stop) else { return none() };
            return if reverse {
                // Positions count from the highest score.
                let len = zset.len();
                (end - start, zset.range(len - end, len - start, true))
            } else {
                (end - start, zset.range(start, end, false))
            };
        }
        ZRangeBy::Score(min, max) => score_span(zset, min, max),
        ZRangeBy::Lex(min, max) => lex_span(zset, min, max),
    };
    let (offset, count) = limit.unwrap_or((0, -1));
    // A negative offset walks past the end in Redis: nothing.
    let Ok(offset) = usize::try_from(offset) else { return none() };
    let available = (end - start).saturating_sub(offset);
    let take = usize::try_from(count).map_or(available, |count| count.min(available));
    if take == 0 {
        return none();
    }
    if reverse {
        (take, Box::new(zset.range(start, end - offset, true).take(take)))
    } else {
        (take, Box::new(zset.range(start + offset, end, false).take(take)))
    }
}

/// The `ZRANGE` family, and `ZRANGESTORE`. A read's reply is written in `out` straight from the
/// set when the connection gave its buffer and the reply goes out whole (see `execute::in_place`).
pub(super) fn zrange(
    db: &Db,
    range: ZRange,
    protocol: Protocol,
    effects: &mut Effects<'_>,
    out: Option<&mut BytesMut>,
) -> Reply {
    let ZRange { destination, key, by, reverse, limit, withscores } = range;
    let Some(destination) = destination else {
        return db.with_key(&key, |slot| {
            let Some(zset) = or_reply!(slot.read::<ZSet>()) else { return Reply::Array(Vec::new()) };
            let (len, entries) = select(zset, &by, reverse, limit);
            // The rule `into_stream` applies to the built reply, by its items: a flat RESP2 reply
            // with scores has two an entry.
            let items = if withscores && protocol == Protocol::Resp2 { 2 * len } else { len };
            match super::in_place(out, items) {
                Some(out) => {
                    tinykv_proto::reply::encode_scored(out, protocol, len, withscores, entries);
                    Reply::written()
                }
                None => {
                    entries_reply(entries.map(|(member, score)| (Reply::bulk(member), score)), withscores, protocol)
                }
            }
        });
    };
    db.with_keys(&[&destination, &key], |locked| {
        let result: Vec<(Bytes, f64)> = match or_reply!(locked.slot(1).read::<ZSet>()) {
            None => Vec::new(),
            Some(zset) => select(zset, &by, reverse, limit)
                .1
                .map(|(member, score)| (Bytes::copy_from_slice(member), score))
                .collect(),
        };
        // Redis starts the result big when it knows it will be (a range by rank past the packed
        // limit), else packed, and adds the entries one by one.
        let big = matches!(by, ZRangeBy::Rank(..)) && result.len() > MAX_PACKED_ENTRIES;
        store(&mut locked.slot(0), &destination, result, Build::Incremental { big }, effects)
    })
}

/// How a stored result is built, as Redis builds it (which decides where a `-0` score survives:
/// only in the big encoding).
#[derive(Clone, Copy)]
enum Build {
    /// Entry by entry in reply order, starting big or packed (`ZRANGESTORE`).
    Incremental { big: bool },
    /// Whole, then packed if small enough (`ZUNIONSTORE` and the others).
    Whole,
}

/// Puts `result` at `destination` (replacing whatever is there, with no time to live), or deletes
/// it when `result` is empty; logs `DEL` and `ZADD`. Answers the result's size.
fn store(
    slot: &mut Slot<'_>,
    destination: &[u8],
    result: Vec<(Bytes, f64)>,
    build: Build,
    effects: &mut Effects<'_>,
) -> Reply {
    if result.is_empty() {
        if slot.remove().is_some() {
            effects.record(&[b"DEL", destination]);
        }
        return Reply::Integer(0);
    }
    let entries = result.iter().map(|(member, score)| (&member[..], *score));
    let zset = match build {
        Build::Incremental { big } => {
            let mut zset = ZSet::default();
            if big {
                zset.unpack();
            }
            entries.for_each(|(member, score)| {
                zset.insert(member, score);
            });
            zset
        }
        Build::Whole => entries.collect(),
    };
    let len = zset.len();
    effects.record(&[b"DEL", destination]);
    effects.record_zadd(destination, zset.iter());
    slot.put_value(Value::Collection(Collection::ZSet(Box::new(zset))), None);
    Reply::Integer(len as i64)
}

/// `ZPOPMIN`/`ZPOPMAX` (one key) and `ZMPOP` (the first non-empty of several keys).
fn zpop(
    db: &Db,
    keys: &[Bytes],
    max: bool,
    count: Option<u64>,
    multi: bool,
    protocol: Protocol,
    effects: &mut Effects<'_>,
) -> Reply {
    let all: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
    db.with_keys(&all, |locked| {
        let mut found = None;
        for i in 0..locked.len() {
            if or_reply!(locked.slot(i).read::<ZSet>()).is_some() {
                found = Some(i);
                break;
            }
        }
        let Some(i) = found else { return if multi { Reply::NullArray } else { Reply::Array(Vec::new()) } };
        if count == Some(0) {
            return Reply::Array(Vec::new());
        }
        let wanted = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
        let popped = pop(&mut locked.slot(i), keys[i].as_ref(), max, wanted, effects);
        let nested = multi || (protocol == Protocol::Resp3 && count.is_some());
        let items = entries_reply(popped_entries(popped), true, if nested { Protocol::Resp3 } else { Protocol::Resp2 });
        if multi {
            Reply::Array(vec![Reply::Bulk(keys[i].clone()), items])
        } else {
            items
        }
    })
}

/// What a served `BZPOPMIN`/`BZPOPMAX` (`count: None`: `[key, member, score]`) or `BZMPOP`
/// (`[key, [[member, score], ...]]`) answers, popping from the zset in `slot` (which holds one).
pub(super) fn served(
    slot: &mut Slot<'_>,
    key: &[u8],
    max: bool,
    count: Option<u64>,
    effects: &mut Effects<'_>,
) -> Reply {
    let wanted = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    let popped = pop(slot, key, max, wanted, effects);
    let key = Reply::bulk(key);
    match count {
        None => {
            let mut items = Vec::with_capacity(1 + 2 * popped.len());
            items.push(key);
            push_entries(&mut items, popped_entries(popped), true, Protocol::Resp2);
            Reply::Array(items)
        }
        Some(_) => Reply::Array(vec![key, entries_reply(popped_entries(popped), true, Protocol::Resp3)]),
    }
}

/// `BZPOPMIN`, `BZPOPMAX`, `BZMPOP`: served at once from the first of the keys that holds a
/// non-empty zset (`WRONGTYPE` at the first that holds another type, in order, as Redis checks
/// them); answered as on timeout when the client may not block (`wake.now` false: inside `EXEC`);
/// else registered as waiting, with the keys locked, and `Err` tells the caller to block on it.
pub(super) fn blocking(
    db: &Db,
    client: u64,
    wake: &super::lists::Wake<'_>,
    keys: Vec<Bytes>,
    max: bool,
    count: Option<u64>,
    effects: &mut Effects<'_>,
) -> Result<Reply, std::sync::Arc<crate::blocking::Waiter>> {
    let names: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
    db.with_keys(&names, |locked| {
        for (i, key) in keys.iter().enumerate() {
            let mut slot = locked.slot(i);
            match slot.read::<ZSet>() {
                Err(err) => return Ok(err.into()),
                Ok(Some(zset)) if !zset.is_empty() => return Ok(served(&mut slot, key, max, count, effects)),
                Ok(_) => {}
            }
        }
        if !wake.now {
            return Ok(Reply::NullArray);
        }
        let op = crate::blocking::BlockOp::ZPop { max, count };
        let waiter = crate::blocking::Waiter::new(client, wake.db, keys.clone(), op);
        wake.registry.register(&waiter);
        Err(waiter)
    })
}

/// Removes up to `wanted` entries from the lowest (or, with `max`, the highest) end of the zset in
/// `slot`, and logs them as `ZREM`; returns them in the order popped.
pub(super) fn pop(
    slot: &mut Slot<'_>,
    key: &[u8],
    max: bool,
    wanted: usize,
    effects: &mut Effects<'_>,
) -> Vec<(Bytes, f64)> {
    let popped = slot.write::<ZSet, _>(false, |zset| {
        let mut popped = Vec::with_capacity(wanted.min(zset.len()));
        while popped.len() < wanted {
            let Some((member, score)) = zset.pop_end(max) else { break };
            popped.push((Bytes::from(member), score));
        }
        let any = !popped.is_empty();
        (popped, any)
    });
    let popped = popped.ok().flatten().unwrap_or_default();
    if !popped.is_empty() {
        effects.record_chunked(&[b"ZREM", key], popped.iter().map(|(member, _)| &member[..]));
    }
    popped
}

/// `ZREMRANGEBYRANK`, `ZREMRANGEBYSCORE`, `ZREMRANGEBYLEX`: how many were removed.
fn zremrange(db: &Db, key: &[u8], by: &ZRangeBy, effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let removed = or_reply!(slot.write::<ZSet, _>(false, |zset| {
            let span = match by {
                ZRangeBy::Rank(start, stop) => rank_span(zset.len(), *start, *stop),
                ZRangeBy::Score(min, max) => Some(score_span(zset, min, max)),
                ZRangeBy::Lex(min, max) => Some(lex_span(zset, min, max)),
            };
            let Some((start, end)) = span else { return (Vec::new(), false) };
            let members: Vec<Bytes> = zset.range(start, end, false).map(|(m, _)| Bytes::copy_from_slice(m)).collect();
            for member in &members {
                zset.remove(member);
            }
            let any = !members.is_empty();
            (members, any)
        }))
        .unwrap_or_default();
        if !removed.is_empty() {
            effects.record_chunked(&[b"ZREM", key], removed.iter().map(|member| &member[..]));
        }
        Reply::Integer(removed.len() as i64)
    })
}

/// One input of `ZUNION`/`ZINTER`/`ZDIFF`: its entries (a set's members score 1) and weight.
struct Input {
    entries: Vec<(Bytes, f64)>,
    weight: f64,
}

/// The entries of the sorted set or set at slot `i` (none for a missing key); `WRONGTYPE` otherwise.
fn input_of(locked: &mut Keys<'_>, i: usize) -> Result<Vec<(Bytes, f64)>, CommandError> {
    let slot = locked.slot(i);
    if let Ok(set) = slot.read::<Set>() {
        return Ok(set.map_or_else(Vec::new, |set| set.iter().map(|m| (Bytes::copy_from_slice(m), 1.0)).collect()));
    }
    let zset = slot.read::<ZSet>()?;
    Ok(zset.map_or_else(Vec::new, |zset| zset.iter().map(|(m, s)| (Bytes::copy_from_slice(m), s)).collect()))
}

/// Redis's `zunionInterAggregate`: a sum that is NaN (inf + -inf) is 0.
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = if value < *target { value } else { *target },
        Aggregate::Max => *target = if value > *target { value } else { *target },
    }
}

/// `ZUNION`, `ZINTER`, `ZDIFF`, their `STORE` forms, and `ZINTERCARD`. Inputs are combined in
/// Redis's order (by size, smallest first, for union and intersection), so sums of doubles round
/// the same way.
fn zsetop(db: &Db, op: ZSetOp, protocol: Protocol, effects: &mut Effects<'_>) -> Reply {
    let ZSetOp { operation, destination, keys, options, cardinality } = op;
    let mut all: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
    all.extend(destination.as_deref());
    all.extend(keys.iter().map(|key| &key[..]));
    let first = usize::from(destination.is_some());
    db.with_keys(&all, |locked| {
        // Every input's type first, then the options, as Redis reads them.
        for i in first..locked.len() {
            let slot = locked.slot(i);
            if slot
                .kind()
                .is_some_and(|kind| kind != crate::collections::Kind::Set && kind != crate::collections::Kind::ZSet)
            {
                return CommandError::WrongType.into();
            }
        }
        let options = or_reply!(options);
        let mut inputs = Vec::with_capacity(keys.len());
        for i in first..locked.len() {
            let weight = options.weights.as_ref().and_then(|w| w.get(i - first).copied()).unwrap_or(1.0);
            inputs.push(Input { entries: or_reply!(input_of(locked, i)), weight });
        }
        let mut result: Vec<(Bytes, f64)> = match operation {
            SetOperation::Diff => {
                let others: HashSet<&Bytes> =
                    inputs[1..].iter().flat_map(|i| i.entries.iter().map(|(m, _)| m)).collect();
                inputs[0].entries.iter().filter(|(m, _)| !others.contains(m)).cloned().collect()
            }
            SetOperation::Inter => {
                inputs.sort_by_key(|input| input.entries.len());
                let lookups: Vec<HashMap<&Bytes, f64>> =
                    inputs[1..].iter().map(|i| i.entries.iter().map(|(m, s)| (m, *s)).collect()).collect();
                let mut result = Vec::new();
                for (member, score) in &inputs[0].entries {
                    let mut total = inputs[0].weight * score;
                    if total.is_nan() {
                        total = 0.0;
                    }
                    let everywhere = lookups.iter().zip(&inputs[1..]).all(|(lookup, input)| {
                        lookup.get(member).is_some_and(|value| {
                            aggregate(&mut total, value * input.weight, options.aggregate);
                            true
                        })
                    });
                    if everywhere {
                        result.push((member.clone(), total));
                        if cardinality && options.limit > 0 && result.len() as u64 >= options.limit {
                            break;
                        }
                    }
                }
                result
            }
            SetOperation::Union => {
                inputs.sort_by_key(|input| input.entries.len());
                let mut totals: HashMap<Bytes, f64> = HashMap::new();
                for input in &inputs {
                    for (member, score) in &input.entries {
                        let mut value = input.weight * score;
                        if value.is_nan() {
                            value = 0.0;
                        }
                        match totals.get_mut(member) {
                            Some(total) => aggregate(total, value, options.aggregate),
                            None => {
                                totals.insert(member.clone(), value);
                            }
                        }
                    }
                }
                totals.into_iter().collect()
            }
        };
        if cardinality {
            return Reply::Integer(result.len() as i64);
        }
        result.sort_by(|a, b| order(a.1, &a.0, b.1, &b.0));
        match &destination {
            Some(destination) => store(&mut locked.slot(0), destination, result, Build::Whole, effects),
            None => entries_reply(result.iter().map(|(m, s)| (Reply::bulk(m), *s)), options.withscores, protocol),
        }
    })
}

impl<'a> KeyOf<'a> for (&'a [u8], f64) {
    fn key_of(self) -> &'a [u8] {
        self.0
    }
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`: one member (or null); or `count` distinct members (at
/// most all, then in order); or, for a negative count, that many picks with repeats.
fn zrandmember(db: &Db, key: &[u8], count: Option<(i64, bool)>, protocol: Protocol) -> Reply {
    db.with_key(key, |slot| {
        let zset = or_reply!(slot.read::<ZSet>());
        let Some((count, withscores)) = count else {
            return zset.and_then(ZSet::random).map_or(Reply::Null, |(member, _)| Reply::bulk(member));
        };
        let Some(zset) = zset else { return Reply::Array(Vec::new()) };
        let picks = or_reply!(random_picks(count, zset.len(), || zset.random(), zset.iter()));
        entries_reply(picks.into_iter().map(|(member, score)| (Reply::bulk(member), score)), withscores, protocol)
    })
}

/// `ZSCAN`: members and their scores (as text, in both protocols), a step at a time; a small zset
/// comes whole in one step.
fn zscan(db: &Db, scan: CollectionScan) -> Reply {
    db.with_key(&scan.key, |slot| {
        let Some(zset) = or_reply!(slot.read::<ZSet>()) else { return scan_reply(0, Vec::new()) };
        let options = or_reply!(scan.options);
        let count = usize::try_from(options.count.unwrap_or(DEFAULT_SCAN_COUNT)).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let next = zset.scan(scan.cursor, count, |member, score| {
            if options.pattern.as_ref().is_none_or(|pattern| glob::matches(pattern, member)) {
                items.push(Reply::bulk(member));
                items.push(Reply::Bulk(Bytes::from(format_g17(score))));
            }
        });
        scan_reply(next, items)
    })
}
