//! The list family, blocking pops included.
//!
//! Writes record their effect through [`Effects`] while the keys' locks are held: pushes as they
//! are, pops as `LPOP`/`RPOP key [count]` (so `LMPOP` and a served `BLPOP` too), `LMOVE` as itself.
//!
//! A write that leaves a list non-empty serves the clients blocked on it ([`serve`]) under the same
//! lock, first come first served, before any other command can see the element; a served `BLMOVE`
//! whose destination is another key pops under the source's lock and pushes under the destination's
//! afterwards (recorded as the pop and the push), so no two shard locks are ever nested out of order.
//! Inside `EXEC` nothing is served until the transaction ends ([`serve_all`]), as in Redis.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tinykv_proto::command::BlockTimeout;
use tinykv_proto::{Command, CommandError, Protocol, Reply};

use crate::aof::Effects;
use crate::blocking::{BlockOp, Blocking, Waiter};
use crate::collections::{End, List};
use crate::db::{Db, Keys, Slot};
use crate::shared::Shared;

/// Whom a write may wake: the registry, the database the write is in, and whether to serve now
/// (not inside `EXEC`, which serves when it ends).
pub(super) struct Wake<'a> {
    pub registry: &'a Blocking,
    pub db: usize,
    pub now: bool,
}

/// A served `BLMOVE` whose element still has to reach its destination (another key).
struct PendingMove {
    waiter: Arc<Waiter>,
    source: Bytes,
    destination: Bytes,
    from: End,
    to: End,
    element: Vec<u8>,
}

fn pop_word(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LPOP",
        End::Right => b"RPOP",
    }
}

fn push_word(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LPUSH",
        End::Right => b"RPUSH",
    }
}

/// Redis's range arithmetic (`LRANGE`, `LTRIM`): negative indexes count from the end, the start is
/// clamped to 0 and the stop to the last element; `None` when nothing is in range.
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// An index from the wire as a position in a list of `len`, if in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index.checked_add(len as i64)? } else { index };
    usize::try_from(index).ok().filter(|&index| index < len)
}

/// Pops up to `count` elements from `end` of the list in `slot` (which holds one).
fn pop_some(slot: &mut Slot<'_>, end: End, count: u64) -> Vec<Vec<u8>> {
    slot.write::<List, _>(false, |list| {
        let take = count.min(list.len() as u64) as usize;
        let popped: Vec<Vec<u8>> = (0..take).filter_map(|_| list.pop(end)).collect();
        let changed = !popped.is_empty();
        (popped, changed)
    })
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// An array of bulk strings copied into one buffer that each reply slices: one allocation for a
/// whole `LRANGE`, not one per element.
fn bulks<'a>(items: impl Iterator<Item = &'a [u8]>) -> Reply {
    let items: Vec<&[u8]> = items.collect();
    let mut buffer = bytes::BytesMut::with_capacity(items.iter().map(|item| item.len()).sum());
    items.iter().for_each(|item| buffer.extend_from_slice(item));
    let buffer = buffer.freeze();
    let mut at = 0;
    Reply::Array(
        items
            .iter()
            .map(|item| {
                at += item.len();
                Reply::Bulk(buffer.slice(at - item.len()..at))
            })
            .collect(),
    )
}

fn elements_reply(elements: Vec<Vec<u8>>) -> Reply {
    Reply::Array(elements.into_iter().map(|element| Reply::Bulk(Bytes::from(element))).collect())
}

/// Serves the clients blocked on `key`, in order, while the list in `slot` has elements. Returns
/// the `BLMOVE`s to another key still to complete (see [`finish_moves`]).
fn serve(slot: &mut Slot<'_>, key: &[u8], wake: Option<&Wake<'_>>, effects: &mut Effects<'_>) -> Vec<PendingMove> {
    let mut pending = Vec::new();
    let Some(wake) = wake.filter(|wake| wake.now && wake.registry.any()) else { return pending };
    loop {
        // --- sorted sets ---
        // A list serves list waiters, a sorted set zset waiters; other waiters stay blocked.
        let zset = match (slot.read::<List>(), slot.read::<crate::zset::ZSet>()) {
            (Ok(Some(list)), _) if !list.is_empty() => false,
            (_, Ok(Some(zset))) if !zset.is_empty() => true,
            _ => break,
        };
        let Some(waiter) = wake.registry.first_where(wake.db, key, |op| op.wants_zset() == zset) else { break };
        if !waiter.claim() {
            continue; // it gave up just now; `first` skips it from now on
        }
        wake.registry.remove(&waiter);
        let key_bytes = Bytes::copy_from_slice(key);
        match &waiter.op {
            BlockOp::Pop { end, count } => {
                let popped = pop_some(slot, *end, count.unwrap_or(1));
                let reply = match count {
                    None => {
                        effects.record(&[pop_word(*end), key]);
                        let element = popped.into_iter().next().unwrap_or_default();
                        Reply::Array(vec![Reply::Bulk(key_bytes), Reply::Bulk(Bytes::from(element))])
                    }
                    Some(_) => {
                        effects.record(&[pop_word(*end), key, popped.len().to_string().as_bytes()]);
                        Reply::Array(vec![Reply::Bulk(key_bytes), elements_reply(popped)])
                    }
                };
                waiter.finish(reply);
            }
            // --- sorted sets ---
            BlockOp::ZPop { max, count } => waiter.finish(super::zsets::served(slot, key, *max, *count, effects)),
            BlockOp::Move { destination, from, to } => {
                let element = pop_some(slot, *from, 1).into_iter().next().unwrap_or_default();
                effects.record(&[pop_word(*from), key]);
                if destination[..] == *key {
                    push_into(slot, *to, &element);
                    effects.record(&[push_word(*to), key, &element]);
                    waiter.finish(Reply::Bulk(Bytes::from(element)));
                } else {
                    pending.push(PendingMove {
                        waiter: Arc::clone(&waiter),
                        source: key_bytes,
                        destination: destination.clone(),
                        from: *from,
                        to: *to,
                        element,
                    });
                }
            }
        }
    }
    pending
}

/// Pushes one element onto the list in `slot` (creating it); false if the key holds another type.
fn push_into(slot: &mut Slot<'_>, end: End, element: &[u8]) -> bool {
    slot.write::<List, _>(true, |list| {
        list.push(end, element);
        ((), true)
    })
    .is_ok()
}

/// Completes served `BLMOVE`s: each element is pushed to its destination (serving whoever waits
/// there in turn); one whose destination now holds another type goes back where it came from and
/// its client gets `WRONGTYPE`, as in Redis.
fn finish_moves(db: &Db, pending: Vec<PendingMove>, wake: Option<&Wake<'_>>, effects: &mut Effects<'_>) {
    let mut work: VecDeque<PendingMove> = pending.into();
    while let Some(next) = work.pop_front() {
        let PendingMove { waiter, source, destination, from, to, element } = next;
        let moved = db.with_key(&destination, |slot| {
            if !push_into(slot, to, &element) {
                return None;
            }
            effects.record(&[push_word(to), &destination, &element]);
            waiter.finish(Reply::Bulk(Bytes::copy_from_slice(&element)));
            Some(serve(slot, &destination, wake, effects))
        });
        match moved {
            Some(more) => work.extend(more),
            None => {
                waiter.finish(CommandError::WrongType.into());
                let more = db.with_key(&source, |slot| {
                    if !push_into(slot, from, &element) {
                        return Vec::new();
                    }
                    effects.record(&[push_word(from), &source, &element]);
                    serve(slot, &source, wake, effects)
                });
                work.extend(more);
            }
        }
    }
}

/// Whether a command outside the list family can leave a list at a key it did not hold one at
/// (so clients blocked there must be looked at after it): the keyspace commands that move or
/// recreate values whole, `SORT ... STORE`, and `DEBUG RELOAD`.
pub(super) fn may_put_a_list(name: &str) -> bool {
    matches!(name, "RENAME" | "RENAMENX" | "MOVE" | "COPY" | "RESTORE" | "SWAPDB" | "SORT" | "DEBUG")
}

/// Serves every blocked client whose key holds a list now: after `EXEC`, and after a write of
/// another family (`RENAME`, `MOVE`, `COPY`, `RESTORE`, `SWAPDB`...) that may have put one there.
/// Returns whether anything was recorded in the append-only file.
pub(super) fn serve_all(shared: &Shared) -> bool {
    let mut recorded = false;
    for (index, key) in shared.blocking.waited_keys() {
        if index >= shared.dbs.len() {
            continue;
        }
        let db = shared.db(index);
        let wake = Wake { registry: &shared.blocking, db: index, now: true };
        // --- replication ---
        let replication = super::replication::live_feed(shared);
        let mut effects = Effects::with_replication(shared.aof.as_ref(), replication, index);
        let pending = db.with_key(&key, |slot| serve(slot, &key, Some(&wake), &mut effects));
        finish_moves(db, pending, Some(&wake), &mut effects);
        recorded |= effects.recorded();
    }
    recorded
}

/// The non-blocking list commands (and the blocking ones' records, on replay).
pub(super) fn command(command: Command, db: &Db, wake: Option<&Wake<'_>>, effects: &mut Effects<'_>) -> Reply {
    match command {
        Command::Push { key, end, elements, existing } => push(db, &key, end, &elements, existing, wake, effects),
        Command::Pop { key, end, count } => pop(db, &key, end, count, effects),
        Command::LLen { key } => {
            db.with_key(&key, |slot| Reply::Integer(or_reply!(slot.read::<List>()).map_or(0, List::len) as i64))
        }
        Command::LIndex { key, index } => lindex(db, &key, &index),
        Command::LSet { key, index, element } => lset(db, &key, &index, &element, effects),
        Command::LInsert { key, after, pivot, element } => linsert(db, &key, after, &pivot, &element, effects),
        Command::LRem { key, count, element } => lrem(db, &key, count, &element, effects),
        Command::LTrim { key, start, stop } => ltrim(db, &key, start, stop, effects),
        Command::LPos { key, element, rank, count, maxlen } => lpos(db, &key, &element, rank, count, maxlen),
        Command::LMove { source, destination, from, to, .. } => {
            let keys: [&[u8]; 2] = [&source, &destination];
            let (reply, pending) = db.with_keys(&keys, |locked| lmove(locked, from, to, wake, effects));
            finish_moves(db, pending, wake, effects);
            reply.unwrap_or(Reply::Null)
        }
        Command::LMPop { keys, end, count, .. } => {
            let names: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
            db.with_keys(&names, |locked| mpop(locked, &keys, end, Some(count), effects)).unwrap_or(Reply::NullArray)
        }
        _ => Reply::error("ERR not a list command"),
    }
}

fn push(
    db: &Db,
    key: &[u8],
    end: End,
    elements: &[Bytes],
    existing: bool,
    wake: Option<&Wake<'_>>,
    effects: &mut Effects<'_>,
) -> Reply {
    let (reply, pending) = db.with_key(key, |slot| {
        let len = match slot.write::<List, _>(!existing, |list| {
            elements.iter().for_each(|element| list.push(end, element));
            (list.len(), true)
        }) {
            Ok(len) => len.unwrap_or(0),
            Err(err) => return (err.into(), Vec::new()),
        };
        if len > 0 {
            effects.record_chunked(&[push_word(end), key], elements.iter().map(|element| &element[..]));
        }
        (Reply::Integer(len as i64), serve(slot, key, wake, effects))
    });
    finish_moves(db, pending, wake, effects);
    reply
}

fn pop(db: &Db, key: &[u8], end: End, count: Option<u64>, effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let missing = if count.is_some() { Reply::NullArray } else { Reply::Null };
        let Some(list) = or_reply!(slot.read::<List>()) else { return missing };
        let Some(count) = count else {
            let popped = pop_some(slot, end, 1).into_iter().next();
            effects.record(&[pop_word(end), key]);
            return popped.map_or(Reply::Null, |element| Reply::Bulk(Bytes::from(element)));
        };
        if count == 0 || list.is_empty() {
            return Reply::Array(Vec::new());
        }
        let popped = pop_some(slot, end, count);
        effects.record(&[pop_word(end), key, popped.len().to_string().as_bytes()]);
        elements_reply(popped)
    })
}

/// `LRANGE`, written in place in `out` when the connection gave its buffer (see
/// `execute::handle_into`) and the range is short enough to go out whole: each element is copied
/// once, from the list to the buffer, instead of into a reply first.
pub(super) fn lrange(db: &Db, key: &[u8], start: i64, stop: i64, out: Option<&mut BytesMut>) -> Reply {
    use tinykv_proto::reply::{encode_bulks, Shape};
    db.with_key(key, |slot| {
        let Some(list) = or_reply!(slot.read::<List>()) else { return Reply::Array(Vec::new()) };
        let Some((start, stop)) = clamp_range(start, stop, list.len()) else { return Reply::Array(Vec::new()) };
        let len = stop - start + 1;
        match super::in_place(out, len) {
            Some(out) => {
                // An array is the same in both protocols.
                encode_bulks(out, Protocol::Resp2, Shape::Array, len, list.range(start, stop));
                Reply::written()
            }
            _ => bulks(list.range(start, stop)),
        }
    })
}

fn lindex(db: &Db, key: &[u8], index: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let Some(list) = or_reply!(slot.read::<List>()) else { return Reply::Null };
        let index = or_reply!(tinykv_proto::command::parse_integer(index));
        position(index, list.len()).and_then(|at| list.get(at)).map_or(Reply::Null, Reply::bulk)
    })
}

fn lset(db: &Db, key: &[u8], index: &[u8], element: &[u8], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let Some(list) = or_reply!(slot.read::<List>()) else { return CommandError::NoSuchKey.into() };
        let index = or_reply!(tinykv_proto::command::parse_integer(index));
        let Some(at) = position(index, list.len()) else {
            return CommandError::OutOfRange("index out of range").into();
        };
        or_reply!(slot.write::<List, _>(false, |list| (list.set(at, element), true)));
        effects.record(&[b"LSET", key, at.to_string().as_bytes(), element]);
        Reply::ok()
    })
}

fn linsert(db: &Db, key: &[u8], after: bool, pivot: &[u8], element: &[u8], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let inserted = or_reply!(slot.write::<List, _>(false, |list| {
            let inserted = list.insert(pivot, after, element);
            (inserted.then(|| list.len()), inserted)
        }));
        match inserted {
            None => Reply::Integer(0),
            Some(None) => Reply::Integer(-1),
            Some(Some(len)) => {
                let place: &[u8] = if after { b"AFTER" } else { b"BEFORE" };
                effects.record(&[b"LINSERT", key, place, pivot, element]);
                Reply::Integer(len as i64)
            }
        }
    })
}

fn lrem(db: &Db, key: &[u8], count: i64, element: &[u8], effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let removed = or_reply!(slot.write::<List, _>(false, |list| {
            let removed = list.remove(element, count.unsigned_abs() as usize, count < 0);
            (removed, removed > 0)
        }))
        .unwrap_or(0);
        if removed > 0 {
            effects.record(&[b"LREM", key, count.to_string().as_bytes(), element]);
        }
        Reply::Integer(removed as i64)
    })
}

fn ltrim(db: &Db, key: &[u8], start: i64, stop: i64, effects: &mut Effects<'_>) -> Reply {
    db.with_key(key, |slot| {
        let Some(list) = or_reply!(slot.read::<List>()) else { return Reply::ok() };
        let keep = clamp_range(start, stop, list.len());
        if keep == Some((0, list.len() - 1)) {
            return Reply::ok();
        }
        or_reply!(slot.write::<List, _>(false, |list| (list.trim(keep), true)));
        match keep {
            Some((start, stop)) => {
                effects.record(&[b"LTRIM", key, start.to_string().as_bytes(), stop.to_string().as_bytes()])
            }
            None => effects.record(&[b"DEL", key]),
        }
        Reply::ok()
    })
}

fn lpos(db: &Db, key: &[u8], element: &[u8], rank: i64, count: Option<u64>, maxlen: u64) -> Reply {
    db.with_key(key, |slot| {
        let Some(list) = or_reply!(slot.read::<List>()) else {
            return if count.is_some() { Reply::Array(Vec::new()) } else { Reply::Null };
        };
        let len = list.len();
        // Redis 7.0 negates i64::MIN into itself, which then matches from the first match on.
        let skip = if rank == i64::MIN { 0 } else { rank.unsigned_abs() - 1 };
        let wanted = match count {
            None => 1,
            Some(0) => u64::MAX,
            Some(count) => count,
        };
        let scan = if maxlen == 0 { len } else { (maxlen.min(len as u64)) as usize };
        let from_tail = rank < 0;
        let items: Box<dyn Iterator<Item = &[u8]>> =
            if from_tail { Box::new(list.iter().rev()) } else { Box::new(list.iter()) };
        let mut found = Vec::new();
        let mut matches = 0u64;
        for (i, item) in items.take(scan).enumerate() {
            if item != element {
                continue;
            }
            matches += 1;
            if matches > skip {
                found.push(if from_tail { len - 1 - i } else { i });
                if found.len() as u64 >= wanted {
                    break;
                }
            }
        }
        match count {
            Some(_) => Reply::Array(found.into_iter().map(|at| Reply::Integer(at as i64)).collect()),
            None => found.first().map_or(Reply::Null, |&at| Reply::Integer(at as i64)),
        }
    })
}

/// `LMOVE` with both keys locked (slot 0 the source, 1 the destination): `None` when the source
/// is missing, plus the served `BLMOVE`s to complete.
fn lmove(
    locked: &mut Keys<'_>,
    from: End,
    to: End,
    wake: Option<&Wake<'_>>,
    effects: &mut Effects<'_>,
) -> (Option<Reply>, Vec<PendingMove>) {
    let (source, destination) = (Bytes::copy_from_slice(locked.key(0)), Bytes::copy_from_slice(locked.key(1)));
    match locked.slot(0).read::<List>() {
        Err(err) => return (Some(err.into()), Vec::new()),
        Ok(None) => return (None, Vec::new()),
        Ok(Some(_)) => {}
    }
    if let Err(err) = locked.slot(1).read::<List>() {
        return (Some(err.into()), Vec::new());
    }
    let record = |effects: &mut Effects<'_>| {
        effects.record(&[b"LMOVE", &source, &destination, from.word(), to.word()]);
    };
    if source == destination {
        // One list: rotated in place, so it never empties (and keeps its time to live).
        let element = locked.slot(0).write::<List, _>(false, |list| {
            let element = list.pop(from);
            if let Some(element) = &element {
                list.push(to, element);
            }
            (element, true)
        });
        let element = element.ok().flatten().flatten().unwrap_or_default();
        record(effects);
        return (Some(Reply::Bulk(Bytes::from(element))), Vec::new());
    }
    let element = pop_some(&mut locked.slot(0), from, 1).into_iter().next().unwrap_or_default();
    let mut target = locked.slot(1);
    push_into(&mut target, to, &element);
    record(effects);
    let pending = serve(&mut target, &destination, wake, effects);
    (Some(Reply::Bulk(Bytes::from(element))), pending)
}

/// `LMPOP` with its keys locked: pops from the first non-empty list; `None` when all are empty.
/// `count` None is `BLPOP`'s shape (`[key, element]`).
fn mpop(
    locked: &mut Keys<'_>,
    keys: &[Bytes],
    end: End,
    count: Option<u64>,
    effects: &mut Effects<'_>,
) -> Option<Reply> {
    for (i, key) in keys.iter().enumerate() {
        let mut slot = locked.slot(i);
        match slot.read::<List>() {
            Err(err) => return Some(err.into()),
            Ok(Some(list)) if !list.is_empty() => {}
            Ok(_) => continue,
        }
        let popped = pop_some(&mut slot, end, count.unwrap_or(1));
        let key_reply = Reply::Bulk(key.clone());
        return Some(match count {
            None => {
                effects.record(&[pop_word(end), key]);
                let element = popped.into_iter().next().unwrap_or_default();
                Reply::Array(vec![key_reply, Reply::Bulk(Bytes::from(element))])
            }
            Some(_) => {
                effects.record(&[pop_word(end), key, popped.len().to_string().as_bytes()]);
                Reply::Array(vec![key_reply, elements_reply(popped)])
            }
        });
    }
    None
}

/// A blocking command: served at once when it can be, answered as on timeout when it may not
/// block (`wake.now` false: inside `EXEC`), or else registered as waiting (with its keys locked):
/// `Err(waiter)` tells the caller to block the client on it.
pub(super) fn blocking(
    command: Command,
    db: &Db,
    client: u64,
    wake: &Wake<'_>,
    effects: &mut Effects<'_>,
) -> Result<Reply, (Arc<Waiter>, BlockTimeout)> {
    match command {
        Command::BPop { keys, end, timeout } => {
            blocking_pop(db, client, wake, keys.into_vec(), BlockOp::Pop { end, count: None }, timeout, effects)
        }
        Command::LMPop { keys, end, count, timeout } => {
            let timeout = timeout.unwrap_or(BlockTimeout(0));
            blocking_pop(db, client, wake, keys, BlockOp::Pop { end, count: Some(count) }, timeout, effects)
        }
        Command::LMove { source, destination, from, to, timeout } => {
            let keys: [&[u8]; 2] = [&source, &destination];
            let outcome = db.with_keys(&keys, |locked| {
                match locked.slot(0).read::<List>() {
                    Err(err) => return Ok((err.into(), Vec::new())),
                    Ok(Some(_)) => {
                        let (reply, pending) = lmove(locked, from, to, Some(wake), effects);
                        return Ok((reply.unwrap_or(Reply::Null), pending));
                    }
                    Ok(None) => {}
                }
                if !wake.now {
                    return Ok((Reply::Null, Vec::new()));
                }
                let op = BlockOp::Move { destination: destination.clone(), from, to };
                let waiter = Waiter::new(client, wake.db, vec![source.clone()], op);
                wake.registry.register(&waiter);
                Err(waiter)
            });
            match outcome {
                Ok((reply, pending)) => {
                    finish_moves(db, pending, Some(wake), effects);
                    Ok(reply)
                }
                Err(waiter) => Err((waiter, timeout.unwrap_or(BlockTimeout(0)))),
            }
        }
        _ => Ok(Reply::error("ERR not a blocking list command")),
    }
}

fn blocking_pop(
    db: &Db,
    client: u64,
    wake: &Wake<'_>,
    keys: Vec<Bytes>,
    op: BlockOp,
    timeout: BlockTimeout,
    effects: &mut Effects<'_>,
) -> Result<Reply, (Arc<Waiter>, BlockTimeout)> {
    let BlockOp::Pop { end, count } = op else { return Ok(Reply::NullArray) };
    let names: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
    let waiter = db.with_keys(&names, |locked| {
        if let Some(reply) = mpop(locked, &keys, end, count, effects) {
            return Ok(reply);
        }
        if !wake.now {
            return Ok(Reply::NullArray);
        }
        let waiter = Waiter::new(client, wake.db, keys.clone(), op);
        wake.registry.register(&waiter);
        Err(waiter)
    });
    waiter.map_err(|waiter| (waiter, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_redis_arithmetic() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, -4, 3), None);
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(i64::MIN, 3), None);
        assert_eq!(position(3, 3), None);
    }
}
