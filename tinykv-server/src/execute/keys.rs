//! The keyspace family: existence, deletion, expiry, renaming and iteration.

use bytes::Bytes;
use tinykv_proto::command::{Expire, Expiry, Scan};
use tinykv_proto::Reply;

use crate::db::Db;
use crate::glob;

/// Keys a `SCAN` step looks at when the client gives no `COUNT`, as in Redis.
const DEFAULT_SCAN_COUNT: u64 = 10;
/// Milliseconds in a second, for `TTL`.
const MILLIS_PER_SECOND: i64 = 1000;
/// The only type TinyKV stores, as `TYPE` and `SCAN ... TYPE` name it.
const STRING_TYPE: &str = "string";

/// `DEL`/`UNLINK`: how many of the keys existed (a key named twice counts once).
pub(super) fn del(db: &Db, keys: &[Bytes]) -> Reply {
    let removed = keys.iter().filter(|key| db.with_key(key, |slot| slot.remove()).is_some()).count();
    Reply::Integer(removed as i64)
}

/// `EXISTS`: how many of the keys exist, counting a key named twice twice (as Redis does).
pub(super) fn exists(db: &Db, keys: &[Bytes]) -> Reply {
    let found = keys.iter().filter(|key| db.with_key(key, |slot| slot.exists())).count();
    Reply::Integer(found as i64)
}

/// The `EXPIRE` family with Redis 7's `NX`/`XX`/`GT`/`LT`: 1 if the expiry was set (or, for a time
/// already past, the key deleted), 0 if the key is missing or a condition said no.
pub(super) fn expire(db: &Db, expire: Expire) -> Reply {
    db.with_key(&expire.key, |slot| {
        let now = slot.now();
        // Relative amounts resolve against now; Redis refuses a sum past i64 before looking at the key.
        let when = match expire.when {
            Expiry::In(ms) => match i64::try_from(now).ok().and_then(|now| now.checked_add(ms)) {
                Some(when) => when,
                None => return Reply::error(format!("ERR invalid expire time in '{}' command", expire.command)),
            },
            Expiry::At(at) => at,
            Expiry::Keep => return Reply::error("ERR syntax error"),
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
            Ok(at) if at > now => {
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
/// to the nearest second as Redis does.
pub(super) fn ttl(db: &Db, key: &[u8], millis: bool) -> Reply {
    db.with_key(key, |slot| {
        let left = match slot.expires_at() {
            None => return Reply::Integer(-2),
            Some(None) => return Reply::Integer(-1),
            Some(Some(at)) => i64::try_from(at.saturating_sub(slot.now())).unwrap_or(i64::MAX),
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

/// `TYPE`: `string` for an existing key, `none` otherwise (a status reply, as in Redis).
pub(super) fn type_of(db: &Db, key: &[u8]) -> Reply {
    let exists = db.with_key(key, |slot| slot.exists());
    Reply::status(if exists { STRING_TYPE } else { "none" })
}

/// `RENAME`: moves the value and its expiry, replacing the destination, atomically.
pub(super) fn rename(db: &Db, key: &[u8], new_key: &[u8]) -> Reply {
    let no_such_key = || Reply::error("ERR no such key");
    if key == new_key {
        let exists = db.with_key(key, |slot| slot.exists());
        return if exists { Reply::ok() } else { no_such_key() };
    }
    db.with_keys(&[key, new_key], |locked| {
        let mut source = locked.slot(0);
        let Some(entry) = source.remove() else { return no_such_key() };
        locked.slot(1).put(entry.value(), entry.expires_at());
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
    // Every value is a string, so a TYPE filter keeps all keys or none (the cursor still advances).
    let type_matches = scan.type_name.as_ref().is_none_or(|name| name.eq_ignore_ascii_case(STRING_TYPE.as_bytes()));
    let (next, keys) = db.scan(scan.cursor, count, |key| {
        type_matches && scan.pattern.as_ref().is_none_or(|pattern| glob::matches(pattern, key))
    });
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}
