//! The append-only file: every write is logged, in RESP, before its reply leaves.
//!
//! What is logged is the *effect* of a write, not its words, in one of two ways.
//!
//! String and keyspace commands: after the command runs, the state of each key it names is read back
//! and appended (under the key's lock, so the last record of a key is its final state) as
//!
//! ```text
//! SELECT db                     the records after it are of database `db` (0 until one is seen)
//! SET key value                 the key holds a string, without a time to live
//! SET key value PXAT <unix ms>  the key holds a string and expires then
//! DEL key                       the key does not exist
//! DEL key, HSET/SADD key ...    the key holds a collection, rebuilt in chunks (see [`rebuild_key`]),
//!   [PEXPIREAT key <unix ms>]   and its expiry
//! PEXPIREAT key <unix ms>       after the EXPIRE family and PERSIST: only the expiry is read back
//!   | PERSIST key | DEL key
//! FLUSHDB / FLUSHALL / SWAPDB a b
//! ```
//!
//! Collection commands record their own effect while they run, under the lock of the keys they change,
//! through [`Effects`]: the command itself where it is deterministic (`HSET k f v`, `SADD k m`, `HDEL`,
//! `SREM`), a deterministic form where it is not (`SPOP` as `SREM` of the members popped, `HINCRBYFLOAT`
//! and `HINCRBY` as `HSET` of the result, `SMOVE` as `SREM` + `SADD`, the `*STORE` commands as `DEL` and
//! `SADD` of the result), so a one-field `HSET` on a million-field hash logs one field. Every such
//! record sets something to an absolute state (a field's value, a member's presence, the key's
//! absence), so replaying records over a state that already holds some of them (a rewrite's base, see
//! [`rewrite`]) ends in the same state. Relative times become absolute everywhere, and replay runs the
//! records through the ordinary commands, with keys kept from expiring until the whole file is read
//! (each record was true when it was written).
//!
//! Records collect in memory; the connection calls [`Aof::commit`] before it flushes replies, so a
//! whole pipelined batch costs one `write` (and, with `always`, one fsync shared by every client
//! whose records it carries). Under `everysec` the fsync runs once a second in a blocking thread
//! holding no lock, so no client ever waits for it.
//!
//! When the disk fails (full, or an I/O error), nothing half-written stays behind and nothing
//! unlogged is acknowledged:
//!
//! ```text
//! write(2) short or failed  ->  cut the file back to its last whole record (ftruncate)
//!                               keep the records pending, remember the OS error, log it once
//! the batch's write replies ->  -MISCONF Errors writing to the AOF file: <strerror>
//! later write commands      ->  refused with the same error before they run; reads go on
//! a retry succeeds          ->  (the next commit, or the once-a-second tick) the error clears
//! ```
//!
//! On disk, PATH is one of two layouts. A single file (what every earlier TinyKV wrote, and what a
//! new PATH starts as) is replayed and appended to. A directory is Redis 7's `appendonlydir`: a
//! manifest ([`manifest`]) names a base and increments, replayed in that order. The first rewrite
//! ([`rewrite`], `BGREWRITEAOF` or the growth rule) turns a single file into the directory layout at
//! the same PATH, the file becoming its first base.

mod manifest;
mod rewrite;

pub use manifest::{Manifest, ManifestError};
pub use rewrite::{rebuild_key, RewriteRefused};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use thiserror::Error;
use tinykv_proto::codec::encode_request;
use tinykv_proto::request::{Limits, RequestDecoder};
use tinykv_proto::table::{CommandSpec, Flag};
use tinykv_proto::{CommandError, Request};

use crate::config::AppendFsync;
use crate::db::Db;
use crate::rdb::encode::WriteOptions;
use crate::rdb::RdbError;
use manifest::MANIFEST_NAME;
use rewrite::Rewrites;
pub use rewrite::ITEMS_PER_RECORD;

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
    /// The manifest of a directory layout cannot be read.
    #[error("append-only manifest {path}: {source}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// A base file in RDB format (Redis's `aof-use-rdb-preamble`) could not be loaded.
    #[error(transparent)]
    RdbBase(#[from] RdbError),
    /// A rewrite stopped because the server is stopping.
    #[error("the rewrite was aborted: the server is stopping")]
    Aborted,
    /// A rewrite's walk was invalidated (a `SWAPDB` ran during it).
    #[error("the rewrite was interrupted by SWAPDB")]
    Interrupted,
}

/// How much of the file replay reads at a time.
const REPLAY_CHUNK: usize = 1 << 20;
/// A write buffer that grew past this for one huge batch is given back once written.
const KEEP_CAPACITY: usize = 4 << 20;

/// What a write command changes, to be read back and logged once it has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// These keys of these databases (the command's key arguments, from the table, in the client's
    /// database; `MOVE` and `COPY ... DB` name another).
    Keys(Vec<(usize, Bytes)>),
    /// Only the expiry of these keys changed (the `EXPIRE` family, `PERSIST`).
    Expiry(Vec<(usize, Bytes)>),
    /// One whole database (`FLUSHDB`).
    Database(usize),
    /// Every database (`FLUSHALL`).
    Everything,
    /// Two databases exchanged (`SWAPDB`).
    Swap(usize, usize),
}

/// Where a collection command records its effect, as commands, while it runs: [`Effects::record`]
/// appends straight to the append-only file's buffer (and the replication stream's), so the caller
/// must hold the locks of the keys it changed (the records of one key then follow its changes in
/// order). Without an append-only file or replicas, recording costs a branch.
pub struct Effects<'a> {
    aof: Option<&'a Aof>,
    replication: Option<&'a dyn Sink>,
    db: usize,
    recorded: bool,
}

impl<'a> Effects<'a> {
    /// Records of writes to database `db`, into `aof` if there is one.
    pub fn new(aof: Option<&'a Aof>, db: usize) -> Effects<'a> {
        Effects { aof, replication: None, db, recorded: false }
    }

    /// Records of writes to database `db`, into `aof` and the replication stream (each if there is one).
    pub fn with_replication(aof: Option<&'a Aof>, replication: Option<&'a dyn Sink>, db: usize) -> Effects<'a> {
        Effects { aof, replication, db, recorded: false }
    }

    /// Records nowhere: for replay, and for tests.
    pub fn none() -> Effects<'static> {
        Effects { aof: None, replication: None, db: 0, recorded: false }
    }

    /// Records one command.
    pub fn record(&mut self, args: &[&[u8]]) {
        if let Some(aof) = self.aof {
            aof.append(Some(self.db), |pending| encode_request(args, pending));
            self.recorded = true;
        }
        if let Some(replication) = self.replication {
            replication.append_record(Some(self.db), &mut |out| encode_request(args, out));
        }
    }

    /// Records `prefix` followed by `items`, as several commands of at most [`ITEMS_PER_RECORD`]
    /// items each (`SADD key` and a million members is many records, not one huge one).
    pub fn record_chunked<'i>(&mut self, prefix: &[&[u8]], items: impl IntoIterator<Item = &'i [u8]> + Clone) {
        if let Some(aof) = self.aof {
            let items = items.clone();
            aof.append(Some(self.db), |pending| rewrite::encode_chunked(prefix, items, ITEMS_PER_RECORD, pending));
            self.recorded = true;
        }
        if let Some(replication) = self.replication {
            let mut items = Some(items);
            replication.append_record(Some(self.db), &mut |out| {
                if let Some(items) = items.take() {
                    rewrite::encode_chunked(prefix, items, ITEMS_PER_RECORD, out);
                }
            });
        }
    }

    /// Records `ZADD key score member ...` for `entries`, as several commands of at most
    /// [`ITEMS_PER_RECORD`] pairs each, with scores that read back exactly.
    pub fn record_zadd<'i>(&mut self, key: &[u8], entries: impl IntoIterator<Item = (&'i [u8], f64)>) {
        if self.aof.is_none() && self.replication.is_none() {
            return;
        }
        // Read once, written to each sink.
        let entries: Vec<(&[u8], f64)> = entries.into_iter().collect();
        if let Some(aof) = self.aof {
            aof.append(Some(self.db), |pending| rewrite::encode_zadd(key, entries.iter().copied(), pending));
            self.recorded = true;
        }
        if let Some(replication) = self.replication {
            replication
                .append_record(Some(self.db), &mut |out| rewrite::encode_zadd(key, entries.iter().copied(), out));
        }
    }

    /// Whether anything was recorded in the append-only file: the connection must then commit
    /// before it replies.
    pub fn recorded(&self) -> bool {
        self.recorded
    }
}

/// Where records of effects go: the append-only file's buffer, the replication stream. Each
/// writes a `SELECT` first when `db` differs from its last record's.
pub trait Sink {
    /// Appends what `write` encodes, as a record of database `db` (`None`: of no database).
    fn append_record(&self, db: Option<usize>, write: &mut dyn FnMut(&mut BytesMut));
}

impl Sink for Aof {
    fn append_record(&self, db: Option<usize>, write: &mut dyn FnMut(&mut BytesMut)) {
        self.append(db, write);
    }
}

/// Appends to `sink` what `effect` left: the current state of each key, or the flush or swap
/// itself. A key's state is read and appended with its shard locked and then the sink's buffer:
/// always in that order (as [`Effects`] does), so records of one key are in the order its changes
/// happened.
pub fn record_effect(sink: &dyn Sink, dbs: &[Db], effect: &Effect) {
    match effect {
        Effect::Everything => sink.append_record(None, &mut |out| encode_request(&[&b"FLUSHALL"[..]], out)),
        Effect::Database(db) => sink.append_record(Some(*db), &mut |out| encode_request(&[&b"FLUSHDB"[..]], out)),
        Effect::Swap(a, b) => sink.append_record(None, &mut |out| {
            encode_request(&[&b"SWAPDB"[..], a.to_string().as_bytes(), b.to_string().as_bytes()], out)
        }),
        Effect::Keys(keys) => {
            for (index, key) in keys {
                let Some(db) = dbs.get(*index) else { continue };
                db.with_key_untouched(key, |slot| {
                    sink.append_record(Some(*index), &mut |out| match slot.entry() {
                        Some(entry) => rebuild_key_replacing(entry, out),
                        None => encode_request(&[&b"DEL"[..], key], out),
                    })
                });
            }
        }
        Effect::Expiry(keys) => {
            for (index, key) in keys {
                let Some(db) = dbs.get(*index) else { continue };
                db.with_key_untouched(key, |slot| {
                    sink.append_record(Some(*index), &mut |out| match slot.expires_at() {
                        Some(Some(at)) => encode_request(&[&b"PEXPIREAT"[..], key, at.to_string().as_bytes()], out),
                        Some(None) => encode_request(&[&b"PERSIST"[..], key], out),
                        None => encode_request(&[&b"DEL"[..], key], out),
                    })
                });
            }
        }
    }
}

/// [`rebuild_key`] after a `DEL key` for a collection, for a log where the key may hold something
/// already (a string's `SET` replaces whatever was there by itself).
fn rebuild_key_replacing(entry: &crate::entry::Entry, out: &mut BytesMut) {
    if entry.string().is_none() {
        encode_request(&[&b"DEL"[..], entry.key()], out);
    }
    rebuild_key(entry, out);
}

/// What replay found, for the start-up log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Records applied.
    pub records: u64,
    /// Bytes of a cut-off last record that were dropped (0 when the file ended cleanly).
    pub truncated_bytes: u64,
    // --- scripting ---
    /// `FUNCTION LOAD|DELETE|FLUSH` records, in order: the server rebuilds its libraries from them.
    pub functions: Vec<Request>,
}

/// Where the records go: the real file, or in tests a file that fills up or fails on demand, which a
/// real disk does only rarely and never when asked.
///
/// Every method takes `&self`, as `&File` allows, so the commit path and the background fsync share
/// one handle without sharing a lock: an fsync never holds up a write.
pub trait LogFile: Send + Sync {
    /// Appends what it can of `bytes` and says how much: less than asked is a short write, as
    /// `write(2)` gives when the disk fills.
    fn append(&self, bytes: &[u8]) -> io::Result<usize>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;
    /// Forces what was written down to the disk (`fdatasync`).
    fn sync(&self) -> io::Result<()>;
}

impl LogFile for File {
    fn append(&self, bytes: &[u8]) -> io::Result<usize> {
        let mut file: &File = self;
        file.write(bytes)
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
}

/// How PATH is laid out on disk.
enum Layout {
    /// One file, as every TinyKV before the directory layout wrote it.
    Single,
    /// Redis 7's `appendonlydir`: PATH is a directory holding this manifest's files.
    Dir(Manifest),
}

/// Records waiting for the file. [`Aof::record`] holds this lock only to append, never across I/O.
struct Buffer {
    pending: BytesMut,
    /// The database the last record was of, so `SELECT` is written only when it changes.
    selected: usize,
}

/// The writing side, held across `write(2)` (and, under `always`, the fsync), so batches reach the
/// file whole and in order.
struct Writer {
    /// Length of the file: always a prefix of the stream of records, normally ending on a whole one.
    file_len: u64,
    /// The batch being written; swapped with [`Buffer::pending`] so neither reallocates.
    out: BytesMut,
}

/// Which step failed; they clear separately, as in Redis: a write error when a write succeeds, an
/// fsync error when an fsync does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Write,
    Fsync,
}

/// Whether the log is failing, and why: what the write gate reads on every write command.
#[derive(Default)]
struct Health {
    /// Fast check for the gate: true while either error below is set.
    failing: AtomicBool,
    errors: Mutex<Errors>,
}

/// The OS's description of the last write and fsync errors, while they last.
#[derive(Default)]
struct Errors {
    write: Option<String>,
    fsync: Option<String>,
}

impl Errors {
    fn slot(&mut self, stage: Stage) -> &mut Option<String> {
        match stage {
            Stage::Write => &mut self.write,
            Stage::Fsync => &mut self.fsync,
        }
    }
}

/// An open append-only file.
///
/// Records are appended to a buffer by [`Aof::record`] while commands run, and written by
/// [`Aof::commit`] before the replies leave. Positions are *stream offsets*: bytes recorded since
/// the file was opened; a connection remembers how far its records reach and commits up to there.
///
/// When a write or fsync fails the file is cut back to its last whole record, the records stay in
/// the buffer, and the log is *failing*: [`Aof::write_refusal`] tells the write gate to refuse every
/// write command until a retry (the next commit, or [`Aof::tick`] once a second) succeeds. So the
/// buffer only holds what ran before the failure was known.
pub struct Aof {
    /// `--appendonly PATH`: the single file, or the directory of the multi-part layout.
    path: PathBuf,
    /// The fsync policy, an [`AppendFsync`] as a number so `CONFIG SET appendfsync` can change it.
    fsync: AtomicU8,
    /// The file records are appended to; swapped (under the writer lock) when a rewrite starts.
    /// Held only to clone the handle, so an fsync runs with no lock held.
    current: Mutex<Arc<dyn LogFile>>,
    /// Which files make the log; changed only by a rewrite, which holds it throughout.
    layout: Mutex<Layout>,
    /// Bytes of the files replayed before the current one (base and older increments).
    closed_len: AtomicU64,
    /// Bytes of the current file (the writer's `file_len`, readable without its lock).
    current_len: AtomicU64,
    /// The size after the last rewrite or at start: Redis's `aof_base_size`, the growth rule's base.
    base_size: AtomicU64,
    rewrites: Rewrites,
    buffer: Mutex<Buffer>,
    writer: Mutex<Writer>,
    /// Stream offset of the end of the buffer: bytes recorded since the file was opened. Changed
    /// only under the buffer's lock; read without it by connections after a write.
    recorded: AtomicU64,
    /// Stream offset up to which records are in the file.
    written: AtomicU64,
    /// Stream offset up to which records are known to be on the disk.
    synced: AtomicU64,
    /// How a rewrite writes the base: as a snapshot with these options (`aof-use-rdb-preamble yes`,
    /// Redis's default) or, when `None`, as commands.
    rdb_base: Mutex<Option<WriteOptions>>,
    /// Held by the background fsync while it runs, so a commit can wait for one that takes too long.
    fsync_running: Mutex<()>,
    /// When the running background fsync started (ms since the Unix epoch), 0 when none runs.
    fsync_started_ms: AtomicU64,
    /// Commits that waited for a background fsync running longer than [`FSYNC_WAIT_AFTER_MS`]:
    /// Redis's `aof_delayed_fsync`.
    delayed_fsyncs: AtomicU64,
    health: Health,
}

/// Under `everysec`, a commit waits for a background fsync that has run this long (Redis's 2 s
/// rule): so a disk that stalls cannot let unsynced writes pile up for longer than that.
const FSYNC_WAIT_AFTER_MS: u64 = 2_000;

impl Aof {
    /// Replays `path` into `db` (when it exists), drops a cut-off last record with a warning, and
    /// opens the file for appending.
    ///
    /// PATH may be a directory in Redis 7's layout (see [`Aof::open_dir`]); a file or a path that
    /// does not exist yet is a single file.
    pub fn open(path: &Path, fsync: AppendFsync, dbs: &[Db]) -> Result<(Aof, Replayed), AofError> {
        dbs.iter().for_each(|db| db.set_loading(true));
        let opened = Aof::open_loading(path, fsync, dbs);
        dbs.iter().for_each(|db| db.set_loading(false));
        // What expired while the server was down goes now, before any client can count it.
        for db in dbs {
            db.sweep_expired(usize::MAX, usize::MAX);
        }
        opened
    }

    /// [`Aof::open`] with the databases in loading mode (nothing expires while records replay).
    fn open_loading(path: &Path, fsync: AppendFsync, dbs: &[Db]) -> Result<(Aof, Replayed), AofError> {
        let io = |source| AofError::Io { path: path.to_owned(), source };
        recover_migration(path)?;
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Aof::open_dir(path, fsync, dbs),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(io(err)),
        }
        let replayed = match File::open(path) {
            Ok(file) => replay(path, file, dbs, true)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Replayed::default(),
            Err(err) => return Err(io(err)),
        };
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok((Aof::with_file(path, fsync, Box::new(file), len), replayed))
    }

    /// Opens PATH as a directory in Redis 7's layout: reads the manifest (or starts one in an empty
    /// directory), replays the base and then every increment in order, and appends to the last
    /// increment. Only the last increment may end in a cut-off record (a crash mid-write); anything
    /// else wrong in any file stops the start with the file and the byte offset.
    fn open_dir(dir: &Path, fsync: AppendFsync, dbs: &[Db]) -> Result<(Aof, Replayed), AofError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AofError::Io { path, source }
        };
        rewrite::remove_temp_files(dir);
        let manifest_path = dir.join(MANIFEST_NAME);
        let mut manifest = read_manifest(&manifest_path)?.unwrap_or_default();
        if manifest.incrs.is_empty() {
            // A fresh directory, or one whose writes all went to the base: appends need an increment.
            let incr = manifest.next_incr();
            File::create(dir.join(&incr.name)).map_err(io(&dir.join(&incr.name)))?;
            manifest.incrs.push(incr);
            rewrite::write_manifest(dir, &manifest)?;
        }
        rewrite::delete_history(dir, &mut manifest);
        let mut replayed = Replayed::default();
        let mut closed_len = 0;
        let last = manifest.incrs.last().map(|info| info.seq);
        for info in manifest.replay_order() {
            let path = dir.join(&info.name);
            let is_last = info.kind == manifest::FileType::Incr && Some(info.seq) == last;
            let mut file = File::open(&path).map_err(io(&path))?;
            if !is_last {
                closed_len += file.metadata().map_err(io(&path))?.len();
            }
            let mut magic = [0u8; 5];
            let is_rdb =
                info.kind == manifest::FileType::Base && file.read_exact(&mut magic).is_ok() && &magic == b"REDIS";
            if is_rdb {
                // Redis's default base (`aof-use-rdb-preamble yes`): a snapshot.
                let loaded = crate::rdb::load(&path, dbs)?;
                // --- scripting ---
                // A base Redis wrote holds its libraries: they load as FUNCTION records would.
                for code in loaded.iter().flat_map(|loaded| &loaded.functions) {
                    let args = [&b"FUNCTION"[..], b"LOAD", b"REPLACE", code];
                    replayed.functions.push(Request { args: args.iter().map(|a| Bytes::copy_from_slice(a)).collect() });
                }
                replayed.records += loaded.map_or(0, |loaded| loaded.keys);
                continue;
            }
            let file = File::open(&path).map_err(io(&path))?;
            let from_file = replay(&path, file, dbs, is_last)?;
            replayed.records += from_file.records;
            replayed.truncated_bytes += from_file.truncated_bytes;
            replayed.functions.extend(from_file.functions);
        }
        let Some(incr) = manifest.incrs.last() else {
            return Err(AofError::Interrupted);
        };
        let incr_path = dir.join(&incr.name);
        let file = OpenOptions::new().append(true).open(&incr_path).map_err(io(&incr_path))?;
        let len = file.metadata().map_err(io(&incr_path))?.len();
        let aof = Aof::with_file(dir, fsync, Box::new(file), len);
        *aof.layout.lock() = Layout::Dir(manifest);
        aof.closed_len.store(closed_len, Ordering::Relaxed);
        aof.base_size.store(closed_len + len, Ordering::Relaxed);
        Ok((aof, replayed))
    }

    /// An append-only file writing to `file`, which is `len` bytes long.
    fn with_file(path: &Path, fsync: AppendFsync, file: Box<dyn LogFile>, len: u64) -> Aof {
        Aof {
            path: path.to_owned(),
            fsync: AtomicU8::new(fsync as u8),
            current: Mutex::new(Arc::from(file)),
            layout: Mutex::new(Layout::Single),
            closed_len: AtomicU64::new(0),
            current_len: AtomicU64::new(len),
            base_size: AtomicU64::new(len),
            rewrites: Rewrites::default(),
            // A `SELECT` starts every run of appends, as a fresh process cannot know the file's last one.
            buffer: Mutex::new(Buffer { pending: BytesMut::new(), selected: usize::MAX }),
            writer: Mutex::new(Writer { file_len: len, out: BytesMut::new() }),
            recorded: AtomicU64::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            rdb_base: Mutex::new(None),
            fsync_running: Mutex::new(()),
            fsync_started_ms: AtomicU64::new(0),
            delayed_fsyncs: AtomicU64::new(0),
            health: Health::default(),
        }
    }

    /// What a request of command `spec`, run in database `db`, will change if it is a write; read
    /// before the request runs, since running it consumes the arguments.
    pub fn effect_of(spec: &CommandSpec, request: &Request, db: usize) -> Option<Effect> {
        let args = &request.args;
        let db_arg = |i: usize| args.get(i).and_then(|a| std::str::from_utf8(a).ok()?.parse::<usize>().ok());
        match spec.name {
            // They record their own effects as they run (see `Effects`).
            _ if matches!(spec.group, "hash" | "set") => None,
            // --- lists ---
            _ if spec.group == "list" => None,
            _ if matches!(spec.group, "hash" | "set" | "sorted-set") => None,
            // --- sort ---
            // SORT ... STORE records its own effect; without STORE it writes nothing.
            "SORT" | "SORT_RO" => None,
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "PERSIST" => {
                Some(Effect::Expiry(vec![(db, args.get(1)?.clone())]))
            }
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

    // --- replication ---
    /// What a write changes, as whole keys: [`Aof::effect_of`], with the keys of collection commands
    /// and of the `EXPIRE` family read back whole. For a replication stream while a full sync's
    /// walk runs (see `Replication::whole_keys`).
    pub fn whole_key_effect_of(spec: &CommandSpec, request: &Request, db: usize) -> Option<Effect> {
        match Aof::effect_of(spec, request, db) {
            Some(Effect::Expiry(keys)) => Some(Effect::Keys(keys)),
            // The families that record their own (partial) effects.
            None if spec.has(Flag::Write) => {
                Some(Effect::Keys(key_arguments(spec, &request.args).into_iter().map(|key| (db, key)).collect()))
            }
            other => other,
        }
    }

    /// Appends to the pending records what `effect` left (see [`record_effect`]). Returns the
    /// stream offset the records reach, for [`Aof::commit`].
    pub fn record(&self, dbs: &[Db], effect: &Effect) -> u64 {
        record_effect(self, dbs, effect);
        self.recorded()
    }

    /// Appends what `write` encodes, after a `SELECT` if it is of another database than the last
    /// record; returns the stream offset the records reach.
    fn append(&self, db: Option<usize>, write: impl FnOnce(&mut BytesMut)) -> u64 {
        let mut buffer = self.buffer.lock();
        let buffer = &mut *buffer;
        let before = buffer.pending.len();
        if let Some(db) = db {
            select(buffer, db);
        }
        write(&mut buffer.pending);
        let added = (buffer.pending.len() - before) as u64;
        self.recorded.fetch_add(added, Ordering::AcqRel) + added
    }

    /// The stream offset every record so far reaches: a connection that recorded a write commits up
    /// to at least this.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Acquire)
    }

    /// Makes sure the records up to stream offset `upto` are in the file, and on the disk under
    /// `--appendfsync always`. Called before replies are flushed, so no write is acknowledged before
    /// it is in the file.
    ///
    /// Commits group: whoever holds the writer writes every record pending then, so a connection
    /// often finds its records already carried by another's commit (and, under `always`, fsynced
    /// by it). An `Err` means these records are not (or not surely) in the file; they stay pending
    /// and the log is failing until a retry succeeds.
    pub fn commit(&self, upto: u64) -> Result<(), AofError> {
        if self.reached(upto) {
            return Ok(());
        }
        self.wait_for_slow_fsync();
        let mut writer = self.writer.lock();
        if self.reached(upto) {
            return Ok(());
        }
        self.write_locked(&mut writer)
    }

    /// Once a second: retries what a failed write left pending (this is what clears a full disk's
    /// error once space returns), and under `everysec` fsyncs, holding no lock that writers need.
    pub fn tick(&self) -> Result<(), AofError> {
        if self.is_failing() || !self.buffer.lock().pending.is_empty() {
            let mut writer = self.writer.lock();
            self.write_locked(&mut writer)?;
        }
        if self.fsync_policy() == AppendFsync::Everysec {
            self.sync_unlocked()?;
        }
        Ok(())
    }

    /// Redis's rule for `everysec`: when the background fsync has been running for 2 s or more, the
    /// write waits until it ends (counted in `aof_delayed_fsync`). Otherwise writes never wait for an
    /// fsync.
    fn wait_for_slow_fsync(&self) {
        let started = self.fsync_started_ms.load(Ordering::Acquire);
        if started == 0 || self.fsync_policy() != AppendFsync::Everysec {
            return;
        }
        if crate::db::now_ms().saturating_sub(started) >= FSYNC_WAIT_AFTER_MS {
            self.delayed_fsyncs.fetch_add(1, Ordering::Relaxed);
            drop(self.fsync_running.lock());
        }
    }

    /// Makes rewrites write the base as a snapshot with `options` (`aof-use-rdb-preamble yes`), or
    /// as commands (`None`).
    pub fn set_rdb_base(&self, options: Option<WriteOptions>) {
        *self.rdb_base.lock() = options;
    }

    /// Commits that waited for a slow background fsync (`aof_delayed_fsync`).
    pub fn delayed_fsyncs(&self) -> u64 {
        self.delayed_fsyncs.load(Ordering::Relaxed)
    }

    /// Writes everything pending and fsyncs, whatever the policy: at shutdown.
    pub fn sync(&self) -> Result<(), AofError> {
        {
            let mut writer = self.writer.lock();
            self.write_locked(&mut writer)?;
        }
        self.sync_unlocked()
    }

    /// `Some(error)` while the log is failing: then write commands must be refused, with Redis's
    /// text, e.g. `MISCONF Errors writing to the AOF file: No space left on device`.
    pub fn write_refusal(&self) -> Option<CommandError> {
        if !self.is_failing() {
            return None;
        }
        let errors = self.health.errors.lock();
        errors.write.as_ref().or(errors.fsync.as_ref()).map(|reason| CommandError::Misconf(reason.clone()))
    }

    /// Whether the last write or fsync failed and no retry has succeeded since.
    pub fn is_failing(&self) -> bool {
        self.health.failing.load(Ordering::Acquire)
    }

    /// Bytes of records not yet in the file (Redis's `aof_buffer_length`).
    pub fn pending_len(&self) -> usize {
        self.buffer.lock().pending.len()
    }

    /// The fsync policy.
    pub fn fsync_policy(&self) -> AppendFsync {
        match self.fsync.load(Ordering::Relaxed) {
            x if x == AppendFsync::Always as u8 => AppendFsync::Always,
            x if x == AppendFsync::No as u8 => AppendFsync::No,
            _ => AppendFsync::Everysec,
        }
    }

    /// Changes the fsync policy (`CONFIG SET appendfsync`), from the next commit on. Moving to
    /// `always` syncs what is already written, so every later reply finds its records on the disk.
    pub fn set_fsync_policy(&self, fsync: AppendFsync) {
        self.fsync.store(fsync as u8, Ordering::Relaxed);
        if fsync == AppendFsync::Always {
            let _ = self.sync_unlocked();
        }
    }

    /// Whether the records up to `upto` are as safe as the policy promises before a reply.
    fn reached(&self, upto: u64) -> bool {
        let mark = if self.fsync_policy() == AppendFsync::Always { &self.synced } else { &self.written };
        mark.load(Ordering::Acquire) >= upto
    }

    /// Writes every pending record (and under `always` fsyncs them). On failure the file is cut back
    /// to the length it had before, the records go back to the front of the buffer, and the log is
    /// failing.
    fn write_locked(&self, writer: &mut Writer) -> Result<(), AofError> {
        let end = {
            let mut buffer = self.buffer.lock();
            std::mem::swap(&mut buffer.pending, &mut writer.out);
            self.recorded.load(Ordering::Acquire)
        };
        self.write_out(writer, end)
    }

    /// Writes `writer.out`, the records up to stream offset `end`, to the current file (and under
    /// `always` fsyncs it); on failure cuts the file back and returns the records to the buffer.
    fn write_out(&self, writer: &mut Writer, end: u64) -> Result<(), AofError> {
        let file = Arc::clone(&*self.current.lock());
        let always = self.fsync_policy() == AppendFsync::Always;
        if writer.out.is_empty() {
            // Nothing new; under `always` an earlier failure may still have left written bytes unsynced.
            return if always { self.sync_unlocked() } else { Ok(()) };
        }
        let before = writer.file_len;
        let (done, written) = append_all(&*file, &writer.out);
        let result = match written {
            Ok(()) if always => file.sync().map_err(|err| (Stage::Fsync, err)),
            Ok(()) => Ok(()),
            Err(err) => Err((Stage::Write, err)),
        };
        match result {
            Ok(()) => {
                writer.file_len += writer.out.len() as u64;
                self.current_len.store(writer.file_len, Ordering::Relaxed);
                writer.out.clear();
                if writer.out.capacity() > KEEP_CAPACITY {
                    writer.out = BytesMut::new();
                }
                self.written.store(end, Ordering::Release);
                if always {
                    self.synced.store(end, Ordering::Release);
                    self.health.recovered(Stage::Fsync, &self.path);
                }
                self.health.recovered(Stage::Write, &self.path);
                Ok(())
            }
            Err((stage, err)) => {
                // Cut back to the last whole record, so a retry appends on a clean boundary and a
                // restart never meets half a record followed by whole ones.
                let (kept, cut_error) = match file.truncate(before) {
                    Ok(()) => (0, None),
                    // The bytes that did land are a prefix of the batch: count them as written and
                    // keep only the rest, so the file stays a prefix of the stream and the retry
                    // completes the cut record exactly (Redis does the same when ftruncate fails).
                    Err(cut) => (done, Some(cut)),
                };
                writer.file_len = before + kept as u64;
                self.current_len.store(writer.file_len, Ordering::Relaxed);
                self.written.store(end - (writer.out.len() - kept) as u64, Ordering::Release);
                writer.out.advance(kept);
                {
                    let mut buffer = self.buffer.lock();
                    writer.out.extend_from_slice(&buffer.pending);
                    buffer.pending.clear();
                    std::mem::swap(&mut buffer.pending, &mut writer.out);
                }
                self.health.failed(stage, &err, cut_error.as_ref(), &self.path);
                Err(self.io(err))
            }
        }
    }

    /// fsyncs what is written but not yet synced, with no lock held: writes go on meanwhile.
    ///
    /// The handle and the target are read together: bytes written before a rewrite's switch are in
    /// the previous file, which the rewrite fsyncs itself (and under `always` were synced already).
    fn sync_unlocked(&self) -> Result<(), AofError> {
        let (file, target) = {
            let current = self.current.lock();
            (Arc::clone(&*current), self.written.load(Ordering::Acquire))
        };
        if self.synced.load(Ordering::Acquire) >= target && self.health.errors.lock().fsync.is_none() {
            return Ok(());
        }
        let synced = {
            let _running = self.fsync_running.lock();
            self.fsync_started_ms.store(crate::db::now_ms().max(1), Ordering::Release);
            let synced = file.sync();
            self.fsync_started_ms.store(0, Ordering::Release);
            synced
        };
        match synced {
            Ok(()) => {
                self.synced.fetch_max(target, Ordering::AcqRel);
                self.health.recovered(Stage::Fsync, &self.path);
                Ok(())
            }
            Err(err) => {
                self.health.failed(Stage::Fsync, &err, None, &self.path);
                Err(self.io(err))
            }
        }
    }

    fn io(&self, source: io::Error) -> AofError {
        AofError::Io { path: self.path.clone(), source }
    }
}

impl AofError {
    /// The reply to a write whose record could not be written: Redis's `MISCONF` error with what
    /// the OS said.
    pub fn misconf(&self) -> CommandError {
        match self {
            AofError::Io { source, .. } => CommandError::Misconf(strerror(source)),
            AofError::Corrupt { what, .. } => CommandError::Misconf(what.clone()),
            other => CommandError::Misconf(other.to_string()),
        }
    }
}

impl Health {
    /// Sets the error of `stage`; logs only when the log was not failing at that stage already, so
    /// a full disk is one log line, not one per request or retry.
    fn failed(&self, stage: Stage, err: &io::Error, cut_error: Option<&io::Error>, path: &Path) {
        let reason = strerror(err);
        let mut errors = self.errors.lock();
        let slot = errors.slot(stage);
        if slot.is_none() {
            let what = match stage {
                Stage::Write => "writing",
                Stage::Fsync => "fsyncing",
            };
            tracing::error!(
                path = %path.display(),
                error = %reason,
                "{what} the append-only file failed; write commands are refused with MISCONF until a retry succeeds"
            );
            if let Some(cut) = cut_error {
                tracing::error!(
                    path = %path.display(),
                    error = %cut,
                    "could not cut a partial record off the append-only file; the retry will complete it"
                );
            }
        }
        *slot = Some(reason);
        self.failing.store(true, Ordering::Release);
    }

    /// Clears the error of `stage` after a success, and says so once.
    fn recovered(&self, stage: Stage, path: &Path) {
        if !self.failing.load(Ordering::Acquire) {
            return;
        }
        let mut errors = self.errors.lock();
        if errors.slot(stage).take().is_some() {
            tracing::warn!(path = %path.display(), "append-only file error looks solved; writes are accepted again");
        }
        self.failing.store(errors.write.is_some() || errors.fsync.is_some(), Ordering::Release);
    }
}

/// The OS's text for an error without Rust's ` (os error N)` suffix: what C's `strerror` says, as
/// Redis shows it.
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text.strip_suffix(&format!(" (os error {code})")).map_or(text.clone(), str::to_owned),
        None => text,
    }
}

/// Writes all of `bytes`, retrying short writes (the first short write is usually the disk filling,
/// and the retry then fails with `ENOSPC`). Returns how many bytes landed, and the error if not all.
fn append_all(file: &dyn LogFile, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < bytes.len() {
        match file.append(&bytes[done..]) {
            // A file that takes nothing and says nothing is full.
            Ok(0) => return (done, Err(io::Error::from_raw_os_error(libc::ENOSPC))),
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (done, Err(err)),
        }
    }
    (done, Ok(()))
}

/// Writes a `SELECT` record unless the last record was already of database `db`.
fn select(buffer: &mut Buffer, db: usize) {
    if buffer.selected != db {
        encode_request(&[&b"SELECT"[..], db.to_string().as_bytes()], &mut buffer.pending);
        buffer.selected = db;
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

/// Reads a manifest, capped at [`manifest::MAX_BYTES`]; `None` when there is none.
fn read_manifest(path: &Path) -> Result<Option<Manifest>, AofError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AofError::Io { path: path.to_owned(), source }),
    };
    let mut text = Vec::new();
    file.take(manifest::MAX_BYTES as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|source| AofError::Io { path: path.to_owned(), source })?;
    Manifest::parse(&text).map(Some).map_err(|source| AofError::Manifest { path: path.to_owned(), source })
}

/// Finishes a single file's move into the directory layout that a crash interrupted between its
/// two renames (no PATH, a complete `<PATH>.migrating`), or removes a staging directory a crash
/// left before the file moved (PATH still there).
fn recover_migration(path: &Path) -> Result<(), AofError> {
    let staging = rewrite::migrating_dir(path);
    if !staging.is_dir() {
        return Ok(());
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| AofError::Io { path, source }
    };
    if path.exists() {
        tracing::warn!(path = %staging.display(), "removing an unfinished conversion to the directory layout");
        return fs::remove_dir_all(&staging).map_err(io(&staging));
    }
    tracing::warn!(path = %path.display(), "finishing the conversion to the directory layout a crash interrupted");
    fs::rename(&staging, path).map_err(io(path))?;
    rewrite::sync_dir(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

/// Applies every record of the file to `db`. A cut-off last record is dropped and the file is
/// truncated to the last whole one when `cut_tail_allowed` (the file being appended to); anything
/// else unexpected is an error naming its offset.
fn replay(path: &Path, mut file: File, dbs: &[Db], cut_tail_allowed: bool) -> Result<Replayed, AofError> {
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
            // --- scripting ---
            Ok(Some(request)) if request.args.first().is_some_and(|name| name.eq_ignore_ascii_case(b"FUNCTION")) => {
                replayed.functions.push(request);
                replayed.records += 1;
            }
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
            Ok(None) if !cut_tail_allowed => {
                // Only the file being appended to can be cut off by a crash; a base or an older
                // increment was complete (fsynced) before the next one was started.
                let what = "the file ends inside a record".to_owned();
                return Err(AofError::Corrupt { path: path.to_owned(), offset: record_start, what });
            }
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

/// Applies one record: `SELECT db`, `SET key value [PXAT ms]`, `DEL key`, `PEXPIREAT`, `FLUSHDB`,
/// `FLUSHALL` or `SWAPDB a b` here; any other command (the collection commands, `PERSIST`) through
/// the ordinary command path. `selected` is the database the records apply to.
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
        // What Redis's rewrite writes for a key's time to live, so its AOF-format bases load.
        (b"PEXPIREAT", 3) => {
            let at: u64 = std::str::from_utf8(&args[2])
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| "bad PEXPIREAT time".to_owned())?;
            db.with_key(&args[1], |slot| {
                if at <= slot.now() {
                    slot.remove();
                } else {
                    slot.set_expires_at(Some(at));
                }
            });
        }
        // --- scripting ---
        // A script's writes are wrapped as a transaction; the records between apply as they come.
        (b"MULTI", 1) | (b"EXEC", 1) => {}
        (b"FLUSHDB", 1) => db.clear(),
        (b"FLUSHALL", 1) => dbs.iter().for_each(Db::clear),
        (b"SWAPDB", 3) => {
            let (a, b) = (index(&args[1])?, index(&args[2])?);
            if a != b {
                Db::swap(&dbs[a.min(b)], &dbs[a.max(b)]);
            }
        }
        _ => crate::execute::replay(request.clone(), db)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    use clap::Parser;
    use tinykv_proto::{table, Reply};

    use super::*;
    use crate::config::Config;
    use crate::execute::{self, Session};
    use crate::shared::Shared;

    fn request(words: &[&str]) -> Request {
        Request { args: words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect() }
    }

    /// A file on a disk of `room` bytes that fills up as a real one does: a write that does not fit
    /// comes up short, the next fails with `ENOSPC`. Its fsync and ftruncate can be made to fail,
    /// and its fsync to block.
    #[derive(Default)]
    struct Disk {
        bytes: parking_lot::Mutex<Vec<u8>>,
        room: AtomicUsize,
        /// Length of the file at its last successful fsync.
        synced_len: AtomicUsize,
        fail_sync: AtomicBool,
        fail_truncate: AtomicBool,
        /// Held by a test to make fsync block; `in_sync` says an fsync is waiting on it.
        sync_gate: parking_lot::Mutex<()>,
        in_sync: AtomicBool,
    }

    impl Disk {
        fn with_room(room: usize) -> Arc<Disk> {
            let disk = Disk::default();
            disk.room.store(room, Ordering::SeqCst);
            Arc::new(disk)
        }

        fn contents(&self) -> Vec<u8> {
            self.bytes.lock().clone()
        }
    }

    struct DiskFile(Arc<Disk>);

    impl LogFile for DiskFile {
        fn append(&self, buf: &[u8]) -> io::Result<usize> {
            let mut bytes = self.0.bytes.lock();
            let free = self.0.room.load(Ordering::SeqCst).saturating_sub(bytes.len());
            if free == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = free.min(buf.len());
            bytes.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn truncate(&self, len: u64) -> io::Result<()> {
            if self.0.fail_truncate.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            self.0.bytes.lock().truncate(len as usize);
            Ok(())
        }

        fn sync(&self) -> io::Result<()> {
            self.0.in_sync.store(true, Ordering::SeqCst);
            drop(self.0.sync_gate.lock());
            self.0.in_sync.store(false, Ordering::SeqCst);
            if self.0.fail_sync.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            self.0.synced_len.store(self.0.bytes.lock().len(), Ordering::SeqCst);
            Ok(())
        }
    }

    /// A server's shared state whose append-only file is on `disk`.
    fn shared_on(disk: &Arc<Disk>, fsync: AppendFsync) -> Shared {
        let mut shared = Shared::open(Config::parse_from(["tinykv-server"]), 0).expect("no file to open");
        let aof = Aof::with_file(Path::new("test.aof"), fsync, Box::new(DiskFile(Arc::clone(disk))), 0);
        shared.aof = Some(aof);
        shared
    }

    /// Runs one request as a connection does: execute, then commit what it logged before replying.
    /// A failed commit turns a write's reply into the MISCONF error, as the connection does.
    fn call(shared: &Shared, session: &mut Session, words: &[&str]) -> Reply {
        let reply = execute::handle(request(words), shared, session);
        let aof = shared.aof.as_ref().expect("an append-only file");
        if std::mem::take(&mut session.unlogged) {
            if let Err(err) = aof.commit(aof.recorded()) {
                return err.misconf().into();
            }
        }
        reply
    }

    /// Every record of `bytes` replayed into fresh databases, through a real file and `Aof::open`
    /// as a restart does; panics on any corruption or cut-off record.
    fn restart_from(bytes: &[u8], name: &str) -> Vec<Db> {
        let path = std::env::temp_dir().join(format!("tinykv-aof-unit-{name}-{}.aof", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let dbs: Vec<Db> = (0..16).map(|_| Db::new(4)).collect();
        let (_aof, replayed) = Aof::open(&path, AppendFsync::No, &dbs).expect("the file loads");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(replayed.truncated_bytes, 0, "no cut-off record may be left in the file");
        dbs
    }

    fn no_space() -> Reply {
        Reply::error("MISCONF Errors writing to the AOF file: No space left on device")
    }

    #[test]
    fn a_full_disk_refuses_writes_until_space_returns_and_loses_nothing_acknowledged() {
        for fsync in [AppendFsync::Everysec, AppendFsync::Always, AppendFsync::No] {
            let disk = Disk::with_room(1000);
            let shared = shared_on(&disk, fsync);
            let aof = shared.aof.as_ref().unwrap();
            let mut session = Session::new(1, &shared);
            let value = "v".repeat(40);

            // Fill the disk: every write until the first refusal is acknowledged.
            let mut acknowledged = Vec::new();
            // The file starts with the `SELECT 0` of the first record.
            let mut whole_records = {
                let mut select = BytesMut::new();
                encode_request(&[&b"SELECT"[..], b"0"], &mut select);
                select.len()
            };
            let failed = loop {
                let key = format!("key:{}", acknowledged.len());
                match call(&shared, &mut session, &["SET", &key, &value]) {
                    Reply::Status(ok) if ok == "OK" => {
                        let mut record = BytesMut::new();
                        encode_request(&[&b"SET"[..], key.as_bytes(), value.as_bytes()], &mut record);
                        whole_records += record.len();
                        acknowledged.push(key);
                    }
                    reply => {
                        assert_eq!(reply, no_space(), "{fsync:?}");
                        break key;
                    }
                }
            };
            assert!(acknowledged.len() > 5, "{fsync:?}: the disk should take a few records first");
            // The partial record was cut off: the file is exactly the acknowledged records.
            assert_eq!(disk.contents().len(), whole_records, "{fsync:?}");
            assert!(aof.is_failing());
            let pending = aof.pending_len();
            assert!(pending > 0);

            // Writes are refused before they run; reads go on; the pending records do not grow.
            assert_eq!(call(&shared, &mut session, &["SET", "new", "x"]), no_space());
            assert_eq!(call(&shared, &mut session, &["INCR", "counter"]), no_space());
            assert_eq!(call(&shared, &mut session, &["DEL", "key:0"]), no_space());
            assert_eq!(call(&shared, &mut session, &["PING"]), no_space());
            assert_eq!(call(&shared, &mut session, &["GET", "key:0"]), Reply::bulk(&value));
            assert_eq!(call(&shared, &mut session, &["GET", "new"]), Reply::Null);
            assert_eq!(aof.pending_len(), pending, "{fsync:?}: refused writes must not pile up");

            // A retry while still full fails again and leaves the file whole.
            assert!(aof.tick().is_err());
            assert_eq!(disk.contents().len(), whole_records);

            // Space returns: the once-a-second retry writes what was pending and clears the error.
            disk.room.store(1 << 20, Ordering::SeqCst);
            aof.tick().expect("the retry succeeds");
            assert!(!aof.is_failing());
            assert_eq!(aof.write_refusal(), None);
            assert_eq!(aof.pending_len(), 0);
            assert_eq!(call(&shared, &mut session, &["SET", "after", "1"]), Reply::ok());
            assert_eq!(call(&shared, &mut session, &["PING"]), Reply::status("PONG"));
            if fsync == AppendFsync::Always {
                assert_eq!(disk.synced_len.load(Ordering::SeqCst), disk.contents().len());
            }

            // A restart replays every acknowledged write, with no corruption.
            let dbs = restart_from(&disk.contents(), "full");
            let db = &dbs[0];
            for key in &acknowledged {
                assert_eq!(db.get(key.as_bytes()).as_deref(), Some(value.as_bytes()), "{fsync:?} {key}");
            }
            assert_eq!(db.get(b"after").as_deref(), Some(&b"1"[..]));
            // The write whose reply was MISCONF ran before the failure was known; its record was
            // kept and written by the retry, so memory and file agree.
            assert_eq!(db.get(failed.as_bytes()), shared.db(0).get(failed.as_bytes()));
            assert_eq!(db.len(), shared.db(0).len());
        }
    }

    #[test]
    fn a_partial_record_that_cannot_be_cut_off_is_completed_by_the_retry() {
        let disk = Disk::with_room(100);
        let aof = Aof::with_file(Path::new("t.aof"), AppendFsync::Everysec, Box::new(DiskFile(Arc::clone(&disk))), 0);
        let dbs = [Db::new(4)];
        let mut upto = 0;
        for i in 0..5 {
            let key = format!("key:{i}");
            dbs[0].with_key(key.as_bytes(), |slot| slot.put(b"some value", None));
            upto = aof.record(&dbs, &Effect::Keys(vec![(0, Bytes::from(key))]));
        }
        disk.fail_truncate.store(true, Ordering::SeqCst);
        assert!(aof.commit(upto).is_err());
        // The file holds 100 bytes: a prefix of the records, cut mid-record, and only the rest is pending.
        assert_eq!(disk.contents().len(), 100);
        assert_eq!(aof.pending_len() as u64, upto - 100);
        disk.room.store(1 << 20, Ordering::SeqCst);
        aof.commit(upto).expect("the retry completes the records");
        assert!(!aof.is_failing());
        let replayed = restart_from(&disk.contents(), "uncut");
        assert_eq!(replayed[0].len(), 5);
        assert_eq!(replayed[0].get(b"key:4").as_deref(), Some(&b"some value"[..]));
    }

    #[test]
    fn a_failed_fsync_under_always_is_not_acknowledged_and_is_written_again() {
        let disk = Disk::with_room(1 << 20);
        let shared = shared_on(&disk, AppendFsync::Always);
        let aof = shared.aof.as_ref().unwrap();
        let mut session = Session::new(1, &shared);
        assert_eq!(call(&shared, &mut session, &["SET", "a", "1"]), Reply::ok());
        let synced = disk.contents().len();

        disk.fail_sync.store(true, Ordering::SeqCst);
        assert_eq!(
            call(&shared, &mut session, &["SET", "b", "2"]),
            Reply::error("MISCONF Errors writing to the AOF file: Input/output error")
        );
        // What the failed fsync may not have saved is cut off and stays pending.
        assert_eq!(disk.contents().len(), synced);
        assert!(aof.pending_len() > 0);
        assert_eq!(call(&shared, &mut session, &["SET", "c", "3"]), call(&shared, &mut session, &["DEL", "a"]));
        assert_eq!(call(&shared, &mut session, &["GET", "a"]), Reply::bulk("1"));

        disk.fail_sync.store(false, Ordering::SeqCst);
        aof.tick().expect("the retry succeeds");
        assert_eq!(call(&shared, &mut session, &["SET", "c", "3"]), Reply::ok());
        assert_eq!(disk.synced_len.load(Ordering::SeqCst), disk.contents().len());
        let dbs = restart_from(&disk.contents(), "fsync");
        let db = &dbs[0];
        assert_eq!(db.get(b"a").as_deref(), Some(&b"1"[..]));
        assert_eq!(db.get(b"b").as_deref(), Some(&b"2"[..]));
        assert_eq!(db.get(b"c").as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn a_failed_background_fsync_refuses_writes_until_an_fsync_succeeds() {
        let disk = Disk::with_room(1 << 20);
        let shared = shared_on(&disk, AppendFsync::Everysec);
        let aof = shared.aof.as_ref().unwrap();
        let mut session = Session::new(1, &shared);
        assert_eq!(call(&shared, &mut session, &["SET", "a", "1"]), Reply::ok());
        disk.fail_sync.store(true, Ordering::SeqCst);
        assert!(aof.tick().is_err());
        let refused = Reply::error("MISCONF Errors writing to the AOF file: Input/output error");
        assert_eq!(call(&shared, &mut session, &["SET", "b", "2"]), refused);
        assert_eq!(call(&shared, &mut session, &["GET", "a"]), Reply::bulk("1"));
        disk.fail_sync.store(false, Ordering::SeqCst);
        aof.tick().expect("the fsync succeeds");
        assert_eq!(call(&shared, &mut session, &["SET", "b", "2"]), Reply::ok());
    }

    /// Runs `body` with an `everysec` log whose background fsync is stuck until `body` returns
    /// (one record already written), then lets the fsync finish and returns what `body` returned.
    fn with_a_stuck_fsync<R>(body: impl FnOnce(&Arc<Aof>, &Arc<Vec<Db>>) -> R) -> R {
        let disk = Disk::with_room(1 << 20);
        let aof = Arc::new(Aof::with_file(
            Path::new("t.aof"),
            AppendFsync::Everysec,
            Box::new(DiskFile(Arc::clone(&disk))),
            0,
        ));
        let dbs = Arc::new(vec![Db::new(4)]);
        dbs[0].with_key(b"k", |slot| slot.put(b"v", None));
        let upto = aof.record(&dbs, &Effect::Keys(vec![(0, Bytes::from_static(b"k"))]));
        aof.commit(upto).unwrap();
        // An fsync that does not return until the body is done.
        let gate = disk.sync_gate.lock();
        let syncing = std::thread::spawn({
            let aof = Arc::clone(&aof);
            move || aof.tick()
        });
        while !disk.in_sync.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let result = body(&aof, &dbs);
        drop(gate);
        syncing.join().unwrap().unwrap();
        assert_eq!(aof.fsync_started_ms.load(Ordering::Acquire), 0, "no fsync runs now");
        result
    }

    /// Commits a record of `k` on another thread; its result arrives on the receiver.
    fn commit_in_background(aof: &Arc<Aof>, dbs: &Arc<Vec<Db>>) -> mpsc::Receiver<bool> {
        let (done, committed) = mpsc::channel();
        std::thread::spawn({
            let (aof, dbs) = (Arc::clone(aof), Arc::clone(dbs));
            move || {
                let upto = aof.record(&dbs, &Effect::Keys(vec![(0, Bytes::from_static(b"k"))]));
                let _ = done.send(aof.commit(upto).is_ok());
            }
        });
        committed
    }

    #[test]
    fn commits_do_not_wait_for_an_everysec_fsync() {
        // Not a latency check: without this fix the commit never returns while the fsync blocks.
        let result =
            with_a_stuck_fsync(|aof, dbs| commit_in_background(aof, dbs).recv_timeout(Duration::from_secs(20)));
        assert_eq!(result, Ok(true), "a commit waited for the fsync");
    }

    #[test]
    fn a_commit_waits_for_an_everysec_fsync_running_two_seconds_and_counts_it() {
        let committed = with_a_stuck_fsync(|aof, dbs| {
            // Now it has been running for 3 s (its start moved back rather than the test waiting).
            aof.fsync_started_ms.store(crate::db::now_ms() - 3_000, Ordering::Release);
            let committed = commit_in_background(aof, dbs);
            retry_until_true(|| aof.delayed_fsyncs() == 1);
            assert!(committed.try_recv().is_err(), "the commit waits while the old fsync runs");
            committed
        });
        assert_eq!(committed.recv_timeout(Duration::from_secs(20)), Ok(true));
    }

    fn retry_until_true(mut check: impl FnMut() -> bool) {
        for _ in 0..2_000 {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("condition never held");
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

    /// A scratch directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tinykv-aof-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Runs a write as a command does: change, record the effect, commit.
    fn write(aof: &Aof, dbs: &[Db], db: usize, key: &str, value: Option<&str>) {
        dbs[db].with_key(key.as_bytes(), |slot| match value {
            Some(value) => slot.put(value.as_bytes(), None),
            None => {
                slot.remove();
            }
        });
        let upto = aof.record(dbs, &Effect::Keys(vec![(db, Bytes::copy_from_slice(key.as_bytes()))]));
        aof.commit(upto).unwrap();
    }

    fn fresh_dbs() -> Vec<Db> {
        let counters = Arc::new(crate::db::Counters::default());
        (0..2).map(|_| Db::with_counters(4, Arc::clone(&counters))).collect()
    }

    #[test]
    fn a_rewrite_under_concurrent_writes_loads_to_the_live_state() {
        let dir = scratch("rewrite");
        let dbs = fresh_dbs();
        let (aof, _) = Aof::open(&dir, AppendFsync::Always, &dbs).unwrap();
        for i in 0..5000 {
            write(&aof, &dbs, 0, &format!("k{i}"), Some("old"));
        }
        // Between every chunk the walk copies: overwrite and delete keys it has copied and keys it
        // has not, create keys in another database, and flush that database once.
        let step = std::cell::Cell::new(0);
        aof.rewrite(&dbs, &|| {
            let n = step.replace(step.get() + 1);
            for j in 0..50 {
                write(&aof, &dbs, 0, &format!("k{}", (n * 97 + j * 31) % 5000), Some(&format!("new{n}")));
            }
            write(&aof, &dbs, 0, &format!("k{}", (n * 13) % 5000), None);
            write(&aof, &dbs, 1, &format!("other{n}"), Some("x"));
            if n == 3 {
                dbs[1].clear();
                let upto = aof.record(&dbs, &Effect::Database(1));
                aof.commit(upto).unwrap();
            }
            false
        })
        .unwrap();
        assert!(step.get() > 4, "the walk went chunk by chunk");
        write(&aof, &dbs, 0, "after", Some("1"));

        let manifest = Manifest::parse(&std::fs::read(dir.join(MANIFEST_NAME)).unwrap()).unwrap();
        assert_eq!(manifest.base.as_ref().map(|b| b.seq), Some(1));
        assert_eq!(manifest.incrs.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![2]);
        assert!(manifest.history.is_empty());
        assert!(!dir.join("appendonly.aof.1.incr.aof").exists(), "the replaced increment is deleted");

        let loaded = fresh_dbs();
        let (_aof, _) = Aof::open(&dir, AppendFsync::Always, &loaded).unwrap();
        for (db, copy) in dbs.iter().zip(&loaded) {
            assert_eq!(db.len(), copy.len());
        }
        for i in 0..5000 {
            let key = format!("k{i}");
            assert_eq!(loaded[0].get(key.as_bytes()), dbs[0].get(key.as_bytes()), "{key}");
        }
        for n in 0..step.get() {
            let key = format!("other{n}");
            assert_eq!(loaded[1].get(key.as_bytes()), dbs[1].get(key.as_bytes()), "{key}");
        }
        assert_eq!(loaded[0].get(b"after").as_deref(), Some(&b"1"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_single_file_becomes_the_directory_layout_at_its_first_rewrite() {
        let dir = scratch("migrate");
        let path = dir.join("old.aof");
        let dbs = fresh_dbs();
        {
            let (aof, _) = Aof::open(&path, AppendFsync::Everysec, &dbs).unwrap();
            for i in 0..100 {
                write(&aof, &dbs, 0, "counter", Some(&i.to_string()));
            }
            aof.sync().unwrap();
        }
        assert!(path.is_file());
        let dbs = fresh_dbs();
        let (aof, _) = Aof::open(&path, AppendFsync::Everysec, &dbs).unwrap();
        let before = aof.current_size();
        aof.rewrite(&dbs, &|| false).unwrap();
        write(&aof, &dbs, 1, "later", Some("v"));
        aof.sync().unwrap();
        assert!(path.is_dir());
        assert!(!rewrite::migrating_dir(&path).exists());
        assert!(aof.current_size() < before / 10, "{} of {before}", aof.current_size());
        let manifest = Manifest::parse(&std::fs::read(path.join(MANIFEST_NAME)).unwrap()).unwrap();
        assert_eq!(manifest.base.map(|b| b.name), Some("appendonly.aof.2.base.aof".to_owned()));

        let loaded = fresh_dbs();
        Aof::open(&path, AppendFsync::Everysec, &loaded).unwrap();
        assert_eq!(loaded[0].get(b"counter").as_deref(), Some(&b"99"[..]));
        assert_eq!(loaded[1].get(b"later").as_deref(), Some(&b"v"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_crash_between_the_two_renames_of_a_conversion_is_finished_at_start() {
        let dir = scratch("half-migrated");
        let path = dir.join("log.aof");
        let staging = rewrite::migrating_dir(&path);
        std::fs::create_dir(&staging).unwrap();
        let mut base = BytesMut::new();
        encode_request(&[&b"SET"[..], b"k", b"v"], &mut base);
        std::fs::write(staging.join("appendonly.aof.1.base.aof"), &base).unwrap();
        std::fs::write(staging.join("appendonly.aof.1.incr.aof"), b"").unwrap();
        let manifest = "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        std::fs::write(staging.join(MANIFEST_NAME), manifest).unwrap();
        let dbs = fresh_dbs();
        Aof::open(&path, AppendFsync::No, &dbs).unwrap();
        assert!(path.is_dir() && !staging.exists());
        assert_eq!(dbs[0].get(b"k").as_deref(), Some(&b"v"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use crate::collections::Collection;

    /// Every key of every database, with its type and contents (collections sorted) and expiry.
    fn dump_all(dbs: &[Db]) -> Vec<(usize, String)> {
        let mut all = Vec::new();
        for (index, db) in dbs.iter().enumerate() {
            for key in db.keys(|_| true) {
                let described = db.with_key(&key, |slot| {
                    let entry = slot.entry().expect("a listed key exists");
                    let mut items: Vec<String> = match entry.collection() {
                        None => vec![String::from_utf8_lossy(entry.string().unwrap_or_default()).into_owned()],
                        Some(Collection::Hash(hash)) => hash
                            .iter()
                            .map(|(f, v)| format!("{}={}", String::from_utf8_lossy(f), String::from_utf8_lossy(v)))
                            .collect(),
                        Some(Collection::Set(set)) => {
                            set.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect()
                        }
                        // --- lists ---
                        Some(Collection::List(list)) => list
                            .iter()
                            .enumerate()
                            .map(|(i, e)| format!("{i:08}:{}", String::from_utf8_lossy(e)))
                            .collect(),
                        Some(Collection::ZSet(zset)) => {
                            zset.iter().map(|(m, s)| format!("{}={s:?}", String::from_utf8_lossy(m))).collect()
                        }
                    };
                    items.sort();
                    format!("{:?} {:?} {items:?} {:?}", key, entry.kind(), entry.expires_at())
                });
                all.push((index, described));
            }
        }
        all.sort();
        all
    }

    #[test]
    fn collection_writes_replay_to_the_same_data_set() {
        let disk = Disk::with_room(1 << 24);
        let shared = shared_on(&disk, AppendFsync::Always);
        let mut session = Session::new(1, &shared);
        let big: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
        let mut sadd_big = vec!["SADD", "big"];
        sadd_big.extend(big.iter().map(String::as_str));
        let script: Vec<Vec<&str>> = vec![
            vec!["HSET", "h", "a", "1", "b", "2", "c", "3"],
            vec!["HINCRBYFLOAT", "h", "a", "0.1"],
            vec!["HINCRBY", "h", "b", "40"],
            vec!["HDEL", "h", "c", "nosuch"],
            vec!["HSETNX", "h", "d", "4"],
            vec!["SADD", "s", "x", "y", "z", "w"],
            vec!["SPOP", "s"],
            vec!["SPOP", "s", "2"],
            vec!["SADD", "t", "y", "z", "q"],
            sadd_big,
            vec!["SPOP", "big", "100"],
            vec!["SREM", "big", "m1", "m2"],
            vec!["SINTERSTORE", "inter", "s", "t"],
            vec!["SUNIONSTORE", "union", "s", "t", "big"],
            vec!["SDIFFSTORE", "empty", "nosuch", "t"],
            vec!["SMOVE", "t", "moved", "q"],
            vec!["EXPIRE", "h", "1000"],
            vec!["PEXPIRE", "t", "500000"],
            vec!["PERSIST", "t"],
            vec!["COPY", "h", "h2"],
            vec!["RENAME", "union", "u2"],
            vec!["SELECT", "3"],
            vec!["SADD", "other", "1"],
            vec!["MOVE", "other", "0"],
            vec!["SELECT", "0"],
            vec!["SPOP", "moved", "5"],
            vec!["SET", "u2", "now a string"],
        ];
        for words in &script {
            let reply = call(&shared, &mut session, words);
            assert!(!reply.is_error(), "{words:?}: {reply:?}");
        }
        let dbs = restart_from(&disk.contents(), "collections");
        assert_eq!(dump_all(&dbs), dump_all(&shared.dbs));
        assert!(dump_all(&dbs).len() > 5);
        // One field of a big hash logs one field, not the hash.
        let before = disk.contents().len();
        call(&shared, &mut session, &["HSET", "h", "e", "5"]);
        assert!(disk.contents().len() - before < 100);
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
