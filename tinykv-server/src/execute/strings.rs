//! The string family: commands that read and write values.

use bytes::{Bytes, BytesMut};
use tinykv_proto::command::{parse_integer, Expiry, GetExAction, Set, SetCondition};
use tinykv_proto::reply::{encode_aggregate_header, encode_bulk, Shape};
use tinykv_proto::{CommandError, Protocol, Reply};

use super::long_double::LongDouble;
use crate::db::Db;

/// Resolves a write's expiry to an absolute deadline (`KEEPTTL` keeps `current`); `Err` when it
/// overflows or is before 1970, as Redis refuses.
fn deadline(expiry: Option<Expiry>, now: u64, current: Option<u64>, command: &str) -> Result<Option<u64>, Reply> {
    match expiry {
        None => Ok(None),
        Some(Expiry::Keep) => Ok(current),
        Some(expiry) => expiry
            .deadline(now)
            .and_then(|at| u64::try_from(at).ok())
            .map(Some)
            .ok_or_else(|| CommandError::InvalidExpire(command.to_owned()).into()),
    }
}

/// `GET`: the value or null.
pub(super) fn get(db: &Db, key: &[u8]) -> Reply {
    db.with_key(key, |slot| or_reply!(slot.string()).map_or(Reply::Null, Reply::bulk))
}

/// [`get`] writing its reply to `out`, the connection's buffer, straight from the entry: the value
/// is copied once, not into a reply first and then into the buffer.
pub(super) fn get_into(db: &Db, key: &[u8], out: &mut BytesMut) -> Reply {
    db.with_key(key, |slot| match or_reply!(slot.string()) {
        Some(value) => {
            encode_bulk(out, value);
            Reply::written()
        }
        None => Reply::Null,
    })
}

/// `SET` with all its options (and `SETEX`/`PSETEX`, which parse to it).
pub(super) fn set(db: &Db, set: Set) -> Reply {
    db.with_key(&set.key, |slot| {
        // Redis checks the expiry before anything else, so a bad one changes nothing.
        let current = slot.expires_at().flatten();
        let expires_at = match deadline(set.expiry, slot.now(), current, set.command) {
            Ok(at) => at,
            Err(reply) => return reply,
        };
        // With GET, a key of another type is an error and is left alone.
        let old_value = match set.get {
            true => Some(or_reply!(slot.string()).map(Bytes::copy_from_slice)),
            false => None,
        };
        let exists = slot.exists();
        if set.get {
            // Redis reads the key for GET and looks it up again to write: two accesses.
            slot.touch();
        }
        let allowed = match set.condition {
            None => true,
            Some(SetCondition::IfAbsent) => !exists,
            Some(SetCondition::IfPresent) => exists,
        };
        if allowed {
            if expires_at.is_some_and(|at| slot.deadline_passed(at)) {
                // A deadline already past (EXAT/PXAT): the key is set and gone at once.
                slot.remove();
            } else {
                slot.put(&set.value, expires_at);
            }
        }
        match (old_value, allowed) {
            (Some(old), _) => old.map_or(Reply::Null, Reply::Bulk),
            (None, true) => Reply::ok(),
            (None, false) => Reply::Null,
        }
    })
}

/// `GETDEL`: the value, and the key is gone.
pub(super) fn getdel(db: &Db, key: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let value = or_reply!(slot.string()).map(Bytes::copy_from_slice);
        if value.is_some() {
            slot.remove();
        }
        value.map_or(Reply::Null, Reply::Bulk)
    })
}

/// `GETSET`: the old value; the new one replaces it and, as a `SET` does, clears the time to live.
pub(super) fn getset(db: &Db, key: &[u8], value: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let old = or_reply!(slot.string()).map(Bytes::copy_from_slice);
        // Redis reads the key and looks it up again to write: two accesses.
        slot.touch();
        slot.put(value, None);
        old.map_or(Reply::Null, Reply::Bulk)
    })
}

/// `MGET`: every value (null for a missing key or one that holds no string), read atomically;
/// written in place in `out` when the connection gave its buffer (`execute::mget` decides), copied
/// into a reply otherwise.
pub(super) fn mget(db: &Db, keys: &[Bytes], protocol: Protocol, out: Option<&mut BytesMut>) -> Reply {
    let keys: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
    db.with_keys(&keys, |locked| {
        let Some(out) = out else {
            let values =
                (0..locked.len()).map(|i| locked.slot(i).string().ok().flatten().map_or(Reply::Null, Reply::bulk));
            return Reply::Array(values.collect());
        };
        encode_aggregate_header(out, protocol, Shape::Array, locked.len());
        for i in 0..locked.len() {
            match locked.slot(i).string().ok().flatten() {
                Some(value) => encode_bulk(out, value),
                None => Reply::Null.encode(protocol, out),
            }
        }
        Reply::written()
    })
}

/// `MSET` (`only_if_none_exist: false`, replies `OK`) and `MSETNX` (replies 1, or 0 and writes nothing
/// when any key exists). Atomic: no client sees some of the keys written and not others.
pub(super) fn mset(db: &Db, pairs: &[(Bytes, Bytes)], only_if_none_exist: bool) -> Reply {
    let keys: Vec<&[u8]> = pairs.iter().map(|(key, _)| &key[..]).collect();
    db.with_keys(&keys, |locked| {
        if only_if_none_exist && (0..locked.len()).any(|i| locked.slot(i).exists()) {
            return Reply::Integer(0);
        }
        for (i, (_, value)) in pairs.iter().enumerate() {
            locked.slot(i).put(value, None);
        }
        if only_if_none_exist {
            Reply::Integer(1)
        } else {
            Reply::ok()
        }
    })
}

/// `SETNX`: 1 if the key was set, 0 if it existed.
pub(super) fn setnx(db: &Db, key: &[u8], value: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        if slot.exists() {
            Reply::Integer(0)
        } else {
            slot.put(value, None);
            Reply::Integer(1)
        }
    })
}

/// `INCR`/`DECR`/`INCRBY`/`DECRBY`: 64-bit signed arithmetic on a decimal value, keeping the time to
/// live, with Redis's errors for a value that is not an integer and for overflow.
pub(super) fn incr_by(db: &Db, key: &[u8], delta: i64) -> Reply {
    db.with_key(key, |slot| {
        let current = match or_reply!(slot.string()).map(parse_integer) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(err)) => return err.into(),
        };
        let Some(next) = current.checked_add(delta) else {
            return Reply::error("ERR increment or decrement would overflow");
        };
        let ttl = slot.expires_at().flatten();
        // Formatted on the stack: a `String` per `INCR` was an allocation and a free.
        slot.put(itoa::Buffer::new().format(next).as_bytes(), ttl);
        Reply::Integer(next)
    })
}

/// `APPEND`: the new length. The result may not pass the bulk-length limit, so appends cannot grow
/// a value past what a client could have sent in one piece.
pub(super) fn append(db: &Db, key: &[u8], value: &[u8], limit: u64) -> Reply {
    db.with_key(key, |slot| {
        let old = or_reply!(slot.string()).unwrap_or_default();
        let total = old.len() + value.len();
        if total as u64 > limit {
            return CommandError::StringTooLong.into();
        }
        if !slot.append(value) {
            slot.put(value, None);
        }
        Reply::Integer(total as i64)
    })
}

/// `STRLEN`: the value's length in bytes, 0 for a missing key.
pub(super) fn strlen(db: &Db, key: &[u8]) -> Reply {
    db.with_key(key, |slot| Reply::Integer(or_reply!(slot.string()).map_or(0, <[u8]>::len) as i64))
}

/// `GETEX`: the value, and the time to live changed as asked. A deadline already past (`EXAT`/`PXAT`)
/// deletes the key after its value is read, as in Redis; `PERSIST` on a key without one changes nothing.
pub(super) fn getex(db: &Db, key: &[u8], action: GetExAction) -> Reply {
    db.with_key(key, |slot| {
        let Some(value) = or_reply!(slot.string()).map(Bytes::copy_from_slice) else { return Reply::Null };
        match action {
            GetExAction::Keep => {}
            GetExAction::Persist => {
                if slot.expires_at().flatten().is_some() {
                    slot.set_expires_at(None);
                }
            }
            GetExAction::Expire(Err(err)) => return err.into(),
            GetExAction::Expire(Ok(expiry)) => match deadline(Some(expiry), slot.now(), None, "getex") {
                Err(reply) => return reply,
                Ok(Some(at)) if slot.deadline_passed(at) => {
                    slot.remove();
                }
                Ok(at) => {
                    slot.set_expires_at(at);
                }
            },
        }
        Reply::Bulk(value)
    })
}

/// `GETRANGE`/`SUBSTR`: the bytes from `start` to `end` inclusive, negative indexes counting from the
/// end, both clamped to the string; an empty string (never null) when nothing is left, or the key is missing.
pub(super) fn getrange(db: &Db, key: &[u8], start: i64, end: i64) -> Reply {
    db.with_key(key, |slot| {
        let value = or_reply!(slot.string()).unwrap_or_default();
        let len = value.len() as i64;
        // Both negative and in the wrong order: empty before any clamping, as Redis has it.
        if start < 0 && end < 0 && start > end {
            return Reply::Bulk(Bytes::new());
        }
        let start = if start < 0 { (len + start).max(0) } else { start };
        let end = if end < 0 { (len + end).max(0) } else { end }.min(len - 1);
        if start > end || len == 0 {
            return Reply::Bulk(Bytes::new());
        }
        Reply::bulk(&value[start as usize..=end as usize])
    })
}

/// `SETRANGE`: writes `value` at `offset`, zero-padding the string up to it, and answers the new length.
/// A result longer than `--proto-max-bulk-len` is refused before anything is allocated; an empty
/// `value` changes nothing (and creates no key).
pub(super) fn setrange(db: &Db, key: &[u8], offset: u64, value: &[u8], limit: u64) -> Reply {
    db.with_key(key, |slot| {
        let current = or_reply!(slot.string()).map_or(0, <[u8]>::len);
        if value.is_empty() {
            return Reply::Integer(current as i64);
        }
        let end = match offset.checked_add(value.len() as u64) {
            Some(end) if end <= limit => end as usize,
            _ => return CommandError::StringTooLong.into(),
        };
        let start = end - value.len();
        or_reply!(slot.modify(end, |bytes| {
            bytes[start..end].copy_from_slice(value);
            (Reply::Integer(bytes.len() as i64), true)
        }))
    })
}

/// `INCRBYFLOAT`: adds as Redis does, in x87 `long double`, and stores and answers the sum as Redis
/// prints it (`10.5` plus `0.1` is `10.6`). The time to live is kept. A missing key counts as 0.
pub(super) fn incrbyfloat(db: &Db, key: &[u8], increment: &[u8]) -> Reply {
    db.with_key(key, |slot| {
        let current = match or_reply!(slot.string()) {
            None => LongDouble::ZERO,
            Some(value) => match LongDouble::parse(value) {
                Some(current) => current,
                None => return CommandError::NotFloat.into(),
            },
        };
        let Some(increment) = LongDouble::parse(increment) else { return CommandError::NotFloat.into() };
        let Some(sum) = current.checked_add(increment) else {
            return Reply::error("ERR increment would produce NaN or Infinity");
        };
        let text = sum.to_human();
        let ttl = slot.expires_at().flatten();
        slot.put(text.as_bytes(), ttl);
        // Redis stores the sum as a string object: `embstr` even when it reads "11".
        slot.mark_not_int();
        Reply::Bulk(Bytes::from(text))
    })
}
