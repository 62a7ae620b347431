//! The keyspace family: existence, deletion, expiry, renaming and iteration.

use bytes::Bytes;
use tinykv_proto::command::{CopyKey, Expire, Scan};
use tinykv_proto::{CommandError, Reply};

use crate::collections::Kind;
use crate::db::{Db, Slot};
use crate::glob;

/// Keys a `SCAN` step looks at when the client gives no `COUNT`, as in Redis.
const DEFAULT_SCAN_COUNT: u64 = 10;
/// Milliseconds in a second, for `TTL`.
const MILLIS_PER_SECOND: i64 = 1000;

/// `DEL`/`UNLINK`: how many of the keys existed (a key named twice counts once).
pub(super) fn del(db: &Db, keys: &[Bytes]) -> Reply {
    let removed = keys.iter().filter(|key| db.with_key(key, |slot| slot.remove()).is_some()).count();
    Reply::Integer(removed as i64)
}

/// `EXISTS`: how many of the keys exist, counting a key named twice twice (as Redis does). Not an
/// access of the keys, as in Redis.
pub(super) fn exists(db: &Db, keys: &[Bytes]) -> Reply {
    let found = keys.iter().filter(|key| db.with_key_untouched(key, |slot| slot.exists())).count();
    Reply::Integer(found as i64)
}

/// The `EXPIRE` family with Redis 7's `NX`/`XX`/`GT`/`LT`: 1 if the expiry was set (or, for a time
/// already past, the key deleted), 0 if the key is missing or a condition said no.
pub(super) fn expire(db: &Db, expire: Expire) -> Reply {
    db.with_key(&expire.key, |slot| {
        let now = slot.now();
        // Relative amounts resolve against now; Redis refuses a sum past i64 before looking at the key.
        let Some(when) = expire.when.deadline(now) else {
            return CommandError::InvalidExpire(expire.command.to_owned()).into();
        };
        let Some(current) = slot.expires_at() else { return Reply::Integer(0) };
        // No expiry counts as infinitely far away for GT and LT.
        let current = current.map(|at| i64::try_from(at).unwrap_or(i64::MAX));
        let condition = expire.condition;
        let refused = (condition.nx && current.is_some())
            || (condition.xx && current.is_none())
            || (condition.gt && current.is_none_or(|current| when <= current))
            || (condition.lt && current.is_some_and(|current| when >= current));
        if refused {
            return Reply::Integer(0);
        }
        match u64::try_from(when) {
            Ok(at) if !slot.deadline_passed(at) => {
                slot.set_expires_at(Some(at));
            }
            _ => {
                slot.remove();
            }
        }
        Reply::Integer(1)
    })
}

/// `TTL`/`PTTL`: -2 for a missing key, -1 for a key without expiry, else the time left; `TTL` rounds
/// to the nearest second as Redis does. Not an access of the key. The time left is counted from the
/// clock, not from the command's time ([`crate::clock::CommandTime`]): inside a transaction or
/// script whose time is frozen, a key past its deadline is still there and shows 0 left, as in Redis
/// 7.0.
pub(super) fn ttl(db: &Db, key: &[u8], millis: bool) -> Reply {
    db.with_key_untouched(key, |slot| {
        let left = match slot.expires_at() {
            None => return Reply::Integer(-2),
            Some(None) => return Reply::Integer(-1),
            Some(Some(at)) => i64::try_from(at.saturating_sub(crate::clock::now_ms())).unwrap_or(i64::MAX),
        };
        Reply::Integer(if millis { left } else { left.saturating_add(MILLIS_PER_SECOND / 2) / MILLIS_PER_SECOND })
    })
}

/// `PERSIST`: 1 if the key had an expiry and now has none, else 0.
pub(super) fn persist(db: &Db, key: &[u8]) -> Reply {
    db.with_key(key, |slot| match slot.expires_at() {
        Some(Some(_)) => Reply::Integer(i64::from(slot.set_expires_at(None))),
        _ => Reply::Integer(0),
    })
}

/// `TYPE`: `string`, `hash` or `set` for an existing key, `none` otherwise (a status reply, as in Redis). Not an
/// access of the key.
pub(super) fn type_of(db: &Db, key: &[u8]) -> Reply {
    let kind = db.with_key_untouched(key, |slot| slot.kind());
    Reply::status(kind.map_or("none", Kind::name))
}

/// `RENAME`: moves the value and its expiry, replacing the destination, atomically.
pub(super) fn rename(db: &Db, key: &[u8], new_key: &[u8]) -> Reply {
    let no_such_key = || Reply::from(CommandError::NoSuchKey);
    if key == new_key {
        let exists = db.with_key(key, |slot| slot.exists());
        return if exists { Reply::ok() } else { no_such_key() };
    }
    db.with_keys(&[key, new_key], |locked| {
        let mut source = locked.slot(0);
        let Some(entry) = source.remove() else { return no_such_key() };
        locked.slot(1).put_from(entry);
        Reply::ok()
    })
}

/// `KEYS`: every live key matching the glob pattern.
pub(super) fn keys(db: &Db, pattern: &[u8]) -> Reply {
    let everything = pattern == b"*";
    let keys = db.keys(|key| everything || glob::matches(pattern, key));
    Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
}

/// `SCAN`: `[next cursor as a bulk string, [keys]]`. Every key present for the whole scan is returned.
pub(super) fn scan(db: &Db, scan: Scan) -> Reply {
    let count = usize::try_from(scan.count.unwrap_or(DEFAULT_SCAN_COUNT)).unwrap_or(usize::MAX);
    let (next, keys) = db.scan(scan.cursor, count, |entry| {
        let type_matches =
            scan.type_name.as_ref().is_none_or(|name| name.eq_ignore_ascii_case(entry.kind().name().as_bytes()));
        type_matches && scan.pattern.as_ref().is_none_or(|pattern| glob::matches(pattern, entry.key()))
    });
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// `RENAMENX`: 1 and the key renamed, or 0 when the new name is taken (or is the same key).
pub(super) fn renamenx(db: &Db, key: &[u8], new_key: &[u8]) -> Reply {
    if key == new_key {
        let exists = db.with_key(key, |slot| slot.exists());
        return if exists { Reply::Integer(0) } else { CommandError::NoSuchKey.into() };
    }
    db.with_keys(&[key, new_key], |locked| {
        if !locked.slot(0).exists() {
            return CommandError::NoSuchKey.into();
        }
        if locked.slot(1).exists() {
            return Reply::Integer(0);
        }
        let Some(entry) = locked.slot(0).remove() else { return CommandError::NoSuchKey.into() };
        locked.slot(1).put_from(entry);
        Reply::Integer(1)
    })
}

/// The index of database `index` if the server has it; Redis's error otherwise.
fn database(dbs: &[Db], index: i64) -> Result<usize, Reply> {
    usize::try_from(index).ok().filter(|&i| i < dbs.len()).ok_or_else(|| CommandError::DbIndexOutOfRange.into())
}

/// The error for a `MOVE` or `COPY` onto itself.
fn same_object() -> Reply {
    Reply::error("ERR source and destination objects are the same")
}

/// `COPY source destination [DB index] [REPLACE]`: 1 when copied (value and time to live), 0 when
/// the source is missing or the destination exists without `REPLACE`.
pub(super) fn copy(dbs: &[Db], current: usize, command: CopyKey) -> Reply {
    let CopyKey { source, destination, dbs: targets, then, replace } = command;
    let mut target = current;
    for index in targets {
        target = match database(dbs, index) {
            Ok(target) => target,
            Err(reply) => return reply,
        };
    }
    if let Some(err) = then {
        return err.into();
    }
    if target == current && source == destination {
        return same_object();
    }
    // The value is copied whole (a collection too: the copy is independent of its source).
    let copy = |from: &mut Slot<'_>, to: &mut Slot<'_>| {
        let Some(entry) = from.entry().cloned() else { return Reply::Integer(0) };
        if to.exists() && !replace {
            return Reply::Integer(0);
        }
        let expires_at = entry.expires_at();
        to.put_value(entry.into_value(), expires_at);
        Reply::Integer(1)
    };
    if target == current {
        return dbs[current].with_keys(&[&source, &destination], |locked| {
            let Some(entry) = locked.slot(0).entry().cloned() else { return Reply::Integer(0) };
            let mut to = locked.slot(1);
            if to.exists() && !replace {
                return Reply::Integer(0);
            }
            let expires_at = entry.expires_at();
            to.put_value(entry.into_value(), expires_at);
            Reply::Integer(1)
        });
    }
    Db::with_pair((&dbs[current], &source), (&dbs[target], &destination), current < target, copy)
        .unwrap_or_else(same_object)
}

/// `MOVE key db`: 1 when the key left this database for the other, 0 when it is missing here or
/// exists there.
pub(super) fn move_key(dbs: &[Db], current: usize, key: &[u8], db: i64) -> Reply {
    let target = match database(dbs, db) {
        Ok(target) => target,
        Err(reply) => return reply,
    };
    if target == current {
        return same_object();
    }
    Db::with_pair((&dbs[current], key), (&dbs[target], key), current < target, |from, to| {
        if !from.exists() || to.exists() {
            return Reply::Integer(0);
        }
        let Some(entry) = from.remove() else { return Reply::Integer(0) };
        // The value keeps how recently and often it was used, as Redis moves the object.
        to.put_from(entry);
        Reply::Integer(1)
    })
    .unwrap_or_else(same_object)
}

/// `SWAPDB a b`: every client of `a` now sees what `b` held, and the other way round.
pub(super) fn swapdb(dbs: &[Db], first: i64, second: i64) -> Reply {
    let (first, second) = match (database(dbs, first), database(dbs, second)) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    if first != second {
        Db::swap(&dbs[first.min(second)], &dbs[first.max(second)]);
    }
    Reply::ok()
}

/// `EXPIRETIME`/`PEXPIRETIME`: -2 for a missing key, -1 for a key without expiry, else the deadline
/// as a Unix time (seconds, or milliseconds).
pub(super) fn expire_time(db: &Db, key: &[u8], millis: bool) -> Reply {
    db.with_key(key, |slot| match slot.expires_at() {
        None => Reply::Integer(-2),
        Some(None) => Reply::Integer(-1),
        Some(Some(at)) => {
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            Reply::Integer(if millis { at } else { at / MILLIS_PER_SECOND })
        }
    })
}

/// `RANDOMKEY`: a key of the database picked at random, or null when it is empty.
pub(super) fn randomkey(db: &Db) -> Reply {
    db.random_key(&mut crate::db::random_u64).map_or(Reply::Null, Reply::Bulk)
}
