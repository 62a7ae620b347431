//! The append-only file: every write is logged, in RESP, before its reply leaves.
//!
//! What is logged is the *effect* of a write, not its words: after a write command runs, the state
//! of each key it names is read back and appended as one of
//!
//! ```text
//! SELECT db                     the records after it are of database `db` (0 until one is seen)
//! SET key value                 the key exists without a time to live
//! SET key value PXAT <unix ms>  the key exists and expires then
//! DEL key                       the key does not exist
//! FLUSHDB                       after FLUSHDB
//! FLUSHALL                      after FLUSHALL
//! SWAPDB a b                    after SWAPDB
//! ```
//!
//! so `INCR`, `APPEND`, `EXPIRE 10`, `RENAME` and the rest replay exactly, relative times become
//! absolute, and replay needs only three commands. Read-back and append happen under one lock, so
//! the order in the file is the order in which states were observed, and the last record of a key
//! is its final state.
//!
//! Records collect in memory; the connection calls [`Aof::commit`] before it flushes replies, so a
//! whole pipelined batch costs one `write` (and, with `always`, one fsync shared by every client
//! whose records it carries).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use thiserror::Error;
use tinykv_proto::codec::encode_request;
use tinykv_proto::request::{Limits, RequestDecoder};
use tinykv_proto::table::{CommandSpec, Flag};
use tinykv_proto::Request;

use crate::config::AppendFsync;
use crate::db::Db;

/// Why the append-only file could not be used.
#[derive(Debug, Error)]
pub enum AofError {
    /// Opening, reading or writing the file failed.
    #[error("append-only file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file holds something that is not a record TinyKV wrote, at this byte offset.
    #[error("append-only file {path} is corrupt at byte offset {offset}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong there.
        what: String,
    },
}

/// How much of the file replay reads at a time.
const REPLAY_CHUNK: usize = 1 << 20;

/// What a write command changes, to be read back and logged once it has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// These keys of these databases (the command's key arguments, from the table, in the client's
    /// database; `MOVE` and `COPY ... DB` name another).
    Keys(Vec<(usize, Bytes)>),
    /// One whole database (`FLUSHDB`).
    Database(usize),
    /// Every database (`FLUSHALL`).
    Everything,
    /// Two databases exchanged (`SWAPDB`).
    Swap(usize, usize),
}

/// What replay found, for the start-up log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Records applied.
    pub records: u64,
    /// Bytes of a cut-off last record that were dropped (0 when the file ended cleanly).
    pub truncated_bytes: u64,
}

struct Inner {
    file: File,
    /// Records not yet written to the file.
    pending: BytesMut,
    /// Whether bytes were written since the last fsync.
    unsynced: bool,
    /// The database the last record was of, so `SELECT` is written only when it changes.
    selected: usize,
}

/// An open append-only file.
pub struct Aof {
    path: PathBuf,
    fsync: AppendFsync,
    inner: Mutex<Inner>,
}

impl Aof {
    /// Replays `path` into `db` (when it exists), drops a cut-off last record with a warning, and
    /// opens the file for appending.
    pub fn open(path: &Path, fsync: AppendFsync, dbs: &[Db]) -> Result<(Aof, Replayed), AofError> {
        let io = |source| AofError::Io { path: path.to_owned(), source };
        let replayed = match File::open(path) {
            Ok(file) => replay(path, file, dbs)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Replayed::default(),
            Err(err) => return Err(io(err)),
        };
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        // A `SELECT` starts every run of appends, as a fresh process cannot know the file's last one.
        let inner = Inner { file, pending: BytesMut::new(), unsynced: false, selected: usize::MAX };
        Ok((Aof { path: path.to_owned(), fsync, inner: Mutex::new(inner) }, replayed))
    }

    /// What a request of command `spec`, run in database `db`, will change if it is a write; read
    /// before the request runs, since running it consumes the arguments.
    pub fn effect_of(spec: &CommandSpec, request: &Request, db: usize) -> Option<Effect> {
        let args = &request.args;
        let db_arg = |i: usize| args.get(i).and_then(|a| std::str::from_utf8(a).ok()?.parse::<usize>().ok());
        match spec.name {
            "FLUSHDB" => Some(Effect::Database(db)),
            "FLUSHALL" => Some(Effect::Everything),
            "SWAPDB" => Some(Effect::Swap(db_arg(1)?, db_arg(2)?)),
            "MOVE" => Some(Effect::Keys(vec![(db, args.get(1)?.clone()), (db_arg(2)?, args.get(1)?.clone())])),
            "COPY" => {
                // COPY source destination [DB index] [REPLACE]: only the destination changes.
                let target = args.iter().position(|a| a.eq_ignore_ascii_case(b"DB")).and_then(|i| db_arg(i + 1));
                Some(Effect::Keys(vec![(target.unwrap_or(db), args.get(2)?.clone())]))
            }
            _ if spec.has(Flag::Write) => {
                Some(Effect::Keys(key_arguments(spec, args).into_iter().map(|key| (db, key)).collect()))
            }
            _ => None,
        }
    }

    /// Appends to the pending records what `effect` left: the current state of each key, or the
    /// flush or swap itself.
    pub fn record(&self, dbs: &[Db], effect: &Effect) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        match effect {
            Effect::Everything => encode_request(&[&b"FLUSHALL"[..]], &mut inner.pending),
            Effect::Database(db) => {
                select(inner, *db);
                encode_request(&[&b"FLUSHDB"[..]], &mut inner.pending);
            }
            Effect::Swap(a, b) => encode_request(
                &[&b"SWAPDB"[..], a.to_string().as_bytes(), b.to_string().as_bytes()],
                &mut inner.pending,
            ),
            Effect::Keys(keys) => {
                for (index, key) in keys {
                    let Some(db) = dbs.get(*index) else { continue };
                    select(inner, *index);
                    let pending = &mut inner.pending;
                    db.with_key(key, |slot| match (slot.value(), slot.expires_at().flatten()) {
                        (Some(value), None) => encode_request(&[&b"SET"[..], key, value], pending),
                        (Some(value), Some(at)) => {
                            let at = at.to_string();
                            encode_request(&[&b"SET"[..], key, value, b"PXAT", at.as_bytes()], pending)
                        }
                        (None, _) => encode_request(&[&b"DEL"[..], key], pending),
                    });
                }
            }
        }
    }

    /// Writes the pending records, and fsyncs them under `--appendfsync always`. Called before
    /// replies are flushed, so no write is acknowledged before it is in the file.
    pub fn commit(&self) -> Result<(), AofError> {
        let mut inner = self.inner.lock();
        if !inner.pending.is_empty() {
            let Inner { file, pending, unsynced, .. } = &mut *inner;
            file.write_all(pending).map_err(|source| self.io(source))?;
            pending.clear();
            *unsynced = true;
        }
        if self.fsync == AppendFsync::Always {
            self.sync_locked(&mut inner)?;
        }
        Ok(())
    }

    /// Writes what is pending and fsyncs: once a second under `everysec`, and at shutdown.
    pub fn sync(&self) -> Result<(), AofError> {
        self.commit()?;
        let mut inner = self.inner.lock();
        self.sync_locked(&mut inner)
    }

    fn sync_locked(&self, inner: &mut Inner) -> Result<(), AofError> {
        if inner.unsynced {
            inner.file.sync_data().map_err(|source| self.io(source))?;
            inner.unsynced = false;
        }
        Ok(())
    }

    /// The fsync policy.
    pub fn fsync_policy(&self) -> AppendFsync {
        self.fsync
    }

    fn io(&self, source: std::io::Error) -> AofError {
        AofError::Io { path: self.path.clone(), source }
    }
}

/// Writes a `SELECT` record unless the last record was already of database `db`.
fn select(inner: &mut Inner, db: usize) {
    if inner.selected != db {
        encode_request(&[&b"SELECT"[..], db.to_string().as_bytes()], &mut inner.pending);
        inner.selected = db;
    }
}

/// The key arguments of a command, from the table's (first, last, step).
fn key_arguments(spec: &CommandSpec, args: &[Bytes]) -> Vec<Bytes> {
    let (first, last, step) = spec.keys;
    if first <= 0 || step <= 0 {
        return Vec::new();
    }
    let last = if last < 0 { args.len() as i64 + last } else { last };
    (first..=last.min(args.len() as i64 - 1)).step_by(step as usize).map(|i| args[i as usize].clone()).collect()
}

/// Applies every record of the file to `db`. A cut-off last record is dropped and the file is
/// truncated to the last whole one; anything else unexpected is an error naming its offset.
fn replay(path: &Path, mut file: File, dbs: &[Db]) -> Result<Replayed, AofError> {
    let io = |source| AofError::Io { path: path.to_owned(), source };
    // Streamed in chunks: a file larger than memory's spare room must still load.
    let mut chunk = vec![0; REPLAY_CHUNK];
    let mut buf = BytesMut::new();
    let mut read_total = 0u64;
    let mut at_end = false;
    let mut record_start = 0u64;
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut replayed = Replayed::default();
    let mut selected = 0;
    loop {
        if !decoder.is_mid_request() {
            record_start = read_total - buf.len() as u64;
            if let Some(&first) = buf.first() {
                if first != b'*' {
                    let what = format!("expected '*', found byte 0x{first:02x}");
                    return Err(AofError::Corrupt { path: path.to_owned(), offset: record_start, what });
                }
            }
        }
        let corrupt = |what: String| AofError::Corrupt { path: path.to_owned(), offset: record_start, what };
        match decoder.decode(&mut buf) {
            Ok(Some(request)) => {
                apply(dbs, &mut selected, &request).map_err(corrupt)?;
                replayed.records += 1;
            }
            Ok(None) if !at_end => {
                let n = file.read(&mut chunk).map_err(io)?;
                buf.extend_from_slice(&chunk[..n]);
                read_total += n as u64;
                at_end = n == 0;
            }
            Ok(None) if buf.is_empty() && !decoder.is_mid_request() => break,
            Ok(None) => {
                // The file ends inside a record: a crash mid-write. Keep everything before it.
                replayed.truncated_bytes = read_total - record_start;
                let file = OpenOptions::new().write(true).open(path).map_err(io)?;
                file.set_len(record_start).map_err(io)?;
                file.sync_all().map_err(io)?;
                tracing::warn!(
                    path = %path.display(),
                    offset = record_start,
                    dropped = replayed.truncated_bytes,
                    "append-only file ends in a cut-off record; dropped it"
                );
                break;
            }
            Err(err) => return Err(corrupt(err.to_string())),
        }
    }
    Ok(replayed)
}

/// Applies one record: `SELECT db`, `SET key value [PXAT ms]`, `DEL key`, `FLUSHDB`, `FLUSHALL` or
/// `SWAPDB a b`. `selected` is the database the records apply to.
fn apply(dbs: &[Db], selected: &mut usize, request: &Request) -> Result<(), String> {
    let args = &request.args;
    let name = args[0].to_ascii_uppercase();
    let index = |arg: &[u8]| {
        std::str::from_utf8(arg)
            .ok()
            .and_then(|text| text.parse::<usize>().ok())
            .filter(|&i| i < dbs.len())
            .ok_or_else(|| format!("database '{}' is out of range", String::from_utf8_lossy(arg)))
    };
    let db = &dbs[*selected];
    match (name.as_slice(), args.len()) {
        (b"SELECT", 2) => *selected = index(&args[1])?,
        (b"SET", 3) => {
            db.with_key(&args[1], |slot| slot.put(&args[2], None));
        }
        (b"SET", 5) if args[3].eq_ignore_ascii_case(b"PXAT") => {
            let at: u64 = std::str::from_utf8(&args[4])
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| "bad PXAT time".to_owned())?;
            db.with_key(&args[1], |slot| {
                if at > slot.now() {
                    slot.put(&args[2], Some(at));
                } else {
                    slot.remove();
                }
            });
        }
        (b"DEL", 2) => {
            db.with_key(&args[1], |slot| slot.remove());
        }
        (b"FLUSHDB", 1) => db.clear(),
        (b"FLUSHALL", 1) => dbs.iter().for_each(Db::clear),
        (b"SWAPDB", 3) => {
            let (a, b) = (index(&args[1])?, index(&args[2])?);
            if a != b {
                Db::swap(&dbs[a.min(b)], &dbs[a.max(b)]);
            }
        }
        _ => return Err(format!("unexpected record '{}'", String::from_utf8_lossy(&args[0]))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinykv_proto::table;

    fn request(words: &[&str]) -> Request {
        Request { args: words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect() }
    }

    #[test]
    fn replay_streams_a_file_larger_than_a_chunk_and_drops_a_cut_off_tail() {
        let path = std::env::temp_dir().join(format!("tinykv-aof-unit-{}.aof", std::process::id()));
        let mut bytes = BytesMut::new();
        let value = vec![b'v'; 1000];
        for i in 0..3000 {
            encode_request(&[&b"SET"[..], format!("key:{i}").as_bytes(), &value], &mut bytes);
        }
        encode_request(&[&b"DEL"[..], b"key:7"], &mut bytes);
        let whole = bytes.len() as u64;
        assert!(whole > 2 * REPLAY_CHUNK as u64);
        bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$10\r\nabc");
        std::fs::write(&path, &bytes).unwrap();

        let dbs = [Db::new(4)];
        let db = &dbs[0];
        let (_aof, replayed) = Aof::open(&path, AppendFsync::No, &dbs).unwrap();
        assert_eq!(replayed.records, 3001);
        assert_eq!(replayed.truncated_bytes, bytes.len() as u64 - whole);
        assert_eq!(db.len(), 2999);
        assert_eq!(db.get(b"key:2999").as_deref(), Some(value.as_slice()));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn keys_of_write_commands_come_from_the_table() {
        let effect = |words: &[&str]| {
            let request = request(words);
            Aof::effect_of(table::lookup(&request.args[0]).unwrap(), &request, 0)
        };
        let keys = |names: &[&str]| {
            Some(Effect::Keys(names.iter().map(|n| (0, Bytes::copy_from_slice(n.as_bytes()))).collect()))
        };
        assert_eq!(effect(&["GET", "a"]), None);
        assert_eq!(effect(&["WATCH", "a"]), None);
        assert_eq!(effect(&["set", "a", "1"]), keys(&["a"]));
        assert_eq!(effect(&["MSET", "a", "1", "b", "2"]), keys(&["a", "b"]));
        assert_eq!(effect(&["DEL", "a", "b"]), keys(&["a", "b"]));
        assert_eq!(effect(&["RENAME", "a", "b"]), keys(&["a", "b"]));
        assert_eq!(effect(&["FLUSHALL"]), Some(Effect::Everything));
        assert_eq!(effect(&["flushdb", "async"]), Some(Effect::Database(0)));
    }
}
