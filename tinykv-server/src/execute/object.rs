//! Introspection of one key: `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT|HELP` and `MEMORY USAGE|HELP`,
//! answered as Redis 7.0 answers them for strings. None of them counts as an access of the key.

use tinykv_proto::command::{parse_integer, MemoryCommand, ObjectCommand};
use tinykv_proto::Reply;

use super::server::help_lines;
use crate::access::idle_ms;
use crate::collections::Collection;
use crate::db::Db;
use crate::entry::Entry;

/// Longest string Redis stores in one allocation with its object header (`embstr`).
const EMBSTR_SIZE_LIMIT: usize = 44;
/// Longest decimal text Redis tries to store as an integer (`int`).
const MAX_INT_TEXT: usize = 20;
/// Redis keeps one shared object for each integer below this, when eviction does not need a clock
/// per key (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;
/// The reference count Redis reports for a shared object (`OBJ_SHARED_REFCOUNT`, `INT_MAX`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Milliseconds in a second, for `OBJECT IDLETIME`.
const MILLIS_PER_SECOND: u64 = 1000;

const IDLETIME_UNDER_LFU: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const FREQ_WITHOUT_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// `OBJECT ...`: a null reply for a missing key (before any policy error, as in Redis).
/// `maxmemory` matters to `REFCOUNT`: Redis shares small integers unless an LRU or LFU policy is
/// enforcing a limit. (Redis decides when the value is written; TinyKV when asked, which differs
/// only if `maxmemory` or the policy changed in between.)
pub(super) fn object(db: &Db, maxmemory: u64, sub: ObjectCommand) -> Reply {
    let tracking = db.tracking();
    let key = match sub {
        ObjectCommand::Help => return object_help(),
        ObjectCommand::Encoding(ref key)
        | ObjectCommand::Freq(ref key)
        | ObjectCommand::IdleTime(ref key)
        | ObjectCommand::RefCount(ref key) => key.clone(),
    };
    db.with_key_untouched(&key, |slot| {
        let now = slot.now();
        let Some(entry) = slot.entry() else { return Reply::Null };
        match sub {
            ObjectCommand::Encoding(_) => Reply::bulk(encoding(entry)),
            ObjectCommand::RefCount(_) => {
                let policy = tracking.policy();
                let shares = maxmemory == 0 || !(policy.is_lfu() || is_lru(policy));
                let shared = shares && small_integer(entry);
                Reply::Integer(if shared { SHARED_REFCOUNT } else { 1 })
            }
            ObjectCommand::IdleTime(_) if tracking.is_lfu() => Reply::error(IDLETIME_UNDER_LFU),
            ObjectCommand::IdleTime(_) => Reply::Integer((idle_ms(entry.access(), now) / MILLIS_PER_SECOND) as i64),
            ObjectCommand::Freq(_) if !tracking.is_lfu() => Reply::error(FREQ_WITHOUT_LFU),
            ObjectCommand::Freq(_) => Reply::Integer(i64::from(tracking.frequency(entry.access(), now))),
            ObjectCommand::Help => object_help(),
        }
    })
}

/// Whether `policy` ranks keys by an LRU clock (Redis's `MAXMEMORY_FLAG_LRU`).
fn is_lru(policy: crate::config::MaxmemoryPolicy) -> bool {
    use crate::config::MaxmemoryPolicy::{AllkeysLru, VolatileLru};
    matches!(policy, AllkeysLru | VolatileLru)
}

/// How Redis would store this string: `int` (a decimal `long`, at most 20 characters), `embstr` (at
/// most 44 bytes) or `raw`; a value changed in place (`APPEND`, `SETRANGE`, `SETBIT`, ...) is always `raw`.
/// A hash or set answers with Redis 7.0's names for what the same contents would be there: a packed
/// hash is a `listpack`, a packed set of integers an `intset`, anything else a `hashtable`.
fn encoding(entry: &Entry) -> &'static str {
    let value = match (entry.string(), entry.collection()) {
        (Some(value), _) => value,
        (None, Some(Collection::Hash(hash))) => return if hash.is_packed() { "listpack" } else { "hashtable" },
        (None, Some(Collection::Set(set))) => {
            let integers = set.iter().all(|member| member.len() <= MAX_INT_TEXT && parse_integer(member).is_ok());
            return if set.is_packed() && integers { "intset" } else { "hashtable" };
        }
        // --- lists ---
        // Redis 7.0 keeps every list in a quicklist, however small.
        (None, Some(Collection::List(_))) => return "quicklist",
        // --- sorted sets ---
        (None, Some(Collection::ZSet(zset))) => return if zset.is_packed() { "listpack" } else { "skiplist" },
        (None, None) => return "raw",
    };
    if entry.is_raw() {
        "raw"
    } else if !entry.is_not_int() && value.len() <= MAX_INT_TEXT && parse_integer(value).is_ok() {
        "int"
    } else if value.len() <= EMBSTR_SIZE_LIMIT {
        "embstr"
    } else {
        "raw"
    }
}

/// Whether the value is one of the integers Redis shares (0 to 9999, `int`-encoded).
fn small_integer(entry: &Entry) -> bool {
    encoding(entry) == "int"
        && entry.string().is_some_and(|value| parse_integer(value).is_ok_and(|n| (0..SHARED_INTEGERS).contains(&n)))
}

/// `OBJECT HELP`, line for line as Redis 7.0 prints it.
fn object_help() -> Reply {
    help_lines(&[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ])
}

/// `MEMORY USAGE key [SAMPLES count]`: the bytes the key holds, or null; `MEMORY HELP`: the
/// subcommands TinyKV has, in Redis's wording.
pub(super) fn memory(db: &Db, sub: MemoryCommand) -> Reply {
    match sub {
        // A string is measured whole: SAMPLES matters only to aggregate values.
        MemoryCommand::Usage { key, samples: _ } => {
            db.memory_usage(&key).map_or(Reply::Null, |bytes| Reply::Integer(bytes as i64))
        }
        MemoryCommand::Help => help_lines(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MaxmemoryPolicy;

    fn db_with(key: &str, value: &str) -> Db {
        let db = Db::new(1);
        db.with_key(key.as_bytes(), |slot| slot.put(value.as_bytes(), None));
        db
    }

    fn ask(db: &Db, maxmemory: u64, sub: fn(bytes::Bytes) -> ObjectCommand) -> Reply {
        object(db, maxmemory, sub(bytes::Bytes::from_static(b"k")))
    }

    #[test]
    fn encodings_follow_redis_string_rules() {
        for (value, expected) in [
            ("100", "int"),
            ("-5", "int"),
            ("9223372036854775807", "int"),
            ("12345678901234567890", "embstr"),
            ("-0", "embstr"),
            ("007", "embstr"),
            ("abc", "embstr"),
            (&"a".repeat(44), "embstr"),
            (&"a".repeat(45), "raw"),
        ] {
            assert_eq!(ask(&db_with("k", value), 0, ObjectCommand::Encoding), Reply::bulk(expected), "{value:?}");
        }
        let db = db_with("k", "abc");
        db.with_key(b"k", |slot| slot.append(b"d"));
        assert_eq!(ask(&db, 0, ObjectCommand::Encoding), Reply::bulk("raw"));
        // Written in place (SETRANGE, SETBIT): raw, and still raw after an expiry change.
        let db = db_with("k", "12");
        db.with_key(b"k", |slot| slot.modify(2, |bytes| ((), bytes[0] != b'1'))).unwrap();
        db.with_key(b"k", |slot| slot.set_expires_at(Some(crate::db::now_ms() + 60_000)));
        assert_eq!(ask(&db, 0, ObjectCommand::Encoding), Reply::bulk("raw"));
        db.with_key(b"k", |slot| slot.put(b"12", None));
        assert_eq!(ask(&db, 0, ObjectCommand::Encoding), Reply::bulk("int"));
        // INCRBYFLOAT's "11" is a string object.
        db.with_key(b"k", |slot| {
            slot.put(b"11", None);
            slot.mark_not_int();
        });
        assert_eq!(ask(&db, 0, ObjectCommand::Encoding), Reply::bulk("embstr"));
        assert_eq!(ask(&db, 0, ObjectCommand::RefCount), Reply::Integer(1));
        assert_eq!(ask(&Db::new(1), 0, ObjectCommand::Encoding), Reply::Null);
    }

    #[test]
    fn small_integers_are_shared_unless_an_lru_or_lfu_limit_is_enforced() {
        let db = db_with("k", "100");
        assert_eq!(ask(&db, 0, ObjectCommand::RefCount), Reply::Integer(SHARED_REFCOUNT));
        db.tracking().set_policy(MaxmemoryPolicy::AllkeysLru);
        assert_eq!(ask(&db, 0, ObjectCommand::RefCount), Reply::Integer(SHARED_REFCOUNT));
        assert_eq!(ask(&db, 1 << 20, ObjectCommand::RefCount), Reply::Integer(1));
        db.tracking().set_policy(MaxmemoryPolicy::VolatileTtl);
        assert_eq!(ask(&db, 1 << 20, ObjectCommand::RefCount), Reply::Integer(SHARED_REFCOUNT));
        assert_eq!(ask(&db_with("k", "10000"), 0, ObjectCommand::RefCount), Reply::Integer(1));
        assert_eq!(ask(&db_with("k", "abc"), 0, ObjectCommand::RefCount), Reply::Integer(1));
    }

    #[test]
    fn freq_and_idletime_answer_only_under_their_policies() {
        let db = db_with("k", "v");
        assert_eq!(ask(&db, 0, ObjectCommand::IdleTime), Reply::Integer(0));
        assert_eq!(ask(&db, 0, ObjectCommand::Freq), Reply::error(FREQ_WITHOUT_LFU));
        db.tracking().set_policy(MaxmemoryPolicy::AllkeysLfu);
        assert_eq!(ask(&db, 0, ObjectCommand::IdleTime), Reply::error(IDLETIME_UNDER_LFU));
        // A key created under LFU starts at 5; its first read always counts.
        let fresh = Db::new(1);
        fresh.tracking().set_policy(MaxmemoryPolicy::AllkeysLfu);
        fresh.with_key(b"k", |slot| slot.put(b"v", None));
        assert_eq!(ask(&fresh, 0, ObjectCommand::Freq), Reply::Integer(5));
        fresh.get(b"k");
        assert_eq!(ask(&fresh, 0, ObjectCommand::Freq), Reply::Integer(6));
        // OBJECT itself is not an access.
        assert_eq!(ask(&fresh, 0, ObjectCommand::Freq), Reply::Integer(6));
    }

    #[test]
    fn memory_usage_counts_allocation_slot_and_deadline() {
        let db = db_with("k", "v");
        let usage = |db: &Db| memory(db, MemoryCommand::Usage { key: bytes::Bytes::from_static(b"k"), samples: 5 });
        // An 8-byte arena cell (3 bytes of access data, the length, flags, key length, key, value)
        // and a table bucket (8-byte slot, control byte).
        assert_eq!(usage(&db), Reply::Integer(8 + 9));
        db.with_key(b"k", |slot| slot.set_expires_at(Some(crate::db::now_ms() + 60_000)));
        // The expiry makes it a 16-byte cell; the deadline heap's slot and its copy of the key.
        assert_eq!(usage(&db), Reply::Integer(16 + 9 + 24 + 32));
        assert_eq!(usage(&Db::new(1)), Reply::Null);
    }
}
