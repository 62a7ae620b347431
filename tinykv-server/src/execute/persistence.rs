//! The persistence family: `SAVE`, `BGSAVE`, `LASTSAVE`, `SHUTDOWN`, `DUMP`, `RESTORE`.

use bytes::Bytes;
use tinykv_proto::command::{Restore, Shutdown};
use tinykv_proto::{CommandError, Reply};

use super::Session;
use crate::aof::RewriteRefused;
use crate::db::Db;
use crate::rdb::snapshot::ShutdownRequest;
use crate::rdb::{dump_entry, restore_payload, RdbError};
use crate::shared::Shared;

/// Redis's reply to a save while another runs.
const IN_PROGRESS: &str = "ERR Background save already in progress";

/// `SAVE`: writes the snapshot before replying. Blocks this client (and, on a single worker thread,
/// every client, as Redis's `SAVE` does); `BGSAVE` is the one to use on a live server.
pub(super) fn save(shared: &Shared) -> Reply {
    match shared.rdb.save(&shared.dbs) {
        Ok(_) => Reply::ok(),
        Err(RdbError::InProgress) => Reply::error(IN_PROGRESS),
        // Redis's bare `-ERR`; the log says what failed.
        Err(_) => Reply::error("ERR"),
    }
}

/// `BGSAVE [SCHEDULE]`: starts a snapshot in the background. There is no other background job
/// (Redis's AOF rewrite child) for `SCHEDULE` to wait for, so it starts at once too.
pub(super) fn bgsave(shared: &Shared, _schedule: bool) -> Reply {
    match shared.rdb.request_bgsave() {
        Ok(()) => Reply::status("Background saving started"),
        Err(RdbError::InProgress) => Reply::error(IN_PROGRESS),
        Err(_) => Reply::error("ERR the server is shutting down"),
    }
}

/// `BGREWRITEAOF`: compacts the append-only file in the background, with Redis's replies. Without
/// `--appendonly` there is no file to compact (Redis would write one; TinyKV's PATH is not known).
pub(super) fn bgrewriteaof(shared: &Shared) -> Reply {
    let Some(aof) = &shared.aof else {
        return Reply::error("ERR Background append only file rewriting needs --appendonly PATH");
    };
    match aof.request_rewrite() {
        Ok(()) => Reply::status("Background append only file rewriting started"),
        Err(RewriteRefused::InProgress) => {
            Reply::error("ERR Background append only file rewriting already in progress")
        }
    }
}

/// `LASTSAVE`: Unix seconds of the last successful save (the start time before any).
pub(super) fn lastsave(shared: &Shared) -> Reply {
    Reply::Integer(shared.rdb.last_save() as i64)
}

/// `SHUTDOWN`: stops the server, saving as asked (or as the `--save` rules say) once every
/// connection has finished, so no write acknowledged before the stop is left out of the file. The
/// client gets no reply: its connection closes, as with Redis.
pub(super) fn shutdown(shared: &Shared, session: &mut Session, shutdown: Shutdown) -> Reply {
    if shutdown.abort {
        return Reply::error("ERR No shutdown in progress.");
    }
    shared.rdb.request_shutdown(ShutdownRequest { save: shutdown.save, force: shutdown.force });
    session.close_without_reply = true;
    Reply::ok()
}

/// `DUMP key`: the value in Redis's `DUMP` format, or null for a missing key. The value is copied
/// out and encoded (compressed) with no lock held.
pub(super) fn dump(db: &Db, key: &[u8], compression: bool) -> Reply {
    // A clone of the entry: a collection's is a reference count, not a copy.
    match db.with_key(key, |slot| slot.entry().cloned()) {
        Some(entry) => Reply::Bulk(Bytes::from(dump_entry(&entry, compression))),
        None => Reply::Null,
    }
}

/// `RESTORE`: creates the key from a `DUMP` payload, with Redis's checks in Redis's order: an
/// existing key without `REPLACE`, the TTL, the payload's version and checksum, its contents. A TTL
/// already in the past creates nothing (and `REPLACE` deletes the old key), as in Redis.
pub(super) fn restore(db: &Db, restore: Restore) -> Reply {
    let busy = || Reply::error("BUSYKEY Target key name already exists.");
    if !restore.replace && db.with_key(&restore.key, |slot| slot.exists()) {
        return busy();
    }
    let ttl = match restore.ttl {
        Err(err) => return err.into(),
        Ok(ttl) if ttl < 0 => return CommandError::Other("ERR Invalid TTL value, must be >= 0".into()).into(),
        Ok(ttl) => ttl,
    };
    let value = match restore_payload(&restore.payload) {
        Ok(value) => value,
        Err(err) => return Reply::error(err.to_string()),
    };
    db.with_key(&restore.key, |slot| {
        if !restore.replace && slot.exists() {
            return busy();
        }
        let deadline = match ttl {
            0 => None,
            _ if restore.absttl => Some(ttl),
            _ => Some(ttl.saturating_add(slot.now() as i64)),
        };
        match deadline {
            Some(at) if slot.deadline_passed(at.max(0) as u64) => {
                slot.remove();
            }
            deadline => {
                slot.put_value(value, deadline.map(|at| at.max(0) as u64));
                let idle = restore.idletime.map(|idle| idle.max(0) as u64);
                let freq = restore.freq.map(|freq| freq.clamp(0, 255) as u8);
                if let Some(access) = db.tracking().restored(idle, freq, slot.now()) {
                    slot.set_access(access);
                }
            }
        }
        Reply::ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restore_of(key: &str, ttl: i64, payload: Vec<u8>) -> Restore {
        Restore {
            key: Bytes::copy_from_slice(key.as_bytes()),
            ttl: Ok(ttl),
            payload: Bytes::from(payload),
            replace: false,
            absttl: false,
            idletime: None,
            freq: None,
        }
    }

    #[test]
    fn dump_then_restore_with_redis_errors() {
        let db = Db::new(4);
        db.with_key(b"k", |slot| slot.put(&b"value ".repeat(10), None));
        let Reply::Bulk(payload) = dump(&db, b"k", true) else { panic!("a payload") };
        assert_eq!(dump(&db, b"missing", true), Reply::Null);
        let busy = Reply::error("BUSYKEY Target key name already exists.");
        assert_eq!(restore(&db, restore_of("k", 0, payload.to_vec())), busy);
        // The busy check comes before the TTL's.
        assert_eq!(restore(&db, Restore { ttl: Err(CommandError::NotInteger), ..restore_of("k", 0, vec![]) }), busy);
        assert_eq!(
            restore(&db, restore_of("new", -1, payload.to_vec())),
            Reply::error("ERR Invalid TTL value, must be >= 0")
        );
        assert_eq!(
            restore(&db, restore_of("new", 0, b"garbage payload".to_vec())),
            Reply::error("ERR DUMP payload version or checksum are wrong")
        );
        assert_eq!(restore(&db, restore_of("copy", 60_000, payload.to_vec())), Reply::ok());
        assert_eq!(db.get(b"copy"), db.get(b"k"));
        let ttl = db.with_key(b"copy", |slot| slot.expires_at()).flatten().unwrap() - crate::db::now_ms();
        assert!(ttl > 50_000 && ttl <= 60_000, "{ttl}");
        // A deadline in the past: nothing created, and REPLACE deletes the old key.
        let past = Restore { absttl: true, replace: true, ..restore_of("k", 1, payload.to_vec()) };
        assert_eq!(restore(&db, past), Reply::ok());
        assert_eq!(db.get(b"k"), None);
    }
}
